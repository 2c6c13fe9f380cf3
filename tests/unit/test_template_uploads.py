"""POST /uploads in the template as CloudFormation receives it (AWS's SAM translation)."""

from __future__ import annotations

from typing import Any

from local.stack.template import load


def _resources(**overrides: str) -> dict[str, Any]:
    found: dict[str, Any] = load(overrides=overrides).translated["Resources"]
    return found


def test_post_uploads_is_iam_authorised_and_runs_create_upload() -> None:
    resources = _resources()
    [api] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    operation = api["Properties"]["Body"]["paths"]["/uploads"]["post"]

    assert operation["security"] == [{"AWS_IAM": []}]
    assert "CreateUploadFunction" in str(operation["x-amazon-apigateway-integration"]["uri"])


def _cors(**overrides: str) -> tuple[dict[str, Any], ...]:
    """The bucket's CORS rules once CloudFormation resolved the conditions (the local stack's resolver)."""
    [bucket] = [b for b in load(overrides=overrides).buckets if b.logical_id == "PhotoBucket"]
    return bucket.cors_rules


def test_the_bucket_has_no_cors_rule_by_default_and_the_listed_origins_otherwise() -> None:
    translated = _resources()["PhotoBucket"]["Properties"]["CorsConfiguration"]

    assert translated["Fn::If"][0] == "HasUploadCors"
    assert translated["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert _cors() == ()
    [rule] = _cors(UploadCorsOrigins="https://a.example,https://b.example")
    assert rule["AllowedMethods"] == ["POST"]
    assert rule["AllowedOrigins"] == ["https://a.example", "https://b.example"]


def test_the_signing_role_may_only_put_objects_under_the_upload_prefix() -> None:
    role = load().role("CreateUploadRole")
    s3 = [s for _, doc in role.policies for s in doc["Statement"] if "s3:" in str(s["Action"])]

    assert [(s["Action"], s["Resource"].rsplit("/", 1)[1]) for s in s3] == [("s3:PutObject", "*")]
    assert all(s["Resource"].endswith("/uploads/*") for s in s3)
