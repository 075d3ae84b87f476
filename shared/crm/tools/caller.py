"""Who calls a tool, and how a call can end other than with a result."""

from __future__ import annotations

from dataclasses import dataclass

from shared.roles import Role


@dataclass(frozen=True)
class Caller:
    """Who is calling a tool: always taken from the linked session, never from tool arguments."""

    crm_user_id: str
    role: Role
    org_id: str
    customer_id: str | None = None
    telegram_user_id: int | None = None
    name: str = ""


class ToolRefused(Exception):
    """The caller may not do this (role, organisation or ownership); the message is safe to show."""


class ToolHidden(ToolRefused):
    """The caller named a record they may not see: answered exactly as a missing one would be (`answer`), so that
    a refusal never tells whether it exists; audited with the real reason."""

    def __init__(self, answer: str, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer


class ToolFailed(Exception):
    """The call was allowed but could not be done (record not found, invalid value); safe to show."""
