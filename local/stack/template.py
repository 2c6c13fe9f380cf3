"""The local stack's view of ``template.yaml``: the CloudFormation that AWS's SAM transform makes of it.

``sam deploy`` first packages the template (each local ``CodeUri``/``ContentUri`` folder becomes an
``s3://`` location) and CloudFormation then runs the ``AWS::Serverless-2016-10-31`` transform, i.e.
``aws-sam-translator``, with the stack's parameter values. Here the same two steps run offline
(:func:`translate`): folders become ``s3://`` artefact URIs that are mapped back to the folders, and
``samtranslator``'s ``Translator`` produces the document CloudFormation would receive. Every local
resource is read from THAT document: ``AWS::Lambda::Function`` (code, handler, layers, environment,
timeout, memory, role), ``AWS::Lambda::Permission``, ``AWS::Lambda::EventInvokeConfig``, the bucket's
``NotificationConfiguration``, the ``AWS::ApiGateway::RestApi`` OpenAPI ``Body`` (routes, integration
``uri`` and ``credentials``), ``AWS::IAM::Role`` with its policies. Globals, implicit resources and
event wiring are SAM's, not ours.

Parameters take their defaults unless overridden and are checked like CloudFormation checks them
(``AllowedValues``, ``AllowedPattern``, ``MinValue``/``MaxValue``); intrinsic functions left in the
translated document are evaluated by :mod:`local.stack.intrinsics`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from local.stack.cfn_yaml import load_template
from local.stack.intrinsics import Resolver, TemplateError
from local.stack.naming import NAME_PATTERN, Pseudo, ResourceNames, name_problem

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE_PATH: Final = ROOT / "template.yaml"
# Where `sam package` would have uploaded the code; only a name here, mapped back to the folders.
ARTIFACT_BUCKET: Final = "local-sam-artifacts"
_LOCAL_CODE_PROPERTIES: Final = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}
# Lambda's defaults (CreateFunction, PutFunctionEventInvokeConfig) where the document leaves them out.
DEFAULT_RETRY_ATTEMPTS: Final = 2
DEFAULT_EVENT_AGE_S: Final = 21600
DEFAULT_TIMEOUT_S: Final = 3
DEFAULT_MEMORY_MB: Final = 128
# API Gateway's integration `credentials` value that means "invoke with the caller's credentials"
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html).
CALLER_CREDENTIALS: Final = "arn:aws:iam::*:user/*"
_INTEGRATION_URI: Final = re.compile(
    r"^arn:[^:]+:apigateway:[^:]+:lambda:path/2015-03-31/functions/(.+)/invocations$"
)
_METHODS: Final = (
    "get",
    "put",
    "post",
    "delete",
    "patch",
    "head",
    "options",
    "x-amazon-apigateway-any-method",
)


@dataclass(frozen=True)
class QueueNotificationSpec:
    """One of a bucket's QueueConfigurations: S3 sends these object events to an SQS queue."""

    id: str  # the configuration's id (s3.configurationId of each record)
    queue_arn: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]  # (prefix|suffix, value)


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    arn: str
    versioned: bool
    encryption: dict[str, Any] | None = None
    public_access_block: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None  # the AWS::S3::BucketPolicy document, resolved
    cors_rules: tuple[dict[str, Any], ...] = ()  # CorsConfiguration.CorsRules, in PutBucketCors' shape
    queue_notifications: tuple[QueueNotificationSpec, ...] = ()


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """An AWS::Lambda::EventSourceMapping from an SQS queue (the only source emulated locally)."""

    logical_id: str
    function_logical_id: str
    queue_arn: str
    batch_size: int
    batching_window_s: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    enabled: bool = True


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
    policy: dict[str, Any] | None = None  # the AWS::SQS::QueuePolicy document naming it, resolved


