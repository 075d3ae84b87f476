"""One run of the checks: the inputs, the client, the test account, and what the checks share along the way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from devstack.check_crm.client import Answer, CrmClient, Identity
from devstack.check_crm.contract import Contract
from devstack.check_crm.results import Check, Section, Tally

KINDS = ("customers", "leads", "deals", "issues", "orders", "payments", "files")
"""The record kinds of the contract's paths, as the YAML orders them."""
MARKER = "check-crm"
"""Starts every name, title and key the checks write, so a leftover test record is easy to find."""


class BadInput(Exception):
    """The inputs cannot be checked with (a missing variable, an unreachable URL, an account that is no vendor)."""


@dataclass(frozen=True)
class Inputs:
    """What `make check-crm` is run with: the CRM, its signing secret, and the test account to act as."""

    url: str
    secret: str
    user_id: str
    email: str | None = None
    password: str | None = None
    read_only: bool = False
    timeout: float = 10.0

    @property
    def can_log_in(self) -> bool:
        return bool(self.email and self.password)


@dataclass
class CheckRun:
    """The state the checks of one run share: the client, the vendor they act as, the records seen and made."""

    inputs: Inputs
    contract: Contract
    client: CrmClient
    tally: Tally
    vendor: Identity
    """The test account's token identity: its id, role and organisation, as GET /users/{id} answered them."""
    user: dict[str, Any]
    listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Each kind's records as the lists answered them (newest first), for the checks that need existing ones."""
    made: dict[tuple[str, str], None] = field(default_factory=dict)
    """(kind, id) of every record a request of the checks created and no DELETE has removed yet."""
    unknown_id: str = field(default_factory=lambda: f"{MARKER}-no-such-record-{uuid.uuid4().hex[:12]}")

    def expect(self, answer: Answer, status: int) -> bool:
        return expect(self.tally, self.contract, answer, status)

    def note_made(self, kind: str, answer: Answer) -> None:
        """Remember a record a create answered (even one that should have been refused), to delete it at the end."""
        if answer.status in (200, 201) and isinstance(answer.body, dict) and isinstance(answer.body.get("id"), str):
            self.made[(kind, answer.body["id"])] = None

    def note_deleted(self, kind: str, record_id: str) -> None:
        self.made.pop((kind, record_id), None)


def new_client(inputs: Inputs, contract: Contract) -> CrmClient:
    hidden = [text for text in (inputs.secret, inputs.password) if text]
    return CrmClient(inputs.url, inputs.secret, contract, inputs.timeout, hidden)


def expect(tally: Tally, contract: Contract, answer: Answer, status: int) -> bool:
    """Tally `answer` for its operation's endpoint check: `status`, JSON valid against the YAML's schema for it."""
    if answer.operation is None:
        return False
    check = endpoint_check(answer.operation.operation_id)
    pointer = answer.operation.schema_of(status)
    subject = f"{status} with a valid {pointer.rsplit('/', 1)[-1]}" if pointer else f"{status}, no body"
    shortfall = _shortfall(contract, answer, status, pointer)
    if shortfall is None:
        tally.passed(check, subject)
        return True
    got = answer.excerpt() + (f" ({shortfall})" if shortfall else "")
    tally.failed(check, subject, answer.request.describe(), subject, got)
    return False


def _shortfall(contract: Contract, answer: Answer, status: int, pointer: str | None) -> str | None:
    """Why the answer is not `status` with a valid body ('' when only the status differs); None when it is."""
    if answer.status != status:
        return ""
    if pointer is None:
        return None
    if answer.media_type != "application/json":
        return f"Content-Type is {answer.media_type or 'missing'}, not application/json"
    if not answer.is_json:
        return "not JSON"
    errors = contract.errors(pointer, answer.body)
    return "; ".join(errors[:3]) if errors else None


def endpoint_check(operation_id: str) -> Check:
    """The check that an operation answers a well-formed request as docs/crm-connector.yaml says."""
    return Check(f"{operation_id} answers as the YAML says", Section.ENDPOINTS, operation=operation_id)


def record_path(kind: str, record_id: str) -> str:
    return f"/{kind}/{quote(record_id, safe='')}"


def noun(kind: str) -> str:
    """'customers' → 'Customer', as the YAML's operationIds and schemas name a kind ('getCustomer')."""
    return kind.removesuffix("s").capitalize()
