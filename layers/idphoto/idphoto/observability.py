"""Logger and Metrics, made once; every module imports them from here."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "idphoto"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="IdPhoto", service=SERVICE)
