"""The API's contract: its request and answer types and documented error answers, for both functions
(get-photo's two routes, create-upload's ``POST /uploads``).

The routes' body and return types are these TypedDicts; :mod:`idphoto.api.openapi` derives the
committed ``docs/openapi.json`` from the routes, and ``tests/unit/test_openapi.py`` fails when the two
drift apart. Field docstrings become the fields' descriptions in the document. TypedDicts, not pydantic
models: pydantic reads them as models when validating or documenting, and a deployed function (which
has no pydantic) defines them for nothing.
"""

from typing import Any, Final, Literal, NotRequired, TypedDict

from idphoto.uploads import parse_request

PATH_DECODING_HEADER: Final = "X-IdPhoto-Path-Decoding"
"""A route's successful answer says how API Gateway delivered ``pathParameters``: decoded, encoded, plain
(nothing in the key needed encoding), or mismatch (see :mod:`idphoto.api.keys`)."""


class Background(TypedDict):
    """A result colour: plain when top == bottom, otherwise a vertical gradient."""

    name: str
    top: int
    """colour at the top, 0xRRGGBB as a decimal number"""
    bottom: int
    """colour at the bottom"""


class PhotoOptionsOut(TypedDict, total=False):
    """The vendor options the photo was (or will be) made with; unset options are left out."""

    spec_id: int
    width_px: int
    height_px: int
    background: list[Background]
    ratios: list[str]
    """the 8 portrait ratios, as exact decimal strings"""
    file_size_max: int
    """KB"""
    file_size_min: int
    """KB"""
    print_type: int
    """1: 8 a sheet, 2: 10 a sheet"""
    hor_align_type: int
    """0: centre crop, 1: by the ears"""
    pose_fix: int
    need_origin_beauty: int
    clothes: str
    fair_level: int
    """beauty strength 1-5 (the vendor's default: 1)"""


class PhotoVersion(TypedDict):
    """The upload's version the photo was made from."""

    etag: str
    version_id: str | None
    sequencer: str


class Preview(TypedDict):
    """A colour's watermarked photo and print sheet at the vendor (the URLs expire within about a day)."""

    color: str
    photo_url: str
    sheet_url: str


class PhotoError(TypedDict):
    """Why a photo FAILED: INVALID_OPTIONS, UNSUPPORTED_OBJECT, VENDOR_REJECTED or VENDOR_GATEWAY."""

    code: str
    message: str | None
    vendor_code: int | None


class FinalCheck(TypedDict):
    """One rule a kept final was checked against (idphoto.checks); a failed one is a warning."""

    rule: Literal["jpeg", "pixel_size", "file_size", "background", "dpi", "checks"]
    asked: str
    measured: str
    ok: bool


class ComplianceMeasure(TypedDict):
    """One measure of a colour's preview against its spec (idphoto.compliance)."""

    measure: Literal[
        "faces",
        "head_height",
        "eye_height",
        "top_margin",
        "face_width",
        "centred",
        "eyes_level",
        "background",
    ]
    value: float | None
    """the measured value (head_height, eye_height, top_margin: share of the photo height, eye_height
    from the bottom edge; face_width and centred: share of the photo width; eyes_level: degrees;
    background: worst channel difference of the top corners); null when it could not be measured"""
    low: float | None
    """the least allowed value; null: no lower bound"""
    high: float | None
    """the most allowed value; null: no upper bound"""
    unit: str
    source: str
    """where the range comes from: the named spec and its authority, the upload's ratios, or the
    product's own rule"""
    ok: bool | None
    """null: nothing is required of this measure (no range)"""
    note: NotRequired[str]


class Compliance(TypedDict):
    """A colour's preview measured before any billed call. ``passed`` false: its final is not paid for
    unless asked with allow_noncompliant=true; null: no framing figures to hold it to (never refused)."""

    passed: bool | None
    failed: list[str]
    """the names of the failed measures"""
    measures: list[ComplianceMeasure]
    error: NotRequired[str]
    """why the preview could not be measured (then ``passed`` is false)"""


class Waiting(TypedDict):
    """Why a PROCESSING photo's upload waits in the upload queue, and until when."""

    reason: str
    code: str
    """VENDOR_ACCOUNT: the vendor's gateway refuses our account (quota, AppCode): an operator acts"""
    since: int
    """Unix time the upload entered the queue"""
    retry_at: int
    """Unix time of its next try; it is made once the vendor accepts again"""


