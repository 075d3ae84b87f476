"""The report a CRM developer reads: each section's checks, what fell short and where the contract says it."""

from __future__ import annotations

from collections.abc import Iterator

from devstack.check_crm.results import Outcome, Result, Section
from devstack.check_crm.run import Inputs

LABELS = {Outcome.PASS: "pass", Outcome.FAIL: "FAIL", Outcome.WARN: "warn", Outcome.SKIP: "skip"}
FINDINGS_SHOWN = 6


def report(inputs: Inputs, results: list[Result]) -> str:
    return "\n".join([*_heading(inputs), *_sections(results), _summary(results)])


def _heading(inputs: Inputs) -> list[str]:
    writes = "read-only: GET requests and logins only" if inputs.read_only else "writes test records, deleted after"
    login = "with logins" if inputs.can_log_in else "no login checks (CHECK_CRM_EMAIL and CHECK_CRM_PASSWORD unset)"
    return [f"check-crm: {inputs.url} as {inputs.user_id}; {writes}; {login}", ""]


def _sections(results: list[Result]) -> Iterator[str]:
    for section in Section:
        mine = [result for result in results if result.check.section is section]
        if not mine:
            continue
        yield f"{section.value}  ({section.link})"
        for result in mine:
            yield from _result_lines(result)
        yield ""


def _result_lines(result: Result) -> Iterator[str]:
    yield f"  {LABELS[result.outcome]}  {result.check.name}: {result.reason}"
    for finding in result.findings[:FINDINGS_SHOWN]:
        yield f"          {finding.request}"
        yield f"            expected: {finding.expected}"
        yield f"            got:      {finding.got}"
    if len(result.findings) > FINDINGS_SHOWN:
        yield f"          ... and {len(result.findings) - FINDINGS_SHOWN} more"
    if result.findings:
        yield f"          read: {result.check.reading}"


def _summary(results: list[Result]) -> str:
    counts = {outcome: sum(result.outcome is outcome for result in results) for outcome in Outcome}
    summary = (
        f"{len(results)} checks: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.WARN]} warnings, {counts[Outcome.SKIP]} skipped"
    )
    if counts[Outcome.FAIL]:
        return summary + ". The bot cannot rely on what failed: each failure names the section to read."
    return summary + "."
