"""``idphoto``: ID photos from the command line.

    idphoto make me.jpg --spec us-passport --background white   # upload, wait, show the previews
    idphoto status uploads/me-1a2b3c.jpg                        # status and previews (free)
    idphoto finals uploads/me-1a2b3c.jpg --out photos/          # the billed step: finals to disk
    idphoto list                                                # your uploads and their status
    idphoto specs                                               # the named specs

By default the commands go to the local stack of ``make up``; ``--stack NAME`` targets a deployed one.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NoReturn, TextIO

from idphoto_cli import batch, check, commands, target
from idphoto_cli.api import PhotoApi
from idphoto_cli.commands import Output
from idphoto_cli.errors import EXIT_HELP, CliError, Exit

DEFAULT_TIMEOUT = 120.0


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (argparse's own is 2: our 'photo failed'), and an option
    a subcommand does not know is answered with that subcommand's usage and its closest options
    (argparse's own answers with the top-level usage, which names no option at all)."""

    commands: dict[str, Parser]

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(Exit.USAGE, f"{self.prog}: error: {message}\n")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(self, "commands", {}).get(getattr(parsed, "command", None) or "")
            (command or self).error(unrecognized(extras, command or self))
        return parsed

    def option_strings(self) -> list[str]:
        return [o for action in self._actions for o in action.option_strings]


# What people type for an option that has another name here.
SYNONYMS: Final = {"--colour": "--background", "--color": "--background", "--bg": "--background"}


def unrecognized(extras: Sequence[str], command: Parser) -> str:
    """``unrecognized arguments: --colour (did you mean --color?)``."""
    known = command.option_strings()
    named = []
    for extra in extras:
        option = extra.split("=", 1)[0]
        close = difflib.get_close_matches(option, known, n=2, cutoff=0.6) if option.startswith("-") else []
        synonym = SYNONYMS.get(option.rstrip("s"))
        if not close and synonym in known:
            close = [synonym]
        named.append(f"{extra} (did you mean {' or '.join(close)}?)" if close else extra)
    return "unrecognized arguments: " + " ".join(named)


