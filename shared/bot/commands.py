"""The one registry of slash commands: handlers, /help and the per-role command menus come from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.roles import Role
from shared.telegram.types import BotCommand

if TYPE_CHECKING:
    from shared.bot.conversation import Conversation

Handler = Callable[["Conversation", str], None]

GUEST = "guest"
"""The audience of a Telegram user who has not linked a CRM account."""

Audience = Role | str


@dataclass(frozen=True)
class Command:
    """A slash command: who may use it, what it says about itself, and what it does."""

    name: str
    description: str
    audiences: frozenset[Audience]
    handler: Handler
    aliases: tuple[str, ...] = ()
    in_menu: bool = True


@dataclass
class CommandRegistry:
    """Commands by name and alias."""

    _commands: dict[str, Command] = field(default_factory=dict)
    _by_name: dict[str, Command] = field(default_factory=dict)
    _order: tuple[str, ...] = ()

    def add(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f"/{name} is registered twice")
            self._by_name[name] = command
        self._commands[command.name] = command

    def command(
        self,
        name: str,
        description: str,
        audiences: Iterable[Audience],
        aliases: tuple[str, ...] = (),
        in_menu: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Decorator registering a handler as /name."""

        def register(handler: Handler) -> Handler:
            self.add(Command(name, description, frozenset(audiences), handler, aliases, in_menu))
            return handler

        return register

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def show_in_order(self, names: tuple[str, ...]) -> None:
        """The order /help and the menus list commands in (any not named follow, in registration order), so that it
        never depends on the order modules happen to be imported in."""
        self._order = names

    def for_audience(self, audience: Audience) -> list[Command]:
        """The commands this audience may use, in the order set by show_in_order."""
        position = {name: index for index, name in enumerate(self._order)}
        commands = [command for command in self._commands.values() if audience in command.audiences]
        return sorted(commands, key=lambda command: position.get(command.name, len(position)))

    def menu(self, audience: Audience) -> list[BotCommand]:
        """The Telegram command menu of an audience."""
        return [
            BotCommand(command=command.name, description=command.description)
            for command in self.for_audience(audience)
            if command.in_menu
        ]


registry = CommandRegistry()


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
