"""``python -m local.standin``: run the stand-in vendor in the foreground."""

import argparse
import os
import sys

from local.standin.models import ModelMissingError
from local.standin.server import DEFAULT_APPCODE, DEFAULT_HOST, DEFAULT_PORT, build_server
from local.standin.service import DAY_S


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.standin", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)"
    )
    parser.add_argument(
        "--appcode",
        default=os.environ.get("STANDIN_APPCODE", DEFAULT_APPCODE),
        help="the AppCode the gateway accepts (env STANDIN_APPCODE; default %(default)s)",
    )
    parser.add_argument(
        "--code-as-http-status",
        action="store_true",
        help="mirror the vendor code as the HTTP status instead of always HTTP 200",
    )
    parser.add_argument("--preview-ttl", type=float, default=DAY_S, help="preview URL validity, s")
    parser.add_argument(
        "--final-ttl", type=float, default=7 * DAY_S, help="final retention and URL validity, s"
    )
    parser.add_argument("--public-base-url", default=None, help="base of result URLs (default: own address)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = build_server(
            args.host,
            args.port,
            args.appcode,
            code_as_http_status=args.code_as_http_status,
            preview_ttl_s=args.preview_ttl,
            final_ttl_s=args.final_ttl,
            public_base_url=args.public_base_url,
            verbose=args.verbose,
        )
    except ModelMissingError as exc:
        print(f"standin: {exc}", file=sys.stderr)
        return 2
    print(f"standin listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
