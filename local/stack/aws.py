"""AWS on this machine: moto in server mode, and the template's resources created in it.

moto runs in this process (``ThreadedMotoServer``), but every client, ours and the handlers', talks to
it over HTTP like it would to AWS: the endpoint is the only difference. Credentials are moto's fake ones.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from typing import Any, Final

import boto3
import requests
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from moto.server import ThreadedMotoServer

from local.stack.template import (
    BucketSpec,
    QueueNotificationSpec,
    QueueSpec,
    RoleSpec,
    StackTemplate,
    TableSpec,
)

FAKE_CREDENTIALS: Final = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "max_attempts": 3}, signature_version="s3v4")


class PortInUse(RuntimeError):
    pass


def check_port_free(host: str, port: int) -> None:
    """Fail fast: a server thread that cannot bind would otherwise leave the caller waiting forever."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{host}:{port} is in use ({exc.strerror}); choose another port") from None


_ATOMIC_WRITES = threading.Lock()
_WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def make_dynamodb_writes_atomic() -> None:
    """Serialise moto's DynamoDB writes, as DynamoDB serialises writes to one item.

    moto evaluates a condition and then writes, unlocked: two concurrent conditional writes can both
    pass (seen here in 2 of 200 racing claims). Our pay-once and make-once guarantees rest on
    DynamoDB's atomic conditional writes, so the emulation must give them. Idempotent.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITE_METHODS:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_idphoto_atomic", False):
            continue

        def atomic(self: Any, *args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with _ATOMIC_WRITES:
                return __method(self, *args, **kwargs)

        atomic._idphoto_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, functools.wraps(method)(atomic))


_WHOLE_REQUESTS = threading.Lock()


def make_dynamodb_requests_whole() -> None:
    """Answer every DynamoDB request whole: one at a time, from parsing to the serialised answer.

    moto applies an UpdateItem's actions one by one to the stored item and serialises a GetItem's
    answer from that same item, so a read landing between two SET actions sees half an update (seen in
    CI: a READY record without ``prepared``). DynamoDB applies a write atomically and a strongly
    consistent read sees all of it or none ("Read consistency", DynamoDB developer guide). The lock is
    around moto's whole request (``DynamoHandler.call_action``), reads included, because the answer is
    serialised after the backend returns the live item. The write lock above stays: it is what the
    in-process backend calls of the unit tests go through. Idempotent.
    """
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_idphoto_whole", False):
        return

    def call_action(self: Any) -> Any:
        with _WHOLE_REQUESTS:
            return original(self)

    call_action._idphoto_whole = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = functools.wraps(original)(call_action)  # type: ignore[method-assign]


def make_sqs_queues_whole() -> None:
    """Change an SQS queue's messages one request at a time, as SQS does: no message is ever lost.

    moto's ``Queue.delete_message`` rebuilds the queue's message list and assigns it back without the
    queue's lock, while ``add_message`` (S3's notification, a SendMessage) appends under that lock: a
    message added during the rebuild is dropped. Seen in CI: one upload of a 40-upload burst was
    never delivered. moto's ``receive_message`` likewise scans and marks messages unlocked, so two
    pollers could take the same visible message at once. An Amazon SQS standard queue stores every
    message it accepted until it is deleted or expires ("Amazon SQS at-least-once delivery", SQS
    developer guide). The fix holds the queue's own lock (a condition over a re-entrant lock) around
    both; a long poll's wait releases it, as moto's ``wait_for_messages`` waits on that condition.
    Idempotent.
    """
    from moto.sqs.models import Queue, SQSBackend

    delete = Queue.delete_message
    if getattr(delete, "_idphoto_whole", False):
        return

    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    receive = SQSBackend.receive_message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return receive(self, queue_name, *args, **kwargs)

    patches: tuple[tuple[type, str, Any, Any], ...] = (
        (Queue, "delete_message", delete_message, delete),
        (SQSBackend, "receive_message", receive_message, receive),
    )
    for cls, name, whole, original in patches:
        whole._idphoto_whole = True
        setattr(cls, name, functools.wraps(original)(whole))


def make_sqs_receives_linear() -> None:
    """Answer a ReceiveMessage in time linear in the queue's length, as moto means to.

    moto checks each message it is about to hand out against the queue's retention period by asking
    for the queue's attributes, which computes every attribute three times, each count a scan of the
    whole queue with a fresh clock reading per message: a receive from a queue of ``n`` messages
    cost ``O(n)`` clock readings for every message returned. With 500 uploads queued the pipeline
    benchmark spent more of the stack's CPU there than in any DynamoDB call. The period is read
    from the queue itself, and SQS's clock is read as :func:`time.time` (moto's ``unix_time`` is the
    same instant through ``datetime``). Behaviour is unchanged. Idempotent.
    """
    from moto.sqs import models
    from moto.sqs.models import SQSBackend

    slow_unix_time = getattr(models, "unix_time")  # noqa: B009 - moto imports it without exporting it
    if getattr(slow_unix_time, "_idphoto_cheap", False):
        return

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(slow_unix_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > time.time())

    unix_time._idphoto_cheap = True  # type: ignore[attr-defined]
    setattr(models, "unix_time", unix_time)  # noqa: B010 - the names moto's SQS module reads the clock by
    setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def make_sqs_counts_consistent() -> None:
    """Count a queue's messages at one instant: each stored message in at least one of the counts.

    moto computes ``ApproximateNumberOfMessages``, ``...Delayed`` and ``...NotVisible`` each with its
    own clock readings, and a GetQueueAttributes naming them computes every attribute of the queue
    again for each name. A message whose visibility timeout ends between two readings is counted in
    neither: the queue of one message waiting to come back answered 0, 0, 0, and the stack's
    ``wait_idle`` returned while the upload still had a receive to come (a test then read a photo
    that was not made yet). SQS's counts are approximate, but a message it stores is never missing
    from all three. Here the three come from one reading of the clock, and a GetQueueAttributes
    from one computation of the attributes. Idempotent.
    """
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import Queue, SQSBackend

    attributes: Any = Queue.__dict__["attributes"]  # the property itself
    if getattr(attributes.fget, "_idphoto_consistent", False):
        return

    def counted_at_once(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = attributes.fget(self)
        now = getattr(models, "unix_time_millis")()  # noqa: B009 - moto imports it without exporting it
        visible = delayed = not_visible = 0
        for message in list(self._messages):
            is_delayed = now < message.delayed_until
            delayed += is_delayed
            if not now > message.visible_at:
                not_visible += 1
            elif not is_delayed:
                visible += 1
        result["ApproximateNumberOfMessages"] = visible
        result["ApproximateNumberOfMessagesDelayed"] = delayed
        result["ApproximateNumberOfMessagesNotVisible"] = not_visible
        return result

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        invalid = next((name for name in attribute_names if name not in valid), None)
        if invalid or invalid == "":
            raise InvalidAttributeName(invalid)
        everything: dict[str, Any] = queue.attributes
        if "All" in attribute_names:
            return everything
        return {name: everything[name] for name in attribute_names if everything.get(name) is not None}

    counted_at_once._idphoto_consistent = True  # type: ignore[attr-defined]
    Queue.attributes = property(counted_at_once)  # type: ignore[method-assign,assignment]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


def make_moto_dispatch_cheap() -> None:
    """Remember which moto backend serves a host, once per host.

    moto's server finds a request's backend by listing its own service packages (a directory scan)
    and then matching the host against every service's URL patterns, under one lock, on every
    request: a profile of the pipeline benchmark found that to be the largest single cost of the
    whole local stack. The answer depends on the host alone, so it is cached. Idempotent.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "_idphoto_cached", False):
        return
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    get_backend_for_host._idphoto_cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = functools.wraps(original)(get_backend_for_host)  # type: ignore[method-assign]


