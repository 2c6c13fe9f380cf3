"""The local stack's view of ``template.yaml``: every resource it creates, resolved like a deployment.

Parameters take their defaults unless overridden (and are checked against ``AllowedValues``,
``AllowedPattern``, ``MinValue``/``MaxValue`` like CloudFormation would), ``Globals`` are merged into each
``AWS::Serverless::Function`` with SAM's rules (maps merge, lists append, scalars override), and
intrinsic functions are evaluated by :mod:`local.stack.intrinsics`. Nothing here is a second definition
of the system: change the template and the local stack follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.stack.cfn_yaml import load_template
from local.stack.intrinsics import Resolver, TemplateError
from local.stack.naming import Pseudo, ResourceNames

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE_PATH: Final = ROOT / "template.yaml"
IMPLICIT_API: Final = "ServerlessRestApi"  # SAM's API for Api events without RestApiId
# Lambda's defaults for asynchronous invocation when EventInvokeConfig leaves them out.
DEFAULT_RETRY_ATTEMPTS: Final = 2
DEFAULT_EVENT_AGE_S: Final = 21600
SAM_DEFAULT_TIMEOUT: Final = 3
SAM_DEFAULT_MEMORY_MB: Final = 128


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    arn: str
    versioned: bool
    encryption: dict[str, Any] | None = None
    public_access_block: dict[str, Any] | None = None


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    create_args: dict[str, Any]  # CreateTable arguments except TableName
    time_to_live: dict[str, Any] | None = None


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class S3EventSpec:
    name: str  # the event's key under the function's Events
    bucket: str  # physical name
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]  # (prefix|suffix, value)


@dataclass(frozen=True)
class RouteSpec:
    name: str
    api_logical_id: str
    path: str
    method: str  # upper case; ANY matches every method
    function_logical_id: str


@dataclass(frozen=True)
class Destination:
    kind: str  # SQS, SNS, Lambda, EventBridge
    arn: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    timeout_s: int
    memory_mb: int
    reserved_concurrency: int | None
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    max_retry_attempts: int
    max_event_age_s: int
    on_failure: Destination | None
    s3_events: tuple[S3EventSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    rest_api_id: str
    stage: str
    default_authorizer: str | None
    routes: tuple[RouteSpec, ...]


@dataclass(frozen=True)
class StackTemplate:
    path: Path
    pseudo: Pseudo
    parameters: dict[str, str]
    buckets: tuple[BucketSpec, ...]
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    functions: tuple[FunctionSpec, ...]
    apis: tuple[ApiSpec, ...]
    outputs: dict[str, str] = field(default_factory=dict)

    def function(self, logical_id: str) -> FunctionSpec:
        return next(f for f in self.functions if f.logical_id == logical_id)

    def queue_by_arn(self, arn: str) -> QueueSpec:
        return next(q for q in self.queues if q.arn == arn)


def load(
    path: Path = TEMPLATE_PATH,
    *,
    overrides: Mapping[str, str] | None = None,
    pseudo: Pseudo | None = None,
    sqs_endpoint: str = "http://127.0.0.1:4566",
) -> StackTemplate:
    """Read and resolve the template; ``overrides`` are parameter values (like --parameter-overrides)."""
    raw = load_template(path)
    pseudo = pseudo or Pseudo()
    parameters = resolve_parameters(raw.get("Parameters", {}), overrides or {})
    resources: dict[str, Any] = raw["Resources"]
    resolver: Resolver
    names = ResourceNames(resources, pseudo, lambda v: resolver.text(v), sqs_endpoint)
    resolver = Resolver(raw, {**parameters, **pseudo.values()}, names.ref, names.get_att)
    reader = _Reader(raw, path.parent, resolver, names)
    functions: tuple[FunctionSpec, ...] = reader.all("AWS::Serverless::Function", reader.function)
    return StackTemplate(
        path=path,
        pseudo=pseudo,
        parameters=parameters,
        buckets=reader.all("AWS::S3::Bucket", reader.bucket),
        tables=reader.all("AWS::DynamoDB::Table", reader.table),
        queues=reader.all("AWS::SQS::Queue", reader.queue),
        functions=functions,
        apis=reader.apis(functions),
        outputs=_outputs(raw.get("Outputs", {}), resolver),
    )


def _outputs(declared: Mapping[str, Any], resolver: Resolver) -> dict[str, str]:
    """The outputs that make sense locally (one naming a resource we do not emulate is left out)."""
    outputs: dict[str, str] = {}
    for name, output in declared.items():
        try:
            outputs[name] = resolver.text(output["Value"])
        except TemplateError:
            continue
    return outputs


# --- parameters -----------------------------------------------------------------------------------


def resolve_parameters(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            raise TemplateError(f"parameter {name} has no default: give it a value")
        values[name] = str(value)
        check_parameter(name, spec, values[name])
    return values


def check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """The checks CloudFormation makes before it creates anything."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise TemplateError(f"parameter {name}={value} is outside {low}..{high}")


