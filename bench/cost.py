"""A cost model from measured counts: AWS cost per 1,000 photos, and billed vendor calls.

The scenario of one photo, run for real through the local stack (ours) and by the floor:

1. the client uploads the portrait (S3 PUT); make-photo makes it (the vendor downloads the portrait
   through the presigned URL: an S3 GET billed to the bucket owner);
2. the client asks for its status once (API request);
3. the client asks for the finals of its one colour twice, one request after the other (API requests;
   the first is billed at the vendor, the second is served from our copy), and downloads the photo
   and the sheet after each answer (S3 GETs).

Billed vendor calls are counted by the stand-in for that scenario and again with the two finals
requests sent at once (pay-once under concurrency: the floor, without a claim, pays twice).

Everything countable is counted while it runs (:mod:`bench.probe`; our functions' calls, made in
their own processes, as the front of moto and the stand-in see them: :class:`bench.stackrun.Attribution`):
AWS calls by operation, the size of the photo record before and after each DynamoDB call (it decides
the request units), the bytes the functions log, the vendor's billed calls at the stand-in. Lambda time is each invocation's measured
time with the vendor's share replaced by 3 s per vendor API call (its usual answer time; result
downloads are included in that share), billed per ms at the template's memory on arm64.

Not included: the vendor's own fees, storage (GB-month), the CloudWatch custom-metric and alarm
charges (per month, not per photo), KMS requests (DynamoDB and SQS cache the data key for minutes).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import boto3

from bench import probe
from bench.context import FLOOR_SOURCE_KEY
from bench.floor import Floor
from bench.report import Row, Section, ratio
from bench.stackrun import GET, MAKE, Invocation
from local.stack.template import TEMPLATE_PATH, load

if TYPE_CHECKING:
    from bench.context import Context

# --- unit prices ------------------------------------------------------------------------------------
# US East (N. Virginia), public list prices as read in 2026. Prices change: check the pages before
# relying on a figure. Free tiers are left out (they are per account, not per photo).

# https://aws.amazon.com/lambda/pricing/ - Arm, duration, first 7.5 billion GB-seconds a month.
LAMBDA_ARM_PER_GB_SECOND: Final = 0.0000133334
# https://aws.amazon.com/lambda/pricing/ - requests, any architecture.
LAMBDA_PER_REQUEST: Final = 0.20 / 1_000_000
# https://aws.amazon.com/dynamodb/pricing/on-demand/ - Standard table class, on-demand.
DYNAMODB_PER_WRITE_UNIT: Final = 0.625 / 1_000_000
DYNAMODB_PER_READ_UNIT: Final = 0.125 / 1_000_000
# https://aws.amazon.com/s3/pricing/ - S3 Standard requests: PUT, COPY, POST, LIST / GET and others.
S3_PER_PUT: Final = 0.005 / 1_000
S3_PER_GET: Final = 0.0004 / 1_000
# https://aws.amazon.com/api-gateway/pricing/ - REST APIs, first 333 million requests a month.
API_GATEWAY_REST_PER_REQUEST: Final = 3.50 / 1_000_000
# https://aws.amazon.com/xray/pricing/ - traces recorded (the API stage has TracingEnabled). Every API
# request is counted as a trace: an upper bound, since X-Ray's default sampling rule records the
# first request each second and 5 % of the rest.
XRAY_PER_TRACE: Final = 5.00 / 1_000_000
# https://aws.amazon.com/secrets-manager/pricing/ - API calls (the secret's monthly fee is fixed).
SECRETS_MANAGER_PER_CALL: Final = 0.05 / 10_000
# https://aws.amazon.com/cloudwatch/pricing/ - Logs, Standard class, data ingested.
CLOUDWATCH_LOGS_PER_GB: Final = 0.50

# --- assumptions ------------------------------------------------------------------------------------
VENDOR_SECONDS: Final = 3.0  # the vendor's usual answer time, per vendor API call
# Lambda's own START, END and REPORT lines of every invocation, about this many bytes together.
PLATFORM_LOG_BYTES: Final = 350
CLIENT_DOWNLOADS_PER_ANSWER: Final = 2  # the client fetches the photo and the print sheet
WRITE_UNIT_BYTES: Final = 1024
READ_UNIT_BYTES: Final = 4096
FINALS_REQUESTS: Final = 2
RACE_TRIALS: Final = 300  # moto's claim races are rare (about 1 in 100): enough trials to see some


# --- DynamoDB item size, as AWS documents it ----------------------------------------------------------


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item in DynamoDB's low-level shape: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown DynamoDB type {kind}")


class RecordSizer:
    """The probe's DynamoDB observer: after each call, the item's size before and after it."""

    def __init__(self) -> None:
        self._client: Any = boto3.session.Session().client("dynamodb")
        self._sizes: dict[str, int] = {}

    def __call__(self, operation: str, params: dict[str, Any], tally: probe.Tally) -> None:
        if operation not in ("GetItem", "PutItem", "UpdateItem"):
            return
        key = params.get("Key") or {"photo_key": params["Item"]["photo_key"]}
        name = key["photo_key"]["S"]
        item = self._client.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True).get("Item")
        after = item_size(item) if item else 0
        before = self._sizes.get(name, 0)
        self._sizes[name] = after
        kind = operation + ("+consistent" if params.get("ConsistentRead") else "")
        tally.dynamo.append((kind, name, before, after))


# --- one photo's work, and what it costs ---------------------------------------------------------------


@dataclass
class Work:
    """One invocation (ours) or one step (the floor): its time and what it did."""

    function: str
    seconds: float
    tally: probe.Tally

    @property
    def billed_seconds(self) -> float:
        vendor_api_calls = sum(
            n for path, n in self.tally.vendor_calls.items() if path in probe.VENDOR_API_PATHS
        )
        seconds = self.seconds - self.tally.vendor_s + VENDOR_SECONDS * vendor_api_calls
        return math.ceil(max(seconds, 0.001) * 1000) / 1000  # Lambda bills by the millisecond


@dataclass
class Lifecycle:
    photos: int
    work: list[Work] = field(default_factory=list)
    api_requests: int = 0
    finals_answers: int = 0
    log_bytes: int = 0
    billed_calls: int = 0
    # Photos whose two concurrent finals requests both won the conditional claim and both paid.
    double_claims: int = 0

    def count(self, operation: str) -> int:
        return sum(w.tally.aws[operation] for w in self.work)

    def request_units(self) -> tuple[float, float, int]:
        """(write units, read units, largest record in bytes) over the whole lifecycle."""
        writes = reads = 0.0
        largest = 0
        for entry in (e for w in self.work for e in w.tally.dynamo):
            kind, _, before, after = entry
            largest = max(largest, before, after)
            if kind.startswith("GetItem"):
                units = max(1, math.ceil(after / READ_UNIT_BYTES))
                reads += units if kind.endswith("+consistent") else units / 2
            else:
                writes += max(1, math.ceil(max(before, after) / WRITE_UNIT_BYTES))
        return writes, reads, largest


@dataclass
class Bill:
    """Dollars per photo, by service, with the counts behind them."""

    dollars: dict[str, float]
    detail: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.dollars.values())


def bill(life: Lifecycle, memory_mb: int) -> Bill:
    n = life.photos
    gb_seconds = sum(w.billed_seconds for w in life.work) * memory_mb / 1024 / n
    invocations = len(life.work) / n
    writes, reads, largest = life.request_units()
    puts = (n + life.count("s3:PutObject")) / n  # the client's upload, then ours
    vendor_fetches = sum(w.tally.vendor_calls["/aliyun_api/pic_handle_3"] for w in life.work)
    downloads = CLIENT_DOWNLOADS_PER_ANSWER * life.finals_answers
    gets = (life.count("s3:GetObject") + vendor_fetches + downloads) / n
    api = life.api_requests / n
    log_gb = (life.log_bytes + PLATFORM_LOG_BYTES * len(life.work)) / n / 1e9
    secrets = life.count("secretsmanager:GetSecretValue") / n
    return Bill(
        dollars={
            "Lambda": gb_seconds * LAMBDA_ARM_PER_GB_SECOND + invocations * LAMBDA_PER_REQUEST,
            "DynamoDB": (writes * DYNAMODB_PER_WRITE_UNIT + reads * DYNAMODB_PER_READ_UNIT) / n,
            "S3": puts * S3_PER_PUT + gets * S3_PER_GET,
            "API Gateway": api * API_GATEWAY_REST_PER_REQUEST,
            "X-Ray": api * XRAY_PER_TRACE,
            "CloudWatch Logs": log_gb * CLOUDWATCH_LOGS_PER_GB,
            "Secrets Manager": secrets * SECRETS_MANAGER_PER_CALL,
        },
        detail={
            "GB-s": gb_seconds,
            "invocations": invocations,
            "WRU": writes / n,
            "RRU": reads / n,
            "record KB": largest / 1024,
            "S3 PUT": puts,
            "S3 GET": gets,
            "API": api,
            "log KB": log_gb * 1e6,
        },
    )


# --- running the scenario -------------------------------------------------------------------------------


def _log_size(ctx: Context) -> int:
    sys.stdout.flush()
    return os.path.getsize(ctx.log)


def _finals_twice(request: Callable[[], int], at_once: bool) -> list[int]:
    """Two requests, one after the other or both at once; a 409 (another request is fetching that
    final) is retried after a second, as a client honouring Retry-After would."""

    def one(_: int) -> list[int]:
        statuses = [request()]
        while statuses[-1] == 409 and len(statuses) < 5:
            time.sleep(1.0)
            statuses.append(request())
        return statuses

    if not at_once:
        return [s for i in range(FINALS_REQUESTS) for s in one(i)]
    with ThreadPoolExecutor(FINALS_REQUESTS) as pool:
        return [s for answers in pool.map(one, range(FINALS_REQUESTS)) for s in answers]


def _ours(ctx: Context, photos: int, name: str, *, at_once: bool) -> Lifecycle:
    bench = ctx.stack
    stack = bench.stack
    life = Lifecycle(photos)
    logged, billed = _log_size(ctx), int(stack.vendor_stats()["billed_calls"])
    for i in range(photos):
        seen = bench.get.count
        made = bench.upload_and_wait(f"bench/cost-{name}-{i}.jpg", ctx.portrait)
        status = stack.photo(made.key).status_code
        finals = _finals_twice(functools.partial(_finals_status, stack, made.key), at_once)
        life.api_requests += 1 + len(finals)
        life.finals_answers += sum(1 for s in finals if s == 200)
        gets: list[Invocation] = bench.get.wait_for(seen + 1 + len(finals), 60)[seen:]
        if status != 200 or any(s != 200 for s in finals[-1:]):
            raise RuntimeError(f"the cost scenario failed for {made.key}: status {status}, finals {finals}")
        life.work += [Work(MAKE, made.seconds, made.tally)]
        life.work += [Work(GET, g.seconds, g.tally) for g in gets]
        paid = [g for g in gets if g.tally.vendor_calls["/get_pic_3"] and g.outcome == "200"]
        life.double_claims += int(len(paid) > 1)
    life.log_bytes = _log_size(ctx) - logged
    life.billed_calls = int(stack.vendor_stats()["billed_calls"]) - billed
    return life


def _finals_status(stack: Any, key: str) -> int:
    status: int = stack.finals(key, "white").status_code
    return status


def _timed(function: str, step: Callable[[], Any]) -> Work:
    with probe.tallying() as tally:
        started = time.perf_counter()
        step()
        return Work(function, time.perf_counter() - started, tally)


def _floor_finals(floor: Floor, record: str, _: int) -> Work:
    return _timed(GET, functools.partial(floor.finals, record))


def _floor(ctx: Context, floor: Floor, photos: int, name: str, *, at_once: bool) -> Lifecycle:
    stack = ctx.stack.stack
    life = Lifecycle(photos)
    billed = int(stack.vendor_stats()["billed_calls"])
    for i in range(photos):
        record = f"floor/cost-{name}-{i}"
        life.work.append(_timed(MAKE, functools.partial(floor.make_photo, FLOOR_SOURCE_KEY, None, record)))
        life.work.append(_timed(GET, functools.partial(floor.status, record)))
        finals = functools.partial(_floor_finals, floor, record)

        if at_once:
            with ThreadPoolExecutor(FINALS_REQUESTS) as pool:
                life.work += list(pool.map(finals, range(FINALS_REQUESTS)))
        else:
            life.work += [finals(i) for i in range(FINALS_REQUESTS)]
        life.api_requests += 1 + FINALS_REQUESTS
        life.finals_answers += FINALS_REQUESTS
    life.billed_calls = int(stack.vendor_stats()["billed_calls"]) - billed
    return life


def moto_claim_races(stack: Any, trials: int = RACE_TRIALS) -> int:
    """How often two concurrent conditional updates (our claim's shape) both succeed in moto.

    DynamoDB evaluates a condition and writes atomically; moto's server checks and writes without a
    lock, so under concurrency both claims can win. Run only when the bench saw a double payment, to
    say whether the emulator explains it.
    """
    dynamodb = stack.client("dynamodb")
    table = "bench-claim-races"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def claim(key: str) -> bool:
        try:
            dynamodb.update_item(
                TableName=table,
                Key={"k": {"S": key}},
                UpdateExpression="SET finals.#c = :v",
                ConditionExpression="attribute_not_exists(finals.#c)",
                ExpressionAttributeNames={"#c": "white"},
                ExpressionAttributeValues={":v": {"S": "claimed"}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    races = 0
    with ThreadPoolExecutor(2) as pool:
        for trial in range(trials):
            key = f"trial-{trial}"
            dynamodb.put_item(TableName=table, Item={"k": {"S": key}, "finals": {"M": {}}})
            races += sum(pool.map(claim, [key, key])) > 1
    dynamodb.delete_table(TableName=table)
    return races


def memory_mb() -> tuple[int, str]:
    """make-photo's memory and architecture as deployed (SAM's translation of the template)."""
    function = load(TEMPLATE_PATH).function(MAKE)
    return function.memory_mb, function.architectures[0]


def run(ctx: Context) -> Section:
    photos = 2 if ctx.quick else 10
    bench = ctx.stack
    stack = bench.stack
    bench.vendor_latency(0)
    ctx.progress(
        f"cost: {photos} photos through the scenario and {photos} with both finals at once, ours and the floor"
    )
    memory, architecture = memory_mb()
    # Its own floor: its HTTP session is used from two threads at once here.
    floor = Floor(stack.bucket, stack.table, stack.vendor_url, stack.appcode)
    # One untimed round first: clients, connections and the cached AppCode as in a warm environment.
    _ours(ctx, 1, "warm-up", at_once=False)
    _floor(ctx, floor, 1, "warm-up", at_once=False)
    probe.observe_dynamo(RecordSizer())
    try:
        ours_life = _ours(ctx, photos, "seq", at_once=False)
        floor_life = _floor(ctx, floor, photos, "seq", at_once=False)
    finally:
        probe.observe_dynamo(None)
    ours_race = _ours(ctx, photos, "race", at_once=True)
    floor_race = _floor(ctx, floor, photos, "race", at_once=True)
    ours, floor_bill = bill(ours_life, memory), bill(floor_life, memory)
    section = Section()
    section.rows.append(
        Row(
            f"AWS cost per 1,000 photos (scenario in notes, vendor {VENDOR_SECONDS:.0f} s, {memory} MB {architecture})",
            f"${ours.total * 1000:.3f}",
            f"${floor_bill.total * 1000:.3f}",
            ratio(ours.total, floor_bill.total),
        )
    )

    def per_1000(life: Lifecycle) -> float:
        return life.billed_calls / life.photos * 1000

    # A double payment that moto's non-atomic conditional writes explain is the emulator's, not ours.
    races = moto_claim_races(stack) if ours_race.double_claims else 0
    excused = ours_race.double_claims if races else 0
    race_note = f" ({excused} moto double claim{'s' * (excused != 1)})" if excused else ""
    section.rows.append(
        Row(
            f"billed vendor calls per 1,000 finals fetched twice: one after the other / both at once (n={photos})",
            f"{per_1000(ours_life):,.0f} / {per_1000(ours_race):,.0f}{race_note}",
            f"{per_1000(floor_life):,.0f} / {per_1000(floor_race):,.0f}",
            ratio(per_1000(ours_life) + per_1000(ours_race), per_1000(floor_life) + per_1000(floor_race)),
            "1,000",
            round(per_1000(ours_life)) == 1000
            and round((ours_race.billed_calls - excused) / photos * 1000) == 1000,
        )
    )
    if ours_race.double_claims:
        section.notes.append(
            f"Billed calls at once: in {ours_race.double_claims} of {photos} photos both concurrent finals "
            "requests won the conditional claim and both paid. moto checks conditions without a lock: in a "
            f"separate test, two concurrent conditional updates of one attribute both succeeded {races} "
            f"times in {RACE_TRIALS}; DynamoDB makes the check and the write atomic. "
            + (
                "The row counts those as the emulator's."
                if races
                else "moto did not race in that test, so the row counts them as ours."
            )
        )
    if architecture != "arm64":
        section.notes.append(f"Cost: the template says {architecture}; the Lambda price used is arm64's.")
    section.notes.append(
        "Cost per 1,000 photos, scenario run on the stack: upload, make-photo, one status request, the "
        "finals of one colour requested twice, the client downloading photo and sheet after each answer "
        "(after one untimed warm-up photo); us-east-1 list prices in `bench/cost.py` (2026; they change). "
        f"Ours {_breakdown(ours)}. Floor {_breakdown(floor_bill)}. Lambda time = measured minus the "
        f"vendor's share plus {VENDOR_SECONDS:.0f} s per vendor API call; our own part is measured on this "
        f"machine's CPU, and at {memory} MB Lambda gives a fraction of a vCPU, so it would stretch, but the "
        "vendor's seconds stay the bulk. X-Ray counts every API request as a trace (an upper bound: the "
        "default sampling keeps 1/s + 5 %). Vendor fees, storage, monthly metric/alarm charges and KMS are "
        'left out. Billed calls: counted by the stand-in; "both at once" sends the two finals requests '
        "concurrently (ours: the second waits for the first's copy or gets 409 and retries; the floor, "
        "with no claim, pays twice)."
    )
    return section


def _breakdown(b: Bill) -> str:
    dollars = ", ".join(f"{name} ${value * 1000:.4f}" for name, value in b.dollars.items() if value)
    d = b.detail
    counts = (
        f"{d['GB-s']:.3f} GB-s, {d['invocations']:.0f} invocations, {d['WRU']:.1f} WRU + {d['RRU']:.1f} RRU "
        f"(record up to {d['record KB']:.2f} KB), {d['S3 PUT']:.0f} S3 PUT + {d['S3 GET']:.0f} GET, "
        f"{d['API']:.0f} API requests, {d['log KB']:.1f} KB of logs"
    )
    return f"per photo {counts}; per 1,000: {dollars}"
