"""Check before deploying that the deploy can start: AWS credentials, and a stack name CloudFormation takes.

No name the template gives a resource depends on the stack name in a way that a valid stack name can
break (docs/deploy.md): the photo bucket is named from the stack's id, the functions by
CloudFormation. So any name CloudFormation accepts deploys, and ``sam deploy --guided`` without this
check is safe. What is left here only saves time: a name CloudFormation would refuse, or missing
credentials, fail in a second instead of after ``sam build``'s minute and the guided questions.

    python -m ops.preflight --stack idphoto
    python -m ops.preflight                  # the stack name from samconfig.toml
    python -m ops.preflight --credentials    # also: are there AWS credentials to deploy with?

``make deploy`` runs it with ``--credentials`` before ``sam build``. The check resolves credentials as
the AWS CLI and SAM do (environment, profile, SSO, container or instance role: botocore's credential
provider chain) and calls nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

# CloudFormation: "A stack name can contain only alphanumeric characters (case-sensitive) and
# hyphens. It must start with an alphabetical character and can't be longer than 128 characters."
# (CreateStack, StackName).
STACK_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


def stack_name_problem(stack: str) -> str | None:
    """Why CloudFormation would refuse ``stack`` as a stack name, or None."""
    if STACK_NAME.fullmatch(stack):
        return None
    return "CloudFormation stack names are 1-128 letters, digits and '-', starting with a letter"


def from_samconfig(path: Path, env: str = "default") -> str | None:
    """The stack name ``sam deploy`` would take from ``samconfig.toml`` (deploy's, then global's)."""
    if not path.exists():
        return None
    config: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")).get(env, {})
    found: str | None = None
    for command in ("global", "deploy"):  # deploy's own parameters win over the global ones
        name = config.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str):
            found = name
    return found


def credentials_problem(profile: str | None = None) -> str | None:
    """Why there are no credentials to deploy with, or None. Botocore's chain is the one SAM uses
    (AWS CLI User Guide, "Configuration and credential file settings": precedence of the sources)."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        return str(exc)
    except botocore.exceptions.BotoCoreError as exc:  # e.g. an SSO token that expired
        return f"credentials could not be loaded: {exc}"
    if credentials is None:
        return "no AWS credentials found (environment, ~/.aws/credentials, SSO, or a role)"
    return None


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="the stack name (default: stack_name in samconfig.toml)")
    parser.add_argument("--config", type=Path, default=Path("samconfig.toml"), help="samconfig.toml to read")
    parser.add_argument(
        "--credentials",
        action="store_true",
        help="also check that AWS credentials can be found (make deploy)",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    if args.credentials:
        missing = credentials_problem()
        if missing:
            print(f"preflight: {missing}", file=sys.stderr)
            print(
                "  Configure them first: `aws configure` (or `aws configure sso` then `aws sso login`), "
                "or set AWS_PROFILE; then run `make deploy` again. Nothing was built or deployed.",
                file=sys.stderr,
            )
            return 1
    stack = args.stack if args.stack is not None else from_samconfig(args.config)
    if stack is None:
        # sam deploy --guided asks for one; nothing to check yet.
        print("preflight: no stack name given; sam deploy --guided will ask for one")
        return 0
    problem = stack_name_problem(stack)
    if problem:
        print(f"preflight: stack name {stack!r} cannot be used: {problem}", file=sys.stderr)
        return 1
    print(f"preflight: stack name {stack!r} can be deployed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