@dataclass(frozen=True)
class S3EventSpec:
    name: str  # the notification's id: <bucket logical id><function logical id><n>
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
    # The integration's `credentials`: None = API Gateway invokes through the function's resource
    # policy; CALLER_CREDENTIALS = as the caller; a role ARN = as that role.
    credentials: str | None = None
    authorization: str | None = None  # AWS_IAM when the method needs SigV4-signed requests


@dataclass(frozen=True)
class Destination:
    kind: str  # SQS, SNS, Lambda, EventBridge
    arn: str


@dataclass(frozen=True)
class PermissionSpec:
    """An AWS::Lambda::Permission: one statement of the function's resource policy."""

    logical_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None


@dataclass(frozen=True)
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    assume_role_policy: dict[str, Any]
    policies: tuple[tuple[str, dict[str, Any]], ...]  # inline (PolicyName, PolicyDocument)
    managed_policy_arns: tuple[str, ...] = ()
    role_id: str = ""  # GetAtt RoleId: the AROA... unique id S3 events and API Gateway name


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
    role_arn: str = ""
    role_logical_id: str | None = None
    permissions: tuple[PermissionSpec, ...] = ()
    architectures: tuple[str, ...] = ("x86_64",)
    # Where the function logs: LoggingConfig.LogGroup, else /aws/lambda/<name> (Lambda Developer Guide,
    # "Configuring CloudWatch log groups for Lambda functions").
    log_group: str = ""


@dataclass(frozen=True)
class StageSpec:
    """A stage of a REST API: an ``AWS::ApiGateway::Stage``, or the one a ``Deployment`` with a
    ``StageName`` makes (SAM's ``Stage`` stage, made when the API has no ``OpenApiVersion``)."""

    logical_id: str
    name: str
    access_log: dict[str, Any] | None = None  # AccessLogSetting, resolved; None = no access logs
    method_logging: tuple[str, ...] = ()  # MethodSettings' LoggingLevel values other than OFF


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    rest_api_id: str
    stage: str  # the template's own stage (its AWS::ApiGateway::Stage): where the API is used
    default_authorizer: str | None
    routes: tuple[RouteSpec, ...]
    stages: tuple[StageSpec, ...] = ()  # every stage the translated template makes; only these answer

    def source_arn(self, region: str, account_id: str, method: str, path: str) -> str:
        """The execute-api ARN API Gateway names as ``AWS:SourceArn`` when it invokes a function."""
        return f"arn:aws:execute-api:{region}:{account_id}:{self.rest_api_id}/{self.stage}/{method}{path}"


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
    roles: tuple[RoleSpec, ...] = ()
    translated: dict[str, Any] = field(default_factory=dict, repr=False)  # what CloudFormation receives
    # The CloudWatch role an AWS::ApiGateway::Account of the template sets for the account, if any.
    apigateway_logging_role: str | None = None
    # Resolves what is left of the translated document (conditions, Ref, GetAtt) with this stack's values.
    resolver: Resolver | None = field(default=None, repr=False, compare=False)

    def resolved(self, logical_id: str) -> dict[str, Any]:
        """A resource of the translated document with its intrinsic functions evaluated."""
        if self.resolver is None:
            raise TemplateError("this template was not loaded with a resolver")
        resource: dict[str, Any] = self.resolver.resolve(self.translated["Resources"][logical_id])
        return resource

    event_source_mappings: tuple[EventSourceMappingSpec, ...] = ()

    def function(self, logical_id: str) -> FunctionSpec:
        return next(f for f in self.functions if f.logical_id == logical_id)

    def queue_by_arn(self, arn: str) -> QueueSpec:
        return next(q for q in self.queues if q.arn == arn)

    def role(self, logical_id: str) -> RoleSpec:
        return next(r for r in self.roles if r.logical_id == logical_id)


