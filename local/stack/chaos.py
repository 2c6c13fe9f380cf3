"""``python -m local.stack.chaos``: the pipeline under at-least-once delivery, vendor faults, bad input and
concurrent finals requests, through the whole local stack (free ports); prints a Markdown table.

Default run (issue 4's ``make chaos``): 200 uploads, 10 % of all vendor calls answered HTTP 503 by the
stand-in (``transient_rate``, seeded), 5 % of the S3 events delivered twice (the same event document,
as a new asynchronous invocation: half at once, racing the first delivery, half after the photo is
finished), 5 % bad files (a text file named ``.jpg``, an empty object, a truncated JPEG, invalid
metadata), then ``--finals-concurrency`` (20) simultaneous ``POST /finals/{key}`` per READY photo over
real HTTP, each requester retrying ``409 FINALS_IN_PROGRESS``, ``503`` and the colours a ``200``
lists as ``pending`` until it has every colour. On top, 5 % of the functions' DynamoDB, S3 and Secrets
Manager calls fail (``--aws-fault-rate``, seeded) through the AWS fault proxy
(:mod:`local.stack.faultproxy`): throttling, 500s and "applied, then the connection dropped", in AWS's
own shapes; botocore's standard retries meet them first. And 5 % of all invocations, of every function
(``--crash-rate``, seeded), are killed with SIGKILL at a random instant of their first
``CRASH_WITHIN_S`` seconds (:class:`CrashFaults`), wherever the handler is then: between the billed
fetch and the copy, between the copy and the record. Lambda reports each as ``Runtime.ExitError``;
the asynchronous invoker retries it, a requester of finals sees API Gateway's 502 and asks again.

Then the **quota outage** case (:func:`run_quota_outage`, ``--quota-uploads``, 0 skips it): that many
good uploads; once ``--quota-out-after`` photos are made the vendor's quota runs out (the stand-in's
``quota_remaining: 0``, the gateway's ``B403MQ`` to every call), and comes back ``--quota-outage``
seconds later. Every upload must be made after it comes back, none failed for good, none made twice;
the uploads that waited say so in their status (``waiting``) while the quota is out.

Uploads reach make-photo through the template's upload queue and event source mapping
(:mod:`local.stack.sqs_source`); a failed upload comes back after make-photo's back-off, shortened
here (1 s doubling to 2 s; AWS: 30 s to 15 min), and the refusal wait spread over 1000 receives
(``UploadMaxReceiveCount``) of ten minutes (``VendorRefusalWaitMinutes``), so that a waiting upload is
tried every second or two.

Burst mode (``--burst 500 --rate-limit 5``): that many good uploads at once against a stand-in that
admits only ``--rate-limit`` vendor calls a second (the gateway's flow control, HTTP 429), with
make-photo's event source mapping's MaximumConcurrency from the template's ``MakePhotoConcurrency``
(``--concurrency`` overrides it); no finals.

Counted:

* **lost**: uploads without a record once no event is in flight;
* **stuck**: uploads whose record is still PROCESSING once no event is in flight;
* **made twice**: source keys the vendor *made* more than once, i.e. answered code 200 to more than one
  ``pic_handle_3`` for them. Counted in-process at the stand-in (its per-call counters have no key),
  from the ``pic_url`` of each call. A call refused with an injected 503 or a 429 made nothing: those
  are the retries, shown separately (``make calls = made + refused``);
* **billed calls per final**: the stand-in's billed ``get_pic_3`` calls / the (photo, colour) finals
  the requesters received.

Exit status 1 when anything is lost, made twice, billed more or less than once per final, or ended
otherwise than expected (a good upload FAILED, a bad one READY); 0 otherwise. Function logs go to
``<out>/stack.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import logging
import random
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import quote, unquote, unquote_plus, urlsplit

import requests

from local.stack import samples
from local.stack.lambdas import Kill
from local.stack.stack import Ports, Stack, start_stack

MAKE_PHOTO: Final = "MakePhotoFunction"
CONCURRENCY_PARAMETER: Final = "MakePhotoConcurrency"
BAD_KINDS: Final = ("text-as-jpg", "empty", "truncated-jpeg", "bad-metadata")
# Each fails our own checks before the vendor is called (INVALID_OPTIONS).
BAD_METADATA: Final = (
    {"background": "purple"},
    {"width-px": "2000"},
    {"background": "white,blue,red,gray,lightblue,#123456,#654321"},
    {"ratios": "0.5,0.7,0.5,0.72,0.05,0.15,0.35"},
    {"ratios": "1.5,0.7,0.5,0.72,0.05,0.15,0.35,0.75"},
    {"print-type": "9"},
    {"clothes": "x" * 300},
)
EXPECTED: Final = {
    "portrait": "READY",
    "text-as-jpg": "FAILED:UNSUPPORTED_OBJECT",
    "empty": "FAILED:UNSUPPORTED_OBJECT",
    # Passes the signature check; idphoto.preparing finds no end marker and refuses it before the vendor.
    "truncated-jpeg": "FAILED:UNSUPPORTED_OBJECT",
    "bad-metadata": "FAILED:INVALID_OPTIONS",
}
# In progress / the function crashed (API Gateway's 502) / vendor unavailable / local gateway timeout.
RETRYABLE_FINALS: Final = (409, 502, 503, 504)
CRASH_WITHIN_S: Final = 2.0  # a crash fault strikes this early in an invocation, or not at all


@dataclass(frozen=True)
class ChaosConfig:
    uploads: int = 200
    transient_rate: float = 0.1
    aws_fault_rate: float = 0.05  # of the functions' DynamoDB, S3 and Secrets Manager calls
    duplicate_rate: float = 0.05
    bad_rate: float = 0.05
    finals_concurrency: int = 20
    finals_photos: int = 3  # photos whose finals are requested at the same time
    finals: bool = True
    seed: int = 4
    rate_limit: float | None = None  # vendor calls a second (the stand-in's rate_limit_per_s)
    # Every n-th make call throttled (the stand-in's throttle_every): a limit that bites on any machine.
    throttle_every: int | None = None
    concurrency: int | None = None  # overrides the template's MakePhotoConcurrency
    retry_delays: tuple[float, ...] = (0.5, 1.0)  # Lambda's async retry delays (AWS: ~60 s, ~120 s)
    timeout_s: float = 600.0  # for everything to settle after the uploads
    crash_rate: float = 0.05  # of all invocations, killed (SIGKILL) at a random instant
    quota: QuotaConfig | None = None  # the quota outage case, after the run


@dataclass(frozen=True)
class QuotaConfig:
    uploads: int = 40
    out_after: int = 10  # photos made before the quota runs out
    outage_s: float = 15.0  # how long it stays out
    seed: int = 21


@dataclass(frozen=True)
class Upload:
    key: str  # full key, under the upload prefix
    kind: str  # "portrait" or one of BAD_KINDS
    body: bytes
    metadata: dict[str, str]
    colors: int  # colours a READY photo has
    duplicate: str = ""  # "", "early" (races the first delivery) or "late" (after it finished)

    @property
    def expected(self) -> str:
        return EXPECTED[self.kind]


@dataclass
class Outcome:
    upload: Upload
    status: str = "LOST"  # READY, FAILED, PROCESSING (stuck, once settled) or LOST
    code: str = ""
    finals: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"FAILED:{self.code}" if self.status == "FAILED" else self.status


# --- counting what the vendor made, per source key -----------------------------------------------


class MakeCounter:
    """Counts the photos the stand-in *made* (code 200 to ``pic_handle_3``) per source object key.

    The stand-in runs in this process: its vendor's ``make`` is wrapped on the instance, so calls that
    an injected fault (503, 429, malformed) refused never reach it and are not counted."""

    def __init__(self, stack: Stack) -> None:
        self._vendor = stack.standin.app.vendor
        self._bucket = stack.bucket
        self._lock = threading.Lock()
        self.made: Counter[str] = Counter()
        # When each successful make call came in (monotonic), per key: the call log that tells a remake
        # after a killed invocation from a real duplicate (:func:`remade_after_kills`).
        self.made_at: dict[str, list[float]] = {}
        self._original: Callable[..., dict[str, Any]] = self._vendor.make

    def __enter__(self) -> MakeCounter:
        # Whatever else the stand-in's server passes (the misframe fault's head share) passes through:
        # a wrapper narrower than the method made every make call a 500 (issue 27's burst stalled).
        @functools.wraps(self._original)
        def make(raw_body: bytes, *args: Any, **kwargs: Any) -> dict[str, Any]:
            called = time.monotonic()
            answer = self._original(raw_body, *args, **kwargs)
            if answer.get("code") == 200:
                key = self.source_key(raw_body)
                with self._lock:
                    self.made[key] += 1
                    self.made_at.setdefault(key, []).append(called)
            return answer

        self._vendor.make = make
        return self

    def __exit__(self, *exc: object) -> None:
        del self._vendor.make  # the class's method again

    def source_key(self, raw_body: bytes) -> str:
        """The S3 key behind a request's ``pic_url`` (a presigned path-style URL of the local S3)."""
        path = unquote(urlsplit(json.loads(raw_body)["pic_url"]).path)
        return path.removeprefix("/").removeprefix(self._bucket + "/")

    def twice(self) -> dict[str, int]:
        with self._lock:
            return {key: n for key, n in self.made.items() if n > 1}

    def calls(self) -> dict[str, list[float]]:
        with self._lock:
            return {key: sorted(times) for key, times in self.made_at.items()}

    def per_key(self) -> dict[str, int]:
        with self._lock:
            return dict(self.made)

    def total(self) -> int:
        with self._lock:
            return sum(self.made.values())


