"""What ``Ref`` and ``Fn::GetAtt`` of a resource return in the local stack (resources of the translated
document: plain CloudFormation types, no ``AWS::Serverless::*``).

CloudFormation names a resource without an explicit name ``<stack>-<LogicalId>-<RANDOM>``; here the suffix
is a hash of stack and logical id instead, so that a restarted local stack has the same names (handy in
shell history). Explicit names (``BucketName``, ``TableName``, ``FunctionName``, ...) win, as in AWS.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from local.stack.intrinsics import TemplateError

# The longest name each service takes; a generated name is shortened to fit, as CloudFormation does
# (S3 "General purpose bucket naming rules"; Lambda CreateFunction and PublishLayerVersion; SQS
# CreateQueue; IAM "IAM object quotas"; DynamoDB CreateTable; CloudWatch Logs CreateLogGroup;
# EventBridge PutRule, CreateApiDestination, CreateConnection).
NAME_LIMIT: Final[Mapping[str, int]] = {
    "AWS::S3::Bucket": 63,
    "AWS::Lambda::Function": 64,
    "AWS::Lambda::LayerVersion": 140,
    "AWS::SQS::Queue": 80,
    "AWS::IAM::Role": 64,
    "AWS::DynamoDB::Table": 255,
    "AWS::Logs::LogGroup": 512,
    "AWS::Events::Rule": 64,
    "AWS::Events::ApiDestination": 64,
    "AWS::Events::Connection": 64,
}

# What each service accepts as a name (the limits above, the characters here), so that the local stack
# refuses a name as the service would, at deploy time. Sources as for NAME_LIMIT, and CloudWatch
# PutDashboard (DashboardName: 255 letters, digits, "-" and "_").
NAME_PATTERN: Final[Mapping[str, re.Pattern[str]]] = {
    "AWS::S3::Bucket": re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
    "AWS::Lambda::Function": re.compile(r"[A-Za-z0-9_-]{1,64}"),
    "AWS::Lambda::LayerVersion": re.compile(r"[A-Za-z0-9_-]{1,140}"),
    "AWS::SQS::Queue": re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo|[A-Za-z0-9_-]{1,80}"),
    "AWS::IAM::Role": re.compile(r"[\w+=,.@-]{1,64}"),
    "AWS::DynamoDB::Table": re.compile(r"[A-Za-z0-9_.-]{3,255}"),
    "AWS::Logs::LogGroup": re.compile(r"[.\-_/#A-Za-z0-9]{1,512}"),
    "AWS::Events::Rule": re.compile(r"[.\-_A-Za-z0-9]{1,64}"),
    "AWS::Events::ApiDestination": re.compile(r"[.\-_A-Za-z0-9]{1,64}"),
    "AWS::Events::Connection": re.compile(r"[.\-_A-Za-z0-9]{1,64}"),
    "AWS::CloudWatch::Dashboard": re.compile(r"[A-Za-z0-9_-]{1,255}"),
}
# S3 "General purpose bucket naming rules", beyond length and characters.
_BUCKET_RESERVED_PREFIXES: Final = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IP_ADDRESS: Final = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def name_problem(resource_type: str, name: str) -> str | None:
    """Why the service would refuse ``name`` for a resource of this type, or None."""
    pattern = NAME_PATTERN.get(resource_type)
    if pattern is not None and not pattern.fullmatch(name):
        return f"{len(name)} characters that {resource_type} does not take (pattern {pattern.pattern})"
    if resource_type != "AWS::S3::Bucket":
        return None
    if ".." in name or _IP_ADDRESS.fullmatch(name):
        return "S3 refuses two adjacent periods and names formatted as IP addresses"
    if name.startswith(_BUCKET_RESERVED_PREFIXES) or name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return "S3 reserves that prefix or suffix"
    return None


# Property holding the explicit physical name, per resource type.
NAME_PROPERTY: Final[Mapping[str, str]] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::Events::Rule": "Name",
    "AWS::Events::ApiDestination": "Name",
    "AWS::Events::Connection": "Name",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}


@dataclass(frozen=True)
class Pseudo:
    """The pseudo parameters a deployment would have; moto's default account id."""

    stack_name: str = "idphoto-local"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_uuid(self) -> str:
        """The last part of the stack id: a lowercase UUID on AWS (CloudFormation User Guide, "Pseudo
        parameters reference", AWS::StackId), here one derived from the stack name so that a restarted
        local stack keeps its names."""
        return str(
            uuid.UUID(bytes=hashlib.sha256(f"{self.stack_name}/StackId".encode()).digest()[:16], version=4)
        )

    def values(self) -> dict[str, str]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/{self.stack_uuid}"
            ),
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
        }


def _suffix(stack: str, logical_id: str, length: int = 12) -> str:
    digest = hashlib.sha256(f"{stack}/{logical_id}".encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:length]