# --- resources ------------------------------------------------------------------------------------


def merge_globals(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge, lists append, scalars and intrinsic functions override."""
    merged = dict(defaults)
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not (_intrinsic(base) or _intrinsic(value)):
            merged[key] = merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _intrinsic(value: Mapping[str, Any]) -> bool:
    key = next(iter(value), "")
    return len(value) == 1 and (key in ("Ref", "Condition") or key.startswith("Fn::"))


def _encryption_rules(encryption: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault."""
    if not encryption:
        return None
    rules = [
        {
            ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
            for k, v in rule.items()
        }
        for rule in encryption.get("ServerSideEncryptionConfiguration", [])
    ]
    return {"Rules": rules}


class _Reader:
    def __init__(self, raw: dict[str, Any], base: Path, resolver: Resolver, names: ResourceNames) -> None:
        self._raw = raw
        self._resources: dict[str, Any] = raw["Resources"]
        self._base = base
        self._r = resolver
        self._names = names

    def all(self, kind: str, read: Any) -> tuple[Any, ...]:
        return tuple(
            read(logical_id, self._props(logical_id))
            for logical_id, resource in self._resources.items()
            if resource.get("Type") == kind and self._exists(resource)
        )

    def _exists(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self._r.condition(str(condition))

    def _props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self._resources[logical_id].get("Properties", {})
        return props

    def bucket(self, logical_id: str, props: dict[str, Any]) -> BucketSpec:
        versioning = self._r.resolve(props.get("VersioningConfiguration", {}))
        encryption = self._r.resolve(props.get("BucketEncryption"))
        return BucketSpec(
            logical_id=logical_id,
            name=self._names.name(logical_id),
            arn=self._names.arn(logical_id),
            versioned=versioning.get("Status") == "Enabled",
            encryption=_encryption_rules(encryption),
            public_access_block=self._r.resolve(props.get("PublicAccessBlockConfiguration")),
        )

    def table(self, logical_id: str, props: dict[str, Any]) -> TableSpec:
        resolved = self._r.resolve(props)
        copied = (
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        )
        create_args = {k: resolved[k] for k in copied if k in resolved}
        sse = resolved.get("SSESpecification")
        if sse:  # CloudFormation says SSEEnabled, the API Enabled
            create_args["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled", False))} | {
                k: v for k, v in sse.items() if k in ("SSEType", "KMSMasterKeyId")
            }
        return TableSpec(
            logical_id=logical_id,
            name=self._names.name(logical_id),
            arn=self._names.arn(logical_id),
            create_args=create_args,
            time_to_live=resolved.get("TimeToLiveSpecification"),
        )

    def queue(self, logical_id: str, props: dict[str, Any]) -> QueueSpec:
        resolved = self._r.resolve(props)
        attributes = {
            k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in resolved.items()
            if k not in ("QueueName", "Tags") and not isinstance(v, dict | list)
        }
        return QueueSpec(logical_id, self._names.name(logical_id), self._names.arn(logical_id), attributes)

    def function(self, logical_id: str, own: dict[str, Any]) -> FunctionSpec:
        props = merge_globals(self._raw.get("Globals", {}).get("Function", {}), own)
        r = self._r
        invoke = r.resolve(props.get("EventInvokeConfig", {}))
        failure = invoke.get("DestinationConfig", {}).get("OnFailure")
        concurrency = props.get("ReservedConcurrentExecutions")
        events: dict[str, Any] = props.get("Events", {})
        return FunctionSpec(
            logical_id=logical_id,
            name=self._names.name(logical_id),
            arn=self._names.arn(logical_id),
            code_dir=self._base / r.text(props["CodeUri"]),
            handler=r.text(props["Handler"]),
            timeout_s=int(r.text(props.get("Timeout", SAM_DEFAULT_TIMEOUT))),
            memory_mb=int(r.text(props.get("MemorySize", SAM_DEFAULT_MEMORY_MB))),
            reserved_concurrency=None if concurrency is None else int(r.text(concurrency)),
            environment={
                k: r.text(v) for k, v in r.resolve(props.get("Environment", {}).get("Variables", {})).items()
            },
            layer_dirs=tuple(self._layer_dir(layer) for layer in props.get("Layers", [])),
            max_retry_attempts=int(invoke.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
            max_event_age_s=int(invoke.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE_S)),
            on_failure=Destination(str(failure.get("Type", "")), str(failure["Destination"]))
            if failure
            else None,
            s3_events=tuple(
                self._s3_event(name, e["Properties"]) for name, e in events.items() if e["Type"] == "S3"
            ),
            routes=tuple(
                self._route(logical_id, name, e.get("Properties", {}))
                for name, e in events.items()
                if e["Type"] == "Api"
            ),
        )

    def _layer_dir(self, layer: Any) -> Path:
        """Only layers built from this template can be loaded locally (their ContentUri is a folder)."""
        target = layer.get("Ref") if isinstance(layer, dict) else None
        resource = self._resources.get(str(target), {})
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            raise TemplateError(f"layer {layer!r} is not an AWS::Serverless::LayerVersion of this template")
        return self._base / self._r.text(resource["Properties"]["ContentUri"])

    def _s3_event(self, name: str, props: dict[str, Any]) -> S3EventSpec:
        bucket = props["Bucket"]
        if not (isinstance(bucket, dict) and bucket.get("Ref") in self._resources):
            raise TemplateError(f"S3 event {name}: SAM needs Bucket to be a !Ref to a bucket of the template")
        events = self._r.resolve(props["Events"])
        rules = self._r.resolve(props.get("Filter", {})).get("S3Key", {}).get("Rules", [])
        return S3EventSpec(
            name=name,
            bucket=self._names.name(bucket["Ref"]),
            events=tuple([events] if isinstance(events, str) else events),
            filter_rules=tuple((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules),
        )

    def _route(self, function_id: str, name: str, props: dict[str, Any]) -> RouteSpec:
        api = props.get("RestApiId", {"Ref": IMPLICIT_API})
        api_id = api.get("Ref") if isinstance(api, dict) else None
        if not api_id:
            raise TemplateError(f"Api event {name}: RestApiId must be a !Ref to an API of the template")
        method = self._r.text(props["Method"]).upper()
        return RouteSpec(name, str(api_id), self._r.text(props["Path"]), method, function_id)

    def apis(self, functions: tuple[FunctionSpec, ...]) -> tuple[ApiSpec, ...]:
        routes = [route for function in functions for route in function.routes]
        apis: list[ApiSpec] = []
        defaults = self._raw.get("Globals", {}).get("Api", {})
        for logical_id in sorted({route.api_logical_id for route in routes}):
            props = merge_globals(defaults, self._props(logical_id) if logical_id in self._resources else {})
            auth = self._r.resolve(props.get("Auth", {}))
            apis.append(
                ApiSpec(
                    logical_id=logical_id,
                    rest_api_id=self._names.rest_api_id(logical_id),
                    stage=self._r.text(props.get("StageName", "Prod")),
                    default_authorizer=auth.get("DefaultAuthorizer"),
                    routes=tuple(r for r in routes if r.api_logical_id == logical_id),
                )
            )
        return tuple(apis)
