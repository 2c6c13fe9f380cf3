"""The one IAM principal of the local stack.

The API's ``AWS_IAM`` authorizer is not enforced locally, so no request proves who sent it. Instead the
local stack has a single user, the owner of the fake ``testing`` credentials: S3 events name it as the
uploader (``userIdentity.principalId``) and API events as the signed caller (``identity.caller``), with
the same id shapes AWS uses (``AWS:AIDA...`` in S3 events, ``AIDA...`` in API Gateway's identity). So a
photo uploaded with any local client is visible through the local API under ``PhotoAccess=uploader``.
"""

from __future__ import annotations

from typing import Any, Final

LOCAL_USER_ID: Final = "AIDALOCALUSER00000000"  # 21 characters, like an IAM user's unique id
LOCAL_ACCESS_KEY: Final = "testing"


def s3_principal() -> str:
    return f"AWS:{LOCAL_USER_ID}"


def api_identity(account_id: str, source_ip: str, user_agent: str | None) -> dict[str, Any]:
    """requestContext.identity of an IAM-authorised REST API request made by the local user."""
    return {
        "cognitoIdentityPoolId": None,
        "accountId": account_id,
        "cognitoIdentityId": None,
        "caller": LOCAL_USER_ID,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": LOCAL_ACCESS_KEY,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": user_arn(account_id),
        "userAgent": user_agent,
        "user": LOCAL_USER_ID,
    }


def user_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:user/local"


def caller_policy(region: str, account_id: str, rest_api_id: str, stage: str) -> dict[str, Any]:
    """The local user's only permission: what docs/security.md (Who may call the API) tells a caller to attach."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CallThePhotoApi",
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": f"arn:aws:execute-api:{region}:{account_id}:{rest_api_id}/{stage}/*",
            }
        ],
    }
