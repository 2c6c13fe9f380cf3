"""`make chaos` tells a photo remade after a killed make-photo from one made twice for any other reason.

A crash fault can kill make-photo after the vendor made the photo and before the record was written;
the retry asks the vendor again. That remake is proved per key from the make calls' times (the
stand-in's call log) and the kills' (the function's kill log); anything else made twice stays a
failure of the run.
"""

from __future__ import annotations

import json
from typing import Any

from local.stack.chaos import event_keys, remade_after_kills
from local.stack.lambdas import Kill


def upload_event(*keys: str) -> dict[str, Any]:
    """make-photo's event from the upload queue: each record's body an S3 event (keys URL-encoded)."""
    return {
        "Records": [
            {"body": json.dumps({"Records": [{"s3": {"object": {"key": key.replace(" ", "+")}}}]})}
            for key in keys
        ]
    }


def kill(handed_at: float, killed_at: float, *keys: str) -> Kill:
    return Kill("request", "chaos", handed_at, killed_at, upload_event(*keys))


def test_the_keys_of_make_photos_event_are_decoded_and_the_test_event_has_none() -> None:
    event = upload_event("uploads/a b.jpg", "uploads/c.jpg")
    event["Records"].append({"body": json.dumps({"Event": "s3:TestEvent"})})

    assert event_keys(event) == {"uploads/a b.jpg", "uploads/c.jpg"}


def test_a_remake_after_a_kill_between_the_make_and_the_record_is_accounted_for() -> None:
    made_at = {"uploads/a.jpg": [10.0, 15.0], "uploads/once.jpg": [11.0]}

    remade, twice = remade_after_kills(made_at, [kill(9.0, 12.0, "uploads/a.jpg")])

    assert remade == {"uploads/a.jpg": 2}
    assert twice == {}


def test_a_kill_before_the_make_call_explains_nothing() -> None:
    # Killed before it asked the vendor: the photo made at 10 and again at 15 is a real duplicate.
    remade, twice = remade_after_kills({"uploads/a.jpg": [10.0, 15.0]}, [kill(8.0, 9.0, "uploads/a.jpg")])

    assert (remade, twice) == ({}, {"uploads/a.jpg": 2})


def test_a_kill_after_the_next_make_explains_nothing() -> None:
    remade, twice = remade_after_kills({"uploads/a.jpg": [10.0, 15.0]}, [kill(9.0, 16.0, "uploads/a.jpg")])

    assert (remade, twice) == ({}, {"uploads/a.jpg": 2})


def test_a_kill_of_another_keys_invocation_explains_nothing() -> None:
    remade, twice = remade_after_kills({"uploads/a.jpg": [10.0, 15.0]}, [kill(9.0, 12.0, "uploads/b.jpg")])

    assert (remade, twice) == ({}, {"uploads/a.jpg": 2})


def test_every_remake_needs_a_kill_of_its_own() -> None:
    # Three makes, one kill: the third make is not explained.
    remade, twice = remade_after_kills(
        {"uploads/a.jpg": [10.0, 15.0, 20.0]}, [kill(9.0, 12.0, "uploads/a.jpg")]
    )

    assert (remade, twice) == ({}, {"uploads/a.jpg": 3})
