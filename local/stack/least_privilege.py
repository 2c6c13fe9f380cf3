"""Least privilege, checked: the functions' recorded calls against their roles, by the real evaluator.

Two questions about one session of calls (:mod:`local.stack.access`), both answered by
``iam-simulate`` (:mod:`local.stack.iam`), never by matching written here:

* **denied**: each call becomes the IAM request(s) AWS would authorise (action, resource ARN, context
  keys) and is evaluated with the calling function's role policies as identity policies and the
  resource's policy (the bucket policy) where one applies; anything but Allowed is a finding;
* **unused**: each (statement, action) a function's role allows must have allowed at least one of the
  session's requests (evaluated with that one statement alone), or be used by the Lambda service on
  the function's behalf (:data:`ON_BEHALF`, each with its reason).

To extend: a new kind of call needs a line in :func:`iam_requests` (the mapping follows the Service
Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/); a
permission only AWS itself uses with the role needs an :data:`ON_BEHALF` entry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from local.stack.access import Call
from local.stack.iam import ALLOWED, Evaluator, IamRequest, simulation
from local.stack.template import BucketSpec, FunctionSpec, RoleSpec, StackTemplate

# Actions a role grants that no call of the functions makes: the Lambda service (or another AWS
# service) uses them with the function's execution role. Each needs its reason.
ON_BEHALF: Final[Mapping[str, str]] = {
    "logs:CreateLogStream": "Lambda creates the function's log stream with its execution role",
    "logs:PutLogEvents": "Lambda writes the function's log lines with its execution role",
    "xray:PutTraceSegments": "Lambda (Tracing: Active) and the X-Ray daemon send segments with the role",
    "xray:PutTelemetryRecords": "the X-Ray daemon in the Lambda environment reports with the role",
    "kms:Decrypt": "DynamoDB and SQS use the data key on the caller's behalf (kms:ViaService)",
    "kms:GenerateDataKey": "DynamoDB and SQS use the data key on the caller's behalf (kms:ViaService)",
    "sqs:SendMessage": "Lambda sends a failed asynchronous invocation's record to the OnFailure queue"
    " with the execution role (Lambda docs, 'Configuring destinations for asynchronous invocation');"
    " a suite where no event exhausts its retries never does",
}


# The check S3 makes when a GET or HEAD names a missing key: s3:ListBucket on the bucket, no prefix
# (S3 API Reference, GetObject/HeadObject "Permissions"); recorded by local.stack.missing_keys.
MISSING_KEY_CHECK: Final = "ListBucket (404 of a missing key)"


class Unmapped(ValueError):
    """A call with no known IAM mapping: add it to :func:`iam_requests`."""


@dataclass(frozen=True)
class Finding:
    function: str
    call: str
    request: IamRequest
    result: str

    def __str__(self) -> str:
        return (
            f"{self.function} {self.call}: {self.request.action} on {self.request.resource} -> {self.result}"
        )


@dataclass(frozen=True)
class Grant:
    role: str
    sid: str
    action: str

    def __str__(self) -> str:
        return f"{self.role} {self.sid}: {self.action}"


@dataclass
class Report:
    denied: list[Finding] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    unused: list[Grant] = field(default_factory=list)
    requests: int = 0


@dataclass(frozen=True)
class _Resolved:
    function: FunctionSpec
    role: RoleSpec
    call: Call
    request: IamRequest
    resource_policy: dict[str, Any] | None


def check(
    template: StackTemplate,
    calls: Iterable[Call],
    evaluator: Evaluator,
    secret_arns: Mapping[str, str],
    on_behalf: Mapping[str, str] = ON_BEHALF,
) -> Report:
    report = Report()
    resolved = _resolve(template, calls, secret_arns, report)
    report.requests = len(resolved)
    answers = evaluator.evaluate(
        [simulation(r.request, r.role.policies, r.resource_policy) for r in resolved]
    )
    for item, answer in zip(resolved, answers, strict=True):
        if answer.get("result") != ALLOWED:
            detail = answer.get("result", "?") + (f" {answer['errors']}" if "errors" in answer else "")
            report.denied.append(
                Finding(
                    item.function.logical_id,
                    f"{item.call.service}:{item.call.operation}",
                    item.request,
                    detail,
                )
            )
    allowed = [
        item for item, answer in zip(resolved, answers, strict=True) if answer.get("result") == ALLOWED
    ]
    report.unused = _unused(template, allowed, evaluator, on_behalf)
    return report


def function_request(
    template: StackTemplate, function_id: str, action: str, resource: str, context: Mapping[str, Any]
) -> tuple[IamRequest, tuple[tuple[str, dict[str, Any]], ...]]:
    """The IAM request a function's call makes (its role's session as principal, over HTTPS), and
    the role's policies that judge it."""
    function = template.function(function_id)
    if function.role_logical_id is None:
        raise Unmapped(f"{function.logical_id}: its Role is not a role of this template")
    role = template.role(function.role_logical_id)
    account = template.pseudo.account_id
    request = IamRequest(
        f"arn:aws:sts::{account}:assumed-role/{role.name}/{function.name}",
        action,
        resource,
        account,
        {
            # The SDK's AWS endpoints are HTTPS; only the local endpoint is plain HTTP.
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": role.arn,
            "aws:PrincipalAccount": account,
            **context,
        },
    )
    return request, role.policies


