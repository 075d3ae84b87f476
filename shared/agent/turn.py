"""One assistant turn: the user's message, up to MAX_MODEL_CALLS model calls, tools run by our code."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from google.genai import types

from shared import clock
from shared.agent.declarations import declarations_for
from shared.agent.gemini import Failure, GeminiFailure, generate
from shared.agent.prompt import system_instruction
from shared.auth.session import Session
from shared.config import get_settings
from shared.crm.tools.changes import Change, propose
from shared.crm.tools.registry import Caller, ToolAnswer, ToolError, ToolReply, fault, plan_tool_call, run_tool, tools
from shared.store import history
from shared.store.history import AssistantState, Exchange

log = logging.getLogger(__name__)

MAX_MODEL_CALLS = 6
MAX_CALLS_PER_ANSWER = 8
"""Function calls run from one model answer; the rest are answered 'not run' (a flood would bloat the next request)."""
MAX_CALLS_PER_TURN = 16
TOKENS_RESERVED_PER_TURN = 10_000
"""Counted against the day's budget when a message is let in, until its turn records what it used: about a
two-call turn of a staff member, so messages sent together cannot all start on the day's last tokens."""


@dataclass(frozen=True)
class TokenBudget:
    """What is left of a user's daily tokens for one turn: the day's use when its message was counted (with the
    reservations of turns running alongside, without its own), against the daily limit."""

    used_before: int
    limit: int

    def allows(self, spent: int) -> bool:
        """Whether another model call may start once this turn has spent `spent` tokens."""
        return self.used_before + spent < self.limit


@dataclass
class TurnOutcome:
    """What the turn produced: the final Markdown and the confirmations to show, or a failure."""

    text: str | None = None
    confirmations: list[tuple[str, Change]] = field(default_factory=list)  # (action id, change)
    failure: Failure | None = None
    contents: list[types.Content] = field(default_factory=list)
    tokens: int = 0
    calls_run: int = 0


class Refusal(StrEnum):
    """Why a message is not let in to the assistant."""

    TOO_FAST = "too_fast"
    OVER_BUDGET = "over_budget"


@dataclass(frozen=True)
class Admission:
    """A message counted against the user's limits: its state when counted, its budget, and whether it runs."""

    state: AssistantState
    counted_at: dt.datetime
    budget: TokenBudget
    refusal: Refusal | None


def admit(session: Session) -> Admission:
    """Count a message to the assistant (reserving its tokens) and decide whether it may run."""
    settings = get_settings()
    counted_at = clock.now()
    state = history.count_message(session.telegram_user_id, counted_at, TOKENS_RESERVED_PER_TURN)
    budget = TokenBudget(state.day(counted_at).tokens - TOKENS_RESERVED_PER_TURN, settings.assistant_daily_token_budget)
    refusal = None
    if state.messages_in_minute(counted_at) > settings.assistant_messages_per_minute:
        refusal = Refusal.TOO_FAST
    elif not budget.allows(0):
        refusal = Refusal.OVER_BUDGET
    return Admission(state, counted_at, budget, refusal)


def take_turn(session: Session, admission: Admission, text: str) -> TurnOutcome:
    """Run an admitted message's turn (a refused one only gives its reservation back); its usage is recorded
    whatever happens, as the tokens were spent."""
    outcome = TurnOutcome()
    try:
        if admission.refusal is None:
            deadline = time.monotonic() + get_settings().assistant_turn_seconds
            run_turn(session, admission.state, text, deadline, admission.budget, outcome)
    finally:
        _record(session, admission.state, admission.counted_at, outcome)
    if outcome.failure is not None:
        log.warning("assistant turn for %s failed: %s", session.crm_user_id, outcome.failure.value)
    return outcome