class MotoServer:
    """moto's state lives in this process, not in the server: each start and stop empties it, so every
    stack starts from an empty account even when an earlier one ran in the same process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        check_port_free(host, port)
        make_dynamodb_writes_atomic()
        make_dynamodb_requests_whole()
        make_sqs_queues_whole()
        make_sqs_receives_linear()
        make_sqs_counts_consistent()
        make_moto_dispatch_cheap()
        # werkzeug logs every request at INFO: thousands of lines for one demo.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._server.start()
        bound_host, bound_port = self._server.get_host_and_port()
        self.url = f"http://{bound_host}:{bound_port}"
        self.reset()

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        try:
            self.reset()
        finally:
            self._server.stop()


def client(service: str, endpoint: str, region: str) -> Any:
    """A client of the local endpoint with explicit fake credentials (never the caller's real ones)."""
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
        region_name=region,
    )
    return session.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        config=_CLIENT_CONFIG,
    )


def create_resources(template: StackTemplate, endpoint: str, appcode: tuple[str, str]) -> dict[str, str]:
    """Buckets, tables, queues, roles of the template, and the AppCode secret (``(name, value)``).

    Returns the secret's ARN by name (Secrets Manager adds a random suffix that policies match)."""
    region = template.pseudo.region
    # A redrive policy names its dead-letter queue, which must exist first; a bucket's notifications
    # name their queues (as CloudFormation orders them by their references).
    for queue in sorted(template.queues, key=lambda q: "RedrivePolicy" in q.attributes):
        create_queue(client("sqs", endpoint, region), queue)
    for bucket in template.buckets:
        create_bucket(client("s3", endpoint, region), bucket, region)
    for table in template.tables:
        create_table(client("dynamodb", endpoint, region), table)
    # The secret lives outside the stack (the template only names it), as it would in an account.
    iam = client("iam", endpoint, region)
    for role in template.roles:
        create_role(iam, role)
    name, value = appcode
    created = client("secretsmanager", endpoint, region).create_secret(Name=name, SecretString=value)
    return {name: str(created["ARN"])}


