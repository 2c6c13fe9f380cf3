"""The stack must not take over, or break on deletion, the account's API Gateway logging role."""

from __future__ import annotations

from tests.template import resource, template


def test_logging_role_is_not_managed_unless_asked() -> None:
    # Given the template, when deployed with its defaults,
    parameter = template()["Parameters"]["ManageApiGatewayLoggingRole"]
    # then it leaves the account-wide setting (one per account and region) alone.
    assert parameter["Default"] == "false"


def test_managed_logging_role_survives_stack_deletion() -> None:
    # Given a stack that does manage the account's role, deleting or replacing it must keep both the
    # role and the account setting: otherwise every REST API in the region loses its logging.
    for logical_id in ("ApiGatewayLoggingRole", "ApiGatewayAccount"):
        definition = resource(logical_id)
        assert definition["Condition"] == "ManageApiGatewayLoggingRole"
        assert definition.get("DeletionPolicy") == "Retain", logical_id
        assert definition.get("UpdateReplacePolicy") == "Retain", logical_id


def test_sse_kms_uploads_are_refused_by_the_bucket_policy() -> None:
    # Given the photo bucket's policy, an upload asking for SSE-KMS (which make-photo could not read)
    # is denied at PUT time under the upload prefix, instead of failing later with no record.
    statements = resource("PhotoBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s.get("Sid") == "NoKmsUploads"]
    assert len(deny) == 1
    (statement,) = deny
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == {"Fn::Sub": "${PhotoBucket.Arn}/${UploadPrefix}*"}
    values = statement["Condition"]["StringEquals"]["s3:x-amz-server-side-encryption"]
    assert set(values) == {"aws:kms", "aws:kms:dsse"}
