"""Where the commands go: the local stack of ``make up`` (default), a deployed stack, or explicit flags.

* **Local** (no ``--stack``): moto on ``127.0.0.1:$IDPHOTO_AWS_PORT`` (4566) and the API on
  ``http://127.0.0.1:$IDPHOTO_API_PORT/v1`` (3000), with moto's fake ``testing`` credentials (never
  yours). The bucket and upload prefix are the outputs ``BucketName`` and ``UploadLocation`` of the
  local stack ``idphoto-local``, which ``make up`` records in moto's CloudFormation as a deployment
  would (the bucket's name comes from the stack's id: no rule here could rebuild it).
* **Deployed** (``--stack NAME``): the stack's outputs ``BucketName``, ``UploadLocation`` and ``ApiUrl``,
  read with boto3 and your AWS credentials; API requests are signed with SigV4 (service execute-api).
* **Flags** (``--bucket``, ``--upload-prefix``, ``--api-url``, ``--endpoint-url``, ``--region``) override
  either. An API URL that is not on loopback is signed.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit

from idphoto_cli.errors import CliError, Exit

LOCAL_STACK: Final = "idphoto-local"
LOCAL_REGION: Final = "us-east-1"
LOCAL_CREDENTIALS: Final = ("testing", "testing")
DEFAULT_UPLOAD_PREFIX: Final = "uploads/"


@dataclass(frozen=True)
class Target:
    bucket: str
    upload_prefix: str
    api_url: str
    region: str
    endpoint_url: str | None = None  # S3's; None: AWS's own
    local: bool = False
    sign: bool = False
    profile: str | None = None

    def describe(self) -> str:
        where = "local stack" if self.local else "AWS"
        return f"{where}: s3://{self.bucket}/{self.upload_prefix}, API {self.api_url}"

    def session(self) -> Any:
        """A boto3 session: moto's fake credentials locally, the person's own otherwise."""
        import boto3

        if self.local:
            key, secret = LOCAL_CREDENTIALS
            return boto3.session.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region
            )
        return boto3.session.Session(profile_name=self.profile, region_name=self.region or None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (default: the local stack of `make up`)")
    group.add_argument("--stack", metavar="NAME", help="a deployed stack: read its outputs with boto3")
    group.add_argument("--region", help="AWS region (default: your configuration's; us-east-1 locally)")
    group.add_argument("--profile", help="AWS profile for a deployed stack")
    group.add_argument("--bucket", help="the photo bucket (overrides the stack's)")
    group.add_argument("--upload-prefix", help=f"where uploads go (default {DEFAULT_UPLOAD_PREFIX})")
    group.add_argument("--api-url", help="the API's base URL, e.g. https://abc.execute-api.../v1")
    group.add_argument("--endpoint-url", help="S3 endpoint (local: http://127.0.0.1:4566)")


def resolve(
    args: argparse.Namespace, env: Mapping[str, str] = os.environ, *, needs_bucket: bool = True
) -> Target:
    """``needs_bucket=False`` (``make --via-api``): locally nothing is read from AWS, since a caller who
    holds only ``execute-api:Invoke`` may read no stack outputs; the API's URL is known from its port."""
    if args.stack:
        target = deployed(args.stack, args.region, args.profile)
    else:
        target = local(env, args.region, bucket=args.bucket, read_outputs=needs_bucket)
    if args.bucket:
        target = replace(target, bucket=args.bucket)
    if args.upload_prefix:
        target = replace(target, upload_prefix=args.upload_prefix.strip("/") + "/")
    if args.endpoint_url:
        target = replace(target, endpoint_url=args.endpoint_url)
    if args.api_url:
        api_url = args.api_url.rstrip("/")
        target = replace(target, api_url=api_url, sign=not is_loopback(api_url))
    return target


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def local(
    env: Mapping[str, str], region: str | None = None, bucket: str | None = None, *, read_outputs: bool = True
) -> Target:
    """The local stack; its bucket from its outputs unless ``bucket`` is given or ``read_outputs`` is
    False (then nothing is read)."""
    aws_port = env.get("IDPHOTO_AWS_PORT", "4566")
    api_port = env.get("IDPHOTO_API_PORT", "3000")
    region = region or LOCAL_REGION
    target = Target(
        bucket=bucket or "",
        upload_prefix=DEFAULT_UPLOAD_PREFIX,
        api_url=f"http://127.0.0.1:{api_port}/v1",
        region=region,
        endpoint_url=f"http://127.0.0.1:{aws_port}",
        local=True,
    )
    if bucket or not read_outputs:
        return target
    bucket, prefix = _local_outputs(target)
    return replace(target, bucket=bucket, upload_prefix=prefix)


def _local_outputs(target: Target) -> tuple[str, str]:
    """BucketName and the upload prefix from the local stack's outputs in moto's CloudFormation."""
    from botocore.exceptions import BotoCoreError, ClientError

    up_hint = "is the local stack up? run `make up` (or pass --bucket)"
    try:
        client = target.session().client("cloudformation", endpoint_url=target.endpoint_url)
        answer = client.describe_stacks(StackName=LOCAL_STACK)
    except ClientError as exc:
        raise CliError(f"no stack {LOCAL_STACK!r} at {target.endpoint_url}", Exit.NOT_FOUND, up_hint) from exc
    except BotoCoreError as exc:
        raise CliError(
            f"cannot reach the local stack at {target.endpoint_url}", Exit.UNAVAILABLE, up_hint
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in answer["Stacks"][0].get("Outputs", [])}
    if "BucketName" not in outputs:
        raise CliError(f"the local stack {LOCAL_STACK!r} has no output BucketName", Exit.USAGE, up_hint)
    return outputs["BucketName"], _upload_prefix(outputs)


def _upload_prefix(outputs: Mapping[str, str]) -> str:
    """The prefix of the output ``UploadLocation`` (``s3://bucket/prefix/``)."""
    location = outputs.get("UploadLocation", "")
    prefix = location.split("/", 3)[3] if location.count("/") >= 3 else ""
    return prefix or DEFAULT_UPLOAD_PREFIX


def deployed(stack: str, region: str | None, profile: str | None) -> Target:
    from botocore.exceptions import BotoCoreError, ClientError

    session = Target("", "", "", region or "", profile=profile).session()
    try:
        client = session.client("cloudformation")
        answer = client.describe_stacks(StackName=stack)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if "does not exist" in str(error.get("Message", "")):
            raise CliError(
                f"stack {stack!r} does not exist in {session.region_name}", Exit.NOT_FOUND
            ) from exc
        raise CliError(f"cannot read stack {stack!r}: {error.get('Message', exc)}", Exit.USAGE) from exc
    except BotoCoreError as exc:
        raise CliError(
            f"cannot read stack {stack!r}: {exc}", Exit.UNAVAILABLE, _credentials_hint(exc)
        ) from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in answer["Stacks"][0].get("Outputs", [])}
    missing = [name for name in ("BucketName", "ApiUrl") if name not in outputs]
    if missing:
        raise CliError(
            f"stack {stack!r} has no output {', '.join(missing)}: is it an idphoto stack?", Exit.USAGE
        )
    return Target(
        bucket=outputs["BucketName"],
        upload_prefix=_upload_prefix(outputs),
        api_url=outputs["ApiUrl"].rstrip("/"),
        region=session.region_name or "us-east-1",
        sign=True,
        profile=profile,
    )


def _credentials_hint(exc: Exception) -> str:
    name = type(exc).__name__
    if "Credential" in name or "Region" in name:
        return "configure AWS credentials and a region (aws configure, or AWS_PROFILE / AWS_REGION)"
    return ""
