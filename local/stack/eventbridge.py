"""The template's EventBridge rules, delivered locally to their targets.

Choice: moto matches, we deliver. Each ``AWS::Events::Rule`` of the template is created in moto on its
bus with its own ``EventPattern``, with one internal SQS queue as its only target; so moto's pattern
matcher decides what a rule sees and moto builds the envelope (``version``, ``id``, ``detail-type``,
``source``, ``account``, ``time``, ``region``, ``resources``, ``detail``: "Amazon EventBridge events",
https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html). A pump thread per
rule takes the matched events from that queue and hands them to the template's real targets, because
moto itself cannot: it raises for a Lambda target and calls an API destination without body or auth.

Targets emulated, each from AWS's documentation:

* ``AWS::Events::ApiDestination`` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-api-destinations.html):
  the event is the request body (JSON) sent with the destination's ``HttpMethod`` to its
  ``InvocationEndpoint``, with the connection's auth (API_KEY: the header ``ApiKeyName: ApiKeyValue``;
  BASIC: ``Authorization: Basic``); a request not answered within 5 s fails. Retried: 401, 407, 409,
  429, 5xx and failed connections; not retried: the other 4xx.
* a function of the template: invoked asynchronously, as EventBridge invokes Lambda.
* an SQS queue: ``SendMessage`` of the event.

Retries follow the target's ``RetryPolicy`` (attempts), with delays shortened for a machine that must
not wait hours (``retry_delays``); an event that exhausted them goes to the target's
``DeadLetterConfig`` queue with the attributes EventBridge sets (RULE_ARN, TARGET_ARN, ERROR_CODE,
ERROR_MESSAGE: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). Other
target kinds, input transformers and OAuth connections are refused loudly at start.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import requests

from local.stack.intrinsics import Resolver
from local.stack.naming import Pseudo, ResourceNames, generated_name

log = logging.getLogger(__name__)

API_DESTINATION_TIMEOUT_S: Final = 5.0
RETRIED_STATUSES: Final = frozenset({401, 407, 409, 429})
DEFAULT_RETRY_DELAYS: Final = (0.05, 0.1, 0.2, 0.4, 0.8)
USER_AGENT: Final = "Amazon/EventBridge/ApiDestinations"


class UnsupportedTarget(Exception):
    """The template asks for EventBridge behaviour this emulation does not have."""


@dataclass(frozen=True)
class ApiDestination:
    arn: str
    endpoint: str
    method: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class TargetSpec:
    id: str
    arn: str
    max_attempts: int  # the first try and MaximumRetryAttempts retries
    dead_letter_arn: str | None
    destination: ApiDestination | None = None


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    name: str
    arn: str
    bus: str
    pattern: Mapping[str, Any]
    targets: tuple[TargetSpec, ...]


@dataclass
class Delivery:
    """One attempt at one target, for tests to see what a deployment would have sent."""

    rule: str
    target: str
    event: dict[str, Any]
    ok: bool
    error: str = ""


@dataclass
class DeliveryLog:
    attempts: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self.attempts.append(delivery)

    def delivered(self, target: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.event for d in self.attempts if d.ok and (target is None or d.target == target)]


# --- reading the template ---------------------------------------------------------------------------


class _Names(ResourceNames):
    """ARNs of the EventBridge resources, which the stack's naming does not need otherwise."""

    def __init__(self, resources: Mapping[str, Any], pseudo: Pseudo, sqs_endpoint: str) -> None:
        self._resolver: Resolver | None = None
        super().__init__(resources, pseudo, lambda v: self._text(v), sqs_endpoint)

    def _text(self, value: Any) -> str:
        if self._resolver is None:
            raise RuntimeError("names used before their resolver was set")
        return self._resolver.text(value)


def read_rules(
    raw: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Pseudo, sqs_endpoint: str
) -> tuple[RuleSpec, ...]:
    """The template's rules that exist under these parameters, targets and their destinations resolved."""
    resources: Mapping[str, Any] = raw["Resources"]
    names = _Names(resources, pseudo, sqs_endpoint)
    resolver = Resolver(raw, {**parameters, **pseudo.values()}, names.ref, names.get_att)
    names._resolver = resolver

    def exists(logical_id: str) -> bool:
        condition = resources[logical_id].get("Condition")
        return condition is None or resolver.condition(str(condition))

    by_arn = {
        names.arn(lid): lid
        for lid, r in resources.items()
        if r.get("Type") == "AWS::Events::ApiDestination" and exists(lid)
    }
    rules = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Events::Rule" or not exists(logical_id):
            continue
        props = resolver.resolve(resource.get("Properties", {}))
        if props.get("State", "ENABLED") != "ENABLED":
            continue
        if "EventPattern" not in props:
            raise UnsupportedTarget(f"{logical_id}: only rules with an EventPattern are emulated")
        targets = tuple(
            _target(logical_id, t, by_arn, resources, resolver, names) for t in props.get("Targets", [])
        )
        rules.append(
            RuleSpec(
                logical_id=logical_id,
                name=generated_name(pseudo.stack_name, logical_id, "AWS::Events::Rule"),
                arn=names.arn(logical_id),
                bus=str(props.get("EventBusName", "default")),
                pattern=props["EventPattern"],
                targets=targets,
            )
        )
    return tuple(rules)


