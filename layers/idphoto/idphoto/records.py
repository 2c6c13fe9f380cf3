"""Photo records in DynamoDB: one item per uploaded key, holding its newest version.

Every write is conditional, because S3 delivers events at least once and out of order and API
requests race each other:

* a make attempt *claims* the item for one version (sequencer) with a lease; a newer version replaces
  an older one, never the reverse; a duplicate of a finished version changes nothing;
* results are written only by the claim holder of that version;
* each final image is claimed before the billed call, and the vendor's answer is written before the
  download, so a crash in between is recovered without paying again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from idphoto.errors import DataAccessError
from idphoto.source import SourceObject
from idphoto.vendor import FinalUrls, MadePhoto

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class Status(StrEnum):
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class FinalState(StrEnum):
    FETCHING = "FETCHING"  # the billed call is under way (leased)
    BILLED = "BILLED"  # the vendor answered; its URLs are recorded, the copy is not made yet
    KEPT = "KEPT"  # our copy is in S3
    # The billed call got no usable answer (read timeout, dropped connection, unreadable HTTP 200): the
    # vendor may have charged. Never retried automatically; only a request that accepts paying again.
    UNCERTAIN = "UNCERTAIN"


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"
    DUPLICATE = "DUPLICATE"  # this version is already made or failed
    IN_FLIGHT = "IN_FLIGHT"  # another live invocation holds this version
    STALE = "STALE"  # a newer version of the key is recorded


# A failure that says nothing about the photo (the vendor was out for every attempt): a redelivered
# or replayed event may try again.
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
# The vendor's gateway refused our account (invalid AppCode, quota exhausted or expired, arrears):
# nothing is wrong with the photo; once someone fixes the account a replay makes it.
VENDOR_ACCOUNT = "VENDOR_ACCOUNT"
# Failures that say nothing about the photo: the record stays claimable, the event is parked.
RESTARTABLE_CODES = frozenset({RETRIES_EXHAUSTED, VENDOR_ACCOUNT})


# The longest an asynchronous event may wait for its retries (EventInvokeConfig's upper bound):
# https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html
MAX_EVENT_AGE_SECONDS = 21_600


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    current: PhotoRecord | None = None  # what was recorded before, when there was something
    attempt: int = 1  # which attempt at this version the claim holder is making

    @property
    def claimed(self) -> bool:
        return self.outcome is ClaimOutcome.CLAIMED


@dataclass
class PhotoRecord:
    key: str
    sequencer: str
    status: Status
    bucket: str = ""
    etag: str = ""
    version_id: str | None = None
    owner: str | None = None
    size: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    ignored_metadata: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    previews: list[str] = field(default_factory=list)
    sheet_previews: list[str] = field(default_factory=list)
    previews_expire_at: int | None = None
    sheet_count: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    vendor_code: int | None = None
    last_error: str | None = None
    # Set while the upload waits in its queue for someone to act (the vendor refuses our account):
    # reason, code, since and retry_at (Unix seconds); emptied once the photo is READY or FAILED.
    waiting: dict[str, Any] = field(default_factory=dict)
    # What was done to the upload before the vendor got it (idphoto.preparing); None: sent as it came.
    prepared: str | None = None
    # The automatic finals wanted (``finals`` metadata, else the deployment's AutoFinals) when the
    # photo was claimed; None in records made before make-photo recorded it.
    auto_finals: str | None = None
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per colour, the compliance report of its preview (idphoto.compliance), recorded with READY;
    # empty when the check is off or the record is older than the check.
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    claim_id: str | None = None
    lease_until: int = 0
    attempts: int = 0  # make attempts at this version, all events together
    # Attempts per event (Lambda keeps an event's request id across its retries): the count that
    # tells an event's last platform attempt, whatever other deliveries of the same upload did.
    event_attempts: dict[str, int] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    expires_at: int = 0

    def is_stalled(self, now: int, make_attempts: int) -> bool:
        """PROCESSING, yet nobody is making it: the lease ran out after the last platform attempt
        (which died without a vendor error: timeout, out of memory, an AWS error), or longer ago than
        any retry can come (Lambda's longest MaximumEventAgeInSeconds). A replay of the parked event
        takes it over."""
        if self.status is not Status.PROCESSING or self.lease_until > now:
            return False
        last = max(self.event_attempts.values(), default=self.attempts)
        return last >= make_attempts or now - self.updated_at > MAX_EVENT_AGE_SECONDS

    def is_expired(self, now: int) -> bool:
        """Past its TTL: DynamoDB deletes such items lazily (within days), we treat them as gone."""
        return 0 < self.expires_at < now

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PhotoRecord:
        data = {k: _deserializer.deserialize(v) for k, v in item.items()}
        known = set(cls.__dataclass_fields__)
        values = {k: _plain(v) for k, v in data.items() if k in known}
        values["key"] = data["photo_key"]
        values["status"] = Status(data["status"])
        return cls(**values)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; ours are all whole numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value)
    return value


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {f":{k}": _serializer.serialize(v) for k, v in values.items()}


class PhotoRecords:
    def __init__(
        self, client: DynamoDBClient, table: str, clock: Any = time.time, retention_days: int = 30
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._retention_seconds = retention_days * 86_400

    def now(self) -> int:
        return int(self._clock())

    # --- reading --------------------------------------------------------------------------------

    def get(self, key: str) -> PhotoRecord | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={"photo_key": {"S": key}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("GetItem", exc) from exc
        item = answer.get("Item")
        record = PhotoRecord.from_item(item) if item else None
        # DynamoDB's TTL deletes within days, not at expires_at: a record past it is gone already.
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
        return None if record is None or record.is_expired(self.now()) else record

    # --- making ---------------------------------------------------------------------------------

    def claim(
        self,
        source: SourceObject,
        *,
        claim_id: str,
        lease_seconds: int,
        options: dict[str, Any],
        ignored_metadata: list[str],
        auto_finals: str | None = None,
    ) -> Claim:
        """Take the key for this version; tell duplicates, late events and live rivals apart."""
        now = self.now()
        item = {
            "photo_key": source.key,
            "bucket": source.bucket,
            "etag": source.etag,
            "version_id": source.version_id,
            "owner": source.uploader,
            "size": source.size,
            "sequencer": source.sequencer,
            "status": Status.PROCESSING.value,
            "options": options,
            "ignored_metadata": ignored_metadata,
            "auto_finals": auto_finals,
            "claim_id": claim_id,
            "lease_until": now + lease_seconds,
            "attempts": 1,
            "event_attempts": {claim_id: 1},
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self._retention_seconds,  # the table's TTL attribute
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(item),
                ConditionExpression="attribute_not_exists(photo_key) OR sequencer < :sequencer",
                ExpressionAttributeValues=_values({"sequencer": source.sequencer}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim(ClaimOutcome.CLAIMED)
        except ClientError as exc:
            old = _failed_item(exc, "PutItem")
        except BotoCoreError as exc:
            raise _unavailable("PutItem", exc) from exc
        current = PhotoRecord.from_item(old) if old else self.get(source.key)
        if current is None:  # deleted between the two calls: rare enough to let the platform retry
            raise RuntimeError(f"record of {source.key!r} vanished while claiming it")
        if current.sequencer > source.sequencer:
            return Claim(ClaimOutcome.STALE, current)
        if current.status is Status.FAILED and current.error_code in RESTARTABLE_CODES:
            return self._restart(current, claim_id, now + lease_seconds)
        if current.status is not Status.PROCESSING:
            return Claim(ClaimOutcome.DUPLICATE, current)
        # Lambda keeps the request id across its own retries: our earlier attempt died, take over.
        if current.claim_id != claim_id and current.lease_until > now:
            return Claim(ClaimOutcome.IN_FLIGHT, current)
        return self._take_over(current, claim_id, now + lease_seconds)

    def _take_over(self, current: PhotoRecord, claim_id: str, lease_until: int) -> Claim:
        """The next attempt of a version whose holder died or gave its lease back."""
        taken = self._conditional_update(
            current.key,
            "SET claim_id = :claim_id, lease_until = :lease_until, updated_at = :now,"
            " attempts = attempts + :one,"
            " event_attempts.#event = if_not_exists(event_attempts.#event, :zero) + :one",
            "sequencer = :sequencer AND #status = :processing AND lease_until = :old_lease AND claim_id = :old_claim",
            {
                "claim_id": claim_id,
                "lease_until": lease_until,
                "now": self.now(),
                "one": 1,
                "zero": 0,
                "sequencer": current.sequencer,
                "processing": Status.PROCESSING.value,
                "old_lease": current.lease_until,
                "old_claim": current.claim_id or "",
            },
            {"#status": "status", "#event": claim_id},
        )
        if taken is None:
            return Claim(ClaimOutcome.IN_FLIGHT, current)  # someone else took it over first
        attempt = int(_plain(_deserializer.deserialize(taken["event_attempts"]))[claim_id])
        return Claim(ClaimOutcome.CLAIMED, current, attempt=attempt)

    def _restart(self, current: PhotoRecord, claim_id: str, lease_until: int) -> Claim:
        """A new round of attempts for a version that failed only because the vendor was out or
        refused our account (``RESTARTABLE_CODES``)."""
        taken = self._conditional_update(
            current.key,
            "SET #status = :processing, claim_id = :claim_id, lease_until = :lease_until, updated_at = :now,"
            " attempts = :one, event_attempts = :fresh REMOVE error_code, error_message, vendor_code",
            "sequencer = :sequencer AND #status = :failed AND error_code = :parked_code AND updated_at = :old_updated",
            {
                "processing": Status.PROCESSING.value,
                "claim_id": claim_id,
                "lease_until": lease_until,
                "now": self.now(),
                "one": 1,
                "sequencer": current.sequencer,
                "failed": Status.FAILED.value,
                "parked_code": current.error_code or "",
                "old_updated": current.updated_at,
                "fresh": {claim_id: 1},
            },
            {"#status": "status"},
        )
        if taken is None:
            return Claim(ClaimOutcome.IN_FLIGHT, current)
        return Claim(ClaimOutcome.CLAIMED, current, attempt=1)

    def _conditional_update(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str],
        returned: Literal["UPDATED_NEW", "ALL_NEW"] = "UPDATED_NEW",
    ) -> dict[str, Any] | None:
        """Every conditional write but the claim's put: the attributes ``returned`` says, or None when
        the condition failed (someone else's write came first); any other error propagates."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"photo_key": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values(values),
                ReturnValues=returned,
            )
        except ClientError as exc:
            _failed_item(exc, "UpdateItem")
            return None
        except BotoCoreError as exc:
            raise _unavailable("UpdateItem", exc) from exc
        return dict(answer.get("Attributes", {}))

    def mark_ready(
        self,
        source: SourceObject,
        claim_id: str,
        made: MadePhoto,
        colors: list[str],
        *,
        prepared: str | None = None,
        compliance: dict[str, dict[str, Any]] | None = None,
    ) -> PhotoRecord | None:
        """The record as written, or None when a newer version or a takeover owns the item."""
        return self._finish_returning(
            source,
            claim_id,
            {
                "status": Status.READY.value,
                "names": made.names,
                "previews": made.previews,
                "sheet_previews": made.sheet_previews,
                "sheet_count": made.sheet_count,
                "previews_expire_at": previews_expiry(made.previews),
                "colors": colors,
                "finals": {},
                "prepared": prepared,
                "compliance": compliance or {},
                "waiting": {},
            },
        )

    def made_by(self, source: SourceObject, claim_id: str, names: list[str]) -> bool:
        """Whether this claim's READY write is in the table: resolves a write whose answer was lost
        (an error after DynamoDB applied it, or the SDK's retry of an applied write failing its
        condition)."""
        record = self.get(source.key)
        return (
            record is not None
            and record.status is Status.READY
            and record.sequencer == source.sequencer
            and record.claim_id == claim_id
            and record.names == names
        )

    def mark_failed(
        self, source: SourceObject, claim_id: str, code: str, message: str, vendor_code: int | None
    ) -> PhotoRecord | None:
        """The record as written, or None when a newer version or a takeover owns the item."""
        return self._finish_returning(
            source,
            claim_id,
            {
                "status": Status.FAILED.value,
                "error_code": code,
                "error_message": message,
                "vendor_code": vendor_code,
                "waiting": {},
            },
        )

    def wait(
        self, source: SourceObject, claim_id: str, *, reason: str, code: str, since: int, retry_at: int
    ) -> bool:
        """The upload waits in its queue for someone to act: say why and until when, and let the
        next delivery take the claim over at once."""
        waiting = {"reason": reason[:500], "code": code, "since": since, "retry_at": retry_at}
        return self._finish(
            source, claim_id, {"waiting": waiting, "last_error": reason[:500], "lease_until": 0}
        )

    def release(self, source: SourceObject, claim_id: str, last_error: str) -> bool:
        """A transient failure: note why and let the platform's retry take over at once."""
        return self._finish(source, claim_id, {"last_error": last_error, "lease_until": 0})

    def _finish(self, source: SourceObject, claim_id: str, values: dict[str, Any]) -> bool:
        """Write an attempt's outcome, only while this claim still holds this version."""
        return self._finish_update(source, claim_id, values, "UPDATED_NEW") is not None

    def _finish_returning(
        self, source: SourceObject, claim_id: str, values: dict[str, Any]
    ) -> PhotoRecord | None:
        """As :meth:`_finish`, returning the whole item as written (``ALL_NEW``): what the outcome's
        event announces, without reading the item back (a GetItem per photo)."""
        item = self._finish_update(source, claim_id, values, "ALL_NEW")
        return None if item is None else PhotoRecord.from_item(item)

    def _finish_update(
        self,
        source: SourceObject,
        claim_id: str,
        values: dict[str, Any],
        returned: Literal["UPDATED_NEW", "ALL_NEW"],
    ) -> dict[str, Any] | None:
        values = {k: v for k, v in values.items() if v is not None}
        values["updated_at"] = self.now()
        # None: a newer version or a takeover owns the item, and its result wins.
        return self._conditional_update(
            source.key,
            "SET " + ", ".join(f"#{k} = :{k}" for k in values),
            "sequencer = :expected_sequencer AND claim_id = :expected_claim AND #status = :processing",
            {
                **values,
                "expected_sequencer": source.sequencer,
                "expected_claim": claim_id,
                "processing": Status.PROCESSING.value,
            },
            {**{f"#{k}": k for k in values}, "#status": "status"},
            returned,
        )

    # --- finals ---------------------------------------------------------------------------------

    def claim_final(
        self,
        record: PhotoRecord,
        color: str,
        claim_id: str,
        lease_seconds: int,
        *,
        take_uncertain: bool = False,
    ) -> bool:
        """Only the holder of this claim may make the billed call for this colour.

        Our own live claim counts as taken: when the write was applied but its answer lost (a dropped
        connection), botocore's retry of the same write then succeeds instead of locking us out.
        ``take_uncertain``: the caller accepts paying again for a final whose billed call is uncertain.
        """
        now = self.now()
        state = {"state": FinalState.FETCHING.value, "claim_id": claim_id, "lease_until": now + lease_seconds}
        condition = (
            "attribute_not_exists(finals.#color)"
            " OR (finals.#color.#state = :fetching AND finals.#color.lease_until < :now)"
            " OR (finals.#color.#state = :fetching AND finals.#color.claim_id = :claim_id)"
            " OR (finals.#color.#state = :billed AND finals.#color.urls_expire_at < :now)"
        )
        values: dict[str, Any] = {
            "fetching": FinalState.FETCHING.value,
            "billed": FinalState.BILLED.value,
            "now": now,
            "claim_id": claim_id,
        }
        if take_uncertain:
            condition += " OR finals.#color.#state = :uncertain"
            values["uncertain"] = FinalState.UNCERTAIN.value
        return self._set_final(record, color, state, condition, values)

    def record_uncertain(self, record: PhotoRecord, color: str, claim_id: str, reason: str) -> bool:
        """The billed call may have been charged without an answer: say so, and keep others off it."""
        state = {
            "state": FinalState.UNCERTAIN.value,
            "reason": reason[:300],
            "uncertain_at": self.now(),
            "claim_id": claim_id,
        }
        return self._set_final(
            record,
            color,
            state,
            "finals.#color.#state = :fetching AND finals.#color.claim_id = :claim_id",
            {"fetching": FinalState.FETCHING.value, "claim_id": claim_id},
        )

    def record_billed(self, record: PhotoRecord, color: str, claim_id: str, urls: FinalUrls) -> bool:
        state = {
            "state": FinalState.BILLED.value,
            "photo_url": urls.photo_url,
            "sheet_url": urls.sheet_url,
            "urls_expire_at": url_expiry(urls.photo_url, default=self.now() + 3600),
            "billed_at": self.now(),
        }
        return self._set_final(
            record,
            color,
            state,
            "finals.#color.#state = :fetching AND finals.#color.claim_id = :claim_id",
            {"fetching": FinalState.FETCHING.value, "claim_id": claim_id},
        )

    def record_kept(
        self,
        record: PhotoRecord,
        color: str,
        photo_key: str,
        sheet_key: str,
        billed_at: int,
        checks: list[dict[str, Any]] | None = None,
        *,
        repaired: bool = False,
        announced: bool = False,
    ) -> bool:
        """Our copy is in the bucket. ``repaired``: the bucket says so while the record lost it (a
        failed write after the billed call), so the entry may be missing or in any state.
        ``announced``: whether its "Finals Kept" event reached EventBridge (if not, the next answer
        announces it)."""
        state: dict[str, Any] = {
            "state": FinalState.KEPT.value,
            "photo_key": photo_key,
            "sheet_key": sheet_key,
            "billed_at": billed_at,
            "kept_at": self.now(),
            "announced": announced,
        }
        if checks is not None:
            state["checks"] = checks  # idphoto.checks: strings and booleans only, DynamoDB-safe
        if repaired:
            state["repaired"] = True
            condition = "attribute_not_exists(finals.#color) OR finals.#color.#state <> :kept"
            return self._set_final(record, color, state, condition, {"kept": FinalState.KEPT.value})
        return self._set_final(record, color, state, "attribute_exists(finals.#color)", {})

    def mark_final_announced(self, record: PhotoRecord, color: str) -> bool:
        """The kept final's "Finals Kept" event has reached EventBridge after all."""
        written = self._conditional_update(
            record.key,
            "SET finals.#color.announced = :announced",
            "sequencer = :sequencer AND finals.#color.#state = :kept",
            {"announced": True, "sequencer": record.sequencer, "kept": FinalState.KEPT.value},
            {"#color": color, "#state": "state"},
        )
        return written is not None

    def release_final(self, record: PhotoRecord, color: str, claim_id: str) -> bool:
        released = self._conditional_update(
            record.key,
            "REMOVE finals.#color",
            "sequencer = :sequencer AND finals.#color.#state = :fetching AND finals.#color.claim_id = :claim_id",
            {"sequencer": record.sequencer, "fetching": FinalState.FETCHING.value, "claim_id": claim_id},
            {"#color": color, "#state": "state"},
        )
        return released is not None

    def _set_final(
        self, record: PhotoRecord, color: str, state: dict[str, Any], condition: str, values: dict[str, Any]
    ) -> bool:
        names = {"#color": color}
        if "#state" in condition:
            names["#state"] = "state"
        written = self._conditional_update(
            record.key,
            "SET finals.#color = :final, updated_at = :updated_at",
            f"sequencer = :sequencer AND ({condition})",
            {**values, "final": state, "updated_at": self.now(), "sequencer": record.sequencer},
            names,
        )
        return written is not None


def _unavailable(action: str, exc: ClientError | BotoCoreError) -> DataAccessError:
    """botocore's errors as ours: the logic above never sees botocore."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return DataAccessError(f"DynamoDB {action} failed ({code or 'unknown error'})", aws_code=code)
    return DataAccessError(f"DynamoDB {action} failed ({type(exc).__name__})")


def _failed_item(exc: ClientError, action: str) -> dict[str, Any]:
    """The item a failed condition saw (may be empty); any other error is raised as ours."""
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        raise _unavailable(action, exc) from exc
    item: dict[str, Any] = exc.response.get("Item", {})  # type: ignore[assignment]
    return item


def url_expiry(url: str, *, default: int | None) -> int | None:
    """The ``Expires`` (Unix time) of a signed object-storage URL."""
    values = parse_qs(urlsplit(url).query).get("Expires")
    if values and values[0].isdigit():
        return int(values[0])
    return default


def previews_expiry(urls: list[str]) -> int | None:
    expiries = [e for e in (url_expiry(u, default=None) for u in urls) if e is not None]
    return min(expiries) if expiries else None
