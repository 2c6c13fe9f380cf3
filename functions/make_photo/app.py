"""make-photo: the upload queue's messages (each an S3 ObjectCreated event) -> ID photos.

Thin on purpose: Powertools' batch utility hands each SQS record to ``idphoto.queueing`` and answers
Lambda with the partial batch response (``batchItemFailures``): a record that raised stays in the
queue and comes back after its visibility timeout; the others are deleted. See "Handling errors for an
SQS event source in Lambda" (Lambda developer guide) and Powertools' "Batch Processing".
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.config import get_settings
from idphoto.observability import logger, metrics

# Time kept back from the vendor for recording the outcome before Lambda's timeout.
SAFETY_SECONDS = 5.0

get_settings()  # a misconfigured deployment fails at cold start, loudly, not per photo


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    uploads = services.upload_handler()
    # One per invocation (it holds the batch's results). A batch whose every record failed is
    # answered as such (batchItemFailures), not raised: a waiting upload is no function error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def record_handler(record: SQSRecord) -> None:
        uploads.handle(record, deadline=deadline)

    return process_partial_response(  # type: ignore[return-value]  # a TypedDict: the dict Lambda reads
        event=event, record_handler=record_handler, processor=processor, context=context
    )
