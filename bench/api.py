"""get-photo: the status answer, the kept-finals answer and the first (billed) finals fetch.

Each answer is the handler's, given the proxy event the local API Gateway builds for that request
(:meth:`bench.stackrun.BenchStack.api_event`) and invoked from the bench's thread in a warm execution
environment (a process of its own; its AWS calls and vendor exchanges are tallied at the front of moto
and at the stand-in, :class:`bench.stackrun.Attribution`); the floor
(:mod:`bench.floor`) runs right beside it on the same thread against the same moto server, alternating
which goes first. The API Gateway hop is left out of both: it is the same for any implementation.

* status: ``GET /photos/{key}`` replayed on one READY photo; floor: one ``get_item`` of a record of
  the same shape (a copy of ours), JSON answer;
* kept finals: ``POST /finals/{key}?color=white`` after its first fetch, replayed; floor: one
  ``get_item`` of that copy and a presign for each of the answer's two URLs (photo and sheet);
* first (billed) fetch: one per fresh photo, so few samples; time and the bytes moved (downloaded
  from the vendor, uploaded to S3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import boto3

from bench import probe
from bench.context import FLOOR_SOURCE_KEY
from bench.cost import item_size
from bench.report import Row, Section, median, ms, ratio
from bench.stackrun import Invocation

if TYPE_CHECKING:
    from bench.context import Context

TARGET_RATIO: Final = 1.25


def _ok(invocation: Invocation) -> Invocation:
    result = invocation.result
    if not isinstance(result, dict) or result.get("statusCode") != 200:
        raise RuntimeError(f"get-photo answered {invocation.outcome}: {result!r:.300}")
    return invocation


def _timed(call: Callable[[], Any]) -> tuple[float, probe.Tally]:
    with probe.tallying() as tally:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started, tally


def _compare(
    rounds: int, ours: Callable[[], Invocation], floor: Callable[[], Any]
) -> tuple[list[float], list[float], list[probe.Tally], list[probe.Tally]]:
    ours_s: list[float] = []
    floor_s: list[float] = []
    ours_t: list[probe.Tally] = []
    floor_t: list[probe.Tally] = []
    for index in range(rounds + 2):  # the first two rounds warm both paths up
        steps: list[Callable[[], None]] = []

        def run_ours(index: int = index) -> None:
            invocation = _ok(ours())
            if index >= 2:
                ours_s.append(invocation.seconds)
                ours_t.append(invocation.tally)

        def run_floor(index: int = index) -> None:
            seconds, tally = _timed(floor)
            if index >= 2:
                floor_s.append(seconds)
                floor_t.append(tally)

        steps = [run_ours, run_floor] if index % 2 == 0 else [run_floor, run_ours]
        for step in steps:
            step()
    return ours_s, floor_s, ours_t, floor_t


def _row(what: str, ours: list[float], floor: list[float]) -> Row:
    o, f = median(ours), median(floor)
    return Row(what, ms(o), ms(f), ratio(o, f), f"<= {TARGET_RATIO}", o / f <= TARGET_RATIO)


def run(ctx: Context) -> Section:
    billed = 3 if ctx.quick else 12
    rounds = 15 if ctx.quick else 60
    bench, floor = ctx.stack, ctx.floor
    bench.vendor_latency(0)
    ctx.progress(f"get-photo: {billed} photos for billed fetches, {rounds} replays of status and kept finals")
    keys = [bench.upload_and_wait(f"bench/api-{i}.jpg", ctx.portrait).key for i in range(billed)]
    records = [floor.make_photo(FLOOR_SOURCE_KEY, None, f"floor/api-{i}") for i in range(billed)]

    # First (billed) fetch: one per photo, ours and the floor alternating.
    billed_ours: list[Invocation] = []
    billed_floor: list[tuple[float, probe.Tally]] = []
    for index, (key, record) in enumerate(zip(keys, records, strict=True)):
        event = bench.api_event("POST", "finals", key, "color=white")
        steps = [
            lambda event=event: billed_ours.append(_ok(bench.get.direct(event))),
            lambda record=record: billed_floor.append(_timed(lambda: floor.billed_final(record))),
        ]
        for step in steps if index % 2 == 0 else reversed(steps):
            step()

    status = bench.api_event("GET", "photos", keys[0])
    kept = bench.api_event("POST", "finals", keys[0], "color=white")
    # moto's cost of a GetItem grows with the item's attributes: the floor answers from a record of
    # the very shape ours has (a copy of it under the floor's own key), so the rows measure the code.
    same_shape = _copy_record(bench.stack, keys[0], "floor/same-shape")
    s_ours, s_floor, s_ours_t, s_floor_t = _compare(
        rounds, lambda: bench.get.direct(status), lambda: floor.status(same_shape)
    )
    k_ours, k_floor, k_ours_t, k_floor_t = _compare(
        rounds, lambda: bench.get.direct(kept), lambda: floor.kept_final(same_shape)
    )

    full, projected, size, floor_size = _record_reads(bench.stack, keys[0], records[0], rounds)
    section = Section()
    section.rows.append(_row(f"get-photo status answer (median of {rounds})", s_ours, s_floor))
    section.rows.append(
        _row(f"get-photo kept-finals answer, 2nd request on (median of {rounds})", k_ours, k_floor)
    )
    b_ours = [i.seconds for i in billed_ours]
    b_floor = [seconds for seconds, _ in billed_floor]
    section.rows.append(
        Row(
            f"first (billed) finals fetch, one colour: time (median of {billed})",
            ms(median(b_ours)),
            ms(median(b_floor)),
            ratio(median(b_ours), median(b_floor)),
        )
    )
    ours_tally, floor_tally = billed_ours[-1].tally, billed_floor[-1][1]
    section.rows.append(
        Row(
            "first (billed) finals fetch: bytes moved (from the vendor + to S3)",
            _bytes(ours_tally),
            _bytes(floor_tally),
            ratio(
                ours_tally.bytes_from_vendor + ours_tally.bytes_to_s3,
                floor_tally.bytes_from_vendor + floor_tally.bytes_to_s3,
            ),
        )
    )
    section.notes.append(
        "get-photo: handler invoked with the local API Gateway's proxy event on the bench thread (gateway "
        "hop excluded from both), alternating with the floor. AWS calls per answer: status ours "
        f"{s_ours_t[-1].ops()} ({probe.per_operation(s_ours_t)}), floor {s_floor_t[-1].ops()} "
        f"({probe.per_operation(s_floor_t)}); kept finals ours {k_ours_t[-1].ops()}, floor "
        f"{k_floor_t[-1].ops()} + 2 presigns each; billed ours {ours_tally.ops()} + "
        f"{sum(ours_tally.vendor_calls.values())} vendor exchanges ({_vendor(ours_tally)}), floor "
        f"{floor_tally.ops()}: the two extra UpdateItems claim the final before paying and record the "
        f"vendor's answer before the download (pay-once). Handler time outside AWS calls: status ours "
        f"{ms(median([s - t.aws_s for s, t in zip(s_ours, s_ours_t, strict=True)]))}, floor "
        f"{ms(median([s - t.aws_s for s, t in zip(s_floor, s_floor_t, strict=True)]))}; kept ours "
        f"{ms(median([s - t.aws_s for s, t in zip(k_ours, k_ours_t, strict=True)]))}, floor "
        f"{ms(median([s - t.aws_s for s, t in zip(k_floor, k_floor_t, strict=True)]))}. Our record is "
        f"{size} bytes (the floor's {floor_size} after its billed fetch): a GetItem of it takes {ms(full)}; projected to "
        f"what the kept-finals path reads ({PROJECTION}) {ms(projected)}."
    )
    return section


def _copy_record(stack: Any, key: str, copy_key: str) -> str:
    client = boto3.session.Session().client("dynamodb")
    item = client.get_item(TableName=stack.table, Key={"photo_key": {"S": key}}, ConsistentRead=True)["Item"]
    client.put_item(TableName=stack.table, Item=item | {"photo_key": {"S": copy_key}})
    return copy_key


# What answering a kept final needs from the record: access, state, colours, version and the copies.
PROJECTION: Final = "owner, status, colors, sequencer, finals"


def _record_reads(stack: Any, key: str, floor_key: str, rounds: int) -> tuple[float, float, int, int]:
    """GetItem of our record whole and projected, alternating, with one plain client for both."""
    client = boto3.session.Session().client("dynamodb")
    request: dict[str, Any] = {
        "TableName": stack.table,
        "Key": {"photo_key": {"S": key}},
        "ConsistentRead": True,
    }
    names = {f"#{n}": n for n in PROJECTION.replace(" ", "").split(",")}
    projected = request | {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    times: dict[bool, list[float]] = {False: [], True: []}
    for index in range(2 * rounds):
        with_projection = index % 2 == 1
        started = time.perf_counter()
        client.get_item(**(projected if with_projection else request))
        times[with_projection].append(time.perf_counter() - started)
    size = item_size(client.get_item(**request)["Item"])
    floor_request = request | {"Key": {"photo_key": {"S": floor_key}}}
    return (
        median(times[False]),
        median(times[True]),
        size,
        item_size(client.get_item(**floor_request)["Item"]),
    )


def _bytes(tally: probe.Tally) -> str:
    return f"{tally.bytes_from_vendor / 1024:.0f} KB + {tally.bytes_to_s3 / 1024:.0f} KB"


def _vendor(tally: probe.Tally) -> str:
    return ", ".join(f"{path} x{n}" for path, n in tally.vendor_calls.items())
