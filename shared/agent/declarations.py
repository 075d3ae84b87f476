"""Function declarations of the tools a role may call: the model never sees the others."""

from __future__ import annotations

from google.genai import types

from shared.crm.tools.registry import tools
from shared.instance import per_instance
from shared.roles import Role


@per_instance
def declarations_for(role: Role) -> list[types.FunctionDeclaration]:
    """One declaration per tool this role may call, with the pydantic argument schema."""
    return [
        types.FunctionDeclaration(
            name=tool.name, description=tool.description, parameters_json_schema=tool.json_schema()
        )
        for tool in tools.for_role(role)
    ]
