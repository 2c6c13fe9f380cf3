"""Check a stack name before deploying: the names the template builds from it must be valid AWS names.

The template names the photo bucket ``<stack>-photos-<account>-<region>`` and the functions
``<stack>-make-photo``, ``<stack>-get-photo``, ``<stack>-auto-finals`` and ``<stack>-uploads``.
A stack name that makes
one of them invalid or too long is accepted by CloudFormation and fails only when it reaches that
resource, deep in the deploy (and rolls everything back). This fails first, in a second, saying which
name and why.

    python -m ops.preflight --stack idphoto [--region eu-west-1]
    python -m ops.preflight                  # the stack name (and region) from samconfig.toml
    python -m ops.preflight --credentials    # also: are there AWS credentials to deploy with?

``make deploy`` runs it with ``--credentials`` before ``sam build``: without credentials, ``sam build``
would take its minute and ``sam deploy --guided`` ask its questions before failing on the first call.
The check resolves credentials as the AWS CLI and SAM do (environment, profile, SSO, container or
instance role: botocore's credential provider chain) and calls nothing.

The account id is always 12 digits. Without a region, the longest region name AWS has (from
botocore's endpoint data, the SDK's own list of every partition's regions) is assumed, so a name that
passes fits in every region.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import botocore.loaders

# The template's names, with the stack name as {stack}, the account as {account}, the region as
# {region}: tests/unit/test_preflight.py checks them against template.yaml.
BUCKET_NAME: Final = "{stack}-photos-{account}-{region}"
FUNCTION_NAMES: Final = ("{stack}-make-photo", "{stack}-get-photo", "{stack}-auto-finals", "{stack}-uploads")

ACCOUNT_PLACEHOLDER: Final = "123456789012"  # every AWS account id is 12 digits

# CloudFormation: "A stack name can contain only alphanumeric characters (case-sensitive) and
# hyphens. It must start with an alphabetical character and can't be longer than 128 characters."
# (CreateStack, StackName).
STACK_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")

# S3 general purpose bucket naming rules (S3 User Guide, "Bucket naming rules"): 3-63 characters;
# lowercase letters, digits, periods and hyphens; begin and end with a letter or digit; no two
# adjacent periods; not formatted as an IP address; reserved prefixes and suffixes.
BUCKET_MAX: Final = 63
BUCKET_CHARS: Final = re.compile(r"[a-z0-9.-]*")
BUCKET_ENDS: Final = re.compile(r"[a-z0-9](.*[a-z0-9])?")
BUCKET_RESERVED_PREFIXES: Final = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
IP_ADDRESS: Final = re.compile(r"\d{1,3}(\.\d{1,3}){3}")

# Lambda CreateFunction, FunctionName: "The length constraint applies only to the full ARN. If you
# specify only the function name, it is limited to 64 characters in length." Pattern: letters,
# digits, hyphens and underscores.
FUNCTION_MAX: Final = 64
FUNCTION_CHARS: Final = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Problem:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def longest_region() -> str:
    """The longest region name in botocore's endpoint data (all partitions: aws, China, GovCloud, ISO)."""
    endpoints: dict[str, Any] = botocore.loaders.create_loader().load_data("endpoints")
    regions: list[str] = [region for partition in endpoints["partitions"] for region in partition["regions"]]
    return max(regions, key=len)


def bucket_problems(name: str) -> list[str]:
    reasons = []
    if not 3 <= len(name) <= BUCKET_MAX:
        reasons.append(f"{len(name)} characters; S3 allows 3 to {BUCKET_MAX}")
    if not BUCKET_CHARS.fullmatch(name):
        reasons.append("S3 allows only lowercase letters, digits, '.' and '-'")
    elif not BUCKET_ENDS.fullmatch(name):
        reasons.append("S3 wants a letter or digit first and last")
    if ".." in name:
        reasons.append("S3 refuses two adjacent periods")
    if IP_ADDRESS.fullmatch(name):
        reasons.append("S3 refuses a name formatted as an IP address")
    reasons += [f"S3 reserves the prefix {p!r}" for p in BUCKET_RESERVED_PREFIXES if name.startswith(p)]
    reasons += [f"S3 reserves the suffix {s!r}" for s in BUCKET_RESERVED_SUFFIXES if name.endswith(s)]
    return reasons


