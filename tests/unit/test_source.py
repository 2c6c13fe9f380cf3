"""S3 event records become SourceObjects: keys decoded once, sequencers made comparable as strings."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idphoto.source import (
    SEQUENCER_WIDTH,
    SourceObject,
    decode_key,
    normalize_sequencer,
    principal_id,
    version_tag,
)


def event_record(key: str, *, sequencer: str = "0055AED6DCD90281E5", **extra: Any) -> dict[str, Any]:
    """An ObjectCreated:Put record as S3 sends it (event version 2.1)."""
    obj: dict[str, Any] = {
        "key": key,
        "size": 1024,
        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
        "sequencer": sequencer,
    }
    obj.update(extra)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "make-photo",
            "bucket": {
                "name": "idphoto-photos",
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": "arn:aws:s3:::idphoto-photos",
            },
            "object": obj,
        },
    }


def source(key: str) -> SourceObject:
    return SourceObject(bucket="b", key=key, size=1, etag="e", sequencer=normalize_sequencer("1"))


# --- keys -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("uploads/my+photo.jpg", "uploads/my photo.jpg"),
        ("uploads/a%2Bb.jpg", "uploads/a+b.jpg"),
        ("uploads/100%25.jpg", "uploads/100%.jpg"),
        ("uploads/a%2Fb.jpg", "uploads/a/b.jpg"),
        ("uploads/%E8%AF%81%E4%BB%B6%E7%85%A7+1.jpg", "uploads/证件照 1.jpg"),
        ("uploads/plain.jpg", "uploads/plain.jpg"),
    ],
    ids=["plus-is-space", "encoded-plus", "encoded-percent", "encoded-slash", "utf8", "plain"],
)
def test_given_event_key_when_decoded_then_form_encoding_is_undone(raw: str, key: str) -> None:
    assert decode_key(raw) == key


def test_given_chinese_key_encoded_like_s3_when_decoded_then_original_key() -> None:
    key = "uploads/证件照 1.jpg"

    assert decode_key(quote_plus(key, safe="/")) == key


def test_given_key_with_invalid_utf8_escape_when_decoded_then_value_error() -> None:
    with pytest.raises(ValueError, match="utf-8"):
        decode_key("uploads/%E8%AF.jpg")


@given(st.text(min_size=1))
def test_given_any_text_key_when_encoded_like_s3_then_decoding_gives_it_back(key: str) -> None:
    assert decode_key(quote_plus(key, safe="/")) == key


# --- sequencers ----------------------------------------------------------------------------------------


def test_given_short_sequencer_when_normalized_then_left_padded_to_fixed_width() -> None:
    normalized = normalize_sequencer("0055AED6DCD90281E5")

    assert normalized == "0" * 14 + "0055AED6DCD90281E5"
    assert len(normalized) == SEQUENCER_WIDTH


def test_given_lowercase_or_spaced_sequencer_when_normalized_then_upper_hex() -> None:
    assert normalize_sequencer("  0a1b  ") == normalize_sequencer("0A1B")


def test_given_same_length_sequencers_when_normalized_then_string_order_is_s3_order() -> None:
    assert normalize_sequencer("0A") < normalize_sequencer("0B")
    assert normalize_sequencer("09") < normalize_sequencer("0A")


def test_given_sequencers_of_different_length_when_normalized_then_shorter_compares_as_left_padded() -> None:
    # S3: "left pad the shorter value with zeros, and then do a lexicographical comparison". Raw
    # string order would put "FF" after "0100"; the records compare SourceObject.sequencer as strings
    # (in Python and in DynamoDB's conditions), so the event's own field must be padded.
    earlier = SourceObject.from_event_record(event_record("uploads/a.jpg", sequencer="FF"))
    later = SourceObject.from_event_record(event_record("uploads/a.jpg", sequencer="0100"))
    assert earlier.sequencer < later.sequencer
    assert normalize_sequencer("FF") < normalize_sequencer("0100")
    assert normalize_sequencer("0055AED6DCD90281E5") < normalize_sequencer("0055AED6DCD90281E500")
    assert normalize_sequencer("00FF") == normalize_sequencer("FF")


@given(st.integers(0, 16**SEQUENCER_WIDTH - 1), st.integers(0, 16**SEQUENCER_WIDTH - 1))
def test_given_any_two_sequencers_when_normalized_then_string_order_is_numeric_order(a: int, b: int) -> None:
    left, right = normalize_sequencer(f"{a:X}"), normalize_sequencer(f"{b:X}")

    assert (left < right) == (a < b)
    assert (left == right) == (a == b)


@pytest.mark.parametrize(
    "sequencer",
    ["", "   ", "0x1F", "XYZ", "12-34", "1" * (SEQUENCER_WIDTH + 1), "\uff21\uff22"],
    ids=["empty", "blank", "0x-prefix", "not-hex", "dash", "too-long", "fullwidth"],
)
def test_given_invalid_sequencer_when_normalized_then_rejected(sequencer: str) -> None:
    with pytest.raises(ValueError, match="not an S3 sequencer"):
        normalize_sequencer(sequencer)


def test_given_normalized_sequencer_when_tagged_then_leading_zeros_dropped() -> None:
    assert version_tag(normalize_sequencer("0055AED6DCD90281E5")) == "55AED6DCD90281E5"
    assert version_tag(normalize_sequencer("0")) == "0"


# --- objects -------------------------------------------------------------------------------------------


def test_given_realistic_put_record_when_parsed_then_every_field_is_decoded() -> None:
    record = event_record(
        "uploads/%E8%AF%81%E4%BB%B6%E7%85%A7+1%2B2.JPG", versionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    )

    obj = SourceObject.from_event_record(record)

    assert obj == SourceObject(
        bucket="idphoto-photos",
        key="uploads/证件照 1+2.JPG",
        size=1024,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        sequencer="0" * 14 + "0055AED6DCD90281E5",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        uploader="AIDAEXAMPLE",
    )
    assert obj.looks_like_image
    assert not obj.is_folder_marker
    assert obj.version_tag == "55AED6DCD90281E5"


@pytest.mark.parametrize("version", [None, ""], ids=["absent", "empty"])
def test_given_record_without_version_when_parsed_then_version_id_is_none(version: str | None) -> None:
    extra = {} if version is None else {"versionId": version}

    assert SourceObject.from_event_record(event_record("uploads/a.jpg", **extra)).version_id is None


def test_given_record_with_size_as_text_when_parsed_then_size_is_int() -> None:
    assert SourceObject.from_event_record(event_record("uploads/a.jpg", size="2048")).size == 2048


def test_given_record_with_bad_sequencer_when_parsed_then_rejected() -> None:
    with pytest.raises(ValueError, match="not an S3 sequencer"):
        SourceObject.from_event_record(event_record("uploads/a.jpg", sequencer="not-hex"))


def test_given_folder_marker_record_when_parsed_then_is_folder_marker_and_not_image() -> None:
    obj = SourceObject.from_event_record(event_record("uploads/new+folder/", size=0))

    assert obj.key == "uploads/new folder/"
    assert obj.is_folder_marker
    assert not obj.looks_like_image


@pytest.mark.parametrize(
    "key",
    [
        "a.jpg",
        "a.JPG",
        "a.jpeg",
        "b/c.Jpeg",
        "a.png",
        "a.bmp",
        "a.webp",
        "x.tar.jpg",
        "证件照.PNG",
        "IMG_0001.HEIC",
        "a.heif",
        "a.avif",
        "scan.tif",
        "scan.TIFF",
    ],
)
def test_given_image_suffix_when_checked_then_looks_like_image(key: str) -> None:
    assert source(key).looks_like_image


@pytest.mark.parametrize(
    "key", ["a.gif", "a.heic.txt", "a.jpg.txt", "a.pdf", "jpg", "a_jpg", "a.jpg/", "uploads/", "a.jp g"]
)
def test_given_other_suffix_when_checked_then_not_an_image(key: str) -> None:
    assert not source(key).looks_like_image


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AWS:AIDAJDPLRKLG7UEXAMPLE", "AIDAJDPLRKLG7UEXAMPLE"),
        ("AWS:AROAEXAMPLEROLEID:my-session", "AROAEXAMPLEROLEID"),
        ("AROAEXAMPLEROLEID:other-session", "AROAEXAMPLEROLEID"),
        ("AIDAJDPLRKLG7UEXAMPLE", "AIDAJDPLRKLG7UEXAMPLE"),
        ("", None),
        (None, None),
    ],
)
def test_principal_ids_of_s3_events_and_api_callers_compare_equal(
    raw: str | None, expected: str | None
) -> None:
    assert principal_id(raw) == expected
