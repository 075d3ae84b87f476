"""/help texts, generated from the bot's command registry so they never drift from the handlers."""

from __future__ import annotations

from shared.bot.commands import GUEST, Audience, CommandRegistry
from shared.config import get_settings
from shared.roles import Role
from shared.telegram.formatting import escape_html

EXAMPLES: dict[Role, tuple[str, ...]] = {
    Role.VENDOR: (
        "Show my open deals",
        "Create a lead named Jane from LinkedIn",
        "Move my newest deal to negotiation",
        "What's our conversion rate this month?",
    ),
    Role.EMPLOYEE: (
        "Show my deals",
        "Which of my customers have open issues?",
        "Create a lead named John from Facebook",
        "Show statistics for this month",
    ),
    Role.CUSTOMER: (
        "Where is my latest order?",
        "Show my files",
        "Open a support issue about login problems",
        "Show my payments",
    ),
}
"""Questions for the assistant that name no record: they work for anyone of the role, whatever their data."""


def command_list(commands: CommandRegistry, audience: Audience) -> str:
    """One line per command this audience may use."""
    lines = []
    for command in commands.for_audience(audience):
        aliases = "".join(f", /{alias}" for alias in command.aliases)
        lines.append(f"/{command.name}{aliases} — {escape_html(command.description)}")
    return "\n".join(lines)


def role_help(commands: CommandRegistry, role: Role) -> str:
    """What a linked user of this role can do: commands, and example questions when the assistant is there."""
    listed = f"<b>Commands</b>\n{command_list(commands, role)}"
    if not get_settings().assistant_configured:
        return listed
    examples = "\n".join(f"• {escape_html(example)}" for example in EXAMPLES[role])
    return f"{listed}\n\n<b>Or just ask me</b>, for example:\n{examples}"


def guest_help(commands: CommandRegistry) -> str:
    """Help for someone who has not linked an account yet."""
    return f"ℹ️ <b>Help</b>\n\n{command_list(commands, GUEST)}\n\n" + (
        "You can also use the <b>Link Telegram</b> button on the CRM website: it opens this chat and "
        "links you without typing a password here."
    )
