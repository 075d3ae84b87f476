"""Calling a tool: the one place where every call's permissions are checked and every way it fails is answered."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from shared.crm.backend import get_crm
from shared.crm.port import CrmRefused, CrmRejected, CrmUnreachable
from shared.crm.records.models import RECORD_TYPES
from shared.crm.tools.caller import Caller, ToolFailed, ToolHidden, ToolRefused
from shared.crm.tools.catalog import tools
from shared.crm.tools.changes import Change, apply_change
from shared.crm.tools.results import (
    Deleted,
    RecordReference,
    ToolAnswer,
    ToolError,
    ToolOutcome,
    ToolReply,
    ToolResult,
    Unchanged,
    Written,
)
from shared.crm.tools.tool import Tool, ToolRegistry
from shared.store import audit
from shared.store.errors import StoreError

__all__ = [
    "Caller",
    "Tool",
    "ToolAnswer",
    "ToolError",
    "ToolFailed",
    "ToolHidden",
    "ToolOutcome",
    "ToolRefused",
    "ToolRegistry",
    "ToolReply",
    "ToolResult",
    "call_tool",
    "confirm_tool_call",
    "plan_tool_call",
    "run_tool",
    "tools",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
Reply = TypeVar("Reply", bound=ToolReply)


def call_tool(caller: Caller, name: str, raw_args: dict[str, Any] | None) -> ToolResult:
    """run_tool, answered as the JSON the model reads."""
    return run_tool(caller, name, raw_args).for_model()


@overload
def run_tool(caller: Caller, name: str, raw_args: dict[str, Any] | None) -> ToolOutcome: ...


@overload
def run_tool(caller: Caller, name: str, raw_args: dict[str, Any] | None, reply: type[Reply]) -> Reply | ToolError: ...


def run_tool(
    caller: Caller, name: str, raw_args: dict[str, Any] | None, reply: type[ToolReply] = ToolReply
) -> ToolOutcome:
    """Validate, authorise and run a tool (a data-changing one is planned and applied at once); refusals are
    audited and answered as 'not permitted'. `reply` is the kind of answer the caller knows this tool gives."""

    def run(tool: Tool[Any], args: BaseModel) -> ToolReply:
        if tool.plan is not None:
            return apply_change(caller, tool.plan(caller, args), new_record_id())
        assert tool.run is not None
        return tool.run(caller, args)

    tool = tools.get(name)
    outcome = _checked(caller, name, raw_args, run, may_have_written=tool is not None and tool.changes_data)
    if not isinstance(outcome, (ToolError, reply)):
        raise TypeError(f"{name} answered {type(outcome).__name__}, not the {reply.__name__} its caller expects")
    return outcome


def plan_tool_call(caller: Caller, name: str, raw_args: dict[str, Any] | None) -> Change | ToolError:
    """The change a data-changing call would make, to preview it, or why it cannot be made."""

    def plan(tool: Tool[Any], args: BaseModel) -> Change:
        if tool.plan is None:
            raise ToolFailed("this tool does not change data")
        return tool.plan(caller, args)

    return _checked(caller, name, raw_args, plan)


def confirm_tool_call(
    caller: Caller, name: str, raw_args: dict[str, Any] | None, proposed: Change, record_id: str
) -> Written | ToolError:
    """Apply a change the caller confirmed. It is planned again first, every check included, and written as it was
    shown only if it would still write the same from the same state of the record; a create keeps `record_id`, so
    a confirmation that runs twice (its first answer lost) writes once."""

    def confirm(tool: Tool[Any], args: BaseModel) -> Written:
        if tool.plan is None:
            raise ToolFailed("this tool does not change data")
        model = RECORD_TYPES[proposed.kind]
        if (
            proposed.action == "delete"
            and proposed.record_id
            and get_crm().get_record(caller, model, proposed.record_id) is None
        ):
            return Deleted(deleted=RecordReference(kind=proposed.kind, id=proposed.record_id), note="it is gone")
        if tool.plan(caller, args).same_write(proposed):
            return apply_change(caller, proposed, record_id)
        current = get_crm().get_record(caller, model, proposed.record_id) if proposed.record_id else None
        if current is not None and proposed.holds_in(current):
            return Unchanged(note="it was already so")
        raise ToolFailed("the record changed since this was proposed; ask again to see it as it is now")

    return _checked(caller, name, raw_args, confirm)


def new_record_id() -> str:
    """The id of a record a change creates, chosen before the write so that a retried write finds it."""
    return secrets.token_urlsafe(15)


def _checked(
    caller: Caller,
    name: str,
    raw_args: dict[str, Any] | None,
    work: Callable[[Tool[Any], BaseModel], T],
    may_have_written: bool = False,
) -> T | ToolError:
    """Authorise the call and validate its arguments, then do the work; every way it can fail is an answer (a fault
    in a write that may have landed is not told as worth retrying: a retry would be a second write)."""
    tool = tools.get(name)
    if tool is None:
        return ToolError(error="unknown tool", detail=f"there is no tool named {name!r}")
    if caller.role not in tool.roles:
        _audit_refusal(caller, name, f"role {caller.role.value} may not call {name}")
        return ToolError.not_permitted(f"a {caller.role.value} may not use {name}")
    try:
        args = tool.args_model.model_validate(raw_args or {})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors())
        return ToolError(error="invalid arguments", detail=problems)
    try:
        return work(tool, args)
    except ToolHidden as hidden:
        _audit_refusal(caller, name, str(hidden))
        return ToolError(error=hidden.answer)
    except ToolRefused as refusal:
        _audit_refusal(caller, name, str(refusal))
        return ToolError.not_permitted(str(refusal))
    except ToolFailed as failure:
        return ToolError(error=str(failure))
    except CrmRefused as refusal:  # the CRM is stricter than the bot's own checks (logged by the adapter)
        _audit_refusal(caller, name, f"the CRM refused: {refusal}")
        return ToolError.not_permitted("the CRM does not allow this")
    except CrmRejected as rejected:
        return ToolError(error="could not be done", detail=f"the CRM did not accept the value of {rejected}")
    except Exception as error:  # noqa: BLE001  (a fault in one call is the model's to hear of, not the turn's end)
        return fault(caller, name, error, may_have_written)


def fault(caller: Caller, name: str, error: Exception, may_have_written: bool = False) -> ToolError:
    """The answer to a call that raised something unexpected: logged, and told as worth retrying later, unless it
    was a write that may have been made."""
    if isinstance(error, CrmUnreachable) and error.busy:
        log.warning("tool %s by %s: the CRM is busy: %s", name, caller.crm_user_id, error)
        problem = "the CRM is busy"
    elif isinstance(error, StoreError | CrmUnreachable):
        log.warning("tool %s by %s could not reach the CRM's data: %s", name, caller.crm_user_id, error)
        problem = "the CRM's data could not be reached"
    else:
        log.exception("tool %s by %s failed", name, caller.crm_user_id)
        problem = "an error on our side"
    if may_have_written:
        return ToolError(
            error="could not be done", detail=f"{problem}, and it may have been done: look before trying again."
        )
    return ToolError(error="could not be done", detail=f"{problem}. Try again in a moment.", retryable=True)


def _audit_refusal(caller: Caller, tool: str, reason: str) -> None:
    log.info("tool call refused: %s by %s (%s)", tool, caller.crm_user_id, reason)
    audit.record(
        "tool_refused",
        telegram_user_id=caller.telegram_user_id,
        crm_user_id=caller.crm_user_id,
        tool=tool,
        reason=reason,
    )
