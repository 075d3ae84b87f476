"""Every check of `make check-crm`, and the one function that runs them against a CRM, in order."""

from __future__ import annotations

from devstack.check_crm import (
    endpoint_checks,
    list_checks,
    login_checks,
    status_checks,
    token_checks,
    write_checks,
)
from devstack.check_crm.contract import Contract, load_contract
from devstack.check_crm.results import Check, Result, Tally
from devstack.check_crm.run import CheckRun, Inputs, new_client


def all_checks(contract: Contract) -> list[Check]:
    """The checks of a run, each section's in the order the report shows them."""
    return [
        *endpoint_checks.endpoint_checks(contract),
        *endpoint_checks.CHECKS,
        *token_checks.CHECKS,
        *status_checks.CHECKS,
        *list_checks.CHECKS,
        *write_checks.CHECKS,
        *login_checks.CHECKS,
    ]


def run_checks(inputs: Inputs, contract: Contract | None = None) -> list[Result]:
    """Check the CRM of `inputs` against the contract; BadInput when it cannot be checked at all.

    The reads come first, so that the writes and the bad tokens have existing records to point at; the checks on
    every answer (problem details, statuses) come last, when every request has been made. Whatever the checks
    created is deleted again, even when a check fails on the way.
    """
    contract = contract or load_contract()
    client = new_client(inputs, contract)
    tally = Tally()
    tally.register(all_checks(contract))
    account = endpoint_checks.read_account(inputs, client, tally)
    if account is None:
        tally.skip_untallied(f"the checks act as the test account, and GET /users/{inputs.user_id} is no valid User")
        return tally.results()
    run = CheckRun(inputs, contract, client, tally, *account)
    try:
        endpoint_checks.check_users_by_email(run)
        endpoint_checks.check_statistics(run)
        list_checks.check_lists(run)
        endpoint_checks.check_reads_by_id(run)
        status_checks.check_unknown_ids(run)
        write_checks.check_writes(run)
        login_checks.check_login(run)
        token_checks.check_tokens(run)
    finally:
        write_checks.clean_up(run)
    status_checks.check_answers(run)
    endpoint_checks.skip_unexercised(run)
    return tally.results()
