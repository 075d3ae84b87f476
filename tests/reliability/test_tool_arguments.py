"""Every tool, driven with arguments drawn from the JSON schema it declares to the model, as every role, on the
emulator (the permission matrix's two organisations): no call raises, and every answer is a result or an error
the model can read, never a fault of ours.

The schema is what the model is told, so anything it allows is something a model may send. The schemas are flat
(tests/test_tools.py checks it), so the strategy below reads the few keywords they use; hypothesis-jsonschema
0.23.1, the library for this, does not run on our Hypothesis.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.crm.tools.changes import Change
from shared.crm.tools.registry import ToolResult, call_tool, confirm_tool_call, plan_tool_call, tools
from tests.crm_world import CrmWorld
from tests.reliability.conftest import ServerLog, fuzz_settings
from tests.test_tools_permissions import CALLERS, ROLES, seed

pytestmark = pytest.mark.emulator

EXAMPLES = 20
FAULT = "could not be done"


def value_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values one property's schema allows: its enum, type, bounds, length, pattern and date format."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum")
        if kind == "integer":
            return st.integers(min_value=low, max_value=high)
        excluded = "exclusiveMinimum" in schema
        return st.floats(low, high, exclude_min=excluded, allow_nan=False, allow_infinity=False)
    assert kind == "string", schema
    if schema.get("format") == "date":
        return st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 300))


def arguments_of(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects a tool's schema allows: every required property, any of the others."""
    properties = schema["properties"]
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: value_of(properties[name]) for name in properties if name in required},
        optional={name: value_of(properties[name]) for name in properties if name not in required},
    )


def readable(result: ToolResult) -> None:
    """A result the model can read: JSON, ok true with data, or ok false with an error that is not our fault."""
    json.dumps(result, default=str)
    if result["ok"] is True:
        return
    assert result["ok"] is False, result
    assert isinstance(result.get("error"), str), result
    assert result["error"], result
    assert result["error"] != FAULT, f"the call raised: {result}"


@pytest.mark.parametrize("name", [tool.name for tool in tools.all()])
def test_every_tool_answers_what_its_own_schema_allows_as_every_role(
    crm_world: CrmWorld, server_log: ServerLog, name: str
) -> None:
    seed(crm_world)
    tool = tools.get(name)
    assert tool is not None

    @given(arguments=arguments_of(tool.json_schema()), role=st.sampled_from(ROLES))
    @fuzz_settings(EXAMPLES)
    def answers(arguments: dict[str, Any], role: Any) -> None:
        caller = CALLERS[role]
        if tool.changes_data:  # the way through Confirm: planned for the preview, then confirmed
            planned = plan_tool_call(caller, name, arguments)
            if isinstance(planned, Change):
                confirmed = confirm_tool_call(caller, name, arguments, planned, record_id=secrets.token_urlsafe(12))
                readable(confirmed.for_model())
            else:
                readable(planned.for_model())
        readable(call_tool(caller, name, arguments))

    answers()
    assert server_log.crashes() == []