def event_keys(event: dict[str, Any]) -> set[str]:
    """The S3 keys of make-photo's event: the upload queue's records, each an S3 event in its body."""
    keys: set[str] = set()
    for record in event.get("Records", []):
        try:
            inner = json.loads(record["body"]) if "body" in record else {"Records": [record]}
            keys |= {unquote_plus(r["s3"]["object"]["key"]) for r in inner.get("Records", [])}
        except (KeyError, TypeError, ValueError):
            continue  # S3's test event, or anything else without an object: no key
    return keys


def remade_after_kills(
    made_at: dict[str, list[float]], kills: Sequence[Kill]
) -> tuple[dict[str, int], dict[str, int]]:
    """(remade after a kill, made twice otherwise): the keys the vendor made more than once, split by
    whether every extra make is proved to follow a killed make-photo invocation for that key.

    A make call at ``t`` is followed by a kill when an invocation for its key received its event before
    ``t`` (``handed_at <= t``), was killed after ``t`` (``t <= killed_at``: the vendor had the call,
    the record was not written), and the next make of that key came after the kill. Nothing can avoid
    that remake without an idempotency key at the vendor (making is not billed; ``get_pic_3`` is)."""
    by_key: dict[str, list[Kill]] = {}
    for kill in kills:
        for key in event_keys(kill.event):
            by_key.setdefault(key, []).append(kill)
    remade: dict[str, int] = {}
    twice: dict[str, int] = {}
    for key, times in made_at.items():
        if len(times) < 2:
            continue
        explained = all(
            any(
                k.handed_at is not None and k.handed_at <= made <= k.killed_at <= following
                for k in by_key.get(key, [])
            )
            for made, following in itertools.pairwise(times)
        )
        (remade if explained else twice)[key] = len(times)
    return remade, twice