class PhotoStatus(TypedDict):
    """A photo's status, options and previews."""

    key: str
    """the uploaded object's key"""
    status: Literal["PROCESSING", "READY", "FAILED"]
    version: PhotoVersion
    options: PhotoOptionsOut
    colors: list[str]
    sheet_count: int | None
    """photos on one print sheet, once made"""
    previews: list[Preview]
    """empty while processing and once the vendor's URLs expired"""
    previews_expire_at: int | None
    """Unix time the preview URLs stop working"""
    previews_expired: bool
    finals_kept: list[str]
    """colours whose finals are kept already: fetching them again is free"""
    checks: NotRequired[dict[str, list[FinalCheck]]]
    """per kept colour, the checks of its final against what was asked"""
    compliance: NotRequired[dict[str, Compliance]]
    """per colour, its preview measured against the spec before any billed call (absent when the
    deployment's check is off)"""
    finals_uncertain: NotRequired[list[str]]
    """colours whose billed call got no usable answer (the vendor may have charged): see retry_uncertain"""
    created_at: int
    updated_at: int
    stalled: bool
    """PROCESSING, but its last attempt died (timeout, out of memory, an AWS error) and no retry is
    due: its upload is in the upload dead-letter queue, to be redriven"""
    error: NotRequired[PhotoError]
    """only on a FAILED photo"""
    last_error: NotRequired[str]
    """the last transient error while the photo is retried"""
    waiting: NotRequired[Waiting]
    """only while PROCESSING and the upload waits for the vendor to accept our account again"""
    ignored_metadata: NotRequired[list[str]]
    """upload metadata that is no option"""
    prepared: NotRequired[str]
    """what was done to the upload before the vendor got it, e.g. "converted from HEIC, rotated 90°";
    absent when it went as it came"""


class FinalLink(TypedDict):
    """A colour's watermark-free photo and print sheet, presigned GET URLs into our bucket."""

    color: str
    photo_url: str
    sheet_url: str
    expires_in: int
    """seconds the two URLs stay valid"""
    checks: list[FinalCheck]
    """the photo checked against what was asked; a failed check warns, it hides nothing"""


class PendingFinal(TypedDict):
    """A colour this request did not serve. ``retry_after`` (seconds) when asking again will help;
    null when it will not as is (FINAL_UNCERTAIN: see retry_uncertain; VENDOR_REJECTED)."""

    color: str
    code: str
    message: str
    retry_after: int | None


class Finals(TypedDict):
    """The finals served. When some colours could not be served within the request's time (API
    Gateway's 29 s) or failed, they are ``pending`` and the answer carries ``Retry-After``: ask again
    for the rest; what is done is never paid for again."""

    key: str
    finals: list[FinalLink]
    pending: list[PendingFinal]


ImageType = Literal[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
    "image/bmp",
    "image/tiff",
]
"""The types ``POST /uploads`` takes: :data:`idphoto.uploads.IMAGE_TYPES` (a unit test keeps them equal)."""


class NewUpload(TypedDict):
    """``POST /uploads``' JSON body: the file to be uploaded and the photo's options. A field not listed
    here is refused (400 BAD_REQUEST naming it)."""

    content_type: ImageType
    """the file's type (case and surrounding spaces do not matter)"""
    filename: NotRequired[str]
    """only names the key (sanitised; the suffix follows content_type)"""
    options: NotRequired[dict[str, str]]
    """the upload options (spec, spec-id, background, print-type, ..., finals), each a string, checked
    as make-photo will check them and merged over the deployment's defaults: a bad one is 400
    INVALID_OPTIONS naming it. owner is refused (the API sets it)"""


class PresignedPost(TypedDict):
    """S3's browser POST form: a multipart/form-data POST to ``url`` with every field of ``fields``, then
    the file as the last field, ``file``. S3 refuses a changed field, another type or size, or an
    expired form."""

    url: str
    fields: dict[str, str]
    """every field to post as it is (key, policy, signature, Content-Type, x-amz-meta-*)"""


class UploadAnswer(TypedDict):
    """An upload form for one portrait, and where its photo's status will be."""

    key: str
    """the object key the form uploads to (in the caller's folder); the photo's key"""
    upload: PresignedPost
    content_type: ImageType
    max_bytes: int
    """the largest file the form takes"""
    expires_at: int
    """Unix time the form expires"""
    expires_in: int
    """seconds until then"""
    status_path: str
    """the photo's status route, GET /photos/{key}, its key percent-encoded"""
    status_url: str
    """status_path under the API's base URL as this request called it"""


