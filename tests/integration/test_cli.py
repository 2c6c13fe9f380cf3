"""The ``idphoto`` command against the local stack: make -> status -> finals on disk, specs, exit codes.

The commands run in-process (``main(argv)``) with the stack's ports in ``IDPHOTO_AWS_PORT`` /
``IDPHOTO_API_PORT``, as a person's shell beside ``make up`` would have them: the default target, with
the bucket from the local stack's outputs. One test runs the installed console script itself.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from idphoto.specs import CATALOGUE
from idphoto_cli import target
from idphoto_cli.api import PhotoApi
from idphoto_cli.errors import CliError, Exit
from idphoto_cli.main import main
from local.stack import Stack
from local.stack.stack import free_port
from tests.integration.conftest import image, near, top_corners, vendor_delta

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BLUE = 0x438EDB


@pytest.fixture(autouse=True)
def local_ports(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default target is the local stack on these ports (``make up`` would use 4566 and 3000)."""
    monkeypatch.setenv("IDPHOTO_AWS_PORT", str(urlsplit(stack.aws_url).port))
    monkeypatch.setenv("IDPHOTO_API_PORT", str(urlsplit(stack.api_url).port))


@pytest.fixture(autouse=True)
def own_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The uploads `idphoto list` shows: this test's, not the person's running it."""
    monkeypatch.setenv("IDPHOTO_HISTORY", str(tmp_path / "history.jsonl"))


@pytest.fixture
def portrait_file(tmp_path: Path, portrait: bytes) -> Path:
    path = tmp_path / "me.jpg"
    path.write_bytes(portrait)
    return path


def run(*argv: str) -> tuple[int, Any, str]:
    """Run ``idphoto ... --json``: exit code, the JSON document on stdout (None if empty), stderr.

    The command's own streams, not the process's: the local stack's functions log to those."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main([*argv, "--json"], stdout=stdout, stderr=stderr)
    out = stdout.getvalue()
    return code, json.loads(out) if out.strip() else None, stderr.getvalue()


def test_make_status_finals_puts_the_finals_on_disk_and_bills_once(
    stack: Stack, portrait_file: Path, tmp_path: Path
) -> None:
    before = stack.vendor_stats()

    code, made, err = run("make", str(portrait_file), "--spec", "cn-two-inch", "--background", "white,blue")

    assert code == Exit.OK, err
    [photo] = made
    key = photo["key"]
    assert key.startswith(f"{stack.upload_prefix}me-") and key.endswith(".jpg")
    assert photo["photo"]["status"] == "READY"
    assert photo["photo"]["options"]["spec_id"] == CATALOGUE.get("cn-two-inch").spec_id  # type: ignore[union-attr]
    assert photo["photo"]["colors"] == ["white", "blue"]
    assert len(photo["photo"]["previews"]) == 2
    assert f"uploaded {portrait_file}" in err

    code, status, _ = run("status", key)
    assert (code, status["status"], status["finals_kept"]) == (Exit.OK, "READY", [])

    out = tmp_path / "finals"
    code, fetched, err = run("finals", key, "--out", str(out), "--yes")

    assert code == Exit.OK, err
    assert "This is the billed step" in err
    assert fetched["billed_colors"] == ["white", "blue"]
    stem = Path(key).stem
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}-{c}{s}.jpg" for c in ("white", "blue") for s in ("", "-sheet")
    )
    blue = image((out / f"{stem}-blue.jpg").read_bytes())
    assert blue.size == (413, 579)  # the cn-two-inch spec
    assert all(near(pixel, BLUE) for pixel in top_corners(blue))
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 2

    # Everything is kept now: fetching again is free and needs no confirmation.
    code, again, err = run("finals", key.removeprefix(stack.upload_prefix), "--out", str(out))

    assert (code, again["billed_colors"]) == (Exit.OK, [])
    assert "billed step" not in err
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 2


def test_finals_asks_before_spending_and_refuses_without_a_terminal(
    stack: Stack, portrait_file: Path, tmp_path: Path
) -> None:
    code, _, _ = run("make", str(portrait_file), "--key", "cli/ask.jpg")
    assert code == Exit.OK
    before = stack.vendor_stats()

    code, _, err = run("finals", "cli/ask.jpg", "--out", str(tmp_path), "--color", "white")

    assert code == Exit.USAGE
    assert "billed step" in err and "pass --yes" in err
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 0
    assert not list(tmp_path.glob("ask-*.jpg"))


def test_specs_lists_the_catalogue_from_the_installed_command() -> None:
    command = ROOT / ".venv" / "bin" / "idphoto"

    answer = subprocess.run(  # noqa: S603 - the project's own console script
        [str(command), "specs", "--json"], capture_output=True, text=True, check=False, timeout=60
    )

    assert answer.returncode == 0, answer.stderr
    listed = json.loads(answer.stdout)
    assert [s["name"] for s in listed["specs"]] == CATALOGUE.names()
    assert listed["version"] == CATALOGUE.version