# --- the plan --------------------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    """A real JPEG cut off after a third: the signature is right, the image is not there."""
    body = samples.astronaut()
    return body[: len(body) // 3]


def empty() -> bytes:
    return b""


BAD_BODIES: Final[dict[str, Callable[[], bytes]]] = {
    "text-as-jpg": samples.not_an_image,
    "empty": empty,
    "truncated-jpeg": truncated_jpeg,
    "bad-metadata": samples.astronaut,
}


def plan(config: ChaosConfig, prefix: str) -> list[Upload]:
    """Which upload is bad (exact counts, seeded), which event is delivered twice and when."""
    dice = random.Random(config.seed)  # noqa: S311 - a reproducible plan, not a secret
    n = config.uploads
    bad = set(dice.sample(range(n), round(n * config.bad_rate)))
    duplicated = dice.sample(range(n), round(n * config.duplicate_rate))
    timing = {i: ("early" if j % 2 == 0 else "late") for j, i in enumerate(duplicated)}
    names = ("portrait", "a b+c", "café 照片", "100% sure")  # keys S3 encodes in events
    uploads: list[Upload] = []
    for i in range(n):
        key = f"{prefix}chaos/{config.seed}/{i:04d} {names[i % len(names)]}.jpg"
        if i in bad:
            kind = BAD_KINDS[len([b for b in bad if b < i]) % len(BAD_KINDS)]
            body = BAD_BODIES[kind]()
            metadata = dict(BAD_METADATA[i % len(BAD_METADATA)]) if kind == "bad-metadata" else {}
            uploads.append(Upload(key, kind, body, metadata, 0, timing.get(i, "")))
            continue
        two_colors = i % 4 == 3
        body = samples.astronaut() if i % 2 == 0 else samples.astronaut_mirrored()
        metadata = {"background": "white,blue"} if two_colors else {}
        uploads.append(Upload(key, "portrait", body, metadata, 2 if two_colors else 1, timing.get(i, "")))
    return uploads


def burst_config(
    uploads: int,
    rate_limit: float | None,
    base: ChaosConfig,
    throttle_every: int | None = None,
    duplicate_rate: float = 0.0,
) -> ChaosConfig:
    return ChaosConfig(
        uploads=uploads,
        transient_rate=0.0,
        aws_fault_rate=0.0,
        duplicate_rate=duplicate_rate,
        bad_rate=0.0,
        finals=False,
        seed=base.seed,
        rate_limit=rate_limit,
        throttle_every=throttle_every,
        concurrency=base.concurrency,
        retry_delays=base.retry_delays,
        timeout_s=base.timeout_s,
        crash_rate=base.crash_rate,
    )


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Report:
    config: ChaosConfig
    outcomes: list[Outcome]
    made_twice: dict[str, int]  # made more than once, not explained by a kill
    made: int
    made_per_key: dict[str, int]
    vendor: dict[str, Any]
    invoker: dict[str, int]
    parked: int
    finals_answers: Counter[int]
    finals_fetched: int
    concurrency: int
    seconds: dict[str, float]
    aws: dict[str, Any] = field(default_factory=dict)  # the fault proxy's stats (calls, injected)
    uncertain_accepted: int = 0  # finals fetched again with retry_uncertain=1
    crashes: dict[str, int] = field(default_factory=dict)  # planned, and killed per function
    remade_after_kill: dict[str, int] = field(default_factory=dict)  # proved: each remake followed a kill
    quota: QuotaReport | None = None  # the quota outage case, when it ran

    @property
    def stuck(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "PROCESSING"]

    @property
    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "LOST"]

    @property
    def unexpected(self) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.status not in ("LOST", "PROCESSING") and o.label != o.upload.expected
        ]

    @property
    def billed_per_final(self) -> float | None:
        if not self.finals_fetched:
            return None
        return int(self.vendor["billed_calls"]) / self.finals_fetched

    @property
    def ok(self) -> bool:
        billing_ok = not self.config.finals or self.billed_per_final == 1.0
        quota_ok = self.quota is None or self.quota.ok
        return (
            not self.lost
            and not self.stuck
            and not self.made_twice
            and not self.unexpected
            and billing_ok
            and quota_ok
            and not self.parked
        )


