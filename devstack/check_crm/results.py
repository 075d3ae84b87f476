"""What a check is (a name and the section of docs/crm-connector.md it enforces) and what it found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, StrEnum

GUIDE = "docs/crm-connector.md"
CONTRACT = "docs/crm-connector.yaml"


class Section(StrEnum):
    """The headings of docs/crm-connector.md that the checks enforce, in the order the report shows them."""

    ENDPOINTS = "The endpoints"
    TOKEN = "The token"
    STATUSES = "What each status means to the bot"
    PAGINATION = "Pagination"
    CHANGES = "Changes: the precondition and idempotency"
    LOGIN = "Login"

    @property
    def link(self) -> str:
        """'docs/crm-connector.md#the-token': the heading's anchor, as GitHub makes it."""
        return f"{GUIDE}#" + re.sub(r"[^\w\- ]", "", self.value.lower()).replace(" ", "-")


class Outcome(Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    """A shortfall of a 'should' of the contract (or of a measurement too noisy to fail on): reported, not failed."""
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One claim of the contract, checked on every subject it applies to (each kind, each endpoint...)."""

    name: str
    section: Section
    operation: str | None = None
    """The operationId of docs/crm-connector.yaml this check is about, when it is about one."""
    should: bool = False
    """A 'should' of the contract: falling short is a warning."""

    @property
    def reading(self) -> str:
        """Where to read what the check enforces."""
        if self.operation is None:
            return self.section.link
        return f"{self.section.link} and {CONTRACT} operationId {self.operation}"


@dataclass(frozen=True)
class Finding:
    """One request whose answer fell short: what it was, what the contract expects, and what came back."""

    request: str
    expected: str
    got: str


@dataclass(frozen=True)
class Result:
    check: Check
    outcome: Outcome
    reason: str
    findings: tuple[Finding, ...] = ()


class Tally:
    """What each check found, subject by subject, until `results()` makes one Result per check."""

    def __init__(self) -> None:
        self._checks: dict[Check, None] = {}  # an insertion-ordered set
        self._passed: dict[Check, dict[str, str | None]] = {}
        self._failed: dict[Check, dict[str, None]] = {}
        self._findings: dict[Check, list[Finding]] = {}
        self._skipped: dict[Check, list[str]] = {}

    def register(self, checks: list[Check]) -> None:
        """Report these checks in this order, skipped when nothing is tallied for them."""
        for check in checks:
            self._checks.setdefault(check, None)

    def tallied(self, check: Check) -> bool:
        return any(check in table for table in (self._passed, self._failed, self._skipped))

    def passed(self, check: Check, subject: str, note: str | None = None) -> None:
        """`subject` (a kind, an endpoint...) holds to the check; `note` says something worth knowing about it."""
        self._checks.setdefault(check, None)
        subjects = self._passed.setdefault(check, {})
        subjects[subject] = subjects.get(subject) or note

    def failed(self, check: Check, subject: str, request: str, expected: str, got: str) -> None:
        self._checks.setdefault(check, None)
        self._failed.setdefault(check, {})[subject] = None
        self._findings.setdefault(check, []).append(Finding(request, expected, got))

    def skipped(self, check: Check, why: str) -> None:
        """Nothing to check for a subject (or at all), and why: the run was read-only, a kind has no records..."""
        self._checks.setdefault(check, None)
        self._skipped.setdefault(check, []).append(why)

    def skip_untallied(self, why: str) -> None:
        """Skip every registered check nothing was tallied for, saying why."""
        for check in self._checks:
            if not self.tallied(check):
                self.skipped(check, why)

    def results(self) -> list[Result]:
        return [self._result(check) for check in self._checks]

    def _result(self, check: Check) -> Result:
        failed = list(self._failed.get(check, {}))
        passed = {subject: note for subject, note in self._passed.get(check, {}).items() if subject not in failed}
        skipped = self._skipped.get(check, [])
        if failed:
            outcome = Outcome.WARN if check.should else Outcome.FAIL
            reason = f"{len(failed)} of {len(failed) + len(passed)} fell short: {_listed(failed)}"
            return Result(check, outcome, reason, tuple(self._findings[check]))
        if passed:
            shown = [f"{subject} ({note})" if note else subject for subject, note in passed.items()]
            return Result(check, Outcome.PASS, "; ".join([_listed(shown), *skipped]))
        return Result(check, Outcome.SKIP, "; ".join(dict.fromkeys(skipped)) or "nothing to check")


def _listed(subjects: list[str], shown: int = 8) -> str:
    if len(subjects) <= shown:
        return ", ".join(subjects)
    return ", ".join(subjects[: shown - 1]) + f" and {len(subjects) - shown + 1} more"
