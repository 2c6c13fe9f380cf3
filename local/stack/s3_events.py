"""S3 event records with the shape and encoding AWS sends, produced by moto's own notifications.

What moto 5.x does in server mode (checked against moto 5.2): a bucket notification configuration with
an SQS destination is honoured for every write by any client (PUT, POST, copy, multipart completion),
synchronously inside the write request, with moto's own event-type and prefix/suffix filter matching.
Its record differs from AWS's in ways a handler can notice:

* ``s3.object.key`` is ``quote_plus(key)`` with ``/`` encoded as ``%2F``; AWS keeps ``/`` as is;
* no ``versionId`` (AWS sends it for versioned buckets) and no ``sequencer`` (AWS always sends it for
  PUT/COPY/multipart, and the handlers order versions with it);
* a multipart completion sends two events, ``ObjectCreated:Put`` (its internal put, before the
  object's metadata is set) and then ``ObjectCreated:CompleteMultipartUpload``; AWS sends only the
  second, so the first is dropped;
* no ``userIdentity`` (the uploader, which the handlers record as the photo's owner; here the local
  user of :mod:`local.stack.identity`, or for a form upload the form's signer, :func:`form_upload`),
  ``requestParameters``, ``responseElements``, ``bucket.ownerIdentity``;
* a POST form upload is announced inside its write, before moto sets the object's metadata and
  content type; S3 announces the object as written. :func:`form_upload` holds the event until then.

Version id and write order are only known at the moment of the write, so moto's ``send_event`` and the
record builder it calls (``_get_s3_event``) in ``moto.s3.notifications`` are wrapped, which works because
moto's server runs in this process. The wrapper keeps moto's record and fills in the rest;
:func:`encode_key` is the encoding.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import quote_plus

from moto.s3 import notifications

from local.stack import identity

SOURCE_IP: Final = "127.0.0.1"  # every server of the local stack listens on loopback only


def encode_key(key: str) -> str:
    """As S3 encodes keys in events: form encoding (space -> ``+``, ``+`` -> ``%2B``, UTF-8 bytes
    percent-encoded, ``%`` -> ``%25``), with ``/`` left alone."""
    return quote_plus(key, safe="/", encoding="utf-8")


class Sequencer:
    """Hex strings that grow with every write. AWS only promises order per key; a process-wide
    clock-based counter gives that, and never repeats even within one nanosecond tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:018X}"  # 18 hex digits, like AWS's "0055AED6DCD90281E5"


_SEQUENCER: Final = Sequencer()
_MARK: Final = "_idphoto_local_aws_shaped"
_form = threading.local()  # the form upload this thread is writing (moto writes in the request's thread)


@contextlib.contextmanager
def form_upload(principal: str) -> Iterator[None]:
    """A POST form upload in this thread, signed by ``principal`` (``AWS:AROA...:session``): its event
    names that principal, as S3's does, and is sent once the write is complete (metadata included)."""
    _form.principal, _form.held = principal, []
    try:
        yield
        for send in _form.held:
            send()
    finally:
        _form.principal, _form.held = None, None


def _uploader() -> str:
    principal: str | None = getattr(_form, "principal", None)
    return principal or identity.s3_principal()


def aws_shaped(moto_event: dict[str, Any], bucket: Any, key: Any) -> dict[str, Any]:
    """moto's one-record event completed into AWS's shape (same field order as AWS's documents)."""
    moto_record = moto_event["Records"][0]
    moto_s3 = moto_record["s3"]
    obj: dict[str, Any] = {"key": encode_key(key.name), "size": key.size, "eTag": moto_s3["object"]["eTag"]}
    if bucket.is_versioned:
        obj["versionId"] = key.version_id
    obj["sequencer"] = _SEQUENCER.next()
    request_id = uuid.uuid4().hex[:16].upper()
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": moto_record["awsRegion"],
        "eventTime": moto_record["eventTime"],
        "eventName": moto_record["eventName"],
        "userIdentity": {"principalId": _uploader()},
        "requestParameters": {"sourceIPAddress": SOURCE_IP},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": f"{request_id}/local"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": moto_s3["configurationId"],
            "bucket": {
                "name": moto_s3["bucket"]["name"],
                "ownerIdentity": {"principalId": identity.LOCAL_USER_ID},
                "arn": moto_s3["bucket"]["arn"],
            },
            "object": obj,
        },
    }
    return {"Records": [record]}


def install() -> None:
    """Make moto's notifications AWS-shaped, once per process (moto's backends are process-wide too)."""
    original_send, original_build = notifications.send_event, notifications._get_s3_event
    if getattr(original_send, _MARK, False):
        return

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if event_name == notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT and getattr(
            key, "multipart", None
        ):
            return  # moto's internal put of a multipart completion: AWS announces only the completion
        held: list[Any] | None = getattr(_form, "held", None)
        if held is not None:
            held.append(lambda: original_send(account_id, event_name, bucket, key))
            return
        original_send(account_id, event_name, bucket, key)

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        return aws_shaped(original_build(event_name, bucket, key, notification_id), bucket, key)

    setattr(send_event, _MARK, True)
    notifications.send_event = send_event
    notifications._get_s3_event = get_s3_event