def _resolve(
    template: StackTemplate, calls: Iterable[Call], secret_arns: Mapping[str, str], report: Report
) -> list[_Resolved]:
    functions = {f.logical_id: f for f in template.functions}
    buckets = {b.name: b for b in template.buckets}
    account = template.pseudo.account_id
    seen: set[str] = set()
    resolved: list[_Resolved] = []
    for call in calls:
        function = functions[call.function]
        if function.role_logical_id is None:
            raise Unmapped(f"{function.logical_id}: its Role is not a role of this template")
        role = template.role(function.role_logical_id)
        try:
            wanted = iam_requests(call, template.pseudo.region, account, secret_arns)
        except Unmapped as exc:
            report.unmapped.append(str(exc))
            continue
        for action, resource, context in wanted:
            request, _policies = function_request(template, function.logical_id, action, resource, context)
            if (key := function.logical_id + request.key()) in seen:
                continue
            seen.add(key)
            resolved.append(_Resolved(function, role, call, request, _resource_policy(resource, buckets)))
    return resolved


def _resource_policy(resource: str, buckets: Mapping[str, BucketSpec]) -> dict[str, Any] | None:
    if resource.startswith("arn:aws:s3:::"):
        bucket = buckets.get(resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
        return bucket.policy if bucket is not None else None
    return None


def _unused(
    template: StackTemplate, allowed: Sequence[_Resolved], evaluator: Evaluator, on_behalf: Mapping[str, str]
) -> list[Grant]:
    grants: list[tuple[Grant, dict[str, Any], list[_Resolved]]] = []
    for role_id in sorted({f.role_logical_id for f in template.functions if f.role_logical_id}):
        role = template.role(role_id)
        for _name, document in role.policies:
            for n, statement in enumerate(_as_list(document.get("Statement", []))):
                if statement.get("Effect") != "Allow":
                    continue
                for action in _as_list(statement.get("Action", [])):
                    grant = Grant(role_id, str(statement.get("Sid", n)), str(action))
                    if str(action) in on_behalf:
                        continue
                    candidates = [
                        r
                        for r in allowed
                        if r.role.logical_id == role_id and fnmatch.fnmatchcase(r.request.action, str(action))
                    ]
                    grants.append((grant, {**statement, "Action": action}, candidates))
    simulations = [
        simulation(r.request, [("one-statement", {"Statement": [statement]})])
        for _grant, statement, candidates in grants
        for r in candidates
    ]
    answers = iter(evaluator.evaluate(simulations))
    unused: list[Grant] = []
    for grant, _statement, candidates in grants:
        results = [next(answers).get("result") for _ in candidates]
        if ALLOWED not in results:
            unused.append(grant)
    return unused


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- API calls -> IAM requests -------------------------------------------------------------------

Wanted = list[tuple[str, str, dict[str, Any]]]  # (action, resource ARN, context keys)


@dataclass(frozen=True)
class Where:
    region: str
    account: str
    secret_arns: Mapping[str, str]


def iam_requests(call: Call, region: str, account: str, secret_arns: Mapping[str, str]) -> Wanted:
    mappers = {"s3": _s3, "dynamodb": _dynamodb, "secretsmanager": _secrets, "sqs": _sqs, "events": _events}
    mapper = mappers.get(call.service)
    if mapper is None:
        raise Unmapped(f"{call.service}:{call.operation} (no IAM mapping for the service)")
    return mapper(call, Where(region, account, secret_arns))


def _s3(call: Call, _where: Where) -> Wanted:
    """https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html"""
    p = call.params
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    obj = f"{bucket}/{p.get('Key', '')}"
    versioned = bool(p.get("VersionId"))
    context: dict[str, Any] = {}
    if p.get("ServerSideEncryption"):
        context["s3:x-amz-server-side-encryption"] = p["ServerSideEncryption"]
    if p.get("SSEKMSKeyId"):
        context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = p["SSEKMSKeyId"]
    op = call.operation
    if op == "CreateBucket" and call.presigned:
        # botocore signs a presigned POST (generate_presigned_post) through CreateBucket's request
        # model; nothing is sent. S3 authorises the form when it is posted, as the signer's PutObject
        # (recorded then by local.stack.s3_post).
        return []
    if op in ("GetObject", "HeadObject"):  # HEAD is authorised as GET
        return [("s3:GetObjectVersion" if versioned else "s3:GetObject", obj, {})]
    if op == "PutObject":
        wanted: Wanted = [("s3:PutObject", obj, context)]
        if p.get("Tagging"):
            wanted.append(("s3:PutObjectTagging", obj, {}))
        return wanted
    if op == "CopyObject":
        source = p["CopySource"]
        text = source if isinstance(source, str) else f"{source['Bucket']}/{source['Key']}"
        path, _, query = unquote(text).lstrip("/").partition("?versionId=")
        read = (
            "s3:GetObjectVersion"
            if query or (isinstance(source, dict) and source.get("VersionId"))
            else "s3:GetObject"
        )
        return [(read, f"arn:aws:s3:::{path}", {}), ("s3:PutObject", obj, context)]
    if op == "DeleteObject":
        return [("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", obj, {})]
    if op in ("ListObjectsV2", "ListObjects"):
        return [("s3:ListBucket", bucket, {"s3:prefix": p.get("Prefix", "")})]
    if op == "ListObjectVersions":
        return [("s3:ListBucketVersions", bucket, {"s3:prefix": p.get("Prefix", "")})]
    if op in ("HeadBucket", MISSING_KEY_CHECK):  # neither carries s3:prefix
        return [("s3:ListBucket", bucket, {})]
    raise Unmapped(f"s3:{op} (add its IAM action to local/stack/least_privilege.py)")


def _table_arn(region: str, account: str, table: str, index: str | None = None) -> str:
    arn = table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(call: Call, where: Where) -> Wanted:
    """https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/api-permissions-reference.html"""
    p, op = call.params, call.operation
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"):
        return [
            (
                f"dynamodb:{op}",
                _table_arn(where.region, where.account, p["TableName"], p.get("IndexName")),
                {},
            )
        ]
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{op}", _table_arn(where.region, where.account, t), {}) for t in p["RequestItems"]]
    if op in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        return [
            (f"dynamodb:{kinds[kind]}", _table_arn(where.region, where.account, item[kind]["TableName"]), {})
            for item in p["TransactItems"]
            for kind in item
        ]
    raise Unmapped(f"dynamodb:{op} (add its IAM action to local/stack/least_privilege.py)")


def _secrets(call: Call, where: Where) -> Wanted:
    secret = str(call.params["SecretId"])
    arn = secret if secret.startswith("arn:") else where.secret_arns.get(secret)
    if arn is None:
        raise Unmapped(f"secretsmanager:{call.operation} of {secret!r}, a secret the stack did not create")
    return [(f"secretsmanager:{call.operation}", arn, {})]


def _sqs(call: Call, where: Where) -> Wanted:
    path = urlsplit(str(call.params["QueueUrl"])).path.strip("/").split("/")
    owner, name = (path[0], path[1]) if len(path) >= 2 else (where.account, path[-1])
    return [(f"sqs:{call.operation.removesuffix('Batch')}", f"arn:aws:sqs:{where.region}:{owner}:{name}", {})]


def _events(call: Call, where: Where) -> Wanted:
    """PutEvents is authorised per entry on its bus, with events:source and events:detail-type."""
    if call.operation != "PutEvents":
        raise Unmapped(f"events:{call.operation} (add its IAM action to local/stack/least_privilege.py)")
    wanted: Wanted = []
    for entry in call.params.get("Entries", []):
        bus = str(entry.get("EventBusName") or "default")
        arn = (
            bus
            if bus.startswith("arn:")
            else f"arn:aws:events:{where.region}:{where.account}:event-bus/{bus}"
        )
        context = {
            "events:source": entry.get("Source", ""),
            "events:detail-type": entry.get("DetailType", ""),
        }
        wanted.append(("events:PutEvents", arn, context))
    return wanted