def run(config: ChaosConfig, stack: Stack) -> Report:
    """Everything against a running stack (its stand-in faults are set here and reset at the end)."""
    started = time.monotonic()
    seconds: dict[str, float] = {}
    uploads = plan(config, stack.upload_prefix)
    source = stack.queue_sources[MAKE_PHOTO]
    source_before = {"invocations": source.stats.invocations, "retries": _comebacks(stack)}
    parked_before = _dead_letters(stack)
    stack.vendor_reset()
    vendor_before = stack.vendor_stats()
    faults: dict[str, Any] = {}
    if config.transient_rate:
        faults["transient_rate"] = {"rate": config.transient_rate, "seed": config.seed}
    if config.rate_limit:
        faults["rate_limit_per_s"] = config.rate_limit
    if config.throttle_every:
        faults["throttle_every"] = {"every": config.throttle_every, "call": "make"}
    stack.vendor_faults(faults)
    if config.aws_fault_rate and stack.aws_faults is not None:
        stack.aws_faults.reset()
        stack.aws_faults.set({"rate": {"rate": config.aws_fault_rate, "seed": config.seed}})
    uncertain: list[int] = []
    crashes = _arm_crashes(stack, config)
    try:
        with MakeCounter(stack) as counter:
            _upload_all(stack, uploads)
            _redeliver(stack, [u for u in uploads if u.duplicate == "early"], after_finish=False)
            _settle(stack, uploads, config.timeout_s)
            seconds["making"] = time.monotonic() - started
            outcomes = {o.upload.key: o for o in _outcomes(stack, uploads)}
            late = [u for u in uploads if u.duplicate == "late"]
            answers: Counter[int] = Counter()
            finals_started = time.monotonic()
            with ThreadPoolExecutor(1) as background:
                redelivered = background.submit(_redeliver, stack, late, after_finish=True)
                if config.finals:
                    ready = [o for o in outcomes.values() if o.status == "READY"]
                    answers = _fetch_all_finals(
                        stack, ready, config.finals_concurrency, config.finals_photos, uncertain
                    )
                redelivered.result()
            seconds["finals"] = time.monotonic() - finals_started
            if late or config.finals:
                _settle(stack, uploads, config.timeout_s)
                # Late duplicates and finals requests must not have changed a finished photo.
                for after in _outcomes(stack, uploads):
                    before = outcomes[after.upload.key]
                    if (after.status, after.code) != (before.status, before.code):
                        before.status, before.code = "CHANGED", f"{before.label}->{after.label}"
            made, made_per_key = counter.total(), counter.per_key()
            kills = list(stack.functions[MAKE_PHOTO].kills)
            remade, made_twice = remade_after_kills(counter.calls(), kills)
    finally:
        _disarm_crashes(stack)
        stack.vendor_faults({"transient_rate": None, "rate_limit_per_s": None, "throttle_every": None})
        aws = stack.aws_faults.stats() if stack.aws_faults is not None else {}
        if stack.aws_faults is not None:
            stack.aws_faults.set({"rate": None})
    vendor_after = stack.vendor_stats()
    seconds["total"] = time.monotonic() - started
    return Report(
        config=config,
        outcomes=list(outcomes.values()),
        made_twice=made_twice,
        made=made,
        made_per_key=made_per_key,
        remade_after_kill=remade,
        vendor=_delta(vendor_before, vendor_after),
        invoker={
            "invocations": source.stats.invocations - source_before["invocations"],
            "retries": _comebacks(stack) - source_before["retries"],
        },
        parked=_dead_letters(stack) - parked_before,
        finals_answers=answers,
        finals_fetched=sum(len(o.finals) for o in outcomes.values()),
        concurrency=source.pollers,
        seconds=seconds,
        aws=aws,
        uncertain_accepted=len(uncertain),
        crashes=crashes.counts(stack) if crashes is not None else {},
    )


def _comebacks(stack: Stack) -> int:
    """Receives of the upload queue whose message came back (failed items and failed invocations)."""
    stats = stack.queue_sources[MAKE_PHOTO].stats
    return stats.items_failed + stats.batches_failed


def _dead_letters(stack: Stack) -> int:
    answer = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def _upload_all(stack: Stack, uploads: Sequence[Upload]) -> None:
    s3 = stack.client("s3")  # one client: boto3 clients are thread-safe, and costly to create

    def put(upload: Upload) -> None:
        content_type = "image/jpeg"
        s3.put_object(
            Bucket=stack.bucket,
            Key=upload.key,
            Body=upload.body,
            Metadata=upload.metadata,
            ContentType=content_type,
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, uploads))


def _redeliver(stack: Stack, uploads: Sequence[Upload], *, after_finish: bool) -> None:
    """Deliver each upload's event document a second time, as soon as the first delivery happened
    (``after_finish``: once the photo is READY or FAILED)."""
    for upload in uploads:
        # A queued upload is delivered when a poller gets to it: behind a burst and a throttling
        # vendor that can take minutes on a loaded machine.
        stack.deliveries.wait_for(upload.key, timeout=300)
        if after_finish:
            stack.wait_for_photo(upload.key, timeout=300)
        stack.redeliver(upload.key)


def _settle(stack: Stack, uploads: Sequence[Upload], timeout_s: float) -> None:
    """Every upload delivered at least once, then no event queued, running or waiting for a retry."""
    deadline = time.monotonic() + timeout_s
    for upload in uploads:
        stack.deliveries.wait_for(upload.key, timeout=max(1.0, deadline - time.monotonic()))
    if not stack.wait_idle(max(1.0, deadline - time.monotonic())):
        raise TimeoutError(f"events still in flight after {timeout_s:.0f} s")


