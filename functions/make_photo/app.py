"""make-photo: S3 ObjectCreated event -> make each uploaded portrait into an ID photo.

Thin on purpose: parse the event, hand each object to ``PhotoMaker``. Transient vendor failures are
raised so that Lambda's asynchronous retries (and finally the on-failure destination) take over.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.config import get_settings
from idphoto.observability import logger, metrics
from idphoto.source import SourceObject

# Time kept back from the vendor for recording the outcome before Lambda's timeout.
SAFETY_SECONDS = 5.0

get_settings()  # a misconfigured deployment fails at cold start, loudly, not per photo


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    results = []
    for record in event.get("Records", []):
        source = SourceObject.from_event_record(record)
        logger.append_keys(photo_key=source.key, sequencer=source.sequencer)
        result = services.maker().make(source, request_id=context.aws_request_id, deadline=deadline)
        results.append({"key": result.key, "outcome": result.outcome.value, "detail": result.detail})
    return {"results": results}
