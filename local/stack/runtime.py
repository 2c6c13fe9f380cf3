"""The execution environment of the in-process functions: environment variables, code, caches.

Lambda gives each function its own process; here every function shares this one, which has three
consequences, each handled here:

* **Environment variables** are process-wide. The functions' resolved ``Environment`` must agree on
  every name they share (a conflict is an error, never a silent pick); the SDK settings a Lambda
  environment would have are added (endpoint of moto, fake credentials, region; no profile or config
  file of the person running it). The previous values come back on :meth:`ProcessEnvironment.restore`.
* **Code**: each handler file is imported under its own module name (both are ``app.py``), with the
  template's layer folders on ``sys.path`` like ``/opt/python``. A (re)load is a cold start: the layer
  package's ``functools`` caches (clients, settings) and Powertools' parameter cache are emptied, so
  the new environment variables and endpoints are picked up.
* **Shared Powertools state**: the metric set of ``Metrics`` is a class attribute, and flushing
  iterates it; two invocations in two threads can break each other's flush ("dictionary changed size",
  "Must contain at least one metric"). One lock serialises Powertools' metric calls; nothing else of
  the handler is serialised. Powertools' ``Logger`` keys (``inject_lambda_context``, ``append_keys``)
  are shared the same way, so under concurrency a log line may carry another invocation's request id
  or photo key: cosmetic, and accepted rather than changing the handlers.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities import parameters

from local.stack.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]
# Unset while the stack runs: a person's own AWS setup must never leak into the local functions.
_UNSET: Final = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN")
_METRICS_LOCK: Final = threading.RLock()
_LOCKED_METRIC_CALLS: Final = (
    "add_metric",
    "add_dimension",
    "add_metadata",
    "flush_metrics",
    "clear_metrics",
)


class EnvironmentConflict(ValueError):
    pass


def sdk_environment(endpoint: str, region: str) -> dict[str, str]:
    """What the Lambda runtime and the local endpoint add to a function's own variables."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def merged_environment(functions: Iterable[FunctionSpec], extra: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for function in functions:
        for name, value in function.environment.items():
            if name in merged and merged[name] != value:
                raise EnvironmentConflict(
                    f"{name} is {merged[name]!r} in {owners[name]} but {value!r} in {function.logical_id}: "
                    "in-process functions share one environment"
                )
            merged[name], owners[name] = value, function.logical_id
    return merged | dict(extra)


class ProcessEnvironment:
    def __init__(self, variables: Mapping[str, str]) -> None:
        self._saved = {name: os.environ.get(name) for name in (*variables, *_UNSET)}
        for name in _UNSET:
            os.environ.pop(name, None)
        os.environ.update(variables)

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler(function: FunctionSpec) -> tuple[Handler, ModuleType]:
    """Import the function's handler file as a fresh module (a cold start) and return the handler."""
    for layer in function.layer_dirs:
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))
    cold_start(function.layer_dirs)
    module_path, _, attribute = function.handler.rpartition(".")
    source = function.code_dir / (module_path.replace(".", "/") + ".py")
    name = f"_local_lambda_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    _lock_metrics([module, *_layer_modules(function.layer_dirs)])
    handler: Handler = getattr(module, attribute)
    return handler, module


def unload(module: ModuleType) -> None:
    sys.modules.pop(module.__name__, None)


def cold_start(layer_dirs: Iterable[Path]) -> None:
    """Forget what warm execution environments keep: cached clients, settings, secrets, SDK session."""
    for module in _layer_modules(layer_dirs):
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()
    # Powertools' parameter providers hold a client of the previous endpoint, and the cached secret.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    boto3.DEFAULT_SESSION = None  # the default session caches credentials and settings


def _layer_modules(layer_dirs: Iterable[Path]) -> list[ModuleType]:
    roots = tuple(str(Path(d).resolve()) + os.sep for d in layer_dirs)
    if not roots:
        return []
    return [m for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").startswith(roots)]


def _lock_metrics(modules: Iterable[ModuleType]) -> None:
    """Serialise Powertools' metric calls (see the module docstring) on every Metrics the code holds."""
    for metrics in {id(v): v for m in modules for v in vars(m).values() if isinstance(v, Metrics)}.values():
        provider = metrics.provider
        for name in _LOCKED_METRIC_CALLS:
            method = getattr(provider, name)
            if not getattr(method, "_locked", False):
                setattr(provider, name, _locked(method))


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _METRICS_LOCK:
            return method(*args, **kwargs)

    call._locked = True  # type: ignore[attr-defined]
    return call
