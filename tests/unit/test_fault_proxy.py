"""The AWS fault proxy: AWS's own error shapes reach botocore, which retries them as it would AWS's.

Given moto in server mode behind the proxy (in this process, ephemeral ports), when a fault is set,
then boto3 clients see exactly what AWS would send, and "applied, then dropped" really applied.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from local.stack.aws import MotoServer, client
from local.stack.faultproxy import AwsFaults, Call, FaultProxy, FaultSpecError, classify

REGION = "us-east-1"
TABLE = "t"
BUCKET = "proxy-test-bucket"


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[MotoServer, FaultProxy]]:
    moto = MotoServer("127.0.0.1", 0)
    proxy = FaultProxy(moto.url)
    try:
        dynamodb = client("dynamodb", moto.url, REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client("s3", moto.url, REGION).create_bucket(Bucket=BUCKET)
        client("secretsmanager", moto.url, REGION).create_secret(Name="s", SecretString="v")
        yield moto, proxy
    finally:
        proxy.stop()
        moto.stop()


@pytest.fixture
def proxy(proxied: tuple[MotoServer, FaultProxy]) -> Iterator[FaultProxy]:
    proxied[1].reset()
    yield proxied[1]
    proxied[1].reset()


def through(proxy: FaultProxy, service: str, attempts: int = 4) -> Any:
    """A client of the proxy, with the functions' retry mode (standard) and ``attempts``."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client(
        service,  # type: ignore[call-overload]
        endpoint_url=proxy.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}, signature_version="s3v4"),
    )


def test_a_throttled_write_is_retried_by_botocore_and_succeeds(proxy: FaultProxy) -> None:
    proxy.set({"rules": [{"service": "dynamodb", "operation": "PutItem", "kind": "throttle", "count": 2}]})
    dynamodb = through(proxy, "dynamodb")

    answer = dynamodb.put_item(TableName=TABLE, Item={"k": {"S": "retried"}})

    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert proxy.stats()["injected"] == {"dynamodb:throttle": 2}


@pytest.mark.parametrize(
    ("service", "kind", "status", "codes"),
    [
        ("dynamodb", "throttle", 400, {"ProvisionedThroughputExceededException", "ThrottlingException"}),
        ("dynamodb", "internal", 500, {"InternalServerError"}),
        ("s3", "throttle", 503, {"SlowDown"}),
        ("s3", "internal", 500, {"InternalError"}),
        ("secretsmanager", "throttle", 400, {"ThrottlingException"}),
        ("secretsmanager", "internal", 500, {"InternalServiceError"}),
    ],
)
def test_errors_have_aws_shapes_and_statuses(
    proxy: FaultProxy, service: str, kind: str, status: int, codes: set[str]
) -> None:
    proxy.set({"rules": [{"service": service, "kind": kind, "count": 1}]})
    sdk = through(proxy, service, attempts=1)
    calls = {
        "dynamodb": lambda: sdk.get_item(TableName=TABLE, Key={"k": {"S": "x"}}),
        "s3": lambda: sdk.get_object(Bucket=BUCKET, Key="nothing"),
        "secretsmanager": lambda: sdk.get_secret_value(SecretId="s"),
    }

    with pytest.raises(ClientError) as raised:
        calls[service]()

    error = raised.value.response
    assert error["Error"]["Code"] in codes
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["Error"].get("Message")


def test_a_head_request_gets_the_status_without_a_body(proxy: FaultProxy) -> None:
    proxy.set({"rules": [{"service": "s3", "operation": "HeadObject", "kind": "throttle"}]})
    s3 = through(proxy, "s3", attempts=1)

    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=BUCKET, Key="nothing")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_applied_then_dropped_wrote_the_item_and_the_client_saw_a_connection_error(
    proxied: tuple[MotoServer, FaultProxy], proxy: FaultProxy
) -> None:
    proxy.set({"rules": [{"service": "dynamodb", "operation": "PutItem", "kind": "dropped"}]})
    dynamodb = through(proxy, "dynamodb", attempts=1)

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        dynamodb.put_item(TableName=TABLE, Item={"k": {"S": "dropped"}})

    direct = client("dynamodb", proxied[0].url, REGION)
    assert direct.get_item(TableName=TABLE, Key={"k": {"S": "dropped"}})["Item"]["k"] == {"S": "dropped"}
    assert proxy.stats()["injected"] == {"dynamodb:dropped": 1}


