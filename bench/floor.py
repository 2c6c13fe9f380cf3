"""The floor: the least any implementation of idphoto must do, written plainly, to measure ours against.

* cold start: ``import boto3, requests`` and create the S3 and DynamoDB clients and an HTTP session;
* make a photo: one presign (local), one vendor POST, one ``put_item`` of the result;
* make a photo with our guarantees (:meth:`Floor.make_photo_guaranteed`), the least an at-least-once
  make-photo that announces its outcome must do: one GET of the object (metadata, and the whole JPEG
  checked before the vendor gets it), a conditional ``put_item`` claiming the version, the presign and
  the same vendor POST, a conditional ``update_item`` of the result that returns the item, and one
  ``put_events`` announcing it. It writes the same record as ours (the same attributes: what the
  status answer, access, retries, expiry and finals need) and the same event, because moto's cost of a
  call grows with the item's attributes: a leaner record would measure the record, not the code;
* status: one ``get_item``, answered as JSON;
* a kept final: one ``get_item`` and one presign per URL of the answer (photo and print sheet: the
  answer carries both, as ours does);
* the first (billed) final: one ``get_item``, the billed ``get_pic_3``, two downloads, two
  ``put_object``, one ``update_item`` recording the copy, two presigns. No claim before the billed call:
  that is the price of pay-once under concurrency, which the floor does not attempt (two concurrent
  requests for the same final may both pay: :meth:`Floor.finals`).

Its records live under their own keys (``floor/...``) in the stack's table and its copies under
``finals/floor/...`` in the stack's bucket, so it never touches ours and never triggers make-photo.
Only boto3, requests and the standard library are imported here: child processes (peak RSS) import
this module as the floor's whole program.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Final

import boto3
import requests
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

MAKE_PATH: Final = "/aliyun_api/pic_handle_3"
FINAL_PATH: Final = "/get_pic_3"
RECORD_PREFIX: Final = "floor/"
# What ours sends with the template's defaults (spec 1, white, print type 1): equal work at the vendor.
WHITE: Final = 0xFFFFFF
VENDOR_OPTIONS: Final = {
    "spec_id": 1,
    "background_color": [{"start_color": WHITE, "color_name": "white", "enc_color": WHITE}],
    "print_type": 1,
}
URL_TTL_SECONDS: Final = 300
# What make-photo's ranged GET reads first (idphoto.storage.PEEK_BYTES is the same size).
PEEK_BYTES: Final = 64 * 1024
LEASE_SECONDS: Final = 200
# Not "idphoto": no rule of the stack's bus reacts to the floor's events (ours start automatic finals).
EVENT_SOURCE: Final = "idphoto.floor"
# What ours records of the same upload (options.to_record() of the template's defaults) and who.
RECORD_OPTIONS: Final = {
    "spec_id": 1,
    "background": [{"name": "white", "top": WHITE, "bottom": WHITE}],
    "print_type": 1,
}
OWNER: Final = "AIDALOCALUSER00000000"
RETENTION_SECONDS: Final = 30 * 86_400
TIMEOUT: Final = (3.05, 60.0)

COLD_START: Final = """
import time; t = time.perf_counter()
import boto3, requests
boto3.client("s3"); boto3.client("dynamodb"); requests.Session()
print(time.perf_counter() - t)
"""

_deserialize = TypeDeserializer().deserialize
_serialize = TypeSerializer().serialize


class Floor:
    def __init__(self, bucket: str, table: str, vendor_url: str, appcode: str) -> None:
        self.bucket = bucket
        self.table = table
        self._vendor = vendor_url.rstrip("/")
        self._auth = {"Authorization": f"APPCODE {appcode}"}
        session = boto3.session.Session()
        self._s3: Any = session.client("s3", config=Config(signature_version="s3v4"))
        self._dynamodb: Any = session.client("dynamodb")
        self._events: Any = session.client("events")
        self._http = requests.Session()

    @classmethod
    def from_env(cls) -> Floor:
        """In a child process: the stack's environment, as the handlers see it."""
        env = os.environ
        return cls(env["PHOTO_BUCKET"], env["PHOTOS_TABLE"], env["VENDOR_BASE_URL"], env["BENCH_APPCODE"])

    def make_photo(self, key: str, version_id: str | None, record_key: str | None = None) -> str:
        """Presign, POST to the vendor, record the answer; returns the record's key."""
        params = {"Bucket": self.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        answer = self._vendor_make(params)
        record_key = record_key or RECORD_PREFIX + key
        self._dynamodb.put_item(
            TableName=self.table,
            Item={
                "photo_key": {"S": record_key},
                "status": {"S": "READY"},
                "names": {"L": [{"S": n} for n in answer["final_pic_name"]]},
                "previews": {"L": [{"S": u} for u in answer["wm_pic_url"]]},
                "sheet_previews": {"L": [{"S": u} for u in answer["print_wm_pic_url"]]},
                "sheet_count": {"N": str(answer["one_sheet_num"])},
                "updated_at": {"N": str(int(time.time()))},
            },
        )
        return record_key

    def make_photo_guaranteed(self, key: str, version_id: str | None, sequencer: str, claim_id: str) -> str:
        """At-least-once and announced, with the same record and event as ours: one GET of the whole
        object (ours checks a JPEG to its end before the vendor gets it), the claim, the vendor POST,
        the conditional result write returning the item, and one event built from it."""
        params = {"Bucket": self.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        source = self._s3.get_object(**params)
        data = source["Body"].read()
        if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\0").endswith(b"\xff\xd9")):
            raise RuntimeError("the floor's source is not a whole JPEG")
        record_key = RECORD_PREFIX + "guaranteed/" + key
        now = int(time.time())
        claim: dict[str, Any] = {
            "photo_key": record_key,
            "bucket": self.bucket,
            "etag": str(source["ETag"]).strip('"'),
            "version_id": version_id,
            "owner": OWNER,
            "size": len(data),
            "sequencer": sequencer,
            "status": "PROCESSING",
            "options": RECORD_OPTIONS,
            "ignored_metadata": [],
            "auto_finals": "off",
            "claim_id": claim_id,
            "lease_until": now + LEASE_SECONDS,
            "attempts": 1,
            "event_attempts": {claim_id: 1},
            "created_at": now,
            "updated_at": now,
            "expires_at": now + RETENTION_SECONDS,
        }
        self._dynamodb.put_item(
            TableName=self.table,
            Item={k: _serialize(v) for k, v in claim.items() if v is not None},
            # A newer version, or a retry of this very claim (Lambda retries with the same request id).
            ConditionExpression="attribute_not_exists(photo_key) OR sequencer < :sequencer OR claim_id = :claim",
            ExpressionAttributeValues={":sequencer": {"S": sequencer}, ":claim": {"S": claim_id}},
        )
        answer = self._vendor_make(params)
        ready = {
            "status": "READY",
            "names": answer["final_pic_name"],
            "previews": answer["wm_pic_url"],
            "sheet_previews": answer["print_wm_pic_url"],
            "sheet_count": answer["one_sheet_num"],
            "previews_expire_at": now + 86_400,
            "colors": ["white"],
            "finals": {},
            "updated_at": now,
        }
        item = self._dynamodb.update_item(
            TableName=self.table,
            Key={"photo_key": {"S": record_key}},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in ready),
            ConditionExpression="claim_id = :claim AND sequencer = :sequencer",
            ExpressionAttributeNames={f"#{k}": k for k in ready},
            ExpressionAttributeValues={f":{k}": _serialize(v) for k, v in ready.items()}
            | {":claim": {"S": claim_id}, ":sequencer": {"S": sequencer}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        record = {name: _deserialize(value) for name, value in item.items()}
        detail = {
            "schema_version": "1",
            "event_id": f"{sequencer[-32:]:0>32}".lower(),
            "key": key,
            "bucket": record["bucket"],
            "version_id": record.get("version_id"),
            "sequencer": sequencer,
            "owner": record["owner"],
            "status": record["status"],
            "colors": record["colors"],
            "sheet_count": record["sheet_count"],
            "options": record["options"],
            "made_at": record["updated_at"],
            "auto_finals": False,
        }
        self._events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": "Photo Ready",
                    "Detail": json.dumps(detail, default=int),
                }
            ]
        )
        return record_key

    def _vendor_make(self, params: dict[str, Any]) -> dict[str, Any]:
        """Presign the upload and POST it to the vendor with the same options as ours."""
        pic_url = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=120)
        answer: dict[str, Any] = self._http.post(
            self._vendor + MAKE_PATH,
            json={"pic_url": pic_url, **VENDOR_OPTIONS},
            headers=self._auth,
            timeout=TIMEOUT,
        ).json()
        if answer.get("code") != 200:
            raise RuntimeError(f"the vendor refused the floor's photo: {answer}")
        return answer

    def status(self, record_key: str) -> dict[str, Any]:
        item = self._get(record_key)
        body = {name: _deserialize(value) for name, value in item.items()}
        return {"statusCode": 200, "body": json.dumps(body, default=str)}

    def finals(self, record_key: str) -> dict[str, Any]:
        """What a client's finals request gets: the kept copy, or else the billed fetch (no claim)."""
        item = self._get(record_key)
        if "kept" in item:
            return self._links(item["kept"]["M"]["photo"]["S"], item["kept"]["M"]["sheet"]["S"])
        return self._bill(record_key, item)

    def billed_final(self, record_key: str) -> dict[str, Any]:
        return self._bill(record_key, self._get(record_key))

    def _bill(self, record_key: str, item: dict[str, Any]) -> dict[str, Any]:
        name = item["names"]["L"][0]["S"]
        answer = self._http.get(
            self._vendor + FINAL_PATH, params={"file_name": name}, headers=self._auth, timeout=TIMEOUT
        ).json()
        if answer.get("code") != 200:
            raise RuntimeError(f"the vendor refused the floor's final: {answer}")
        photo_key, sheet_key = f"finals/{record_key}/white.jpg", f"finals/{record_key}/white_print.jpg"
        for url, key in ((answer["file_name"], photo_key), (answer["file_name_list"], sheet_key)):
            body = self._http.get(url, timeout=TIMEOUT).content
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="image/jpeg")
        self._dynamodb.update_item(
            TableName=self.table,
            Key={"photo_key": {"S": record_key}},
            UpdateExpression="SET kept = :kept",
            ExpressionAttributeValues={
                ":kept": {"M": {"photo": {"S": photo_key}, "sheet": {"S": sheet_key}}}
            },
        )
        return self._links(photo_key, sheet_key)

    def kept_final(self, record_key: str) -> dict[str, Any]:
        item = self._get(record_key)
        if "kept" in item:  # the floor's own record
            kept = item["kept"]["M"]
            return self._links(kept["photo"]["S"], kept["sheet"]["S"])
        final = item["finals"]["M"]["white"]["M"]  # a record of ours' shape (see bench.api)
        return self._links(final["photo_key"]["S"], final["sheet_key"]["S"])

    def _get(self, record_key: str) -> dict[str, Any]:
        item: dict[str, Any] = self._dynamodb.get_item(
            TableName=self.table, Key={"photo_key": {"S": record_key}}
        )["Item"]
        return item

    def _links(self, photo_key: str, sheet_key: str) -> dict[str, Any]:
        urls = [
            self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=URL_TTL_SECONDS
            )
            for key in (photo_key, sheet_key)
        ]
        body = {"finals": [{"color": "white", "photo_url": urls[0], "sheet_url": urls[1]}]}
        return {"statusCode": 200, "body": json.dumps(body)}