def function_problems(name: str) -> list[str]:
    reasons = []
    if len(name) > FUNCTION_MAX:
        reasons.append(f"{len(name)} characters; Lambda allows {FUNCTION_MAX}")
    if not FUNCTION_CHARS.fullmatch(name):
        reasons.append("Lambda allows only letters, digits, '-' and '_'")
    return reasons


def check(stack: str, region: str) -> list[Problem]:
    """Every problem with the names ``stack`` makes in ``region``; empty when the deploy can use it."""
    if not STACK_NAME.fullmatch(stack):
        return [
            Problem(
                stack,
                "CloudFormation stack names are 1-128 letters, digits and '-', starting with a letter",
            )
        ]
    values = {"stack": stack, "account": ACCOUNT_PLACEHOLDER, "region": region}
    problems = [
        Problem(bucket, r) for bucket in [BUCKET_NAME.format(**values)] for r in bucket_problems(bucket)
    ]
    for pattern in FUNCTION_NAMES:
        function = pattern.format(**values)
        problems += [Problem(function, reason) for reason in function_problems(function)]
    return problems


def longest_stack_name(region: str) -> int:
    """The most characters a (lowercase) stack name may have in ``region``."""
    fixed = len(BUCKET_NAME.format(stack="", account=ACCOUNT_PLACEHOLDER, region=region))
    function_fixed = max(len(pattern.format(stack="")) for pattern in FUNCTION_NAMES)
    return min(BUCKET_MAX - fixed, FUNCTION_MAX - function_fixed)


def from_samconfig(path: Path, env: str = "default") -> tuple[str | None, str | None]:
    """The stack name and region ``sam deploy`` would take from ``samconfig.toml`` (deploy, then global)."""
    if not path.exists():
        return None, None
    config: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")).get(env, {})
    found: dict[str, str | None] = {"stack_name": None, "region": None}
    for command in ("global", "deploy"):  # deploy's own parameters win over the global ones
        parameters = config.get(command, {}).get("parameters", {})
        for key in found:
            if isinstance(parameters.get(key), str):
                found[key] = parameters[key]
    return found["stack_name"], found["region"]


def credentials_problem(profile: str | None = None) -> str | None:
    """Why there are no credentials to deploy with, or None. Botocore's chain is the one SAM uses
    (AWS CLI User Guide, "Configuration and credential file settings": precedence of the sources)."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        return str(exc)
    except botocore.exceptions.BotoCoreError as exc:  # e.g. an SSO token that expired
        return f"credentials could not be loaded: {exc}"
    if credentials is None:
        return "no AWS credentials found (environment, ~/.aws/credentials, SSO, or a role)"
    return None


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="the stack name (default: stack_name in samconfig.toml)")
    parser.add_argument("--region", help="the target region (default: samconfig.toml's, else the longest)")
    parser.add_argument("--config", type=Path, default=Path("samconfig.toml"), help="samconfig.toml to read")
    parser.add_argument(
        "--credentials",
        action="store_true",
        help="also check that AWS credentials can be found (make deploy)",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    if args.credentials:
        missing = credentials_problem()
        if missing:
            print(f"preflight: {missing}", file=sys.stderr)
            print(
                "  Configure them first: `aws configure` (or `aws configure sso` then `aws sso login`), "
                "or set AWS_PROFILE; then run `make deploy` again. Nothing was built or deployed.",
                file=sys.stderr,
            )
            return 1
    saved_stack, saved_region = from_samconfig(args.config)
    stack = args.stack or saved_stack
    if not stack:
        print(
            "preflight: no stack name: pass --stack NAME (or STACK_NAME=NAME to make deploy)", file=sys.stderr
        )
        return 2
    region = args.region or saved_region or longest_region()
    problems = check(stack, region)
    if problems:
        print(f"preflight: stack name {stack!r} cannot be deployed in {region}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            f"  Choose a stack name of lowercase letters, digits and '-', starting with a letter, at most "
            f"{longest_stack_name(region)} characters in {region}.",
            file=sys.stderr,
        )
        return 1
    print(f"preflight: stack name {stack!r} makes valid names in {region}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
