"""`python -m devstack.reference_crm --data devstack/demo_data.json --port 8765`: serve the CRM connector contract."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys

from werkzeug.serving import make_server

from devstack.reference_crm.app import ReferenceCrm
from devstack.reference_crm.data import load
from shared.crm.demo import DEMO_DATA_PATH, DemoDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.reference_crm",
        description="A reference CRM serving docs/crm-connector.yaml over a data file in devstack/demo_data.json's "
        "format. Everything is held in memory: writes (creates, changes, deletes) are NOT saved to the file and "
        "are gone when the server stops.",
    )
    parser.add_argument("--data", default=str(DEMO_DATA_PATH), help="the data file (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="the port (default: %(default)s; 0 picks a free one)")
    parser.add_argument(
        "--secret",
        default=os.environ.get("CRM_SIGNING_SECRET"),
        help="the HS256 key of the bot's tokens (default: env CRM_SIGNING_SECRET, else a new random one, printed)",
    )
    options = parser.parse_args(argv)
    try:
        data = load(options.data)
    except DemoDataError as error:
        print(f"reference CRM: {error}", file=sys.stderr)
        return 2
    secret = options.secret or secrets.token_urlsafe(32)
    crm = ReferenceCrm(data, secret, url="")
    server = make_server(options.host, options.port, crm, threaded=True)
    crm.url = url = f"http://{options.host}:{server.server_port}"  # the port is known once bound (--port 0)
    print(f"CRM_API_URL={url}", flush=True)
    print(f"CRM_SIGNING_SECRET={secret}", flush=True)
    print(f"reference CRM: {len(data.users)} users from {options.data}; writes are kept in memory only", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