class ErrorDetail(TypedDict):
    code: str
    """machine-readable, e.g. PHOTO_NOT_FOUND"""
    message: str


class ErrorAnswer(TypedDict):
    """An error of the API: JSON, never a stack trace."""

    error: ErrorDetail


class GatewayError(TypedDict):
    """An answer of API Gateway itself: bad or missing signature (403), throttled (429), timeout (504)."""

    message: str


CONTRACT_TYPES: Final = (
    Background,
    PhotoOptionsOut,
    PhotoVersion,
    Preview,
    PhotoError,
    ComplianceMeasure,
    Compliance,
    PhotoStatus,
    FinalLink,
    PendingFinal,
    Finals,
    NewUpload,
    PresignedPost,
    UploadAnswer,
    ErrorDetail,
    ErrorAnswer,
    GatewayError,
)


def responses(success: str, *statuses: tuple[int, str], created: bool = False) -> dict[int, Any]:
    """OpenAPI responses: 200 (get-photo's, with its path-decoding header) or 201 (``created``) is the
    route's return type; errors are the function's ErrorAnswer, or the gateway's own answer."""
    answers: dict[int, Any] = {201: {"description": success}}
    if not created:
        decoding = {
            PATH_DECODING_HEADER: {
                "description": "how API Gateway delivered pathParameters for this request",
                "schema": {"type": "string", "enum": ["decoded", "encoded", "plain", "mismatch"]},
            }
        }
        answers = {200: {"description": success, "headers": decoding}}
    for status, description in statuses:
        model = GatewayError if status in (403, 429, 504) else ErrorAnswer
        answers[status] = {"description": description, "content": {"application/json": {"model": model}}}
    return answers


COMMON_ERRORS: Final = (
    (400, "BAD_REQUEST: malformed key or colour, or a query parameter the route does not take (named)"),
    (403, "API Gateway: missing or invalid SigV4 signature, or no such route"),
    (404, "PHOTO_NOT_FOUND: no photo was made from that key (or it is another caller's)"),
    (429, "API Gateway: throttled"),
    (500, "INTERNAL: a bug; the request id is in the logs"),
    (504, "API Gateway: the function did not answer within 29 s"),
)

# POST /uploads reads no record (no 404: API Gateway answers an unknown route itself, 403) and calls no
# AWS service (the form is signed in the function: no 503).
UPLOAD_ERRORS: Final = (
    (
        400,
        "BAD_REQUEST: the body is no JSON object, has a field it does not take, a content_type that is no "
        "image type it takes, or the request has a query parameter (the route takes none): each named; "
        "INVALID_OPTIONS: an option make-photo would refuse, named",
    ),
    (403, "API Gateway: missing or invalid SigV4 signature, or no such route"),
    (429, "API Gateway: throttled"),
    (500, "INTERNAL: a bug, or a caller API Gateway did not name; the request id is in the logs"),
    (504, "API Gateway: the function did not answer within 29 s"),
)


def param(validation: bool, kind: Literal["Path", "Query", "Body"], **constraints: Any) -> Any:
    """Powertools' ``Path(...)``/``Query(...)``/``Body(...)`` when validating; nothing otherwise (they
    import pydantic, which costs more cold start than the rest of the function)."""
    if not validation:
        return None
    from aws_lambda_powertools.event_handler.openapi import params

    return getattr(params, kind)(**constraints)


def checked_upload(body: Any) -> dict[str, Any]:
    """``POST /uploads``' body as :func:`idphoto.uploads.parse_request` takes it, normalised: the
    same parser decides with validation on or off, and its refusal (an
    :class:`~idphoto.uploads.UploadRequestError`, not a ``ValueError``) goes through pydantic untouched
    to the handler's error table, the same 400 naming the problem."""
    request = parse_request(body, None)
    return {"content_type": request.content_type, "filename": request.filename, "options": request.options}


def upload_check(validation: bool) -> Any:
    """pydantic's ``BeforeValidator(checked_upload)`` when validating (it runs before the
    :class:`NewUpload` schema, which then finds nothing left to refuse); nothing otherwise."""
    if not validation:
        return None
    from pydantic import BeforeValidator

    return BeforeValidator(checked_upload)