def _outcomes(stack: Stack, uploads: Sequence[Upload]) -> list[Outcome]:
    def outcome(upload: Upload) -> Outcome:
        found = Outcome(upload)
        answer = _session().get(stack.photo_url(upload.key), timeout=35)
        for _ in range(20):  # API Gateway's 502: get-photo was killed (a crash fault); ask again
            if answer.status_code != 502:
                break
            answer = _session().get(stack.photo_url(upload.key), timeout=35)
        if answer.status_code == 200:
            body = answer.json()
            if body["status"] in ("READY", "FAILED", "PROCESSING"):
                found.status = body["status"]
                found.code = (body.get("error") or {}).get("code", "")
        elif answer.status_code != 404:
            raise RuntimeError(f"GET {upload.key}: HTTP {answer.status_code} {answer.text[:300]}")
        return found

    with ThreadPoolExecutor(8, thread_name_prefix="status") as pool:
        return list(pool.map(outcome, uploads))


_sessions = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
    return session


def _fetch_all_finals(
    stack: Stack, ready: Sequence[Outcome], concurrency: int, photos_at_once: int, uncertain: list[int]
) -> Counter[int]:
    """For each READY photo, ``concurrency`` simultaneous requests for all its finals; ``photos_at_once``
    photos at a time."""
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def one_photo(outcome: Outcome) -> None:
        url = f"{stack.api_url}/finals/{quote(outcome.upload.key, safe='/')}"
        gate = threading.Barrier(concurrency)
        with ThreadPoolExecutor(concurrency, thread_name_prefix="finals") as requesters:
            served = [
                requesters.submit(_finals_until_served, url, gate, outcome.upload.colors, uncertain)
                for _ in range(concurrency)
            ]
            for requester in served:
                colors, statuses = requester.result()
                with lock:
                    outcome.finals |= colors
                    answers.update(statuses)

    with ThreadPoolExecutor(photos_at_once, thread_name_prefix="photos") as photos:
        list(photos.map(one_photo, ready))
    return answers


def _finals_until_served(
    url: str, gate: threading.Barrier, colors: int, uncertain: list[int], attempts: int = 200
) -> tuple[set[str], list[int]]:
    """One client: POST until every colour came (409, 503 and a 200's ``pending`` colours are retried
    after a short pause). A FINAL_UNCERTAIN is asked again with retry_uncertain=1, as a user who
    accepts paying again would: counted, since it may be billed twice."""
    statuses: list[int] = []
    served: set[str] = set()
    params: dict[str, str] = {}
    gate.wait(timeout=30)  # all requesters of a photo start together
    for _ in range(attempts):
        answer = _session().post(url, params=params, timeout=40)
        statuses.append(answer.status_code)
        params = {}
        if answer.status_code == 200:
            body = answer.json()
            served |= {f["color"] for f in body["finals"]}
            if not body.get("pending") and len(served) >= max(1, colors):
                return served, statuses
        elif answer.status_code == 409 and answer.json()["error"]["code"] == "FINAL_UNCERTAIN":
            uncertain.append(1)
            params = {"retry_uncertain": "1"}
            continue
        elif answer.status_code not in RETRYABLE_FINALS:
            return served, statuses
        time.sleep(random.uniform(0.05, 0.3))  # noqa: S311 - jitter, not a secret
    return served, statuses


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in after.items():
        if isinstance(value, int):
            out[name] = value - int(before.get(name, 0))
        elif isinstance(value, dict):
            out[name] = {k: v - int(before.get(name, {}).get(k, 0)) for k, v in value.items()}
    return out


# --- the quota outage case -------------------------------------------------------------------------


@dataclass
class QuotaReport:
    config: QuotaConfig
    outcomes: list[Outcome]
    made_before: int  # photos made when the quota ran out
    waited: set[str]  # uploads whose status said "waiting" during the outage
    refusals: int  # make calls the gateway refused (B403MQ)
    made_twice: dict[str, int]
    made: int
    parked: int  # messages in the dead-letter queue afterwards
    outage_s: float
    settle_s: float  # from the quota's return until every upload was finished

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAILED"]

    @property
    def unfinished(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "READY"]

    @property
    def ok(self) -> bool:
        return (
            not self.unfinished
            and not self.made_twice
            and self.made == len(self.outcomes)
            and not self.parked
            and self.refusals > 0  # the quota did run out on some upload
            and bool(self.waited)
        )


