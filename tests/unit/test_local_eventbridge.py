"""The local EventBridge reads the template's rules as CloudFormation would create them."""

from __future__ import annotations

import pytest

from local.stack.eventbridge import RuleSpec, read_rules
from local.stack.naming import Pseudo
from local.stack.template import load


def rules(**overrides: str) -> dict[str, RuleSpec]:
    """Read from what SAM's translator makes of the template, as the local stack does."""
    template = load(overrides=overrides, pseudo=Pseudo())
    return {
        r.logical_id: r
        for r in read_rules(
            template.translated, template.parameters, template.pseudo, "http://127.0.0.1:4566"
        )
    }


def test_without_a_webhook_url_no_webhook_rule_exists() -> None:
    assert sorted(rules()) == ["AutoFinalsRule"]


def test_the_webhook_rule_targets_the_api_destination_with_the_connections_key() -> None:
    found = rules(
        WebhookUrl="https://hooks.example/idphoto", WebhookAuthHeaderValue="k-123", EventBusName="photos"
    )
    rule = found["WebhookRule"]
    [target] = rule.targets
    assert rule.bus == "photos"
    assert rule.pattern["source"] == ["idphoto"]
    assert target.destination is not None
    assert target.destination.endpoint == "https://hooks.example/idphoto"
    assert target.destination.method == "POST"
    assert dict(target.destination.headers) == {"x-api-key": "k-123"}
    assert target.max_attempts == 186
    assert target.dead_letter_arn is not None
    assert target.dead_letter_arn.startswith("arn:aws:sqs:us-east-1:")
    assert "WebhookDeadLetterQueue" in target.dead_letter_arn


@pytest.mark.parametrize("url", ["http://plain.example/hook", "ftp://x"])
def test_a_webhook_that_is_not_https_is_refused_like_cloudformation_would(url: str) -> None:
    with pytest.raises(Exception, match="WebhookUrl"):
        rules(WebhookUrl=url, WebhookAuthHeaderValue="k")
