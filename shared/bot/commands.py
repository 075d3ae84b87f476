"""Slash commands: what one is, the registry the router builds of them (/help and the per-role menus list it), and
how a message names one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.roles import EVERYONE, Role
from shared.telegram.types import BotCommand

if TYPE_CHECKING:
    from shared.bot.conversation import Conversation

Handler = Callable[["Conversation", str], None]

GUEST = "guest"
"""The audience of a Telegram user who has not linked a CRM account."""

Audience = Role | str

ANYONE: frozenset[Audience] = frozenset({GUEST, *EVERYONE})
GUESTS: frozenset[Audience] = frozenset({GUEST})


@dataclass(frozen=True)
class Command:
    """A slash command: who may use it, what it says about itself, and what it does."""

    name: str
    description: str
    audiences: frozenset[Audience]
    handler: Handler
    aliases: tuple[str, ...] = ()
    in_menu: bool = True


class CommandRegistry:
    """The bot's commands, by name and alias, in the order /help and the menus list them."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self._commands = tuple(commands)
        self._by_name: dict[str, Command] = {}
        for command in self._commands:
            for name in (command.name, *command.aliases):
                if name in self._by_name:
                    raise ValueError(f"/{name} is registered twice")
                self._by_name[name] = command

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def all(self) -> tuple[Command, ...]:
        return self._commands

    def for_audience(self, audience: Audience) -> list[Command]:
        """The commands this audience may use, in the registry's order."""
        return [command for command in self._commands if audience in command.audiences]

    def menu(self, audience: Audience) -> list[BotCommand]:
        """The Telegram command menu of an audience."""
        return [
            BotCommand(command=command.name, description=command.description)
            for command in self.for_audience(audience)
            if command.in_menu
        ]


def parse_command(text: str, bot_username: str | None = None) -> tuple[str, str] | None:
    """('name', 'rest of the text') for '/name@bot rest', or None when the text is not a command."""
    if not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    name, _, addressed_to = head.partition("@")
    if addressed_to and bot_username and addressed_to.lower() != bot_username.lower():
        return None
    if not name or not name.replace("_", "").isalnum():
        return None
    return name.lower(), rest.strip()