def generated_name(stack: str, logical_id: str, resource_type: str) -> str:
    """``<stack>-<LogicalId>-<suffix>``, the stack and logical id shortened so that the whole fits the
    service's limit (CloudFormation User Guide, "Name type": "... the stack name, the logical ID ... and a
    random string", shortened to the resource's maximum); bucket names in lower case."""
    suffix = _suffix(stack, logical_id)
    limit = NAME_LIMIT.get(resource_type)
    head = f"{stack}-{logical_id}"
    if limit is not None:
        head = head[: limit - len(suffix) - 1].rstrip("-")
    name = f"{head}-{suffix}"
    return name.lower() if resource_type == "AWS::S3::Bucket" else name


class ResourceNames:
    """``Ref``/``GetAtt`` for the template's resources; ``explicit`` resolves a name property."""

    def __init__(
        self,
        resources: Mapping[str, Any],
        pseudo: Pseudo,
        explicit: Callable[[Any], str],
        sqs_endpoint: str,
    ) -> None:
        self._resources = resources
        self._pseudo = pseudo
        self._explicit = explicit
        self._sqs_endpoint = sqs_endpoint.rstrip("/")

    def type_of(self, logical_id: str) -> str:
        return str(self._resources[logical_id].get("Type", ""))

    def name(self, logical_id: str) -> str:
        """The physical name (not necessarily what ``Ref`` returns: for a queue that is its URL)."""
        kind = self.type_of(logical_id)
        explicit = self._resources[logical_id].get("Properties", {}).get(NAME_PROPERTY.get(kind, ""))
        if explicit is not None:
            return self._explicit(explicit)
        return generated_name(self._pseudo.stack_name, logical_id, kind)

    def ref(self, logical_id: str) -> str:
        kind = self.type_of(logical_id)
        if kind == "AWS::KMS::Key":
            return self.key_id(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"{self._sqs_endpoint}/{self._pseudo.account_id}/{self.name(logical_id)}"
        if kind == "AWS::ApiGateway::RestApi":
            return self.rest_api_id(logical_id)
        if kind == "AWS::Lambda::LayerVersion":
            return self.arn(logical_id) + ":1"
        return self.name(logical_id)

    def _rule_path(self, logical_id: str) -> str:
        """A rule on a custom bus is ``rule/<bus>/<name>``, on the default bus ``rule/<name>`` (Service
        Authorization Reference, Amazon EventBridge, resource type "rule")."""
        bus = self._resources[logical_id].get("Properties", {}).get("EventBusName")
        bus_name = self._explicit(bus) if bus is not None else "default"
        name = self.name(logical_id)
        return name if bus_name == "default" else f"{bus_name}/{name}"

    def key_id(self, logical_id: str) -> str:
        """KMS keys are named, not created: moto would not encrypt anything with them anyway."""
        digest = hashlib.sha256(f"{self._pseudo.stack_name}/{logical_id}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    def rest_api_id(self, logical_id: str) -> str:
        return _suffix(self._pseudo.stack_name, logical_id, 10).lower()

    def arn(self, logical_id: str) -> str:
        p, kind, name = self._pseudo, self.type_of(logical_id), self.name(logical_id)
        regional = f"arn:{p.partition}:{{service}}:{p.region}:{p.account_id}:"
        arns = {
            "AWS::S3::Bucket": f"arn:{p.partition}:s3:::{name}",
            "AWS::DynamoDB::Table": regional.format(service="dynamodb") + f"table/{name}",
            "AWS::SQS::Queue": regional.format(service="sqs") + name,
            "AWS::Lambda::Function": regional.format(service="lambda") + f"function:{name}",
            "AWS::Lambda::LayerVersion": regional.format(service="lambda") + f"layer:{name}",
            "AWS::Logs::LogGroup": regional.format(service="logs") + f"log-group:{name}:*",
            "AWS::KMS::Key": regional.format(service="kms") + f"key/{self.ref(logical_id)}",
            "AWS::IAM::Role": f"arn:{p.partition}:iam::{p.account_id}:role/{name}",
            # EventBridge: arn:aws:events:region:account:rule/name (api-destination/, connection/ alike).
            "AWS::Events::Rule": regional.format(service="events") + f"rule/{self._rule_path(logical_id)}",
            "AWS::Events::ApiDestination": regional.format(service="events") + f"api-destination/{name}",
            "AWS::Events::Connection": regional.format(service="events") + f"connection/{name}",
        }
        if kind not in arns:
            raise TemplateError(f"no local ARN for {logical_id} ({kind})")
        return arns[kind]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        kind, name = self.type_of(logical_id), self.name(logical_id)
        p = self._pseudo
        attributes = {
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SQS::Queue", "QueueUrl"): self.ref(logical_id),
            ("AWS::S3::Bucket", "DomainName"): f"{name}.s3.{p.url_suffix}",
            ("AWS::S3::Bucket", "RegionalDomainName"): f"{name}.s3.{p.region}.{p.url_suffix}",
            ("AWS::DynamoDB::Table", "StreamArn"): self.arn(logical_id) + "/stream/local",
            ("AWS::ApiGateway::RestApi", "RootResourceId"): _suffix(
                p.stack_name, logical_id + "/", 10
            ).lower(),
            ("AWS::IAM::Role", "RoleId"): "AROA" + _suffix(p.stack_name, logical_id, 17),
        }
        if (kind, attribute) not in attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute} is not supported locally")
        return attributes[(kind, attribute)]
