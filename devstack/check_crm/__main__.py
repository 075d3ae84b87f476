"""`make check-crm` (python -m devstack.check_crm): check a CRM's connector API against docs/crm-connector.md."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from devstack.check_crm.checks import run_checks
from devstack.check_crm.report import report
from devstack.check_crm.results import Outcome
from devstack.check_crm.run import BadInput, Inputs

DESCRIPTION = """\
Run every endpoint of docs/crm-connector.yaml against a CRM's implementation and print what falls short of the
contract, each with the section of docs/crm-connector.md to read. Every option can come from the environment
variable named in its help; an option given wins."""
EPILOG = """\
What it writes: acting as CHECK_CRM_USER_ID (a vendor; run it against a test organisation nobody else changes
meanwhile: the list checks compare pages read one after the other), it creates one test record of each kind the
contract creates (a customer, lead, deal, issue, and a payment of the first listed order), all named 'check-crm
...', changes and deletes them, and deletes again anything else its requests made. With CHECK_CRM_EMAIL it also logs
in: once with the password and 3 times with a wrong one (a CRM that locks accounts after failed logins may lock the
test account). --read-only sends only GET requests and the logins.

Exit status: 0 when no check failed (warnings do not fail), 1 when one did, 2 when the inputs are missing or the
CRM cannot be reached with them."""


def parse_arguments(argv: list[str] | None, environ: Mapping[str, str]) -> Inputs:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.check_crm",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=environ.get("CRM_API_URL"), help="CRM_API_URL: the connector's base URL")
    parser.add_argument(
        "--secret",
        default=environ.get("CRM_SIGNING_SECRET"),
        help="CRM_SIGNING_SECRET: the HS256 key of the bot's tokens (prefer the variable: flags show in `ps`)",
    )
    parser.add_argument(
        "--user-id",
        default=environ.get("CHECK_CRM_USER_ID"),
        help="CHECK_CRM_USER_ID: the CRM user id of a vendor of a test organisation, whom the checks act as",
    )
    parser.add_argument("--email", default=environ.get("CHECK_CRM_EMAIL"), help="CHECK_CRM_EMAIL: that vendor's login")
    parser.add_argument(
        "--password",
        default=environ.get("CHECK_CRM_PASSWORD"),
        help="CHECK_CRM_PASSWORD: their password (prefer the variable); without both, the login checks are skipped",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=environ.get("CHECK_CRM_READ_ONLY", "").lower() not in ("", "0", "false", "no"),
        help="CHECK_CRM_READ_ONLY=1: send no POST, PATCH or DELETE, and skip the checks of writes",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default: %(default)s)")
    options = parser.parse_args(argv)
    return _inputs(options)


def _inputs(options: argparse.Namespace) -> Inputs:
    required = {
        "CRM_API_URL": (options.url, "the CRM's connector base URL, e.g. https://crm.example.com/bot-api (or --url)"),
        "CRM_SIGNING_SECRET": (options.secret, "the HS256 key the CRM checks the bot's tokens with (or --secret)"),
        "CHECK_CRM_USER_ID": (options.user_id, "the CRM user id of a vendor of a test organisation (or --user-id)"),
    }
    for name, (value, what) in required.items():
        if not value:
            raise BadInput(f"{name} is not set: {what}")
    if not str(options.url).startswith(("http://", "https://")):
        raise BadInput(f"CRM_API_URL={options.url} is not an http:// or https:// URL")
    if bool(options.email) != bool(options.password):
        raise BadInput("set both CHECK_CRM_EMAIL and CHECK_CRM_PASSWORD for the login checks, or neither")
    return Inputs(
        url=str(options.url).rstrip("/"),  # the token's aud is the URL without a trailing slash
        secret=options.secret,
        user_id=options.user_id,
        email=options.email or None,
        password=options.password or None,
        read_only=options.read_only,
        timeout=options.timeout,
    )


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        inputs = parse_arguments(argv, os.environ if environ is None else environ)
        results = run_checks(inputs)
    except BadInput as error:
        print(f"check-crm: {error}", file=sys.stderr)
        return 2
    print(report(inputs, results), flush=True)
    return 1 if any(result.outcome is Outcome.FAIL for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
