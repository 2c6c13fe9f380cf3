"""Conditional writes of photo records: duplicates, late events, takeovers, and the finals' claims."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from idphoto.records import (
    RETRIES_EXHAUSTED,
    Claim,
    ClaimOutcome,
    FinalState,
    PhotoRecords,
    Status,
    previews_expiry,
    url_expiry,
)
from idphoto.source import SourceObject
from tests.unit.conftest import Clock, final_urls, made_photo

SOURCE = SourceObject(
    bucket="b", key="uploads/a.jpg", size=10, etag="e1", sequencer="0" * 28 + "00A0", version_id="v1"
)


def take(
    records: PhotoRecords, source: SourceObject = SOURCE, claim_id: str = "req-1", lease: int = 100
) -> Claim:
    return records.claim(
        source, claim_id=claim_id, lease_seconds=lease, options={"spec_id": 1}, ignored_metadata=[]
    )


def claim(
    records: PhotoRecords, source: SourceObject = SOURCE, claim_id: str = "req-1", lease: int = 100
) -> tuple[ClaimOutcome, Any]:
    result = take(records, source, claim_id, lease)
    return result.outcome, result.current


def test_given_no_record_when_claimed_then_processing_with_lease(records: PhotoRecords, clock: Clock) -> None:
    outcome, _ = claim(records)

    record = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.CLAIMED
    assert record is not None
    assert record.status is Status.PROCESSING
    assert record.claim_id == "req-1"
    assert record.lease_until == int(clock.now) + 100
    assert record.attempts == 1
    assert record.options == {"spec_id": 1}
    assert record.expires_at == int(clock.now) + 30 * 86_400


def test_given_made_photo_when_same_event_again_then_duplicate_and_unchanged(records: PhotoRecords) -> None:
    claim(records)
    records.mark_ready(SOURCE, "req-1", made_photo(["white"]), ["white"])

    outcome, current = claim(records, claim_id="req-2")

    assert outcome is ClaimOutcome.DUPLICATE
    assert current is not None and current.status is Status.READY
    record = records.get(SOURCE.key)
    assert record is not None and record.claim_id == "req-1"


def test_given_live_claim_when_other_delivery_arrives_then_in_flight(records: PhotoRecords) -> None:
    claim(records)

    outcome, _ = claim(records, claim_id="req-2")

    assert outcome is ClaimOutcome.IN_FLIGHT


def test_given_live_claim_when_lambda_retries_same_request_then_it_takes_over(records: PhotoRecords) -> None:
    claim(records)

    outcome, _ = claim(records, claim_id="req-1")

    record = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.CLAIMED
    assert record is not None and record.attempts == 2


def test_given_expired_claim_when_other_delivery_arrives_then_it_takes_over(
    records: PhotoRecords, clock: Clock
) -> None:
    claim(records, lease=100)
    clock.advance(101)

    outcome, _ = claim(records, claim_id="req-2")

    record = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.CLAIMED
    assert record is not None and record.claim_id == "req-2"


def test_given_newer_version_recorded_when_older_event_arrives_late_then_stale(records: PhotoRecords) -> None:
    newer = replace(SOURCE, sequencer="0" * 28 + "00B0", etag="e2")
    claim(records, newer, claim_id="new")
    records.mark_ready(newer, "new", made_photo(["white"]), ["white"])

    outcome, _ = claim(records, SOURCE, claim_id="old")

    record = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.STALE
    assert record is not None and record.etag == "e2" and record.status is Status.READY


def test_given_older_version_made_when_newer_arrives_then_replaced_and_finals_reset(
    records: PhotoRecords,
) -> None:
    claim(records)
    records.mark_ready(SOURCE, "req-1", made_photo(["white"]), ["white"])
    record = records.get(SOURCE.key)
    assert record is not None
    records.claim_final(record, "white", "api-1", 60)
    newer = replace(SOURCE, sequencer="0" * 28 + "00B0", etag="e2")

    outcome, _ = claim(records, newer, claim_id="new")

    replaced = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.CLAIMED
    assert replaced is not None
    assert replaced.status is Status.PROCESSING and replaced.finals == {} and replaced.etag == "e2"


def test_given_takeover_when_old_holder_finishes_then_its_result_is_refused(
    records: PhotoRecords, clock: Clock
) -> None:
    claim(records, lease=10)
    clock.advance(11)
    claim(records, claim_id="req-2")

    written = records.mark_ready(SOURCE, "req-1", made_photo(["white"]), ["white"])

    assert written is None
    record = records.get(SOURCE.key)
    assert record is not None and record.status is Status.PROCESSING


def test_when_failed_then_code_message_and_vendor_code_recorded(records: PhotoRecords) -> None:
    claim(records)

    assert records.mark_failed(SOURCE, "req-1", "VENDOR_REJECTED", "vendor code 507: no face", 507)

    record = records.get(SOURCE.key)
    assert record is not None
    assert (record.status, record.error_code, record.vendor_code) == (Status.FAILED, "VENDOR_REJECTED", 507)
    assert record.error_message == "vendor code 507: no face"


def test_when_released_then_lease_ends_and_anyone_may_retry(records: PhotoRecords) -> None:
    claim(records)

    records.release(SOURCE, "req-1", "vendor unavailable")
    outcome, _ = claim(records, claim_id="req-9")

    record = records.get(SOURCE.key)
    assert outcome is ClaimOutcome.CLAIMED
    assert record is not None and record.last_error == "vendor unavailable"


def ready(records: PhotoRecords) -> Any:
    claim(records)
    records.mark_ready(SOURCE, "req-1", made_photo(["white", "blue"]), ["white", "blue"])
    return records.get(SOURCE.key)


def test_final_claim_is_exclusive_until_its_lease_ends(records: PhotoRecords, clock: Clock) -> None:
    record = ready(records)

    first = records.claim_final(record, "white", "a", 60)
    second = records.claim_final(record, "white", "b", 60)
    other_color = records.claim_final(record, "blue", "b", 60)
    clock.advance(61)
    after_lease = records.claim_final(record, "white", "c", 60)

    assert (first, second, other_color, after_lease) == (True, False, True, True)


def test_billed_answer_is_recorded_only_by_the_claim_holder(records: PhotoRecords) -> None:
    record = ready(records)
    records.claim_final(record, "white", "a", 60)

    by_other = records.record_billed(record, "white", "b", final_urls("n"))
    by_holder = records.record_billed(record, "white", "a", final_urls("n"))

    stored = records.get(SOURCE.key)
    assert (by_other, by_holder) == (False, True)
    assert stored is not None
    assert stored.finals["white"]["state"] == FinalState.BILLED
    assert stored.finals["white"]["urls_expire_at"] == 1_900_000_000


def test_billed_final_cannot_be_claimed_again_while_its_urls_are_valid(records: PhotoRecords) -> None:
    record = ready(records)
    records.claim_final(record, "white", "a", 60)
    records.record_billed(record, "white", "a", final_urls("n"))

    assert records.claim_final(record, "white", "b", 60) is False


def test_kept_final_is_never_claimed_again(records: PhotoRecords, clock: Clock) -> None:
    record = ready(records)
    records.claim_final(record, "white", "a", 60)
    records.record_kept(record, "white", "finals/a.jpg/1/white.jpg", "finals/a.jpg/1/white_print.jpg", 5)
    clock.advance(10_000)

    assert records.claim_final(record, "white", "b", 60) is False
    stored = records.get(SOURCE.key)
    assert stored is not None and stored.finals["white"]["photo_key"] == "finals/a.jpg/1/white.jpg"


def test_released_final_claim_can_be_taken_at_once(records: PhotoRecords) -> None:
    record = ready(records)
    records.claim_final(record, "white", "a", 60)

    assert records.release_final(record, "white", "a") is True
    assert records.claim_final(record, "white", "b", 60) is True


def test_url_expiry_reads_the_expires_parameter() -> None:
    assert (
        url_expiry("https://x/y.jpg?Signature=s&Expires=1569317426&OSSAccessKeyId=k", default=None)
        == 1569317426
    )
    assert url_expiry("https://x/y.jpg", default=7) == 7
    assert previews_expiry(["https://x?Expires=20", "https://x?Expires=10"]) == 10
    assert previews_expiry(["https://x"]) is None


def test_attempts_are_counted_per_event(records: PhotoRecords, clock: Clock) -> None:
    first = take(records, lease=10)
    clock.advance(11)
    duplicate = take(records, claim_id="req-2")  # another delivery of the same upload takes over
    duplicate_retry = take(records, claim_id="req-2", lease=10)  # Lambda's retry keeps the request id
    clock.advance(11)
    first_retry = take(records, claim_id="req-1")

    record = records.get(SOURCE.key)
    assert [first.attempt, duplicate.attempt, duplicate_retry.attempt, first_retry.attempt] == [1, 1, 2, 2]
    assert record is not None
    assert record.attempts == 4
    assert record.event_attempts == {"req-1": 2, "req-2": 2}


def test_failed_for_exhausted_retries_is_claimable_again_by_a_replay(records: PhotoRecords) -> None:
    take(records)
    records.mark_failed(SOURCE, "req-1", RETRIES_EXHAUSTED, "vendor out", None)

    replay = take(records, claim_id="replay-1")

    record = records.get(SOURCE.key)
    assert replay.claimed and replay.attempt == 1
    assert record is not None
    assert (record.status, record.error_code, record.attempts) == (Status.PROCESSING, None, 1)


def test_failed_for_a_vendor_rejection_stays_failed(records: PhotoRecords) -> None:
    take(records)
    records.mark_failed(SOURCE, "req-1", "VENDOR_REJECTED", "no face", 507)

    again = take(records, claim_id="replay-1")

    assert again.outcome is ClaimOutcome.DUPLICATE
