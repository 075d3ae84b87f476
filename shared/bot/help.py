"""/help texts, generated from the bot's command registry so they never drift from the handlers."""

from __future__ import annotations

from shared.bot import texts
from shared.bot.commands import GUEST, Audience, CommandRegistry
from shared.config import get_settings
from shared.roles import Role


def command_list(commands: CommandRegistry, audience: Audience) -> str:
    """One line per command this audience may use."""
    return "\n".join(
        texts.command_line(name=command.name, aliases=command.aliases, description=command.description)
        for command in commands.for_audience(audience)
    )


def role_help(commands: CommandRegistry, role: Role) -> str:
    """What a linked user of this role can do: commands, and example questions when the assistant is there."""
    listed = command_list(commands, role)
    if not get_settings().assistant_configured:
        return texts.help_for_role(commands_html=listed)
    return texts.help_for_role_with_examples(commands_html=listed, examples=texts.ASSISTANT_EXAMPLES[role])


def guest_help(commands: CommandRegistry) -> str:
    """Help for someone who has not linked an account yet."""
    return texts.help_page(body_html=texts.help_for_guest(commands_html=command_list(commands, GUEST)))