def run_quota_outage(config: QuotaConfig, stack: Stack, timeout_s: float = 600.0) -> QuotaReport:
    """Good uploads; the quota runs out after ``out_after`` photos are made and comes back
    ``outage_s`` later; nobody touches the uploads. Every one must be made, once."""
    chaos = ChaosConfig(uploads=config.uploads, bad_rate=0.0, duplicate_rate=0.0, seed=config.seed)
    uploads = plan(chaos, stack.upload_prefix + "quota/")
    stack.vendor_reset()
    before = stack.vendor_stats()
    parked_before = _dead_letters(stack)
    waited: set[str] = set()
    with MakeCounter(stack) as counter:
        _upload_all(stack, uploads)
        _wait_until(lambda: counter.total() >= config.out_after, timeout_s, "photos made before the outage")
        stack.vendor_faults({"quota_remaining": 0})
        made_before = counter.total()
        out_at = time.monotonic()
        try:
            while time.monotonic() - out_at < config.outage_s:
                waited |= {o.upload.key for o in _waiting(stack, uploads)}
                time.sleep(0.5)
        finally:
            stack.vendor_faults({"quota_remaining": None})
        back_at = time.monotonic()
        _settle(stack, uploads, timeout_s)
        settle_s = time.monotonic() - back_at
        outcomes = _outcomes(stack, uploads)
        made_twice, made = counter.twice(), counter.total()
    refusals = int(_delta(before, stack.vendor_stats())["gateway_errors"].get("B403MQ", 0))
    return QuotaReport(
        config=config,
        outcomes=outcomes,
        made_before=made_before,
        waited=waited,
        refusals=refusals,
        made_twice=made_twice,
        made=made,
        parked=_dead_letters(stack) - parked_before,
        outage_s=back_at - out_at,
        settle_s=settle_s,
    )


def _waiting(stack: Stack, uploads: Sequence[Upload]) -> list[Outcome]:
    """The uploads whose status says they wait for the vendor (``waiting``)."""

    def waits(upload: Upload) -> bool:
        answer = _session().get(stack.photo_url(upload.key), timeout=35)
        return answer.status_code == 200 and "waiting" in answer.json()

    with ThreadPoolExecutor(8, thread_name_prefix="waiting") as pool:
        flags = list(pool.map(waits, uploads))
    return [Outcome(u, "PROCESSING") for u, flag in zip(uploads, flags, strict=True) if flag]


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout_s:.0f} s")
        time.sleep(0.1)


def quota_rows(report: QuotaReport) -> list[tuple[str, str]]:
    config = report.config
    statuses = Counter(o.label for o in report.outcomes)
    return [
        (
            "**quota outage** (uploads)",
            f"{len(report.outcomes)} uploads; the quota ran out after {report.made_before} photos were made,"
            f" came back {report.outage_s:.0f} s later",
        ),
        (
            "quota outage: while out",
            f"{len(report.waited)} uploads said 'waiting' (VENDOR_ACCOUNT), {report.refusals} make calls"
            " refused (B403MQ)",
        ),
        (
            "**quota outage: after it came back**",
            f"**{_mix(statuses)}; {len(report.made_twice)} made twice; {report.parked} in the dead-letter"
            f" queue; all made {report.settle_s:.0f} s after the quota came back**",
        ),
        (
            "quota outage: plan",
            f"out after {config.out_after} made, {config.outage_s:.0f} s, seed {config.seed}",
        ),
    ]


def quota_problems(report: QuotaReport) -> list[str]:
    lines = [f"quota outage: {o.upload.key}: {o.label}" for o in report.unfinished]
    lines += [f"quota outage: made {n} times: {key}" for key, n in sorted(report.made_twice.items())]
    if report.parked:
        lines.append(f"quota outage: {report.parked} upload(s) in the dead-letter queue")
    if not report.refusals or not report.waited:
        lines.append("quota outage: the quota never bit (no refusal, no upload waited)")
    if report.made != len(report.outcomes):
        lines.append(f"quota outage: the vendor made {report.made} photos of {len(report.outcomes)}")
    return lines


# --- the table -------------------------------------------------------------------------------------


def table(report: Report) -> str:
    config, vendor = report.config, report.vendor
    by_kind = Counter(o.upload.kind for o in report.outcomes)
    failed = Counter(o.code for o in report.outcomes if o.status == "FAILED")
    duplicated = Counter(o.upload.duplicate for o in report.outcomes if o.upload.duplicate)
    refusals = {code: n for code, n in vendor["make_codes"].items() if code != "200"}
    rejected = sum(refusals.values())
    transient = int(vendor["make_calls"]) - sum(vendor["make_codes"].values())  # no vendor code came back
    rows: list[tuple[str, str]] = [
        ("uploaded", f"{len(report.outcomes)} ({by_kind['portrait']} portraits, {_bad_mix(by_kind)})"),
        ("events delivered twice", f"{sum(duplicated.values())} ({_mix(duplicated)})"),
        ("READY", str(sum(o.status == "READY" for o in report.outcomes))),
    ]
    rows += [(f"FAILED {code}", str(n)) for code, n in sorted(failed.items())]
    rows += [
        ("**lost**", f"**{len(report.lost)}**"),
        ("**left PROCESSING**", f"**{len(report.stuck)}**"),
        ("**made twice**", f"**{len(report.made_twice)}**"),
        (
            "remade after a kill",
            f"{len(report.remade_after_kill)} (make-photo killed after the vendor's make, before the"
            " record; not billed)",
        ),
        ("unexpected outcome", str(len(report.unexpected))),
        (
            "vendor make calls",
            f"{vendor['make_calls']}: {report.made} made, {rejected} refused by the vendor"
            f" ({_codes(refusals) or 'none'}), {transient} transient failures (503, 429) retried",
        ),
        (
            "make-photo invocations",
            f"{report.invoker['invocations']} ({report.invoker['retries']} came back through the queue,"
            f" {report.parked} to the dead-letter queue; MaximumConcurrency {report.concurrency})",
        ),
    ]
    if config.finals:
        per_final = report.billed_per_final
        rows += [
            (
                "finals requests",
                f"{sum(report.finals_answers.values())} ({_mix(report.finals_answers)};"
                f" {config.finals_concurrency} at once per photo)",
            ),
            ("finals fetched (photo x colour)", str(report.finals_fetched)),
            ("billed get_pic_3 calls", f"{vendor['billed_calls']} of {vendor['get_calls']} get calls"),
            ("**billed calls per final**", f"**{per_final:.3f}**" if per_final is not None else "**n/a**"),
        ]
    if report.aws:
        rows += _aws_rows(report.aws)
    if report.crashes:
        rows += _crash_rows(report.crashes)
    if report.quota is not None:
        rows += quota_rows(report.quota)
    rows.append(("wall time", ", ".join(f"{k} {v:.0f} s" for k, v in report.seconds.items())))
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "\n".join(lines)


