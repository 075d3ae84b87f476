"""A slash command for every change the assistant can make, through the same plan, preview and Confirm tap.

Each command turns its line into the tool's arguments and hands them to the tool the assistant would call, so
the permissions, the preview and the write are the tools' own. A choice left out of the line (a deal's stage, a
lead's status) is asked for with buttons that complete the command.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bot import confirmations, texts
from shared.bot.commands import Command
from shared.bot.conversation import Conversation
from shared.bot.crm_commands import refusal_text
from shared.crm.records import DEAL_STAGES, ISSUE_STATUSES, LEAD_STATUSES
from shared.crm.tools.changes import propose
from shared.crm.tools.registry import ToolError, plan_tool_call, run_tool, tools
from shared.crm.tools.results import Created, Updated, Written
from shared.roles import Role
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

COMPLETE_KIND = "cmd"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit

_EMAIL = re.compile(r"^\S+@\S+\.\S+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{5,}$")
_AMOUNT = re.compile(r"^(\d+(?:[.,]\d{1,2})?)(?:\s*([A-Za-z]{3}))?$")
_CUSTOMER = re.compile(r"^(?:customer|for)\s+(\S+)$", re.IGNORECASE)


class Usage(ValueError):
    """The line does not make the command's arguments; the message says what to type."""


@dataclass(frozen=True)
class Choice:
    """An argument left out that is one of a few values: asked for with buttons completing `line`."""

    prompt: str
    line: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ChangeCommand:
    """A slash command that proposes (or, where no tap is needed, makes) one tool's change."""

    name: str
    tool: str
    parse: Callable[[str], dict[str, Any] | Choice]

    @property
    def roles(self) -> frozenset[Role]:
        tool = tools.get(self.tool)
        assert tool is not None, f"/{self.name} names no tool {self.tool}"
        return tool.roles

    @property
    def example(self) -> str:
        return texts.CHANGE_EXAMPLES[self.name]

    def description(self) -> str:
        return texts.COMMAND_DESCRIPTIONS[self.name]


def _parts(line: str) -> list[str]:
    return [part.strip() for part in line.split(",") if part.strip()]


def _contact(line: str, first: str, others: tuple[str, ...]) -> dict[str, Any]:
    """'Name, a@b.example, +44 20…, words…': the first part, an email and a phone wherever they are, the rest in
    order into `others`."""
    parts = _parts(line)
    if not parts:
        raise Usage(texts.usage_first_part(first=first))
    args: dict[str, Any] = {first: parts[0]}
    rest = []
    for part in parts[1:]:
        if _EMAIL.match(part) and "email" not in args:
            args["email"] = part
        elif _PHONE.match(part) and "phone" not in args:
            args["phone"] = part
        else:
            rest.append(part)
    if len(rest) > len(others):
        raise Usage(texts.usage_too_many_parts(first=first, others=others))
    args.update(zip(others, rest, strict=False))
    return args


def _new_lead(line: str) -> dict[str, Any]:
    return _contact(line, "name", ("source", "company"))


def _new_customer(line: str) -> dict[str, Any]:
    return _contact(line, "name", ("company",))


def _new_deal(line: str) -> dict[str, Any]:
    parts = _parts(line)
    if not parts:
        raise Usage(texts.USAGE_DEAL)
    args: dict[str, Any] = {"title": parts[0]}
    for part in parts[1:]:
        amount, customer = _AMOUNT.match(part), _CUSTOMER.match(part)
        stage = _with_underscores(part, DEAL_STAGES).lower()
        if amount:
            if "value" in args:
                raise Usage(texts.USAGE_VALUE_TWICE)
            args["value"] = float(amount.group(1).replace(",", "."))
            if amount.group(2):
                args["currency"] = amount.group(2)
        elif customer:
            if "customer" in args:
                raise Usage(texts.USAGE_ONE_CUSTOMER)
            args["customer"] = customer.group(1)
        elif stage in DEAL_STAGES:
            args["stage"] = stage
        else:
            raise Usage(texts.usage_deal_part(part=part))
    return args


def _new_issue(line: str) -> dict[str, Any]:
    title, _, description = line.partition(",")
    if not title.strip():
        raise Usage(texts.USAGE_ISSUE)
    return {"title": title.strip(), "description": description.strip()}


def _with_underscores(line: str, values: tuple[str, ...]) -> str:
    """'closed won' → 'closed_won', 'in progress' → 'in_progress': the values as people type them."""
    for value in values:
        if "_" in value:
            spaced = r"\s+".join(value.split("_"))
            line = re.sub(rf"\b{spaced}\b", value, line, flags=re.IGNORECASE)
    return line


def _stage(line: str) -> dict[str, Any] | Choice:
    words = _with_underscores(line, DEAL_STAGES).split()
    if not words:
        raise Usage(texts.USAGE_STAGE)
    if words[-1].lower() in DEAL_STAGES and len(words) > 1:
        return {"deal": " ".join(words[:-1]), "stage": words[-1].lower()}
    deal = " ".join(words)
    return Choice(texts.choose_stage(deal=deal), f"stage {deal}", DEAL_STAGES)


def _status(line: str) -> dict[str, Any] | Choice:
    words = _with_underscores(line, ISSUE_STATUSES).split()
    kind = words[0].lower() if words else ""
    if len(words) < 2 or kind not in ("lead", "issue"):
        raise Usage(texts.USAGE_STATUS)
    statuses = LEAD_STATUSES if kind == "lead" else ISSUE_STATUSES
    if words[-1].lower() in statuses and len(words) > 2:
        return {kind: " ".join(words[1:-1]), "status": words[-1].lower()}
    record = " ".join(words[1:])
    return Choice(texts.choose_status(kind=kind, record=record), f"status {kind} {record}", statuses)


