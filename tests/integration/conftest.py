"""The world the integration tests need: the whole local stack, once per session, on free ports.

Every test talks to it over real HTTP: boto3 with the moto endpoint, requests to the local API, the
stand-in's admin routes for faults and counters, the AWS fault proxy (between the functions and moto)
for AWS's own failures. Lambda's async retry delays and the upload queue's visibility timeout are
shortened to keep the suite quick. Tests share the stand-in's faults and counters, so each test starts and ends with a quiet
stack (no event in flight) and the faults reset.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from local.stack import Ports, Stack, samples, start_stack
from local.stack.webhook import WebhookReceiver

RETRY_DELAYS = (0.2, 0.4)  # Lambda waits about 1 and 2 minutes; the semantics are the same
# The upload queue's visibility timeout: AWS's is 6 x make-photo's timeout (18 min); here longer than
# any invocation of the suite, as AWS's is longer than the function's timeout.
VISIBILITY_TIMEOUT_S = 30
# A vendor refusal waits 10 minutes spread over 1000 receives (AWS: a day over 100), so a waiting
# upload is tried every second or two; a failed upload's back-off is 1 s doubling to 2 s (AWS: 30 s to
# 15 min). Tests of the dead-letter queue lower the receives with ``max_receives``.
QUEUE_PARAMETERS = {"UploadMaxReceiveCount": "1000", "VendorRefusalWaitMinutes": "10"}
REFUSAL_BACKOFF = {"BACKOFF_SECONDS": "1", "BACKOFF_CAP_SECONDS": "2"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the integration tests last: the session's stack (and its environment variables) then stays
    out of the way of unit tests that patch the same modules. The least-privilege tests come after all
    of them (they judge the calls the others made); a ``whole_suite`` test runs only when every
    integration test file is in the run, else it is deselected (a partial run cannot say what is unused)."""
    items.sort(key=lambda item: (item.get_closest_marker("integration") is not None, _judges(item)))
    here = Path(__file__).parent
    files = {path.name for path in here.glob("test_*.py")}
    selected = {Path(str(item.path)).name for item in items if Path(str(item.path)).parent == here}
    if selected != files:
        partial = [item for item in items if item.get_closest_marker("whole_suite")]
        if partial:
            config.hook.pytest_deselected(items=partial)
            items[:] = [item for item in items if item not in partial]


def _judges(item: pytest.Item) -> bool:
    return Path(str(item.path)).name == "test_least_privilege.py"


WEBHOOK_KEY = "local-webhook-key"  # obviously fake; the receiver records what it is sent


@pytest.fixture(scope="session")
def webhook() -> Iterator[WebhookReceiver]:
    """The user's HTTPS endpoint the template's webhook parameters point EventBridge at."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def stack(webhook: WebhookReceiver) -> Iterator[Stack]:
    # The AWS fault proxy sits between the functions and moto; without faults it only forwards.
    parameters = {
        "WebhookUrl": webhook.url,
        "WebhookAuthHeaderValue": WEBHOOK_KEY,
        **QUEUE_PARAMETERS,
        # Uploaders may opt into automatic finals here (the suite tests that path; the default forbids it).
        "AllowUploaderAutoFinals": "true",
    }
    with start_stack(
        ports=Ports.ephemeral(),
        retry_delays=RETRY_DELAYS,
        parameters=parameters,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        environment=REFUSAL_BACKOFF,  # every function's, as `sam local invoke --env-vars` adds them
    ) as running:
        assert running.eventbridge is not None
        running.eventbridge.trust(webhook.ca_file)
        yield running


@pytest.fixture(autouse=True)
def quiet_stack(stack: Stack) -> Iterator[None]:
    """Each test starts and ends with no event in flight and no fault set."""
    assert stack.wait_idle(60), "events still in flight before the test"
    stack.vendor_reset()
    stack.aws_faults.reset()
    yield
    assert stack.wait_idle(60), "events still in flight after the test"
    stack.vendor_reset()
    stack.aws_faults.reset()


@contextlib.contextmanager
def max_receives(stack: Stack, count: int) -> Iterator[None]:
    """What an operator changes together: the upload queue's redrive policy (SetQueueAttributes) and
    make-photo's UPLOAD_MAX_RECEIVE_COUNT (UpdateFunctionConfiguration: every environment starts cold)."""
    sqs = stack.client("sqs")
    original = sqs.get_queue_attributes(QueueUrl=stack.upload_queue_url, AttributeNames=["RedrivePolicy"])[
        "Attributes"
    ]["RedrivePolicy"]
    policy = {**json.loads(original), "maxReceiveCount": count}
    make = next(m.function_logical_id for m in stack.template.event_source_mappings)
    previous = stack.functions[make].spec.environment["UPLOAD_MAX_RECEIVE_COUNT"]
    sqs.set_queue_attributes(
        QueueUrl=stack.upload_queue_url, Attributes={"RedrivePolicy": json.dumps(policy)}
    )
    stack.update_function(make, environment={"UPLOAD_MAX_RECEIVE_COUNT": str(count)})
    try:
        yield
    finally:
        sqs.set_queue_attributes(QueueUrl=stack.upload_queue_url, Attributes={"RedrivePolicy": original})
        stack.update_function(make, environment={"UPLOAD_MAX_RECEIVE_COUNT": previous})


_numbers = itertools.count(1)


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A fresh upload key per test (records are per key)."""
    return f"it/{request.node.name.split('[')[0]}-{next(_numbers)}.jpg"


@pytest.fixture(scope="session")
def portrait() -> bytes:
    return samples.astronaut()


@pytest.fixture(scope="session")
def second_portrait() -> bytes:
    return samples.astronaut_mirrored()


def vendor_delta(before: dict[str, Any], after: dict[str, Any], name: str) -> int:
    return int(after[name]) - int(before[name])


def image(body: bytes) -> Image.Image:
    return Image.open(io.BytesIO(body)).convert("RGB")


def near(pixel: tuple[int, ...], rgb: int, tolerance: int = 14) -> bool:
    """JPEG moves colours a little; a background is right when every channel is close."""
    expected = ((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


def top_corners(picture: Image.Image, inset: int = 3) -> list[tuple[int, ...]]:
    return [picture.getpixel((inset, inset)), picture.getpixel((picture.width - 1 - inset, inset))]  # type: ignore[list-item]


@pytest.fixture(autouse=True)
def cli_history(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The uploads `idphoto` remembers (for `idphoto list`) go to a test folder, never the home's."""
    monkeypatch.setenv("IDPHOTO_HISTORY", str(tmp_path_factory.mktemp("history") / "uploads.jsonl"))