def test_specs_filters_by_country_and_kind_and_shows_each_specs_framing() -> None:
    code, listed, err = run("specs", "--country", "cn", "--kind", "exam")

    assert code == Exit.OK, err
    names = [s["name"] for s in listed["specs"]]
    assert names == [s.name for s in CATALOGUE if s.country == "CN" and s.kind == "exam"] and len(names) >= 4
    us = run("specs", "--country", "US")[1]["specs"]
    assert {s["country"] for s in us} == {"US"}
    assert us[0]["framing_mm"]["head"] == [25, 35] and us[0]["ratios"][:2] == [0.4921, 0.689]
    assert run("specs", "--kind", "moon-visa")[0] == Exit.USAGE


def test_the_stand_in_makes_a_named_spec_at_the_catalogues_size(portrait_file: Path) -> None:
    """The stand-in's catalogue is the layer's: a spec named at upload is made at the catalogue's size."""
    code, made, err = run("make", str(portrait_file), "--spec", "cn-passport")

    assert code == Exit.OK, err
    spec = CATALOGUE.get("cn-passport")
    assert spec is not None
    preview = made[0]["photo"]["previews"][0]["photo_url"]
    picture = image(requests.get(preview, timeout=30).content)
    assert picture.size == (spec.width_px, spec.height_px)


@pytest.mark.parametrize(
    ("argv", "expected", "message"),
    [
        (["status", "cli/nobody-uploaded-this.jpg"], Exit.NOT_FOUND, "PHOTO_NOT_FOUND"),
        (["make", "PORTRAIT", "--spec", "moon-passport"], Exit.USAGE, "is not a known spec"),
        (["make", "PORTRAIT", "--option", "width-px=5000"], Exit.USAGE, "width-px"),
        (["make", "PORTRAIT", "--option", "colour=blue"], Exit.USAGE, "unknown option colour"),
        (["status", "cli/x.jpg", "--api-url", "http://127.0.0.1:9/v1"], Exit.UNAVAILABLE, "cannot reach"),
        (["make", "PORTRAIT", "--bucket", "no-such-bucket-here"], Exit.NOT_FOUND, "no bucket"),
    ],
    ids=["unknown-key", "unknown-spec", "bad-option", "unknown-option", "api-down", "no-bucket"],
)
def test_errors_have_clear_messages_and_their_exit_codes(
    portrait_file: Path, argv: list[str], expected: Exit, message: str
) -> None:
    argv = [str(portrait_file) if a == "PORTRAIT" else a for a in argv]

    code, _, err = run(*argv)

    assert code == expected, err
    assert err.startswith("idphoto: error: ") and message in err
    assert "Traceback" not in err


def test_a_photo_the_vendor_rejects_exits_2_with_the_reason(stack: Stack, portrait_file: Path) -> None:
    stack.vendor_faults({"fail_next": {"count": 1, "code": 507, "call": "make"}})

    code, made, _ = run("make", str(portrait_file), "--spec", "cn-one-inch")

    assert code == Exit.PHOTO_FAILED
    assert made[0]["photo"]["error"]["code"] == "VENDOR_REJECTED"
    code, _, err = run("finals", made[0]["key"], "--out", "unused", "--yes")
    assert code == Exit.PHOTO_FAILED and "no finals to fetch" in err


def test_a_photo_not_made_in_time_exits_4(stack: Stack, portrait_file: Path) -> None:
    stack.vendor_faults({"latency_ms": 2500})

    code, made, _ = run("make", str(portrait_file), "--timeout", "0.5")

    assert code == Exit.TIMEOUT
    assert made[0]["exit"] == Exit.TIMEOUT
    assert stack.wait_idle(30)


def test_a_vendor_outage_on_the_billed_call_exits_5_and_keeps_nothing(
    stack: Stack, portrait_file: Path, tmp_path: Path
) -> None:
    code, made, _ = run("make", str(portrait_file))
    assert code == Exit.OK
    stack.vendor_faults({"http_status_next": {"count": 5, "status": 503, "call": "get"}})

    code, _, err = run("finals", made[0]["key"], "--out", str(tmp_path / "out"), "--yes")

    assert code == Exit.UNAVAILABLE
    assert "VENDOR_UNAVAILABLE" in err and "(HTTP 503)" in err
    assert not (tmp_path / "out").exists()