def _kind_and_record(line: str, usage: str) -> tuple[str, list[str]]:
    words = line.split()
    if len(words) < 2:
        raise Usage(usage)
    return words[0].lower(), words[1:]


def _assign(line: str) -> dict[str, Any]:
    kind, rest = _kind_and_record(line, texts.USAGE_ASSIGN)
    if len(rest) < 2 or "@" not in rest[-1]:
        raise Usage(texts.USAGE_ASSIGNEE)
    return {"kind": kind, "record": " ".join(rest[:-1]), "assignee_email": rest[-1]}


def _delete(line: str) -> dict[str, Any]:
    kind, rest = _kind_and_record(line, texts.USAGE_DELETE)
    return {"kind": kind, "record": " ".join(rest)}


def _payment(line: str) -> dict[str, Any]:
    words = line.split()
    if len(words) < 2:
        raise Usage(texts.USAGE_PAYMENT)
    amount = _AMOUNT.match(words[1])
    if amount is None:
        raise Usage(texts.usage_amount(amount=words[1]))
    args: dict[str, Any] = {"order": words[0], "amount": float(amount.group(1).replace(",", "."))}
    rest = words[2:]
    if amount.group(2):
        args["currency"] = amount.group(2)
    elif rest and re.fullmatch(r"[A-Za-z]{3}", rest[0]):  # three letters after the amount are its currency
        args["currency"] = rest.pop(0)
    if rest:
        args["method"] = " ".join(rest)
    return args


CHANGE_COMMANDS = [
    ChangeCommand("newlead", "create_lead", _new_lead),
    ChangeCommand("customer", "create_customer", _new_customer),
    ChangeCommand("newdeal", "create_deal", _new_deal),
    ChangeCommand("stage", "update_deal_stage", _stage),
    ChangeCommand("status", "update_lead_status", _status),
    ChangeCommand("issue", "create_issue", _new_issue),
    ChangeCommand("payment", "record_payment", _payment),
    ChangeCommand("assign", "assign_record", _assign),
    ChangeCommand("delete", "delete_record", _delete),
]
BY_NAME = {command.name: command for command in CHANGE_COMMANDS}


def _tool_of(command: ChangeCommand, args: dict[str, Any]) -> str:
    """/status names lead or issue in its line; the others have one tool."""
    if command.name == "status" and "issue" in args:
        return "update_issue_status"
    return command.tool


def run_change_command(conversation: Conversation, command: ChangeCommand, line: str) -> None:
    """Propose the command's change with Confirm / Cancel (or make it, where the role needs no tap)."""
    session = conversation.require_session()
    if not line.strip():
        conversation.say(texts.change_usage(description=command.description()))
        return
    try:
        parsed = command.parse(line.strip())
    except Usage as usage:
        conversation.say(texts.usage_error(usage=str(usage), example=command.example))
        return
    if isinstance(parsed, Choice):
        buttons = _choice_buttons(parsed)
        if buttons is None:  # the record's reference is too long for the buttons' data
            conversation.say(texts.say_it_whole(example=command.example))
        else:
            conversation.say(texts.choice_question(question=parsed.prompt), buttons)
        return
    caller = session.caller()
    name = _tool_of(command, parsed)
    tool = tools.get(name)
    if tool is None or not tool.needs_confirmation(caller.role):
        written = run_tool(caller, name, parsed, Written)
        conversation.say(refusal_text(written) if isinstance(written, ToolError) else _done_text(written))
        return
    planned = plan_tool_call(caller, name, parsed)
    if isinstance(planned, ToolError):
        conversation.say(refusal_text(planned))
        return
    confirmations.ask(conversation, propose(caller, name, parsed, planned), planned)


def _done_text(written: Written) -> str:
    """A change made without a tap (a customer's support issue)."""
    match written:
        case Created(created=saved) | Updated(updated=saved):
            return texts.change_saved(record=saved.ref[:1].upper() + saved.ref[1:])
        case _:
            return texts.CHANGE_SAVED_UNNAMED


def _choice_buttons(choice: Choice) -> InlineKeyboardMarkup | None:
    buttons = []
    for value in choice.values:
        data = f"{COMPLETE_KIND}:{choice.line} {value}"
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            return None
        buttons.append(InlineKeyboardButton(text=value.replace("_", " "), callback_data=data))
    return InlineKeyboardMarkup(inline_keyboard=[buttons[index : index + 2] for index in range(0, len(buttons), 2)])


def on_choice(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    """A button completing a command's line: run the command as if typed whole."""
    name, _, line = payload.partition(" ")
    command = BY_NAME.get(name)
    session = conversation.session
    if command is None or session is None or session.role not in command.roles:
        conversation.answer(query.id, texts.BUTTON_EXPIRED)
        return
    conversation.answer(query.id)
    run_change_command(conversation, command, line)


def _slash_command(command: ChangeCommand) -> Command:
    def handler(conversation: Conversation, line: str) -> None:
        run_change_command(conversation, command, line)

    return Command(command.name, command.description(), frozenset(command.roles), handler)


COMMANDS = tuple(_slash_command(command) for command in CHANGE_COMMANDS)
"""The commands that change the CRM, in the order /help lists them."""
