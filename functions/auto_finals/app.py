"""auto-finals: the "Photo Ready" event (an EventBridge rule) -> the photo's automatic finals, if wanted.

Thin on purpose: the logic is ``idphoto.autofinals``. An error (vendor unavailable, another request
paying for the same final right now) is raised, so Lambda's asynchronous retries try again; the
pay-once claim makes a retry cost nothing that was already paid.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.config import get_settings
from idphoto.observability import logger, metrics

SAFETY_SECONDS = 5.0

get_settings()  # a misconfigured deployment fails at cold start, loudly


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    detail = event["detail"]
    logger.append_keys(photo_key=detail.get("key"), event_id=detail.get("event_id"))
    result = services.auto_finals().on_ready(detail, request_id=context.aws_request_id, deadline=deadline)
    return {"key": result.key, "fetched": list(result.fetched), "detail": result.detail}