def _aws_rows(aws: dict[str, Any]) -> list[tuple[str, str]]:
    calls = aws.get("calls", {})
    injected: dict[str, int] = aws.get("injected", {})
    by_kind: Counter[str] = Counter()
    for name, n in injected.items():
        by_kind[name.partition(":")[2]] += n
    rows = [
        ("AWS calls of the functions", f"{sum(calls.values())} ({_codes(calls) or 'none'})"),
        ("AWS faults injected", f"{sum(injected.values())} ({_codes(dict(by_kind)) or 'none'})"),
    ]
    for kind in sorted(by_kind):
        per_service = {k.partition(":")[0]: n for k, n in injected.items() if k.endswith(":" + kind)}
        rows.append((f"AWS faults: {kind}", _codes(per_service)))
    return rows


def _mix(counts: Counter[Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))) or "none"


def _bad_mix(by_kind: Counter[str]) -> str:
    return "bad: " + (", ".join(f"{kind} {by_kind[kind]}" for kind in BAD_KINDS if by_kind[kind]) or "none")


def _codes(codes: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()) if v)


def problems(report: Report) -> list[str]:
    lines = [f"lost: {o.upload.key}" for o in report.lost]
    lines += [f"left PROCESSING: {o.upload.key}" for o in report.stuck]
    lines += [f"made {n} times: {key}" for key, n in sorted(report.made_twice.items())]
    lines += [f"{o.upload.key}: {o.label}, expected {o.upload.expected}" for o in report.unexpected]
    per_final = report.billed_per_final
    if report.config.finals and per_final != 1.0:
        lines.append(f"billed calls per final: {per_final}")
    if report.parked:
        lines.append(f"{report.parked} upload(s) in the dead-letter queue")
    if report.quota is not None:
        lines += quota_problems(report.quota)
    return lines


# --- crash faults ----------------------------------------------------------------------------------


class CrashFaults:
    """A seeded share of invocations is killed: for each, the instant after the runtime received the
    event at which its process gets SIGKILL (:attr:`local.stack.lambdas.LocalFunction.crash`). An
    invocation that ends before its instant is not killed; only real kills are counted."""

    def __init__(self, rate: float, seed: int, within_s: float = CRASH_WITHIN_S) -> None:
        self._dice = random.Random(seed)  # noqa: S311 - fault dice, not crypto
        self._rate = rate
        self._within_s = within_s
        self._lock = threading.Lock()
        self.planned = 0
        self._killed_before: dict[str, int] = {}

    def __call__(self, request_id: str) -> float | None:  # noqa: ARG002 - every invocation alike
        with self._lock:
            if self._dice.random() >= self._rate:
                return None
            self.planned += 1
            return self._dice.uniform(0.0, self._within_s)

    def arm(self, stack: Stack) -> None:
        for logical_id, function in stack.functions.items():
            self._killed_before[logical_id] = function.stats.killed["chaos"]
            function.crash = self

    def counts(self, stack: Stack) -> dict[str, int]:
        killed = {
            function.spec.name: function.stats.killed["chaos"] - self._killed_before.get(logical_id, 0)
            for logical_id, function in stack.functions.items()
        }
        return {"planned": self.planned, **killed}


def _arm_crashes(stack: Stack, config: ChaosConfig) -> CrashFaults | None:
    if not config.crash_rate:
        return None
    crashes = CrashFaults(config.crash_rate, config.seed)
    crashes.arm(stack)
    return crashes


def _disarm_crashes(stack: Stack) -> None:
    for function in stack.functions.values():
        function.crash = None


def _crash_rows(crashes: dict[str, int]) -> list[tuple[str, str]]:
    killed = {name: n for name, n in crashes.items() if name != "planned"}
    return [
        (
            "**crash faults (SIGKILL mid-invocation)**",
            f"**{sum(killed.values())}** killed ({_codes(killed) or 'none'}); {crashes.get('planned', 0)}"
            f" planned, the rest ended before their instant",
        )
    ]