def load(
    path: Path = TEMPLATE_PATH,
    *,
    overrides: Mapping[str, str] | None = None,
    pseudo: Pseudo | None = None,
    sqs_endpoint: str = "http://127.0.0.1:4566",
) -> StackTemplate:
    """Translate and resolve the template; ``overrides`` are parameter values (--parameter-overrides)."""
    raw = load_template(path)
    pseudo = pseudo or Pseudo()
    parameters = resolve_parameters(raw.get("Parameters", {}), overrides or {})
    translated, artefacts = translate(raw, parameters, pseudo, path.parent)
    resources: dict[str, Any] = translated["Resources"]
    resolver: Resolver
    names = ResourceNames(resources, pseudo, lambda v: resolver.text(v), sqs_endpoint)
    resolver = Resolver(translated, {**parameters, **pseudo.values()}, names.ref, names.get_att)
    check_rules(raw.get("Rules", {}), resolver)
    reader = _Reader(translated, artefacts, resolver, names)
    reader.check_names()
    buckets = reader.all("AWS::S3::Bucket", reader.bucket)
    functions: tuple[FunctionSpec, ...] = reader.all("AWS::Lambda::Function", reader.function)
    return StackTemplate(
        path=path,
        pseudo=pseudo,
        parameters=parameters,
        buckets=buckets,
        tables=reader.all("AWS::DynamoDB::Table", reader.table),
        queues=reader.all("AWS::SQS::Queue", reader.queue),
        functions=functions,
        apis=reader.apis(),
        outputs=_outputs(translated.get("Outputs", {}), resolver),
        roles=reader.all("AWS::IAM::Role", reader.role),
        translated=translated,
        apigateway_logging_role=reader.apigateway_logging_role(),
        resolver=resolver,
        event_source_mappings=reader.all("AWS::Lambda::EventSourceMapping", reader.event_source_mapping),
    )