def test_a_deployed_stack_is_found_by_its_outputs_and_requests_are_signed(
    stack: Stack, portrait_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--stack NAME`` reads BucketName, UploadLocation and ApiUrl with boto3 (here from moto's
    CloudFormation, through the standard AWS_ENDPOINT_URL) and signs API requests with SigV4."""
    outputs = {
        "BucketName": stack.bucket,
        "UploadLocation": f"s3://{stack.bucket}/{stack.upload_prefix}",
        "ApiUrl": stack.api_url,
    }
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    stack.client("cloudformation").create_stack(
        StackName="idphoto-cli-test", TemplateBody=json.dumps(template)
    )
    for name, value in {
        "AWS_ENDPOINT_URL": stack.aws_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": stack.region,
    }.items():
        monkeypatch.setenv(name, value)

    deployed = target.deployed("idphoto-cli-test", None, None)
    headers = PhotoApi(deployed)._signed_headers("GET", f"{deployed.api_url}/photos/a%20b.jpg")
    code, made, err = run("make", str(portrait_file), "--stack", "idphoto-cli-test")

    assert (deployed.bucket, deployed.upload_prefix, deployed.sign) == (
        stack.bucket,
        stack.upload_prefix,
        True,
    )
    assert "/execute-api/aws4_request" in headers["Authorization"]
    assert code == Exit.OK, err
    assert made[0]["photo"]["status"] == "READY"
    code, _, err = run("status", "x.jpg", "--stack", "no-such-stack")
    assert code == Exit.NOT_FOUND and "does not exist" in err


def test_finals_asks_again_for_the_colours_an_answer_left_pending(
    stack: Stack, portrait_file: Path, tmp_path: Path
) -> None:
    """One colour's copy fails beyond the SDK's retries (S3 500s through the AWS fault proxy): the API
    answers the other colour and lists this one as pending (Retry-After 2); the command asks again."""
    code, made, _ = run("make", str(portrait_file), "--background", "white,blue")
    assert code == Exit.OK
    key = made[0]["key"]
    before = stack.vendor_stats()
    blue_photo = {"service": "s3", "operation": "PutObject", "kind": "internal", "count": 5}
    stack.aws_faults.set({"rules": [{**blue_photo, "match": [Path(key).name, "/blue.jpg"]}]})

    code, fetched, err = run("finals", key, "--out", str(tmp_path / "out"), "--yes")

    assert code == Exit.OK, err
    assert "1 colour(s) pending" in err
    assert sorted(fetched["billed_colors"]) == ["blue", "white"]
    assert stack.aws_faults.stats()["injected"] == {"s3:internal": 5}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{Path(key).stem}-{c}{s}.jpg" for c in ("white", "blue") for s in ("", "-sheet")
    )
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 2  # blue's was kept on retry


def test_make_over_an_existing_key_shows_the_new_versions_photo(stack: Stack, portrait_file: Path) -> None:
    code, first, err = run("make", str(portrait_file), "--key", "cli/again.jpg", "--background", "red")
    assert code == Exit.OK, err

    code, second, err = run("make", str(portrait_file), "--key", "cli/again.jpg", "--background", "blue")

    assert code == Exit.OK, err
    assert second[0]["photo"]["colors"] == ["blue"]
    assert second[0]["photo"]["version"] != first[0]["photo"]["version"]


def test_status_wait_on_a_key_never_uploaded_is_not_found_at_once(stack: Stack) -> None:
    code, _, err = run("status", "cli/never-uploaded.jpg", "--wait", "--timeout", "600")

    assert code == Exit.NOT_FOUND
    assert "nothing was uploaded under that key" in err
    assert "UPLOADED" not in err


def test_status_takes_what_make_printed_and_list_shows_the_upload(stack: Stack, portrait_file: Path) -> None:
    code, made, err = run("make", str(portrait_file))
    assert code == Exit.OK, err
    key = made[0]["key"]
    # The CLI's local bucket: the local stack's output BucketName, read on this stack's port.
    assert target.local(os.environ).bucket == stack.bucket
    address = f"s3://{stack.bucket}/{key}"
    assert address in err  # what make printed

    for given in (address, str(portrait_file)):
        code, status, err = run("status", given)
        assert (code, status["key"]) == (Exit.OK, key), err

    code, listed, _ = run("list")
    assert code == Exit.OK
    assert [(row["key"], row["status"]) for row in listed] == [(key, "READY")]


def test_without_the_local_stack_the_cli_says_to_start_it(stack: Stack) -> None:
    """The local bucket comes from the local stack's outputs: where nothing answers, the command says
    so (and how to go on) instead of guessing a name; with --bucket nothing is read."""
    nobody = {"IDPHOTO_AWS_PORT": str(free_port("127.0.0.1"))}

    with pytest.raises(CliError) as raised:
        target.local(nobody)

    assert raised.value.code == Exit.UNAVAILABLE
    assert "make up" in raised.value.hint
    assert target.local(nobody, bucket="mine").bucket == "mine"
