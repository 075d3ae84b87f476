"""The tool registry and the one place where every tool call's permissions are checked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.api_core.exceptions import GoogleAPIError
from pydantic import BaseModel, ValidationError

from shared.roles import Role
from shared.store import audit

log = logging.getLogger(__name__)

Args = TypeVar("Args", bound=BaseModel)


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


ToolResult = dict[str, Any]


@dataclass(frozen=True)
class Tool(Generic[Args]):
    """One action the assistant and the commands can take."""

    name: str
    description: str
    args_model: type[Args]
    roles: frozenset[Role]
    run: Callable[[Caller, Args], ToolResult]
    changes_data: bool = False
    # For tools that change data: a one-line, HTML-escaped preview shown with Confirm / Cancel, computed
    # (with permissions checked) before anything changes.
    preview: Callable[[Caller, Args], str] | None = None
    # Roles whose calls of this data-changing tool run without a Confirm tap (a customer's support ticket).
    confirmation_exempt: frozenset[Role] = frozenset()

    def needs_confirmation(self, role: Role) -> bool:
        return self.changes_data and role not in self.confirmation_exempt

    def json_schema(self) -> dict[str, Any]:
        """The argument schema the model sees."""
        return self.args_model.model_json_schema()


class ToolRegistry:
    """Tools by name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool[Any]] = {}

    def add(self, tool: Tool[Any]) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} is registered twice")
        if tool.changes_data and tool.preview is None:
            raise ValueError(f"tool {tool.name} changes data and needs a preview")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def for_role(self, role: Role) -> list[Tool[Any]]:
        """The tools this role may call, in registration order."""
        return [tool for tool in self._tools.values() if role in tool.roles]

    def all(self) -> list[Tool[Any]]:
        return list(self._tools.values())


tools = ToolRegistry()


def not_permitted(message: str = "not permitted") -> ToolResult:
    return {"ok": False, "error": "not permitted", "detail": message}


def _parse(tool: Tool[Any], raw_args: dict[str, Any] | None) -> BaseModel | ToolResult:
    try:
        parsed: BaseModel = tool.args_model.model_validate(raw_args or {})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors())
        return {"ok": False, "error": "invalid arguments", "detail": problems}
    return parsed


def _authorise(caller: Caller, name: str) -> Tool[Any] | ToolResult:
    tool = tools.get(name)
    if tool is None:
        return {"ok": False, "error": "unknown tool", "detail": f"there is no tool named {name!r}"}
    if caller.role not in tool.roles:
        _audit_refusal(caller, name, f"role {caller.role.value} may not call {name}")
        return not_permitted(f"a {caller.role.value} may not use {name}")
    return tool


def call_tool(caller: Caller, name: str, raw_args: dict[str, Any] | None) -> ToolResult:
    """Validate, authorise and run a tool; refusals are audited and returned as 'not permitted'."""
    tool = _authorise(caller, name)
    if isinstance(tool, dict):
        return tool
    args = _parse(tool, raw_args)
    if isinstance(args, dict):
        return args
    try:
        result = tool.run(caller, args)
    except ToolHidden as hidden:
        return _hide(caller, name, hidden)
    except ToolRefused as refusal:
        _audit_refusal(caller, name, str(refusal))
        return not_permitted(str(refusal))
    except ToolFailed as failure:
        return {"ok": False, "error": str(failure)}
    except Exception as error:  # noqa: BLE001  (a fault in one call is the model's to hear of, not the turn's end)
        return _faulted(caller, name, error)
    return {"ok": True, **result}


def _faulted(caller: Caller, name: str, error: Exception) -> ToolResult:
    """The result of a call that raised something unexpected: logged, and told as worth retrying later."""
    if isinstance(error, GoogleAPIError):
        log.warning("tool %s by %s could not reach the CRM's data: %s", name, caller.crm_user_id, error)
        problem = "the CRM's data could not be reached"
    else:
        log.exception("tool %s by %s failed", name, caller.crm_user_id)
        problem = "an error on our side"
    return {
        "ok": False,
        "error": "could not be done",
        "detail": f"{problem}. Try again in a moment.",
        "retryable": True,
    }


def preview_tool_call(caller: Caller, name: str, raw_args: dict[str, Any] | None) -> str | ToolResult:
    """The confirmation text of a data-changing call, or the refusal/error result if it cannot run."""
    tool = _authorise(caller, name)
    if isinstance(tool, dict):
        return tool
    args = _parse(tool, raw_args)
    if isinstance(args, dict):
        return args
    if tool.preview is None:
        return {"ok": False, "error": "this tool does not change data"}
    try:
        return tool.preview(caller, args)
    except ToolHidden as hidden:
        return _hide(caller, name, hidden)
    except ToolRefused as refusal:
        _audit_refusal(caller, name, str(refusal))
        return not_permitted(str(refusal))
    except ToolFailed as failure:
        return {"ok": False, "error": str(failure)}


def _hide(caller: Caller, tool: str, hidden: ToolHidden) -> ToolResult:
    _audit_refusal(caller, tool, str(hidden))
    return {"ok": False, "error": hidden.answer}


def _audit_refusal(caller: Caller, tool: str, reason: str) -> None:
    log.info("tool call refused: %s by %s (%s)", tool, caller.crm_user_id, reason)
    audit.record(
        "tool_refused",
        telegram_user_id=caller.telegram_user_id,
        crm_user_id=caller.crm_user_id,
        tool=tool,
        reason=reason,
    )