def run_turn(
    session: Session, state: AssistantState, text: str, deadline: float, budget: TokenBudget, outcome: TurnOutcome
) -> None:
    """The model loop, filling `outcome` as it goes (so a failure half-way still shows what was spent); every tool
    call goes through run_tool's permission checks."""
    caller = session.caller()
    config = types.GenerateContentConfig(
        system_instruction=system_instruction(session, get_settings().bot_time_zone),
        tools=[types.Tool(function_declarations=declarations_for(session.role))],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    past = [
        types.Content.model_validate_json(content)
        for _, exchange in history.trim(state.conversation(session.crm_user_id))  # turns at once may add more
        for content in exchange.contents
    ]
    new: list[types.Content] = [types.Content(role="user", parts=[types.Part(text=text)])]
    malformed_retried = False
    for _ in range(MAX_MODEL_CALLS):
        if not budget.allows(outcome.tokens):
            outcome.failure = Failure.OVER_BUDGET
            return
        try:
            response = generate(past + new, config, deadline)
        except GeminiFailure as failure:
            outcome.failure = failure.failure
            return
        outcome.tokens += _tokens(response)
        if response.prompt_feedback is not None and response.prompt_feedback.block_reason is not None:
            outcome.failure = Failure.BLOCKED
            return
        if not response.candidates:
            outcome.failure = Failure.EMPTY
            return
        candidate = response.candidates[0]
        if candidate.finish_reason == types.FinishReason.MALFORMED_FUNCTION_CALL:
            if malformed_retried:
                outcome.failure = Failure.MALFORMED
                return
            malformed_retried = True
            continue
        if candidate.content is None or not candidate.content.parts:
            outcome.failure = Failure.BLOCKED if _blocked(candidate) else Failure.EMPTY
            return
        new.append(candidate.content)
        function_calls = [part.function_call for part in candidate.content.parts if part.function_call]
        if not function_calls:
            outcome.text = "".join(part.text or "" for part in candidate.content.parts if not part.thought).strip()
            if not outcome.text and not outcome.confirmations:
                outcome.failure = Failure.EMPTY
                return
            outcome.contents = new
            return
        new.append(types.Content(role="user", parts=_answer_calls(caller, function_calls, outcome)))
    outcome.failure = Failure.TOO_MANY_STEPS


def _answer_calls(caller: Caller, calls: list[types.FunctionCall], outcome: TurnOutcome) -> list[types.Part]:
    """One function response per call (the model's turn must stay whole); past the caps, 'not run'."""
    parts = []
    for index, call in enumerate(calls):
        if index < MAX_CALLS_PER_ANSWER and outcome.calls_run < MAX_CALLS_PER_TURN:
            outcome.calls_run += 1
            parts.append(_run_call(caller, call, outcome))
        else:
            parts.append(_response(call, _NOT_RUN))
    return parts


_NOT_RUN = ToolError(
    error="not run",
    detail=(
        f"At most {MAX_CALLS_PER_ANSWER} function calls of one answer, and {MAX_CALLS_PER_TURN} per user message, "
        "are run; this one was not. Use the results you have, or call fewer functions at a time."
    ),
)


class AwaitingConfirmation(ToolReply):
    """What the model hears of a change it proposed: the preview the user is shown with Confirm / Cancel."""

    status: Literal["awaiting_confirmation"] = "awaiting_confirmation"
    preview: str
    note: str = "The user sees this preview with Confirm / Cancel buttons; it happens only if they tap Confirm."


def _run_call(caller: Caller, call: types.FunctionCall, outcome: TurnOutcome) -> types.Part:
    name, args = call.name or "", dict(call.args or {})
    tool = tools.get(name)
    if tool is None or not tool.needs_confirmation(caller.role):
        return _response(call, run_tool(caller, name, args))
    planned = plan_tool_call(caller, name, args)
    if isinstance(planned, ToolError):
        return _response(call, planned)
    return _response(call, _propose(caller, name, args, planned, outcome))


def _propose(
    caller: Caller, name: str, args: dict[str, object], change: Change, outcome: TurnOutcome
) -> AwaitingConfirmation | ToolError:
    try:
        action_id = propose(caller, name, args, change)
    except Exception as error:  # noqa: BLE001  (the model hears that it could not be proposed, as for any tool)
        return fault(caller, name, error)
    outcome.confirmations.append((action_id, change))
    return AwaitingConfirmation(preview=change.plain_text())


def _response(call: types.FunctionCall, answer: ToolAnswer) -> types.Part:
    return types.Part(function_response=types.FunctionResponse(id=call.id, name=call.name, response=answer.for_model()))


def _tokens(response: types.GenerateContentResponse) -> int:
    usage = response.usage_metadata
    return int(usage.total_token_count or 0) if usage is not None else 0


def _blocked(candidate: types.Candidate) -> bool:
    return candidate.finish_reason in (
        types.FinishReason.SAFETY,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.SPII,
    )


def _record(session: Session, seen: AssistantState, counted_at: dt.datetime, outcome: TurnOutcome) -> None:
    """Add the turn's tokens, in place of its reservation, and its exchange (only a completed one) to the state
    (where GET /stats sums them)."""
    exchange = None
    if outcome.failure is None and outcome.contents:
        contents = [content.model_dump_json(exclude_none=True) for content in outcome.contents]
        exchange = Exchange(crm_user_id=session.crm_user_id, contents=contents)
    history.record_turn(
        session.telegram_user_id, seen, counted_at, outcome.tokens, exchange, clock.now(), TOKENS_RESERVED_PER_TURN
    )
