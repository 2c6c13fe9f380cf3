"""Each in-process function runs with ITS OWN role's credentials, and every AWS call it makes is recorded.

Lambda gives each function its execution role's temporary credentials (AssumeRole with the function
name as session name). Here both functions share one process, one ``idphoto`` layer module and its
cached clients, so credentials are looked up per call: the SDK's credential chain gets a first provider
(:class:`ThreadRoleProvider`) whose credentials resolve, each time a request is signed, to the role of
the function the current thread runs (the local invoker says which, :func:`running_as`; threads a
function starts inherit it). Threads that run no function (tests, the demo) sign as the local user.
Powertools' parameter cache is kept per function too (:class:`PerFunctionProviders`).

Every call signed that way is also recorded by a botocore ``before-parameter-build`` hook (the SDK's
documented extension point; it fires for API calls and for ``generate_presigned_url``), so that
:mod:`local.stack.least_privilege` can check the whole session's calls against the roles afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import botocore.credentials
from botocore.credentials import CredentialProvider, Credentials, ReadOnlyCredentials

_current = threading.local()
_INSTALLED: Final[dict[str, Any]] = {}


def current_function() -> str | None:
    """The logical id of the function this thread runs for, if any."""
    owner: str | None = getattr(_current, "function", None)
    return owner


@contextlib.contextmanager
def running_as(function: str) -> Iterator[None]:
    previous = current_function()
    _current.function = function
    try:
        yield
    finally:
        _current.function = previous


@dataclass(frozen=True)
class Call:
    function: str  # logical id
    service: str  # the signing name: s3, dynamodb, secretsmanager, sqs, events, ...
    operation: str  # the API's name: GetObject, PutItem, ...
    params: dict[str, Any]
    presigned: bool = False


@dataclass
class CallLog:
    """The calls of the session, thread-safe; the stack's own on-behalf calls are added by the invoker."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def forget(self, forgotten: list[Call]) -> None:
        """Drop calls a test made itself while impersonating a function: they are not the function's,
        and the least-privilege check judges only what the functions did."""
        ids = {id(call) for call in forgotten}
        with self._lock:
            self.calls[:] = [call for call in self.calls if id(call) not in ids]


class ThreadCredentials(Credentials):
    """Credentials whose value is the current thread's function's role (or the local user's)."""

    def __init__(self, roles: Mapping[str, ReadOnlyCredentials], fallback: ReadOnlyCredentials) -> None:
        self._roles = roles
        self._fallback = fallback
        super().__init__(str(fallback.access_key), str(fallback.secret_key), fallback.token)
        self.method = "local-function-role"

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        owner = current_function()
        return self._roles.get(owner, self._fallback) if owner else self._fallback

    # botocore also reads the attributes directly in a few places (presigning among them).
    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @access_key.setter
    def access_key(self, value: str) -> None:
        pass

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        pass

    @property
    def token(self) -> str | None:
        token = self.get_frozen_credentials().token
        return None if token is None else str(token)

    @token.setter
    def token(self, value: str | None) -> None:
        pass


class ThreadRoleProvider(CredentialProvider):
    METHOD = "local-function-role"
    CANONICAL_NAME = "local-function-role"

    def __init__(self, credentials: ThreadCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> ThreadCredentials:
        return self._credentials


class PerFunctionProviders(dict[str, Any]):
    """Powertools' ``DEFAULT_PROVIDERS`` (the parameter providers and their cached values), one set
    per function: in Lambda each function has its own process, so get-photo's first GetSecretValue is
    its own call, never hidden by make-photo's cached answer (the IAM check must see it)."""

    def _key(self, key: str) -> str:
        return f"{current_function() or '-'}/{key}"

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(str(key)))

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(self._key(key), value)


_POWERTOOLS_PROVIDER_MODULES: Final = (
    "aws_lambda_powertools.utilities.parameters.constants",
    "aws_lambda_powertools.utilities.parameters.base",
    "aws_lambda_powertools.utilities.parameters.secrets",
    "aws_lambda_powertools.utilities.parameters.ssm",
    "aws_lambda_powertools.utilities.parameters.appconfig",
)


def _separate_parameter_caches() -> None:
    providers = PerFunctionProviders()
    saved: dict[str, Any] = {}
    for name in _POWERTOOLS_PROVIDER_MODULES:
        module = importlib.import_module(name)
        saved[name] = getattr(module, "DEFAULT_PROVIDERS")  # noqa: B009 - untyped module attribute
        setattr(module, "DEFAULT_PROVIDERS", providers)  # noqa: B010
    _INSTALLED["providers"] = saved


def install(
    roles: Mapping[str, ReadOnlyCredentials],
    fallback: ReadOnlyCredentials,
    log: CallLog,
    handlers: Sequence[tuple[str, Callable[..., None]]] = (),
) -> None:
    """From now on every new SDK session resolves to :class:`ThreadCredentials` and records calls;
    ``handlers`` are more botocore event handlers for every such session (AWS's answers to functions,
    e.g. :mod:`local.stack.missing_keys`)."""
    uninstall()
    _separate_parameter_caches()
    credentials = ThreadCredentials(roles, fallback)
    original_resolver: Callable[..., Any] = botocore.credentials.create_credential_resolver

    def create_credential_resolver(session: Any, *args: Any, **kwargs: Any) -> Any:
        resolver = original_resolver(session, *args, **kwargs)
        resolver.insert_before("env", ThreadRoleProvider(credentials))
        session.register("before-parameter-build", _recorder(log))
        for event, handler in handlers:
            session.register(event, handler)
        return resolver

    _INSTALLED["resolver"] = original_resolver
    botocore.credentials.create_credential_resolver = create_credential_resolver
    _INSTALLED["start"] = threading.Thread.start
    threading.Thread.start = _inheriting_start(threading.Thread.start)  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    for name, providers in _INSTALLED.pop("providers", {}).items():
        setattr(importlib.import_module(name), "DEFAULT_PROVIDERS", providers)  # noqa: B010
    if "resolver" in _INSTALLED:
        botocore.credentials.create_credential_resolver = _INSTALLED.pop("resolver")
    if "start" in _INSTALLED:
        threading.Thread.start = _INSTALLED.pop("start")  # type: ignore[method-assign]


def _recorder(log: CallLog) -> Callable[..., None]:
    def record(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        owner = current_function()
        if owner is None:
            return  # the local user's call (a test, the demo): not a function's
        service = str(model.service_model.signing_name)
        presigned = bool(context.get("is_presign_request"))
        log.add(Call(owner, service, str(model.name), _plain(params), presigned))

    return record


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the mapping to IAM needs; bodies are dropped (they can be large, and say nothing to IAM)."""
    return {k: v for k, v in params.items() if k not in ("Body", "Item", "ExpressionAttributeValues")}


def _inheriting_start(start: Callable[[threading.Thread], None]) -> Callable[[threading.Thread], None]:
    """A thread started by a function (a pool inside the handler) runs for that function too."""

    def inheriting(thread: threading.Thread) -> None:
        owner = current_function()
        if owner is not None:
            run = thread.run

            def attributed() -> None:
                with running_as(owner):
                    run()

            thread.run = attributed  # type: ignore[method-assign]
        start(thread)

    return inheriting