def parser() -> Parser:
    root = Parser(
        prog="idphoto",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands_ = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    root.commands = commands_.choices

    make = commands_.add_parser(
        "make",
        help="upload portraits, wait for the ID photos, show their previews",
        description="Upload each portrait with its options, wait until its photo is made, and show the "
        "watermarked previews' URLs. Making photos and previews is free.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    make.add_argument(
        "portraits",
        nargs="+",
        metavar="PORTRAIT",
        help="image files (.jpg .jpeg .png .bmp .webp .heic .heif .avif .tif .tiff)",
    )
    make.add_argument("--spec", metavar="NAME", help="a named spec (see `idphoto specs`), e.g. us-passport")
    make.add_argument(
        "--background",
        metavar="COLOURS",
        help="result colours, e.g. white,blue or sky=#87ceeb:#ffffff (default: the spec's)",
    )
    make.add_argument(
        "--beauty-level",
        metavar="N",
        help="beauty strength 1 (light, the vendor's default) to 5 (strongest); the same as "
        "--option beauty-level=N",
    )
    make.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other upload option (repeatable), e.g. print-type=compact, spec-id=3",
    )
    make.add_argument("--key", help="the upload's key (one portrait; default: its name with a random tag)")
    make.add_argument("--no-wait", dest="wait", action="store_false", help="upload and print the keys only")
    make.add_argument(
        "--via-api",
        action="store_true",
        help="upload through the API's presigned forms (POST /uploads): needs only execute-api:Invoke, "
        "no access to the bucket; the API picks the key",
    )
    _common(make)

    status = commands_.add_parser(
        "status",
        help="a photo's status and previews (free)",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "key",
        metavar="KEY",
        help="the uploaded key (with or without the upload prefix), the s3:// address `make` printed, "
        "or the local file `make` uploaded",
    )
    status.add_argument("--wait", action="store_true", help="wait until the photo is READY or FAILED")
    _common(status)

    finals = commands_.add_parser(
        "finals",
        help="download the watermark-free finals and print sheets (the billed step)",
        description="Fetch the watermark-free photo and print sheet of each colour (or of --color) to "
        "--out. The first fetch of a colour is billed by the vendor, once; fetching it again is free. "
        "Asks before spending, unless --yes.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    finals.add_argument(
        "key", metavar="KEY", help="the uploaded key, its s3:// address, or the local file `make` uploaded"
    )
    finals.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the files go")
    finals.add_argument("--color", help="one colour of the photo (default: all of them)")
    finals.add_argument("--yes", action="store_true", help="confirm the billed call without asking")
    _common(finals)

    check = commands_.add_parser(
        "check",
        help="smoke-test a deployment: upload, wait, read the status through the signed API",
        description="Upload PORTRAIT under keys with a space, '+', '%%' and non-ASCII characters, wait "
        "for the photos, read their status through the API with your credentials, and report each step "
        "with what to fix when it fails, and how API Gateway decoded the keys. Free, unless --finals.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("portrait", type=Path, metavar="PORTRAIT", help="a portrait image (.jpg .png ...)")
    check.add_argument("--finals", action="store_true", help="also fetch one photo's finals (billed)")
    _common(check)

    listing = commands_.add_parser(
        "list",
        help="your uploads from this machine and their status (free)",
        description="The uploads `make`, `batch` and `check` made from this machine to the target's bucket, "
        "newest first, each with its photo's status read through the API (free). No bucket listing: "
        "a user needs no s3:ListBucket, and sees only their own photos.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(listing)

    specs = commands_.add_parser(
        "specs",
        help="list the named photo specs",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    specs.add_argument("name", nargs="?", metavar="NAME", help="show one spec in full, with its sources")
    specs.add_argument("--json", action="store_true", help="print JSON for scripts")
    specs.add_argument("--country", metavar="CC", help="only this country (ISO code, e.g. CN, US; EU, INT)")
    specs.add_argument("--kind", metavar="KIND", help="only this kind (passport, visa, id-card, exam, ...)")

    batch_command = commands_.add_parser(
        "batch",
        help="a folder of portraits -> photos, optionally finals, and a CSV report (resumable)",
        description="Upload every portrait of DIR (bounded concurrency), wait for the photos, with --finals "
        "download the watermark-free finals (BILLED once per colour), and write report.csv. Run again "
        "after an interruption: nothing is uploaded or paid for twice.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch_command.add_argument("folder", type=Path, metavar="DIR", help="the folder of portraits")
    batch_command.add_argument(
        "--spec", metavar="NAME", help="a named spec (see `idphoto specs`), e.g. us-passport"
    )
    batch_command.add_argument("--background", metavar="COLOURS", help="result colours, e.g. white or blue")
    batch_command.add_argument(
        "--finals", action="store_true", help="fetch the finals too (billed once per colour; asks first)"
    )
    batch_command.add_argument(
        "--yes", action="store_true", help="with --finals: confirm the billed calls without asking"
    )
    batch_command.add_argument(
        "--out", type=Path, metavar="OUT", help="output folder (default DIR/idphoto-out)"
    )
    batch_command.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="uploads at once (default 8)"
    )
    _common(batch_command)
    return root


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for a photo (default %(default)g)",
    )
    command.add_argument(
        "--json", action="store_true", help="print JSON for scripts (progress stays on stderr)"
    )
    target.add_arguments(command)


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """The console script; ``stdout``/``stderr`` default to the process's (tests pass their own)."""
    args = parser().parse_args(argv)
    out = Output(stdout or sys.stdout, stderr or sys.stderr, as_json=args.json)
    try:
        return int(run(args, out))
    except CliError as exc:
        out.stream.flush()
        out.note(f"idphoto: error: {exc.message}")
        if exc.hint:
            out.note(f"  {exc.hint}")
        return int(exc.code)
    except KeyboardInterrupt:
        out.note("idphoto: interrupted")
        return 130


def make_options(args: argparse.Namespace) -> list[str]:
    """``--option`` items, plus the options that have a flag of their own (checked like any other)."""
    options = list(args.option)
    if args.beauty_level is not None:
        options.append(f"beauty-level={args.beauty_level}")
    return options


def run(args: argparse.Namespace, out: Output) -> Exit:
    if args.command == "specs":
        return commands.run_specs(args.name, out, country=args.country, kind=args.kind)
    where = target.resolve(args, needs_bucket=not (args.command == "make" and args.via_api))
    api = PhotoApi(where)
    if args.command == "make":
        return commands.run_make(
            where,
            api,
            args.portraits,
            spec=args.spec,
            background=args.background,
            options=make_options(args),
            key=args.key,
            wait=args.wait,
            timeout=args.timeout,
            out=out,
            via_api=args.via_api,
        )
    if args.command == "check":
        return check.run_check(where, api, args.portrait, finals=args.finals, timeout=args.timeout, out=out)
    if args.command == "batch":
        return batch.run_batch(
            where,
            api,
            args.folder,
            spec=args.spec,
            background=args.background,
            finals=args.finals,
            out_dir=args.out,
            concurrency=args.concurrency,
            timeout=args.timeout,
            out=out,
            yes=args.yes,
        )
    if args.command == "list":
        return commands.run_list(api, where, out=out)
    if args.command == "status":
        return commands.run_status(api, args.key, wait=args.wait, timeout=args.timeout, out=out, target=where)
    return commands.run_finals(
        api,
        args.key,
        out_dir=args.out,
        color=args.color,
        yes=args.yes,
        timeout=args.timeout,
        out=out,
        target=where,
    )


if __name__ == "__main__":
    sys.exit(main())