def create_role(iam: Any, role: RoleSpec) -> None:
    """moto refuses documents without Version; IAM reads them as 2008-10-17, which differs from
    2012-10-17 only in policy variables (the template uses none)."""
    trust = {"Version": "2012-10-17", **role.assume_role_policy}
    iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(trust))
    for policy_name, document in role.policies:
        versioned = {"Version": "2012-10-17", **document}
        iam.put_role_policy(RoleName=role.name, PolicyName=policy_name, PolicyDocument=json.dumps(versioned))


def function_credentials(template: StackTemplate, endpoint: str) -> dict[str, ReadOnlyCredentials]:
    """Each function's temporary credentials, as Lambda gets them: AssumeRole of its execution role
    with the function's name as the session name (moto's STS issues them)."""
    sts = client("sts", endpoint, template.pseudo.region)
    credentials: dict[str, ReadOnlyCredentials] = {}
    for function in template.functions:
        issued = sts.assume_role(RoleArn=function.role_arn, RoleSessionName=function.name)["Credentials"]
        credentials[function.logical_id] = ReadOnlyCredentials(
            issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
        )
    return credentials


def create_bucket(s3: Any, bucket: BucketSpec, region: str) -> None:
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket.name, **location)
    if bucket.versioned:
        s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    if bucket.encryption:
        s3.put_bucket_encryption(Bucket=bucket.name, ServerSideEncryptionConfiguration=bucket.encryption)
    if bucket.public_access_block:
        s3.put_public_access_block(
            Bucket=bucket.name, PublicAccessBlockConfiguration=bucket.public_access_block
        )
    if bucket.cors_rules:
        s3.put_bucket_cors(Bucket=bucket.name, CORSConfiguration={"CORSRules": list(bucket.cors_rules)})
    if bucket.queue_notifications:
        # moto sends S3's s3:TestEvent to each queue now, and every matching write's event later.
        s3.put_bucket_notification_configuration(
            Bucket=bucket.name,
            NotificationConfiguration={
                "QueueConfigurations": [_queue_configuration(n) for n in bucket.queue_notifications]
            },
        )
    # Not applied: the bucket policy (its TLS-only rule would deny the plain-HTTP local endpoint; moto
    # does not evaluate policies anyway) and lifecycle rules (moto does not run them).


def _queue_configuration(notification: QueueNotificationSpec) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "Id": notification.id,
        "QueueArn": notification.queue_arn,
        "Events": list(notification.events),
    }
    if notification.filter_rules:
        rules = [{"Name": name, "Value": value} for name, value in notification.filter_rules]
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def create_table(dynamodb: Any, table: TableSpec) -> None:
    dynamodb.create_table(TableName=table.name, **table.create_args)
    dynamodb.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 0.1})
    if table.time_to_live:
        dynamodb.update_time_to_live(TableName=table.name, TimeToLiveSpecification=table.time_to_live)


def create_queue(sqs: Any, queue: QueueSpec) -> str:
    url: str = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
    return url


def record_stack(template: StackTemplate, endpoint: str) -> None:
    """The stack and its outputs in moto's CloudFormation, where a client finds a deployed stack's
    (``describe_stacks``): the CLI reads the bucket's name there, as it does for a deployed stack.
    Only the outputs are recorded (the resources are made above, not by moto's CloudFormation); the
    record's StackId is moto's, not the one the template's names were resolved with."""
    document = {
        "Resources": {},
        "Outputs": {name: {"Value": value} for name, value in template.outputs.items()},
    }
    client("cloudformation", endpoint, template.pseudo.region).create_stack(
        StackName=template.pseudo.stack_name, TemplateBody=json.dumps(document)
    )
