"""A tool: one action on the CRM with its arguments' model and the roles that may call it; and tools by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change
from shared.crm.tools.results import ToolReply
from shared.roles import Role

Args = TypeVar("Args", bound=BaseModel)


@dataclass(frozen=True)
class Tool(Generic[Args]):
    """One action the assistant and the commands can take: one that reads `run`s, one that writes `plan`s a Change
    (resolving every reference and checking every permission, writing nothing) that is then applied."""

    name: str
    description: str
    args_model: type[Args]
    roles: frozenset[Role]
    run: Callable[[Caller, Args], ToolReply] | None = None
    plan: Callable[[Caller, Args], Change] | None = None
    # Roles whose calls of this data-changing tool run without a Confirm tap (a customer's support ticket).
    confirmation_exempt: frozenset[Role] = frozenset()

    @property
    def changes_data(self) -> bool:
        return self.plan is not None

    def needs_confirmation(self, role: Role) -> bool:
        return self.changes_data and role not in self.confirmation_exempt

    def json_schema(self) -> dict[str, Any]:
        """The argument schema the model sees."""
        return self.args_model.model_json_schema()


class ToolRegistry:
    """Tools by name, in the order given."""

    def __init__(self, tools: Iterable[Tool[Any]]) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"tool {tool.name} is registered twice")
            if (tool.run is None) == (tool.plan is None):
                raise ValueError(f"tool {tool.name} needs either run (it reads) or plan (it changes data)")
            self._tools[tool.name] = tool

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def for_role(self, role: Role) -> list[Tool[Any]]:
        """The tools this role may call, in registration order."""
        return [tool for tool in self._tools.values() if role in tool.roles]

    def all(self) -> list[Tool[Any]]:
        return list(self._tools.values())