# --- command line ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack.chaos", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument(
        "--transient-rate", type=float, default=0.1, help="share of vendor calls answered 503"
    )
    parser.add_argument(
        "--aws-fault-rate", type=float, default=0.05, help="share of the functions' AWS calls that fail"
    )
    parser.add_argument("--duplicate-rate", type=float, default=0.05, help="share of events delivered twice")
    parser.add_argument("--bad-rate", type=float, default=0.05, help="share of bad files")
    parser.add_argument("--finals-concurrency", type=int, default=20, help="simultaneous requests per photo")
    parser.add_argument("--finals-photos", type=int, default=3, help="photos whose finals are asked at once")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--burst", type=int, metavar="N", help="burst mode: N good uploads, no finals")
    parser.add_argument("--rate-limit", type=float, help="vendor calls a second the stand-in admits")
    parser.add_argument("--concurrency", type=int, help=f"override the template's {CONCURRENCY_PARAMETER}")
    parser.add_argument(
        "--retry-delays", default="0.5,1", help="Lambda's async retry delays, s (AWS: ~60,120)"
    )
    parser.add_argument(
        "--crash-rate", type=float, default=0.05, help="share of invocations killed with SIGKILL"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds for everything to settle")
    parser.add_argument(
        "--quota-uploads", type=int, default=40, help="uploads of the quota outage case (0: skip)"
    )
    parser.add_argument(
        "--quota-out-after", type=int, default=10, help="photos made before the quota runs out"
    )
    parser.add_argument("--quota-outage", type=float, default=15, help="seconds the quota stays out")
    parser.add_argument("--out", default="out/chaos", help="folder for stack.log (default %(default)s)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> ChaosConfig:
    base = ChaosConfig(
        uploads=args.uploads,
        transient_rate=args.transient_rate,
        aws_fault_rate=args.aws_fault_rate,
        duplicate_rate=args.duplicate_rate,
        bad_rate=args.bad_rate,
        finals_concurrency=args.finals_concurrency,
        finals_photos=args.finals_photos,
        seed=args.seed,
        rate_limit=args.rate_limit,
        concurrency=args.concurrency,
        retry_delays=tuple(float(d) for d in args.retry_delays.split(",") if d.strip()),
        timeout_s=args.timeout,
        crash_rate=args.crash_rate,
        quota=QuotaConfig(args.quota_uploads, args.quota_out_after, args.quota_outage)
        if args.quota_uploads
        else None,
    )
    return burst_config(args.burst, args.rate_limit or 5.0, base) if args.burst else base


# With AWS faults, the AppCode is cached for this long instead of the deployed 300 s: otherwise the
# whole run reads the secret a handful of times and Secrets Manager's 5 % never shows.
CHAOS_APPCODE_CACHE_S: Final = "2"


# make-photo's back-off of a failed upload (AWS: 30 s doubling to 15 min).
CHAOS_BACKOFF: Final = {"BACKOFF_SECONDS": "1", "BACKOFF_CAP_SECONDS": "2"}
# A waiting upload tried about every second: the refusal wait (10 min) spread over 1000 receives.
CHAOS_QUEUE_PARAMETERS: Final = {"UploadMaxReceiveCount": "1000", "VendorRefusalWaitMinutes": "10"}
# The upload queue's visibility timeout (AWS: 1080 s): longer than any chaos invocation, as AWS's is.
CHAOS_VISIBILITY_TIMEOUT_S: Final = 60


@contextlib.contextmanager
def chaos_stack(config: ChaosConfig, log: TextIO) -> Iterator[Stack]:
    with _chaos_stack(config, log) as stack:
        yield stack


@contextlib.contextmanager
def _chaos_stack(config: ChaosConfig, log: TextIO) -> Iterator[Stack]:
    parameters = dict(CHAOS_QUEUE_PARAMETERS)
    if config.concurrency:
        parameters[CONCURRENCY_PARAMETER] = str(config.concurrency)
    with contextlib.redirect_stdout(log):  # the functions' structured logs
        stack = start_stack(
            ports=Ports.ephemeral(),
            parameters=parameters,
            retry_delays=config.retry_delays,
            # Like `sam local --env-vars`: the functions' own variables, for this run only.
            environment={
                **CHAOS_BACKOFF,
                **({"APPCODE_CACHE_SECONDS": CHAOS_APPCODE_CACHE_S} if config.aws_fault_rate else {}),
            },
            visibility_timeout_s=CHAOS_VISIBILITY_TIMEOUT_S,
        )
    try:
        yield stack
    finally:
        with contextlib.redirect_stdout(log):
            stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (out / "stack.log").open("w", encoding="utf-8") as log:
        # Routes that record no metric flush nothing; Powertools warns about it every time.
        warnings.filterwarnings("ignore", "No application metrics to publish")
        logging.basicConfig(
            level=logging.WARNING, stream=log, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        report = _run_logged(config, log, started, out)
    mode = f"burst of {config.uploads}, rate limit {config.rate_limit}/s" if args.burst else "chaos"
    print(f"\n{mode} (seed {config.seed}), {time.monotonic() - started:.0f} s wall\n")
    print(table(report))
    found = problems(report)
    for line in found[:50]:
        print("  " + line)
    print("\nOK" if report.ok else f"\nFAILED: {len(found)} problem(s)")
    return 0 if report.ok else 1


def _run_logged(config: ChaosConfig, log: TextIO, started: float, out: Path) -> Report:
    with chaos_stack(config, log) as stack:
        print(f"stack up in {time.monotonic() - started:.1f} s; logs in {out / 'stack.log'}", flush=True)
        with contextlib.redirect_stdout(log):
            report = run(config, stack)
            if config.quota is not None:
                report.quota = run_quota_outage(config.quota, stack, config.timeout_s)
            return report


if __name__ == "__main__":
    sys.exit(main())