def test_an_s3_upload_and_its_download_go_through_untouched(proxy: FaultProxy) -> None:
    s3 = through(proxy, "s3")
    s3.put_object(Bucket=BUCKET, Key="finals/x.jpg", Body=b"\xff\xd8jpeg", Metadata={"billed-at": "7"})

    head = s3.head_object(Bucket=BUCKET, Key="finals/x.jpg")
    body = s3.get_object(Bucket=BUCKET, Key="finals/x.jpg")["Body"].read()

    assert (head["ContentLength"], head["Metadata"], body) == (6, {"billed-at": "7"}, b"\xff\xd8jpeg")


def test_presigned_urls_are_never_faulted(proxy: FaultProxy) -> None:
    s3 = through(proxy, "s3")
    s3.put_object(Bucket=BUCKET, Key="uploads/p.jpg", Body=b"photo")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "uploads/p.jpg"})
    proxy.set({"rate": {"rate": 1.0, "seed": 1}})

    answers = [requests.get(url, timeout=10) for _ in range(5)]

    assert [(a.status_code, a.content) for a in answers] == [(200, b"photo")] * 5
    assert proxy.stats()["injected"] == {}


def test_a_rule_can_skip_calls_and_match_the_body(proxy: FaultProxy) -> None:
    """How the fault matrix picks one step: the second UpdateItem, or the write that says BILLED."""
    faults = AwsFaults()
    faults.update({"rules": [{"service": "dynamodb", "kind": "internal", "match": "BILLED", "skip": 1}]})
    claim = Call("dynamodb", "UpdateItem", '{"state": "FETCHING"}')
    billed = Call("dynamodb", "UpdateItem", '{"state": "BILLED"}')

    decisions = [faults.decide(c) for c in (claim, billed, claim, billed, billed)]

    assert decisions == [None, None, None, "internal", None]


def test_the_rate_is_seeded(proxy: FaultProxy) -> None:
    calls = [Call(s, "Op", "") for s in ("dynamodb", "s3", "secretsmanager") * 200]

    def run() -> list[str | None]:
        faults = AwsFaults()
        faults.update({"rate": {"rate": 0.05, "seed": 11}})
        return [faults.decide(c) for c in calls]

    first, second = run(), run()

    assert first == second
    assert 0 < sum(d is not None for d in first) < len(calls) // 5
    assert {d for d in first if d} <= {"throttle", "internal", "dropped"}


@pytest.mark.parametrize(
    "spec",
    [
        {"rules": [{"service": "lambda", "kind": "throttle"}]},
        {"rules": [{"service": "s3", "kind": "melt"}]},
        {"rules": [{"service": "s3", "kind": "throttle", "count": 0}]},
        {"rate": {"rate": 2}},
        {"explode": True},
    ],
)
def test_bad_fault_specs_are_refused_and_change_nothing(proxy: FaultProxy, spec: dict[str, Any]) -> None:
    before = proxy.faults.snapshot()

    with pytest.raises(FaultSpecError):
        proxy.set(spec)
    answer = requests.post(f"{proxy.url}/_admin/faults", json=spec, timeout=5)

    assert answer.status_code == 400 and "error" in answer.json()
    assert proxy.faults.snapshot() == before


def test_admin_routes_set_and_report_faults(proxy: FaultProxy) -> None:
    rule = {"service": "s3", "kind": "internal", "count": 3}

    set_answer = requests.post(f"{proxy.url}/_admin/faults", json={"rules": [rule]}, timeout=5).json()
    reset = requests.post(f"{proxy.url}/_admin/reset", timeout=5)

    assert set_answer["rules"][0]["count"] == 3
    assert reset.json() == {"ok": True} and requests.get(f"{proxy.url}/_admin/faults", timeout=5).json() == {
        "rules": [],
        "rate": None,
    }