def check_rules(rules: Mapping[str, Any], resolver: Resolver) -> None:
    """The template's Rules, as CloudFormation checks them before it creates anything: each rule whose
    RuleCondition holds must have every Assert true, else the stack is refused with the AssertDescription
    (CloudFormation User Guide, "Rules" section of a template). Rule functions the resolver does not
    know (Fn::Contains, Fn::EachMemberEquals, ...) are refused rather than passed unchecked."""
    for name, rule in rules.items():
        if "RuleCondition" in rule and not _truth(resolver.resolve(rule["RuleCondition"]), name):
            continue
        for assertion in rule.get("Assertions", []):
            if not _truth(resolver.resolve(assertion["Assert"]), name):
                raise TemplateError(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")


def _truth(value: Any, rule: str) -> bool:
    if not isinstance(value, bool):
        raise TemplateError(f"rule {rule}: cannot evaluate {value!r} here")
    return value


def translate(
    raw: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Pseudo, base: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """What CloudFormation receives from ``sam deploy``, and the folder behind each artefact key."""
    packaged: dict[str, Any] = json.loads(json.dumps(raw))
    artefacts: dict[str, Path] = {}
    for resource in packaged.get("Resources", {}).values():
        prop = _LOCAL_CODE_PROPERTIES.get(resource.get("Type", ""))
        folder = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(folder, str) and not folder.startswith("s3://"):
            # `sam package` uploads the folder and writes its S3 location here; the key names the folder.
            artefacts[folder] = base / folder
            resource["Properties"][prop] = f"s3://{ARTIFACT_BUCKET}/{folder}"
    translator = Translator(
        {},  # no managed-policy names: the template's SAM resources use none (SAM looks them up only then)
        Parser(),
        boto_session=boto3.session.Session(region_name=pseudo.region),
    )
    values = {**parameters, **pseudo.values()}
    try:
        translated: dict[str, Any] = translator.translate(
            packaged, parameter_values=values, get_managed_policy_map=lambda: {}
        )
    except Exception as exc:  # samtranslator's InvalidDocumentException lists every problem
        raise TemplateError(f"the SAM transform refused the template: {exc}") from exc
    return translated, artefacts


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


# --- resources of the translated document --------------------------------------------------------


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


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class _Reader:
    def __init__(
        self,
        translated: dict[str, Any],
        artefacts: Mapping[str, Path],
        resolver: Resolver,
        names: ResourceNames,
    ) -> None:
        self._resources: dict[str, Any] = translated["Resources"]
        self._artefacts = artefacts
        self._r = resolver
        self._names = names

    def all(self, kind: str, read: Any) -> tuple[Any, ...]:
        return tuple(read(logical_id, self._props(logical_id)) for logical_id in self._ids(kind))

    def _ids(self, kind: str) -> list[str]:
        return [
            logical_id
            for logical_id, resource in self._resources.items()
            if resource.get("Type") == kind and self._exists(resource)
        ]

    def _exists(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self._r.condition(str(condition))

    def check_names(self) -> None:
        """Every physical name, explicit or generated, is one its service takes: CloudFormation would
        otherwise fail at that resource and roll the stack back."""
        for logical_id, resource in self._resources.items():
            kind = str(resource.get("Type", ""))
            if kind not in NAME_PATTERN or not self._exists(resource):
                continue
            name = self._names.name(logical_id)
            problem = name_problem(kind, name)
            if problem:
                raise TemplateError(f"{logical_id}: the name {name!r} is refused: {problem}")

    def _props(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self._resources[logical_id].get("Properties", {})
        return props

    def _code_dir(self, code: Mapping[str, Any], owner: str) -> Path:
        """The folder behind an artefact; code that is not this template's cannot run locally."""
        bucket, key = self._r.text(code.get("S3Bucket", "")), self._r.text(code.get("S3Key", ""))
        if bucket != ARTIFACT_BUCKET or key not in self._artefacts:
            raise TemplateError(f"{owner}: code s3://{bucket}/{key} is not a folder of this template")
        return self._artefacts[key]

    # --- storage ----------------------------------------------------------------------------------

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
            policy=self._bucket_policy(logical_id),
            cors_rules=_cors_rules(self._r.resolve(props.get("CorsConfiguration"))),
            queue_notifications=self._queue_notifications(logical_id, props),
        )

    def _queue_notifications(
        self, bucket_id: str, props: dict[str, Any]
    ) -> tuple[QueueNotificationSpec, ...]:
        configurations = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        found: list[QueueNotificationSpec] = []
        for n, configuration in enumerate(configurations, start=1):
            resolved = self._r.resolve(configuration)
            rules = resolved.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            found.append(
                QueueNotificationSpec(
                    id=f"{bucket_id}QueueNotification{n}",
                    queue_arn=str(resolved["Queue"]),
                    events=tuple(str(e) for e in _as_list(resolved["Event"])),
                    filter_rules=tuple((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules),
                )
            )
        return tuple(found)

    def event_source_mapping(self, logical_id: str, props: dict[str, Any]) -> EventSourceMappingSpec:
        resolved = self._r.resolve(props)
        source = str(resolved["EventSourceArn"])
        if source.split(":")[2:3] != ["sqs"]:
            raise TemplateError(f"{logical_id}: only SQS event sources are emulated, not {source}")
        function = props["FunctionName"]
        function_id = function.get("Ref") if isinstance(function, dict) else None
        if function_id is None:
            raise TemplateError(f"{logical_id}: FunctionName must Ref a function of this template")
        scaling = resolved.get("ScalingConfig", {})
        return EventSourceMappingSpec(
            logical_id=logical_id,
            function_logical_id=str(function_id),
            queue_arn=source,
            # CreateEventSourceMapping's defaults for SQS: batch size 10, no batching window.
            batch_size=int(resolved.get("BatchSize", 10)),
            batching_window_s=int(resolved.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_concurrency=int(scaling["MaximumConcurrency"])
            if "MaximumConcurrency" in scaling
            else None,
            report_batch_item_failures="ReportBatchItemFailures" in resolved.get("FunctionResponseTypes", []),
            enabled=bool(resolved.get("Enabled", True)),
        )

    def _bucket_policy(self, bucket_id: str) -> dict[str, Any] | None:
        for policy_id in self._ids("AWS::S3::BucketPolicy"):
            props = self._props(policy_id)
            if self._r.text(props["Bucket"]) == self._names.name(bucket_id):
                document: dict[str, Any] = self._r.resolve(props["PolicyDocument"])
                return document
        return None

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
        # CloudFormation takes the redrive policies as objects, SetQueueAttributes as JSON text.
        for name in ("RedrivePolicy", "RedriveAllowPolicy"):
            if isinstance(resolved.get(name), dict):
                attributes[name] = json.dumps(resolved[name])
        return QueueSpec(
            logical_id,
            self._names.name(logical_id),
            self._names.arn(logical_id),
            attributes,
            self._queue_policy(logical_id),
        )

    def _queue_policy(self, queue_id: str) -> dict[str, Any] | None:
        url = self._names.ref(queue_id)
        for policy_id in self._ids("AWS::SQS::QueuePolicy"):
            props = self._props(policy_id)
            if url in [self._r.text(q) for q in props.get("Queues", [])]:
                document: dict[str, Any] = self._r.resolve(props["PolicyDocument"])
                return document
        return None

    def role(self, logical_id: str, props: dict[str, Any]) -> RoleSpec:
        resolved = self._r.resolve(props)
        return RoleSpec(
            logical_id=logical_id,
            name=self._names.name(logical_id),
            arn=self._names.arn(logical_id),
            assume_role_policy=resolved.get("AssumeRolePolicyDocument", {}),
            policies=tuple((str(p["PolicyName"]), p["PolicyDocument"]) for p in resolved.get("Policies", [])),
            managed_policy_arns=tuple(str(a) for a in resolved.get("ManagedPolicyArns", [])),
            role_id=self._names.get_att(logical_id, "RoleId"),
        )

    # --- functions --------------------------------------------------------------------------------

    def function(self, logical_id: str, props: dict[str, Any]) -> FunctionSpec:
        r = self._r
        arn = self._names.arn(logical_id)
        invoke = self._invoke_config(logical_id)
        failure = invoke.get("DestinationConfig", {}).get("OnFailure")
        concurrency = props.get("ReservedConcurrentExecutions")
        role = props.get("Role")
        role_id = role["Fn::GetAtt"][0] if isinstance(role, dict) and "Fn::GetAtt" in role else None
        name = self._names.name(logical_id)
        log_group = props.get("LoggingConfig", {}).get("LogGroup")
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            log_group=f"/aws/lambda/{name}" if log_group is None else r.text(log_group),
            arn=arn,
            code_dir=self._code_dir(props["Code"], logical_id),
            handler=r.text(props["Handler"]),
            timeout_s=int(r.text(props.get("Timeout", DEFAULT_TIMEOUT_S))),
            memory_mb=int(r.text(props.get("MemorySize", DEFAULT_MEMORY_MB))),
            reserved_concurrency=None if concurrency is None else int(r.text(concurrency)),
            environment={
                k: r.text(v) for k, v in r.resolve(props.get("Environment", {}).get("Variables", {})).items()
            },
            layer_dirs=tuple(self._layer_dir(layer, logical_id) for layer in props.get("Layers", [])),
            max_retry_attempts=int(invoke.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
            max_event_age_s=int(invoke.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE_S)),
            on_failure=_destination(str(failure["Destination"])) if failure else None,
            s3_events=self._s3_events(arn),
            routes=tuple(
                route
                for api in self.apis()
                for route in api.routes
                if route.function_logical_id == logical_id
            ),
            role_arn=r.text(role) if role is not None else "",
            role_logical_id=role_id,
            permissions=self._permissions(logical_id),
            architectures=tuple(str(a) for a in r.resolve(props.get("Architectures", ["x86_64"]))),
        )

    def _invoke_config(self, function_id: str) -> dict[str, Any]:
        for config_id in self._ids("AWS::Lambda::EventInvokeConfig"):
            props = self._props(config_id)
            if props.get("FunctionName") == {"Ref": function_id}:
                resolved: dict[str, Any] = self._r.resolve(props)
                return resolved
        return {}

    def _permissions(self, function_id: str) -> tuple[PermissionSpec, ...]:
        found: list[PermissionSpec] = []
        for permission_id in self._ids("AWS::Lambda::Permission"):
            props = self._r.resolve(self._props(permission_id))
            if self._props(permission_id).get("FunctionName") not in (
                {"Ref": function_id},
                {"Fn::GetAtt": [function_id, "Arn"]},
            ):
                continue
            found.append(
                PermissionSpec(
                    logical_id=permission_id,
                    action=str(props["Action"]),
                    principal=str(props["Principal"]),
                    source_arn=props.get("SourceArn"),
                    source_account=props.get("SourceAccount"),
                )
            )
        return tuple(found)

    def _layer_dir(self, layer: Any, owner: str) -> Path:
        """Only layers built from this template can be loaded locally (their content is a folder)."""
        target = layer.get("Ref") if isinstance(layer, dict) else None
        resource = self._resources.get(str(target), {})
        if resource.get("Type") != "AWS::Lambda::LayerVersion":
            raise TemplateError(
                f"{owner}: layer {layer!r} is not an AWS::Lambda::LayerVersion of this template"
            )
        return self._code_dir(resource["Properties"]["Content"], str(target))

    def _s3_events(self, function_arn: str) -> tuple[S3EventSpec, ...]:
        """The bucket notifications that name this function (SAM writes them into the bucket)."""
        events: list[S3EventSpec] = []
        for bucket_id in self._ids("AWS::S3::Bucket"):
            notification = self._props(bucket_id).get("NotificationConfiguration", {})
            for n, configuration in enumerate(notification.get("LambdaConfigurations", []), start=1):
                resolved = self._r.resolve(configuration)
                if resolved["Function"] != function_arn:
                    continue
                rules = resolved.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                events.append(
                    S3EventSpec(
                        name=f"{bucket_id}Notification{n}",
                        bucket=self._names.name(bucket_id),
                        events=tuple(str(e) for e in _as_list(resolved["Event"])),
                        filter_rules=tuple((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules),
                    )
                )
        return tuple(events)

    # --- REST APIs --------------------------------------------------------------------------------

    def apis(self) -> tuple[ApiSpec, ...]:
        functions = {self._names.arn(f): f for f in self._ids("AWS::Lambda::Function")}
        apis: list[ApiSpec] = []
        for api_id in self._ids("AWS::ApiGateway::RestApi"):
            body = self._props(api_id).get("Body")
            if body is None:
                raise TemplateError(f"{api_id}: only REST APIs with an OpenAPI Body are emulated")
            routes = tuple(self._routes(api_id, body, functions))
            apis.append(
                ApiSpec(
                    logical_id=api_id,
                    rest_api_id=self._names.rest_api_id(api_id),
                    stage=self._stage(api_id),
                    default_authorizer=next((r.authorization for r in routes if r.authorization), None),
                    routes=routes,
                    stages=self._stages(api_id),
                )
            )
        return tuple(apis)

    def _stage(self, api_id: str) -> str:
        for stage_id in self._ids("AWS::ApiGateway::Stage"):
            props = self._props(stage_id)
            if props.get("RestApiId") == {"Ref": api_id}:
                return self._r.text(props["StageName"])
        raise TemplateError(f"{api_id} has no AWS::ApiGateway::Stage")

    def _stages(self, api_id: str) -> tuple[StageSpec, ...]:
        """The API's stages: each AWS::ApiGateway::Stage, and each AWS::ApiGateway::Deployment with a
        StageName, which creates that stage too (CloudFormation, AWS::ApiGateway::Deployment,
        "StageName": "the name of the Stage resource for the Deployment resource to create")."""
        stages: list[StageSpec] = []
        for stage_id in self._ids("AWS::ApiGateway::Stage"):
            props = self._props(stage_id)
            if props.get("RestApiId") != {"Ref": api_id}:
                continue
            resolved = self._r.resolve(props)
            levels = tuple(
                str(setting["LoggingLevel"])
                for setting in resolved.get("MethodSettings", [])
                if str(setting.get("LoggingLevel", "OFF")).upper() != "OFF"
            )
            stages.append(
                StageSpec(
                    stage_id, str(resolved["StageName"]), resolved.get("AccessLogSetting") or None, levels
                )
            )
        for deployment_id in self._ids("AWS::ApiGateway::Deployment"):
            props = self._props(deployment_id)
            if props.get("RestApiId") == {"Ref": api_id} and props.get("StageName"):
                stages.append(StageSpec(deployment_id, self._r.text(props["StageName"])))
        return tuple(stages)

    def apigateway_logging_role(self) -> str | None:
        for account_id in self._ids("AWS::ApiGateway::Account"):
            role = self._props(account_id).get("CloudWatchRoleArn")
            if role is not None:
                return self._r.text(role)
        return None

    def _routes(self, api_id: str, body: Mapping[str, Any], functions: Mapping[str, str]) -> list[RouteSpec]:
        schemes = body.get("securityDefinitions", {}) | body.get("components", {}).get("securitySchemes", {})
        routes: list[RouteSpec] = []
        for path, operations in body.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in _METHODS:
                    continue
                integration = self._r.resolve(operation.get("x-amazon-apigateway-integration", {}))
                if integration.get("type") != "aws_proxy":
                    raise TemplateError(
                        f"{api_id} {method} {path}: only Lambda proxy integrations are emulated"
                    )
                match = _INTEGRATION_URI.match(str(integration.get("uri", "")))
                if match is None or match.group(1) not in functions:
                    raise TemplateError(f"{api_id} {method} {path}: the integration names no function here")
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                routes.append(
                    RouteSpec(
                        name=str(operation.get("operationId") or f"{verb} {path}"),
                        api_logical_id=api_id,
                        path=str(path),
                        method=verb,
                        function_logical_id=functions[match.group(1)],
                        credentials=integration.get("credentials"),
                        authorization=_authorization(operation, schemes),
                    )
                )
        return routes


def _authorization(operation: Mapping[str, Any], schemes: Mapping[str, Any]) -> str | None:
    """AWS_IAM when the method's security names a SigV4 scheme (x-amazon-apigateway-authtype awsSigv4)."""
    for requirement in operation.get("security", []):
        for name in requirement:
            if schemes.get(name, {}).get("x-amazon-apigateway-authtype") == "awsSigv4":
                return "AWS_IAM"
    return None


def _destination(arn: str) -> Destination:
    """The destination's kind comes from its ARN's service, as Lambda decides it."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    kinds = {"sqs": "SQS", "sns": "SNS", "lambda": "Lambda", "events": "EventBridge"}
    if service not in kinds:
        raise TemplateError(f"unsupported destination {arn}")
    return Destination(kinds[service], arn)


# CloudFormation's CorsRule property names -> PutBucketCors' (AWS::S3::Bucket CorsRule reference).
_CORS_NAMES: Final = {
    "Id": "ID",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "AllowedHeaders": "AllowedHeaders",
    "ExposedHeaders": "ExposeHeaders",
    "MaxAge": "MaxAgeSeconds",
}


def _cors_rules(configuration: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(configuration, dict):
        return ()
    return tuple(
        {_CORS_NAMES[name]: value for name, value in rule.items()}
        for rule in configuration.get("CorsRules", [])
    )
