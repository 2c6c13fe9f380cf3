"""Whose photo it is: the owner an upload is recorded with, and the caller a read is compared with.

Two kinds of callers sign the API's requests (``AWS_IAM`` authorisation):

* an IAM user or role: its unique id (``AIDA...``/``AROA...``), a role's sessions counted as one;
* a user of a Cognito identity pool: every such user signs with the pool's one role, so the role says
  nothing about who they are. API Gateway names the identity (``requestContext.identity.
  cognitoIdentityId``, "$context.identity.cognitoIdentityId" in the API Gateway developer guide's
  "Variables for data models, authorizers, mapping templates and CloudWatch access logging"); that
  identity is the owner, so that two users of one pool never see (or pay for) each other's photos.

An upload's owner is the principal S3 names in the event (:attr:`idphoto.source.SourceObject.uploader`),
except for uploads through ``POST /uploads``: S3 names the principal that *signed* the presigned POST,
the create-upload function's role, for every caller alike. Those uploads carry their caller in the
``x-amz-meta-owner`` field, which the POST policy fixes (``eq``), so it is trusted exactly when the
signer is that role (``UPLOAD_SIGNER_ID``, the role's unique id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from idphoto.source import principal_id

OWNER_METADATA: Final = "owner"


def caller_owner(cognito_identity_id: str | None, caller: str | None) -> str | None:
    """The owner a signed API request speaks for: its Cognito identity, else its IAM principal."""
    if cognito_identity_id:
        return cognito_identity_id
    return principal_id(caller)


def upload_owner(uploader: str | None, metadata: Mapping[str, str], signer: str) -> str | None:
    """The owner of an uploaded object: the ``owner`` metadata when the create-upload role signed the
    upload's policy (``signer``; empty: no such role), else the uploader itself."""
    if signer and uploader == signer:
        return metadata.get(OWNER_METADATA) or None
    return uploader
