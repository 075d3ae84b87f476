"""Everything the bot says is in shared/bot/texts.py: no other chat-layer module writes a user-facing literal, and
every command's description is there, by the command's name."""

from __future__ import annotations

import ast
import builtins
import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from shared.bot import change_commands, router, texts

BOT = Path(texts.__file__).parent

HTML_TAG = re.compile(r"</?[a-z]+(?: [^<>]*)?>")
CAPITALISED_WORD = re.compile(r"^[A-Z][a-z]+[.!?]?$")  # "Saved", "Cancel", "Cancelled."; identifiers are lower case
LOGGERS = {"log", "logger", "logging"}
BUILTIN_ERRORS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}
NAMING_ARGUMENTS = {"Command": 0, "Choice": 1}
"""Arguments that name something rather than say it: a command's name, the command line a choice's buttons complete."""
HTTP_ANSWERS = {"handle_webhook_request", "parse_update"}
"""Functions whose words answer Telegram's HTTP request (and end up in getWebhookInfo), never a chat."""


def looks_like_prose(text: str) -> bool:
    """Words (a space between letters, or one capitalised word), an HTML tag or an emoji; not a log line's format
    handed on to be logged (%s: the texts' placeholders are named)."""
    if "%s" in text:
        return False
    if HTML_TAG.search(text) or any(unicodedata.category(char) == "So" for char in text):
        return True
    return (" " in text and any(char.isalpha() for char in text)) or bool(CAPITALISED_WORD.match(text))


def _spared(tree: ast.AST) -> set[int]:
    """The ids of the nodes whose strings nobody reads in a chat: docstrings, log lines, programming errors (the
    builtin exceptions' and our own exceptions' messages), keys, names, and the webhook's HTTP answers."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # a docstring, or one of an attribute
            roots.append(node.value)
        elif isinstance(node, ast.ClassDef) and any(_name(base) in BUILTIN_ERRORS for base in node.bases):
            roots += [call for call in ast.walk(node) if isinstance(call, ast.Call) and _calls_super_init(call)]
        elif isinstance(node, ast.Call):
            func, name = node.func, _name(node.func)
            logs = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in LOGGERS
            if logs or name in BUILTIN_ERRORS:
                roots += node.args
            elif name in NAMING_ARGUMENTS and len(node.args) > NAMING_ARGUMENTS[name]:
                roots.append(node.args[NAMING_ARGUMENTS[name]])
        elif isinstance(node, ast.Assert) and node.msg is not None:
            roots.append(node.msg)
        elif isinstance(node, ast.Dict):
            roots += [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Subscript):
            roots.append(node.slice)
        elif isinstance(node, ast.FunctionDef) and node.name in HTTP_ANSWERS:
            roots.append(node)
    return {id(child) for root in roots for child in ast.walk(root)}


def _name(node: ast.expr) -> str:
    """The name a call or a base class is written with: 'Command' in Command(...) and in commands.Command(...)."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _calls_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and _name(func.value.func) == "super"
    )


def prose_literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each string in the source, or piece of an f-string, that looks like something said."""
    tree = ast.parse(source)
    spared = _spared(tree)
    strings = [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    for node in sorted(strings, key=lambda node: (node.lineno, node.col_offset)):
        text = str(node.value)
        if id(node) not in spared and looks_like_prose(text):
            yield node.lineno, text


def test_the_chat_layer_says_nothing_of_its_own() -> None:
    found = [
        f"{path.name}:{line}: {text!r}"
        for path in sorted(BOT.glob("*.py"))
        if path.name != "texts.py"
        for line, text in prose_literals(path.read_text())
    ]
    assert found == [], "move these into shared/bot/texts.py:\n" + "\n".join(found)


def test_the_check_finds_what_is_said_and_spares_what_is_not() -> None:
    """Lines as the chat layer had them before texts.py held them all, and lines it keeps."""
    source = '''
"""A module docstring, in words."""

log = logging.getLogger(__name__)
COMMANDS = (Command("start", "Start: log in, or see what I can do", ANYONE, start),)


def handler(conversation, query, record, deal):
    """Says things."""
    conversation.say("🧹 Conversation history cleared.")
    conversation.say(f"✅ Done: {record} is saved.")
    conversation.answer(query.id, "Saved")
    conversation.say(f"{title}\\n\\n<b>Now</b>")
    button = InlineKeyboardButton(text="More ⬇️", callback_data=f"{MORE_KIND}:{code}:{cursor}")
    if not deal:
        raise Usage("name one customer")
    log.warning("no More button: the cursor of %s is too long for callback_data", record)
    _send(telegram, held, "a reply to chat %s was lost: %s")
    assert record is not None, f"/{deal} names no tool"
    if deal is None:
        raise RuntimeError("a linked-only handler ran without a session")
    arguments = {"open only": True, "title": record["the title"]}
    return Choice(texts.choose_stage(deal=deal), f"stage {deal}", DEAL_STAGES), "list_orders", "\\n\\n".join(arguments)


def parse_update(body):
    return "body is not JSON"


class ReplyLost(Exception):
    def __init__(self, held):
        super().__init__(f"a reply to chat {held.chat_id} was lost")
'''
    assert [text for _, text in prose_literals(source)] == [
        "Start: log in, or see what I can do",
        "🧹 Conversation history cleared.",
        "✅ Done: ",
        " is saved.",
        "Saved",
        "\n\n<b>Now</b>",
        "More ⬇️",
        "name one customer",
    ]


def test_every_command_has_a_description_and_every_description_a_command() -> None:
    commands = router.COMMANDS.all()
    assert set(texts.COMMAND_DESCRIPTIONS) == {command.name for command in commands}
    assert [command.description for command in commands] == [texts.COMMAND_DESCRIPTIONS[c.name] for c in commands]
    assert set(texts.CHANGE_EXAMPLES) == set(change_commands.BY_NAME)


def test_every_template_is_written_out_and_names_its_placeholders() -> None:
    """What gettext needs of a template: a literal in the call, so it can be extracted, and placeholders a
    translator can move, so none is positional."""
    tree = ast.parse((BOT / "texts.py").read_text())
    fills = [
        (node.func.id, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_fill", "_plural")
    ]
    assert fills
    for helper, call in fills:
        for template in call.args[:1] if helper == "_fill" else call.args[1:3]:
            assert isinstance(template, ast.Constant), ast.unparse(call)
            assert isinstance(template.value, str), ast.unparse(call)
            names = [name for _, name, _, _ in string.Formatter().parse(template.value) if name is not None]
            assert names, template.value
            assert all(name.isidentifier() for name in names), template.value
