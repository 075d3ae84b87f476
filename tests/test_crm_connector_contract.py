"""docs/crm-connector.yaml is valid OpenAPI 3.1 and says what the bot reads: every record kind, in the models' shape.

The contract is what a CRM implements for `CRM_BACKEND=rest` (docs/crm-connector.md). Its record schemas must name
exactly the fields of shared/crm/records/models.py, so that the two cannot drift apart: a field added to a model
without the contract (or the other way round) fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis.core.result import Err

from shared.crm.records import RECORD_TYPES, CrmRecord
from shared.crm.users import CrmUser
from tests.harness import ROOT

CONTRACT = ROOT / "docs" / "crm-connector.yaml"
SPEC: dict[str, Any] = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]

SCHEMA_NAMES = {"file": "File"}
"""The contract's schema name of a record kind, where it is not the model's class name (CrmFile)."""
USER_EXCLUDED = {"password_hash"}
"""CrmUser fields the contract leaves out on purpose: no password hash ever leaves the CRM."""
WRITES = {
    "customer": {"post", "patch", "delete"},
    "lead": {"post", "patch", "delete"},
    "deal": {"post", "patch", "delete"},
    "issue": {"post", "patch", "delete"},
    "order": {"delete"},
    "payment": {"post", "delete"},
    "file": {"delete"},
}
"""The changes the tools make (create_*, record_payment, update_*_status, update_deal_stage, assign_record,
delete_record), and so the write endpoints a CRM must serve: no more."""


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = SPEC["components"][section][name]
    return node


def _schema_name(model: type[CrmRecord]) -> str:
    return SCHEMA_NAMES.get(model.noun, model.__name__)


def _parameters(operation: dict[str, Any]) -> set[str]:
    return {_resolve(parameter)["name"] for parameter in operation.get("parameters", [])}


def test_it_is_valid_openapi_3_1() -> None:
    assert str(SPEC["openapi"]).startswith("3.1"), "the contract is OpenAPI 3.1"
    schema = schemathesis.openapi.from_path(CONTRACT)
    schema.validate()  # the OpenAPI 3.1 meta-schema, as schemathesis bundles it
    broken = [result.err() for result in schema.get_all_operations() if isinstance(result, Err)]
    assert not broken, f"operations schemathesis cannot read: {broken}"


@pytest.mark.parametrize("noun", sorted(RECORD_TYPES))
def test_every_record_kind_has_list_get_and_number_lookup(noun: str) -> None:
    model = RECORD_TYPES[noun]
    collection, item = SPEC["paths"].get(f"/{model.collection}"), SPEC["paths"].get(f"/{model.collection}/{{id}}")
    assert "get" in (collection or {}), f"no list of {model.collection}"
    assert "get" in (item or {}), f"no get of a {noun} by id"
    assert {"cursor", "limit", "number", "id"} <= _parameters(collection["get"])
    page = _resolve(collection["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(page["required"]) == {"items", "next_cursor"}


@pytest.mark.parametrize("noun", sorted(RECORD_TYPES))
def test_record_schemas_name_exactly_the_model_fields(noun: str) -> None:
    model = RECORD_TYPES[noun]
    properties = set(SCHEMAS[_schema_name(model)]["properties"])
    fields = set(model.model_fields)
    assert properties == fields, f"contract only: {properties - fields}; model only: {fields - properties}"


@pytest.mark.parametrize("noun", sorted(RECORD_TYPES))
def test_writes_are_the_tools_changes_in_model_fields(noun: str) -> None:
    model = RECORD_TYPES[noun]
    name = _schema_name(model)
    served = set(SPEC["paths"][f"/{model.collection}"]) | set(SPEC["paths"][f"/{model.collection}/{{id}}"])
    assert served - {"get"} == WRITES[noun]
    fields = set(model.model_fields)
    if "post" in WRITES[noun]:
        create = SPEC["paths"][f"/{model.collection}"]["post"]
        assert "Idempotency-Key" in _parameters(create), "a retried create must not be doubled"
        assert set(SCHEMAS[f"New{name}"]["properties"]) <= fields - {"id", "org_id", "number", "created_at"}
    if "patch" in WRITES[noun]:
        change = SCHEMAS[f"{name}Change"]
        assert "expect" in change["required"], "a confirmed change writes only if the record is as shown"
        for part in ("set", "expect"):
            assert set(change["properties"][part]["properties"]) <= fields
        assert set(change["properties"]["clear"]["items"]["enum"]) <= fields


def test_users_are_crm_users_without_the_password_hash() -> None:
    assert set(SCHEMAS["User"]["properties"]) == set(CrmUser.model_fields) - USER_EXCLUDED
    assert {"/auth/login", "/users", "/users/{id}", "/stats"} <= set(SPEC["paths"])


def test_every_request_is_signed_and_every_error_is_a_problem() -> None:
    assert SPEC["security"] == [{"botToken": []}]
    scheme = SPEC["components"]["securitySchemes"]["botToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            assert "security" not in operation, f"{method.upper()} {path} must not opt out of the token"
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert set(_resolve(response)["content"]) == {"application/problem+json"}, (method, path, status)
