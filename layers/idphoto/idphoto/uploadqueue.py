"""SQS access: the one call make-photo makes on its upload queue (Lambda itself receives and deletes).

botocore's errors become ours (:class:`~idphoto.errors.DataAccessError`) here, as in the other
data-access modules, so nothing above them imports botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from idphoto.errors import DataAccessError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from idphoto.upload_messages import UploadMessage


class UploadQueue:
    """The one call make-photo makes on its queue: the visibility of a waiting upload."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self._url = url

    def wait(self, message: UploadMessage, seconds: int) -> None:
        """The message comes back after ``seconds`` instead of the queue's visibility timeout."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            code = str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""
            raise DataAccessError(
                f"SQS ChangeMessageVisibility failed ({code or type(exc).__name__})", aws_code=code
            ) from exc