def test_a_functions_call_is_observed_and_answered_as_aws_would(
    proxied: tuple[MotoServer, FaultProxy],
) -> None:
    """The front names the function by its access key, tells observers (the bench's tallies) of its
    call with the request's body, and lets ``answers`` replace moto's answer (S3's 403 for a missing
    key); the local user's calls are neither observed nor changed."""
    from local.stack.access import Call as FunctionCall
    from local.stack.access import CallLog, Recorder

    recorder = Recorder(CallLog())
    recorder.register("AKIDFUNCTION", "MakePhotoFunction")
    front = FaultProxy(proxied[0].url, recorder=recorder)
    seen: list[tuple[str, str, int]] = []
    front.observe(lambda call, body, seconds: seen.append((call.function, call.operation, len(body))))

    def forbidden(
        call: FunctionCall, method: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        return (403, [("Content-Length", "0")], b"") if status == 404 else (status, headers, body)

    front.answers = forbidden
    try:

        def s3(key: str) -> Any:
            return boto3.session.Session(
                aws_access_key_id=key, aws_secret_access_key="secret", region_name=REGION
            ).client("s3", endpoint_url=front.url, config=Config(retries={"max_attempts": 1}))

        s3("AKIDFUNCTION").put_object(Bucket=BUCKET, Key="observed", Body=b"12345")
        with pytest.raises(ClientError) as as_function:
            s3("AKIDFUNCTION").head_object(Bucket=BUCKET, Key="missing")
        with pytest.raises(ClientError) as as_user:
            s3("testing").head_object(Bucket=BUCKET, Key="missing")
    finally:
        front.stop()

    assert seen == [("MakePhotoFunction", "PutObject", 5), ("MakePhotoFunction", "HeadObject", 0)]
    assert as_function.value.response["Error"]["Code"] == "403"
    assert as_user.value.response["Error"]["Code"] == "404"


class _Upstream(ThreadingHTTPServer):
    """moto's place: counts connections and requests; ``drop_kept`` closes each connection after its
    answer without saying so (what a server closing an idle keep-alive connection looks like)."""

    daemon_threads = True

    def __init__(self, drop_kept: bool) -> None:
        self.connections = 0
        self.requests = 0
        self.drop_kept = drop_kept
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                upstream.connections += 1
                super().setup()

            def do_GET(self) -> None:
                upstream.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.close_connection = upstream.drop_kept

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.mark.parametrize("drop_kept", [False, True], ids=["kept", "closed-by-moto"])
def test_one_callers_connection_keeps_one_connection_to_moto(drop_kept: bool) -> None:
    """Calls arriving over one connection reach moto over one connection (a new one per call cost the
    stack's process a connect and a server thread each time); if moto closed it meanwhile, the next
    call opens a new one and is answered."""
    upstream = _Upstream(drop_kept)
    serving = threading.Thread(target=upstream.serve_forever, daemon=True)
    serving.start()
    front = FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}")
    try:
        with requests.Session() as session:
            answers = [session.get(f"{front.url}/bucket/key{i}", timeout=10) for i in range(3)]
    finally:
        front.stop()
        upstream.shutdown()
        upstream.server_close()

    assert [(a.status_code, a.content) for a in answers] == [(200, b"ok")] * 3
    assert upstream.requests == 3
    assert upstream.connections == (3 if drop_kept else 1)


@pytest.mark.parametrize(
    ("method", "target", "extra", "operation"),
    [
        ("GET", "/b/k.jpg", {}, "GetObject"),
        ("HEAD", "/b/k.jpg", {}, "HeadObject"),
        ("PUT", "/b/k.jpg", {}, "PutObject"),
        ("PUT", "/b/k.jpg", {"x-amz-copy-source": "b/other.jpg"}, "CopyObject"),
        ("GET", "/b?list-type=2&prefix=uploads%2F", {}, "ListObjectsV2"),
        ("PUT", "/b", {}, "CreateBucket"),
    ],
)
def test_a_fault_rule_names_s3_operations_as_the_call_recorder_does(
    method: str, target: str, extra: dict[str, str], operation: str
) -> None:
    """One naming of S3's operations for the fault rules and the least-privilege record (the front
    named a copy "PutObject" and a bucket's creation "PutBucket" before)."""
    from local.stack.access import request_call

    authorization = "AWS4-HMAC-SHA256 Credential=AKIDFUNCTION/20261203/us-east-1/s3/aws4_request, Signature=x"
    headers = {"authorization": authorization, **extra}

    faulted = classify(method, target, headers, b"")
    recorded = request_call(method, target, headers, b"", {"AKIDFUNCTION": "MakePhotoFunction"})

    assert recorded is not None
    assert (faulted.service, faulted.operation) == ("s3", operation) == ("s3", recorded.operation)
