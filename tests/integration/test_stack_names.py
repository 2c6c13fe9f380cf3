"""Issue 20 item 6 on the running local stack: a 100-character mixed-case stack name deploys and works.

The local stack refuses a name its service would refuse (local.stack.naming.name_problem), so before
the fix this stack name failed at the photo bucket, as CloudFormation did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local.stack.naming import name_problem

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = ("IdPhoto-Prod-EU-" * 7)[:99] + "Z"  # 100 characters, upper and lower case


def test_a_long_mixed_case_stack_name_makes_photos_and_finals() -> None:
    assert len(STACK_NAME) == 100 and any(c.isupper() for c in STACK_NAME)

    run = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "tests.integration.named_stack", STACK_NAME],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == "READY"
    assert result["final_status"] == 200 and result["billed"] == 1
    assert result["bucket"] == f"idphoto-123456789012-{result['stack_uuid']}"
    assert result["outputs"]["BucketName"] == result["bucket"]  # where the CLI reads it
    for logical_id, name in result["functions"].items():
        assert name_problem("AWS::Lambda::Function", name) is None, name
        assert result["log_groups"][logical_id].startswith(f"/aws/lambda/{STACK_NAME}-")
