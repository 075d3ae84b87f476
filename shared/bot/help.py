"""/help texts, generated from the command registry so they never drift from the handlers."""

from __future__ import annotations

from shared.bot.commands import GUEST, Audience, registry
from shared.roles import Role
from shared.telegram.formatting import escape_html

EXAMPLES: dict[Role, tuple[str, ...]] = {
    Role.VENDOR: (
        "Show my deals",
        "Create a lead named Jane from LinkedIn",
        "Update deal 5 to negotiation stage",
        "Record a payment of 5000 for order #3",
        "What's my conversion rate this month?",
    ),
    Role.EMPLOYEE: (
        "Show my deals",
        "List customers",
        "Create a lead named John from Facebook",
        "Update deal 23 to closed won",
        "Show statistics for this month",
    ),
    Role.CUSTOMER: (
        "Where is my order #3?",
        "Show my files",
        "Create a support issue about login problems",
        "Show my payments",
    ),
}


def command_list(audience: Audience) -> str:
    """One line per command this audience may use."""
    lines = []
    for command in registry.for_audience(audience):
        aliases = "".join(f", /{alias}" for alias in command.aliases)
        lines.append(f"/{command.name}{aliases} — {escape_html(command.description)}")
    return "\n".join(lines)


def role_help(role: Role) -> str:
    """What a linked user of this role can do: commands and example questions."""
    examples = "\n".join(f"• {escape_html(example)}" for example in EXAMPLES[role])
    return f"<b>Commands</b>\n{command_list(role)}\n\n<b>Or just ask me</b>, for example:\n{examples}"


def guest_help() -> str:
    """Help for someone who has not linked an account yet."""
    return f"ℹ️ <b>Help</b>\n\n{command_list(GUEST)}\n\n" + (
        "You can also use the <b>Link Telegram</b> button on the CRM website: it opens this chat and "
        "links you without typing a password here."
    )