def _target(
    rule: str,
    target: Mapping[str, Any],
    destinations: Mapping[str, str],
    resources: Mapping[str, Any],
    resolver: Resolver,
    names: _Names,
) -> TargetSpec:
    if "InputTransformer" in target or "Input" in target or "InputPath" in target:
        raise UnsupportedTarget(f"{rule}: target {target['Id']}: input transformation is not emulated")
    policy = target.get("RetryPolicy", {})
    arn = str(target["Arn"])
    destination = None
    if arn in destinations:
        destination = _destination(destinations[arn], arn, resources, resolver, names)
    return TargetSpec(
        id=str(target["Id"]),
        arn=arn,
        # EventBridge's default RetryPolicy: 185 retries (eb-rule-retry-policy.html).
        max_attempts=1 + int(policy.get("MaximumRetryAttempts", 185)),
        dead_letter_arn=target.get("DeadLetterConfig", {}).get("Arn"),
        destination=destination,
    )


def _destination(
    logical_id: str, arn: str, resources: Mapping[str, Any], resolver: Resolver, names: _Names
) -> ApiDestination:
    props = resolver.resolve(resources[logical_id]["Properties"])
    connection_id = next(
        lid
        for lid in resources
        if names.type_of(lid) == "AWS::Events::Connection" and names.arn(lid) == props["ConnectionArn"]
    )
    connection = resolver.resolve(resources[connection_id]["Properties"])
    auth = connection.get("AuthParameters", {})
    headers: dict[str, str] = {}
    if connection["AuthorizationType"] == "API_KEY":
        key = auth["ApiKeyAuthParameters"]
        headers[str(key["ApiKeyName"])] = str(key["ApiKeyValue"])
    elif connection["AuthorizationType"] == "BASIC":
        basic = auth["BasicAuthParameters"]
        token = base64.b64encode(f"{basic['Username']}:{basic['Password']}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    else:
        raise UnsupportedTarget(f"{connection_id}: {connection['AuthorizationType']} auth is not emulated")
    return ApiDestination(
        arn=arn,
        endpoint=str(props["InvocationEndpoint"]),
        method=str(props.get("HttpMethod", "POST")),
        headers=headers,
    )


# --- delivering -------------------------------------------------------------------------------------

Invoke = Callable[[dict[str, Any]], object]


class TargetFailed(Exception):
    def __init__(self, code: str, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retry = retry


class EventBridge:
    """The running emulation: rules in moto, one pump per rule, deliveries logged."""

    def __init__(
        self,
        events: Any,
        sqs: Any,
        rules: Sequence[RuleSpec],
        functions: Mapping[str, Invoke],
        queue_urls: Callable[[str], str],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self._events = events
        self._sqs = sqs
        self.rules = tuple(rules)
        self._functions = functions  # function ARN -> asynchronous invoke
        self._queue_urls = queue_urls  # queue ARN -> URL
        self._delays = tuple(retry_delays)
        self.log = DeliveryLog()
        self.verify: bool | str = True  # requests' TLS verification for API destinations
        self._http = requests.Session()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: list[str] = []
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="eventbridge-target")
        self._pending = 0
        self._idle = threading.Condition()

    def trust(self, ca_file: str) -> None:
        """Trust a local receiver's self-signed certificate (a deployment trusts public CAs)."""
        self.verify = ca_file

    def start(self, stack_name: str) -> None:
        for rule in self.rules:
            for target in rule.targets:
                self._check_target(rule, target)
            queue = self._internal_queue(stack_name, rule)
            self._queues.append(queue)
            thread = threading.Thread(
                target=self._pump, args=(rule, queue), name=f"eventbridge-{rule.logical_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _check_target(self, rule: RuleSpec, target: TargetSpec) -> None:
        if target.destination is None and target.arn not in self._functions and ":sqs:" not in target.arn:
            raise UnsupportedTarget(f"{rule.logical_id}: target {target.id} ({target.arn}) is not emulated")

    def _internal_queue(self, stack_name: str, rule: RuleSpec) -> str:
        if rule.bus != "default":
            with contextlib.suppress(self._events.exceptions.ResourceAlreadyExistsException):
                self._events.create_event_bus(Name=rule.bus)  # the account's bus the template names
        # Shortened like a generated name: SQS takes 80 characters, a stack name has up to 128.
        queue_name = generated_name(stack_name, f"{rule.logical_id}-eventbridge", "AWS::SQS::Queue")
        url: str = self._sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
        self._events.put_targets(
            Rule=rule.name, EventBusName=rule.bus, Targets=[{"Id": "local-pump", "Arn": arn}]
        )
        return url

    def _pump(self, rule: RuleSpec, queue_url: str) -> None:
        while not self._stopped.is_set():
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except Exception:
                if self._stopped.is_set():
                    return
                log.exception("eventbridge pump: receive failed")
                time.sleep(0.2)
                continue
            for message in answer.get("Messages", []):
                event = json.loads(message["Body"])
                # moto's target input template leaves out "account", which every EventBridge event
                # carries (the envelope reference above): the rule's account is the bus's.
                event.setdefault("account", rule.arn.split(":")[4])
                for target in rule.targets:
                    self._submit(rule, target, event)
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _submit(self, rule: RuleSpec, target: TargetSpec, event: dict[str, Any]) -> None:
        with self._idle:
            self._pending += 1
        self._pool.submit(self._deliver, rule, target, event)

    def _deliver(self, rule: RuleSpec, target: TargetSpec, event: dict[str, Any]) -> None:
        try:
            failure = TargetFailed("", "", retry=True)
            for attempt in range(target.max_attempts):
                if attempt and self._stopped.wait(self._delays[min(attempt - 1, len(self._delays) - 1)]):
                    return
                try:
                    self._send(target, event)
                except TargetFailed as exc:
                    failure = exc
                    self.log.add(Delivery(rule.logical_id, target.id, event, ok=False, error=exc.code))
                    if not exc.retry:
                        break
                    continue
                self.log.add(Delivery(rule.logical_id, target.id, event, ok=True))
                return
            self._dead_letter(rule, target, event, failure)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _send(self, target: TargetSpec, event: dict[str, Any]) -> None:
        if target.destination is not None:
            self._call_api(target.destination, event)
        elif target.arn in self._functions:
            self._functions[target.arn](event)
        else:
            self._sqs.send_message(QueueUrl=self._queue_urls(target.arn), MessageBody=json.dumps(event))

    def _call_api(self, destination: ApiDestination, event: dict[str, Any]) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **destination.headers,
        }
        try:
            answer = self._http.request(
                destination.method,
                destination.endpoint,
                data=json.dumps(event).encode(),
                headers=headers,
                timeout=API_DESTINATION_TIMEOUT_S,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            raise TargetFailed("SDK_CLIENT_ERROR", type(exc).__name__, retry=True) from exc
        if 200 <= answer.status_code < 300:
            return
        retry = answer.status_code in RETRIED_STATUSES or answer.status_code >= 500
        raise TargetFailed(
            str(answer.status_code), f"the endpoint answered {answer.status_code}", retry=retry
        )

    def _dead_letter(
        self, rule: RuleSpec, target: TargetSpec, event: dict[str, Any], failure: TargetFailed
    ) -> None:
        if target.dead_letter_arn is None:
            log.warning(
                "event dropped after its retries: no dead-letter queue", extra={"rule": rule.logical_id}
            )
            return
        attributes = {
            "RULE_ARN": rule.arn,
            "TARGET_ARN": target.arn,
            "ERROR_CODE": failure.code or "UNKNOWN",
            "ERROR_MESSAGE": str(failure) or "failed",
        }
        self._sqs.send_message(
            QueueUrl=self._queue_urls(target.dead_letter_arn),
            MessageBody=json.dumps(event),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    def wait_idle(self, timeout: float) -> bool:
        """True once every matched event is delivered or parked: none waits in a rule's internal queue
        (visible or being received) and none is being delivered or waiting for a retry."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            with self._idle:
                busy = self._pending > 0
            quiet = 0 if busy or self._queued() else quiet + 1
            if quiet >= 2:  # twice in a row: a message between receive and submit is not missed
                return True
            time.sleep(0.2)
        return False

    def _queued(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        total = 0
        for url in self._queues:
            attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            total += sum(int(attributes.get(n, 0)) for n in names)
        return total

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()


def start(
    stack: Any, cleanup: contextlib.ExitStack, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
) -> EventBridge:
    """The hook of ``local.stack.stack``: the template's rules, delivered, until ``cleanup`` closes."""
    template = stack.template
    # The CloudFormation SAM's translator made of the template (what a deployment creates).
    rules = read_rules(template.translated, template.parameters, template.pseudo, stack.aws_url)
    functions = {f.spec.arn: stack.invokers[logical_id].invoke for logical_id, f in stack.functions.items()}
    sqs = stack.client("sqs")

    def queue_url(arn: str) -> str:
        url: str = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        return url

    bridge = EventBridge(stack.client("events"), sqs, rules, functions, queue_url, retry_delays)
    cleanup.callback(bridge.stop)
    bridge.start(template.pseudo.stack_name)
    return bridge
