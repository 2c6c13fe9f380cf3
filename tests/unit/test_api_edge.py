"""The get-photo API's edge: keys from the raw path, the error table, the pinned Powertools behaviour."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from idphoto import errors
from idphoto.api import http_errors, keys
from idphoto.api.resolver import KeyPathResolver

RESOURCE = "/photos/{key+}"
KEYS = [
    "uploads/me.jpg",
    "uploads/my passport photo+1.jpg",
    "uploads/100% sure.jpg",
    "uploads/100%25 literally.jpg",  # "%25" as text
    "uploads/a%20b.jpg",  # "%20" as text
    "uploads/证件照 张三.jpg",
    "uploads/deep/er/a b+c%.png",
]


def encoded(key: str) -> str:
    return quote(key, safe="/")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("delivery", ["decoded", "encoded"])
def test_the_key_is_the_raw_path_decoded_once_whatever_path_parameters_hold(key: str, delivery: str) -> None:
    raw = encoded(key)
    parameter = key if delivery == "decoded" else raw

    got = keys.requested_key("/photos/" + raw, RESOURCE, {"key": parameter})

    assert got.key == key
    expected = keys.Decoding.PLAIN if raw == key else keys.Decoding(delivery)
    assert got.decoding is expected


def test_a_literal_percent_and_its_encoding_name_two_different_photos() -> None:
    one = keys.requested_key("/photos/100%25%20sure.jpg", RESOURCE, None)
    two = keys.requested_key("/photos/100%2525%20sure.jpg", RESOURCE, None)

    assert (one.key, two.key) == ("100% sure.jpg", "100%25 sure.jpg")
    assert one.decoding is keys.Decoding.MISMATCH  # no pathParameters to compare


def test_a_custom_domain_base_path_before_the_resource_is_skipped() -> None:
    got = keys.requested_key("/api/photos/a%20b.jpg", RESOURCE, {"key": "a b.jpg"})

    assert (got.key, got.decoding) == ("a b.jpg", keys.Decoding.DECODED)


def test_a_path_delivered_decoded_is_taken_as_it_is() -> None:
    got = keys.requested_key("/photos/100% sure é.jpg", RESOURCE, {"key": "100% sure é.jpg"})

    assert got.key == "100% sure é.jpg"


def test_path_parameters_that_agree_with_neither_are_a_mismatch_and_the_path_wins() -> None:
    got = keys.requested_key("/photos/a%20b.jpg", RESOURCE, {"key": "other.jpg"})

    assert (got.key, got.decoding) == ("a b.jpg", keys.Decoding.MISMATCH)


@pytest.mark.parametrize("raw", ["", "%FF%FE.jpg", "a%0Ab.jpg", "x" * 1025])
def test_malformed_keys_are_refused(raw: str) -> None:
    with pytest.raises(keys.MalformedKey):
        keys.requested_key("/photos/" + raw, RESOURCE, None)


def _subclasses(cls: type[errors.IdPhotoError]) -> set[type[errors.IdPhotoError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def test_every_error_type_has_an_explicit_status() -> None:
    import importlib
    import pkgutil

    import idphoto

    for module in pkgutil.walk_packages(idphoto.__path__, "idphoto."):
        importlib.import_module(module.name)  # errors defined anywhere in the package now exist
    ours = [c for c in _subclasses(errors.IdPhotoError) if c.__module__.startswith("idphoto")]
    assert len(ours) > 10

    missing = sorted(c.__qualname__ for c in ours if c not in http_errors.STATUS)

    assert missing == []


class _Unmapped(errors.PhotoNotFound):
    """A subclass nobody mapped (a test's own: the walk above looks at the package's only)."""


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.ConfigurationError("no such setting"), 500),
        (errors.IdPhotoError("bare"), 500),
        (_Unmapped("new"), 500),
        (http_errors.BadRequest("bad key"), 400),
        (errors.PhotoNotFound("none"), 404),
        (errors.VendorUnavailable("down"), 503),
        (errors.VendorRejected("507", vendor_code=507), 502),
        (
            errors.GatewayError(
                "quota", gateway_code="B403MQ", http_status=403, transient=False, reached_vendor=False
            ),
            502,
        ),
        (
            errors.GatewayError(
                "busy", gateway_code="T429PR", http_status=429, transient=True, reached_vendor=False
            ),
            503,
        ),
    ],
)
def test_errors_map_to_their_status_and_unmapped_ones_are_ours(exc: errors.IdPhotoError, status: int) -> None:
    reply = http_errors.reply_for(exc)

    assert reply.status == status
    if status == 500:
        assert reply.code == "INTERNAL" and exc.message not in reply.message


@pytest.mark.parametrize("key", KEYS)
def test_pinned_powertools_behaviour_a_key_rule_matches_the_rest_of_the_path(key: str) -> None:
    """The resolver overrides Powertools' internal ``_compile_regex``: if Powertools stops calling it,
    a ``<key>`` rule falls back to one segment and this fails."""
    app = KeyPathResolver()

    @app.get("/photos/<key>")
    def route(key: str) -> dict[str, str]:
        return {"matched": key}

    event = {
        "httpMethod": "GET",
        "path": "/photos/" + encoded(key),
        "resource": RESOURCE,
        "requestContext": {},
    }
    answer = app.resolve(event, None)  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    assert encoded(key) in answer["body"]


def test_a_routes_query_parameters_are_its_signature_less_the_path() -> None:
    from idphoto.api import query

    def finals(key: str, color: str | None = None, allow_noncompliant: str | None = None) -> None:
        """A new query parameter is one more parameter here, known at once."""

    known = query.declared("/finals/<key>", finals)

    assert known == {"color", "allow_noncompliant"}
    assert query.problem({"allow_noncompliant": ["1"], "color": ["red"]}, known) is None
    assert query.problem({"allow-noncompliant": ["1"]}, known) == (
        "unknown query parameter 'allow-noncompliant' (did you mean 'allow_noncompliant'?); "
        "this route takes: allow_noncompliant, color"
    )
    assert query.problem({"x": ["1"]}, frozenset()) == "unknown query parameter 'x'; this route takes: none"
    assert query.problem(None, known) is None
