"""IAM decisions of the local stack, made by a real policy evaluator: ``@cloud-copilot/iam-simulate``.

Why that one: it evaluates identity AND resource policies together with every condition operator,
same- and cross-account rules, service principals and explicit denies, which is what the template's
policies use (resource ARNs with wildcards, ``s3:prefix``, ``kms:ViaService``, the bucket's TLS-only
deny, Lambda permissions conditioned on ``AWS:SourceArn``). moto's own enforcement
(``INITIAL_NO_AUTH_ACTION_COUNT``) checks actions but not resources and most conditions, so it would
pass exactly the mistakes we want to see. The evaluator runs in ONE node process for the whole stack
(``local/iam/simulate.mjs``, installed by ``make local/iam/node_modules`` from the committed
package-lock.json); requests go over a pipe as JSON lines, in batches.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.stack.template import FunctionSpec

IAM_DIR: Final = Path(__file__).resolve().parents[1] / "iam"
WORKER: Final = IAM_DIR / "simulate.mjs"
ALLOWED: Final = "Allowed"


class EvaluatorMissing(RuntimeError):
    """node or the evaluator package is not installed."""


@dataclass(frozen=True)
class IamRequest:
    """One authorisation question: may ``principal`` do ``action`` on ``resource`` in this context?"""

    principal: str
    action: str
    resource: str
    account_id: str
    context: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps([self.principal, self.action, self.resource, self.context], sort_keys=True)


def simulation(
    request: IamRequest,
    identity_policies: Sequence[tuple[str, dict[str, Any]]] = (),
    resource_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """iam-simulate's ``Simulation`` for one request (no SCPs/RCPs: a stand-alone account)."""
    simulated: dict[str, Any] = {
        "identityPolicies": [{"name": name, "policy": _versioned(doc)} for name, doc in identity_policies],
        "serviceControlPolicies": [],
        "resourceControlPolicies": [],
        "request": {
            "principal": request.principal,
            "action": request.action,
            "resource": {"resource": request.resource, "accountId": request.account_id},
            "contextVariables": request.context,
        },
    }
    if resource_policy is not None:
        simulated["resourcePolicy"] = _versioned(resource_policy)
    return simulated


def _versioned(document: dict[str, Any]) -> dict[str, Any]:
    """Documents without Version are read by IAM as 2008-10-17, which differs from 2012-10-17 only in
    policy variables (the template uses none); the evaluator wants a Version."""
    return {"Version": "2012-10-17", **document}


class Evaluator:
    """The node process; thread-safe; started lazily, closed by :meth:`close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def evaluate(self, simulations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """One answer per simulation: ``{"result": Allowed|ExplicitlyDenied|ImplicitlyDenied|Error}``."""
        if not simulations:
            return []
        with self._lock:
            process = self._started()
            if process.stdin is None or process.stdout is None:  # pragma: no cover - PIPE gives both
                raise RuntimeError("the IAM evaluator has no pipes")
            process.stdin.write(json.dumps(list(simulations)) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        if not line:
            raise RuntimeError("the IAM evaluator (node) stopped; see its stderr above")
        answers: list[dict[str, Any]] = json.loads(line)
        return answers

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None:
            node = shutil.which("node")
            if node is None or not (IAM_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
                raise EvaluatorMissing(
                    "the IAM evaluator is not installed: run `make local/iam/node_modules` (needs node and npm)"
                )
            self._process = subprocess.Popen(  # noqa: S603 - our own script, no shell
                [node, str(WORKER)],
                cwd=IAM_DIR,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        return self._process

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None


def lambda_resource_policy(function: FunctionSpec) -> dict[str, Any] | None:
    """The function's resource-based policy, one statement per AWS::Lambda::Permission, in the shape
    Lambda's AddPermission writes it: ``Principal: {"Service": ...}``, ``SourceArn`` as an ``ArnLike``
    condition on ``AWS:SourceArn`` and ``SourceAccount`` as ``StringEquals`` on ``AWS:SourceAccount``
    (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html)."""
    statements: list[dict[str, Any]] = []
    for permission in function.permissions:
        principal: dict[str, Any] | str
        if permission.principal.endswith(".amazonaws.com"):
            principal = {"Service": permission.principal}
        elif permission.principal.isdigit():
            principal = {"AWS": f"arn:aws:iam::{permission.principal}:root"}
        else:
            principal = {"AWS": permission.principal}
        condition: dict[str, Any] = {}
        if permission.source_arn:
            condition["ArnLike"] = {"AWS:SourceArn": permission.source_arn}
        if permission.source_account:
            condition["StringEquals"] = {"AWS:SourceAccount": permission.source_account}
        statement: dict[str, Any] = {
            "Sid": permission.logical_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": permission.action,
            "Resource": function.arn,
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Statement": statements} if statements else None
