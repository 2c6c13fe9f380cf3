"""``python -m local.stack up|demo``: the local stack for a person, and the demo.

Ports: flags, else IDPHOTO_AWS_PORT / IDPHOTO_API_PORT / IDPHOTO_VENDOR_PORT, else 4566 / 3000 / 8750.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from types import FrameType

from local.stack.aws import PortInUse
from local.stack.intrinsics import TemplateError
from local.stack.stack import Ports, Stack, start_stack
from local.standin.models import ModelMissingError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack until Ctrl-C")
    demo = commands.add_parser("demo", help="sample portraits -> ID photos in out/demo/, then stop")
    env_ports = Ports.from_env()
    for command in (up, demo):
        command.add_argument("--aws-port", type=int, default=env_ports.aws, help="moto (default %(default)s)")
        command.add_argument("--api-port", type=int, default=env_ports.api, help="API (default %(default)s)")
        command.add_argument(
            "--vendor-port", type=int, default=env_ports.vendor, help="vendor stand-in (default %(default)s)"
        )
        command.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="override a template parameter (repeatable), e.g. DefaultSpecId=3",
        )
        command.add_argument(
            "--retry-delays",
            default="1,2",
            help="seconds before Lambda's async retries of auto-finals (AWS: about 60,120; default %(default)s)",
        )
        command.add_argument(
            "--visibility-timeout",
            type=int,
            default=60,
            help="the upload queue's visibility timeout, s (AWS: 1080; default %(default)s)",
        )
        command.add_argument(
            "--backoff",
            default="1,5",
            help="make-photo's back-off of a failed upload, first and longest, s (AWS: 30,900; default %(default)s)",
        )
    demo.add_argument(
        "--default-ports", action="store_true", help="use the ports above (default: free ones, beside `up`)"
    )
    demo.add_argument("--out", default="out/demo", help="output folder (default %(default)s)")
    return parser.parse_args(argv)


def stack_options(args: argparse.Namespace, ports: Ports) -> dict[str, object]:
    parameters = dict(item.split("=", 1) for item in args.parameter)
    delays = tuple(float(d) for d in args.retry_delays.split(",") if d.strip())
    return {
        "ports": ports,
        "parameters": parameters,
        "retry_delays": delays,
        "visibility_timeout_s": args.visibility_timeout,
    }


def backoff_environment(args: argparse.Namespace) -> None:
    """make-photo reads its back-off at cold start from the (in-process) environment."""
    first, _, longest = args.backoff.partition(",")
    os.environ["BACKOFF_SECONDS"] = str(int(first))
    os.environ["BACKOFF_CAP_SECONDS"] = str(int(longest or first))


def quiet_logs() -> None:
    # Routes that record no metric (status reads) flush nothing; Powertools warns about it every time.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    backoff_environment(args)
    try:
        return run(args)
    except (PortInUse, ModelMissingError, TemplateError) as exc:  # a person can fix these: no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from local.stack.demo import run_demo

        ports = (
            Ports(args.aws_port, args.api_port, args.vendor_port) if args.default_ports else Ports.ephemeral()
        )
        return run_demo(stack_options(args, ports), args.out)
    return run_up(stack_options(args, Ports(args.aws_port, args.api_port, args.vendor_port)))


def run_up(options: dict[str, object]) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = start_stack(**options)  # type: ignore[arg-type]
    try:
        print(usage(stack), flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping...", flush=True)
    finally:
        stack.stop()
    print("stopped", flush=True)
    return 0


def usage(stack: Stack) -> str:
    t = stack.template
    secret = t.parameters.get("AppCodeSecretName", "")
    api = t.apis[0]
    auth = api.default_authorizer or "none"
    upload = f"s3://{stack.bucket}/{stack.upload_prefix}me.jpg"
    return f"""
idphoto local stack is up: stack {t.pseudo.stack_name}, account {t.pseudo.account_id}, {stack.region}

  AWS (moto)      {stack.aws_url}   credentials testing/testing
  vendor          {stack.vendor_url}   stand-in; AppCode {stack.appcode!r} in secret {secret}
  API             {stack.api_url}   stage {api.stage}; auth {auth} is NOT enforced locally
  upload page     {stack.api_url.rsplit("/", 1)[0]}/   (a portrait from this browser, through POST /uploads)
  bucket          {stack.bucket}   (uploads under {stack.upload_prefix})
  table           {stack.table}
  upload queue    {stack.upload_queue_url}
  dead letters    {stack.dead_letter_queue_url}
  failed events   {stack.failed_queue_url}   (auto-finals)

Try it (any client works; every upload under {stack.upload_prefix} triggers make-photo):
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={stack.region}
  aws --endpoint-url {stack.aws_url} s3 cp portrait.jpg {upload} --metadata spec-id=1,background=white
  curl {stack.api_url}/photos/{stack.upload_prefix}me.jpg
  curl -X POST {stack.api_url}/finals/{stack.upload_prefix}me.jpg
  aws --endpoint-url {stack.aws_url} sqs get-queue-attributes --queue-url {stack.dead_letter_queue_url} \\
      --attribute-names ApproximateNumberOfMessages
  aws --endpoint-url {stack.aws_url} sqs start-message-move-task --source-arn {stack.dead_letter_queue_arn}

Function logs follow below. Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
