"""Schemathesis against docs/openapi.yaml: notify and every admin route, served on loopback.

Requests are generated from the schema, valid (positive) and invalid (negative), and authenticated like the real
callers: notify's X-Signature is computed over the body as sent, admin gets the bearer token. Every answer must be
a status the schema documents for that route, with a body of the documented schema; never a 500.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from hypothesis import given
from pydantic import BaseModel
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared import clock
from shared.admin.endpoint import ROUTES
from shared.admin.routing import Caller, Route
from shared.notify.signature import sign
from tests.crm_data import add_crm_user
from tests.harness import ADMIN_TOKEN, LINK_CODE_TOKEN, NOTIFY_SECRET, FunctionServer
from tests.openapi_operations import Operation, operations_of
from tests.reliability.conftest import ServerLog, fuzz_settings
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

SCHEMA, OPERATIONS = operations_of("openapi.yaml")
ADMIN_OPERATIONS = sorted(route.label for route in ROUTES.routes)
"""The declared admin routes (the test below holds the schema to them)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class NotifySignature(requests.auth.AuthBase):
    """Signs the body exactly as it is sent, the way the CRM does (docs/notify.md)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        request.headers["X-Signature"] = sign(raw, NOTIFY_SECRET, int(time.time()))
        return request


class AdminToken(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        return request


@pytest.fixture
def crm_world(env: dict[str, str]) -> None:
    """The CRM users the schema's examples name, one of them linked, so generated requests can succeed."""
    link_user("crm-user-42", 42, role="customer", email="pat@example.com")
    add_crm_user("jane", "jane@example.com", role="employee")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_notify_answers_as_documented(
    notify_fn: FunctionServer, server_log: ServerLog, crm_world: None, mode: GenerationMode
) -> None:
    operation = OPERATIONS["POST /"]

    @fuzz_settings(120)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Case[Operation]) -> None:
        server_log.records.clear()
        response = case.call(base_url=notify_fn.url, auth=NotifySignature())
        case.validate_response(response, checks=CHECKS)
        assert server_log.crashes() == []

    check()


@pytest.mark.parametrize("label", ADMIN_OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_admin_answers_as_documented(
    admin_fn: FunctionServer, server_log: ServerLog, crm_world: None, label: str, mode: GenerationMode
) -> None:
    operation = OPERATIONS[label]

    @fuzz_settings(25)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Case[Operation]) -> None:
        server_log.records.clear()
        response = case.call(base_url=admin_fn.url, auth=AdminToken())
        case.validate_response(response, checks=CHECKS)
        assert server_log.crashes() == []
        clock.reset()

    check()


class LinkCodeToken(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {LINK_CODE_TOKEN}"
        return request


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_link_codes_answer_as_documented_to_the_website_token(
    admin_fn: FunctionServer, server_log: ServerLog, crm_world: None, mode: GenerationMode
) -> None:
    operation = OPERATIONS["POST /link-codes"]

    @fuzz_settings(25)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Case[Operation]) -> None:
        server_log.records.clear()
        response = case.call(base_url=admin_fn.url, auth=LinkCodeToken())
        case.validate_response(response, checks=CHECKS)
        assert server_log.crashes() == []

    check()


def test_the_link_code_token_is_a_security_scheme_of_link_codes_alone_and_403_is_documented_elsewhere() -> None:
    schemes = SCHEMA.raw_schema["components"]["securitySchemes"]
    assert (schemes["linkCodeToken"]["type"], schemes["linkCodeToken"]["scheme"]) == ("http", "bearer")
    assert [route.label for route in ROUTES.open_to(Caller.WEBSITE)] == ["POST /link-codes"]
    for route in ROUTES.routes:
        operation = _documented(route)
        if Caller.WEBSITE in route.callers:
            assert operation["security"] == [{"adminToken": []}, {"linkCodeToken": []}], route.label
        else:
            assert operation["security"] == [{"adminToken": []}], route.label
            assert "403" in operation["responses"], route.label


# ----- the schema against the one declaration of the admin routes (shared/admin/endpoint.py, ROUTES) -----
def _documented(route: Route) -> dict[str, Any]:
    method, path = route.label.split(" ")
    operation: dict[str, Any] = SCHEMA.raw_schema["paths"][path][method.lower()]
    return operation


def test_the_document_lists_the_declared_admin_routes_and_no_other() -> None:
    documented = {
        label
        for label in OPERATIONS
        if "crm-bot-admin" in SCHEMA.raw_schema["paths"][label.split(" ")[1]]["servers"][0]["url"]
    }
    assert documented == set(ADMIN_OPERATIONS)
    assert set(OPERATIONS) - documented == {"POST /"}, "notify is the only other function described"


CONSTRAINTS = ("type", "enum", "minimum", "maximum", "minItems", "maxItems", "default")


def _constraints(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """What a value must be, from a JSON schema: references followed, the null of an optional field and a default of
    None (no value) left out, so pydantic's schema and the document's can be compared."""
    if "$ref" in schema:
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        return _constraints(defs[schema["$ref"].rsplit("/", 1)[-1]] | rest, defs)
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return _constraints(branches[0] | rest, defs)
    found = {key: schema[key] for key in CONSTRAINTS if schema.get(key) is not None}
    if isinstance(schema.get("items"), dict):
        found["items"] = _constraints(schema["items"], defs)
    return found


def _model_fields(model: type[BaseModel]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Each field's constraints, and the required fields, from the model's JSON schema."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    fields = {name: _constraints(field, defs) for name, field in schema.get("properties", {}).items()}
    return fields, set(schema.get("required", []))


@pytest.mark.parametrize("route", ROUTES.routes, ids=lambda route: route.label)
def test_each_admin_route_documents_the_parameters_its_query_model_takes(route: Route) -> None:
    parameters = _documented(route).get("parameters", [])
    in_path = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
    assert in_path == {name[1:-1] for name in re.findall(r"{[^}]+}", route.label)}
    in_query = {parameter["name"]: parameter for parameter in parameters if parameter["in"] == "query"}
    fields, required = _model_fields(route.query) if route.query is not None else ({}, set())
    assert set(in_query) == set(fields)
    for name, parameter in in_query.items():
        assert _constraints(parameter["schema"], {}) == fields[name], (route.label, name)
        assert parameter.get("required", False) == (name in required), (route.label, name)


@pytest.mark.parametrize("route", ROUTES.routes, ids=lambda route: route.label)
def test_each_admin_route_documents_the_body_its_model_takes(route: Route) -> None:
    request_body = _documented(route).get("requestBody")
    if route.body is None:
        assert request_body is None
        return
    assert request_body is not None
    assert request_body["required"] == route.body_required
    documented = request_body["content"]["application/json"]["schema"]
    fields, required = _model_fields(route.body)
    assert {name: _constraints(schema, {}) for name, schema in documented["properties"].items()} == fields
    assert set(documented.get("required", [])) == required
    assert documented.get("additionalProperties", True) is (route.body.model_config.get("extra") != "forbid")


# ----- what schemathesis found: each was a 500 (fixed) -----
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_audit_since_beyond_the_utc_range_is_a_400(admin_fn: FunctionServer, server_log: ServerLog, since: str) -> None:
    response = admin_fn.get("/audit", params={"since": since}, headers=ADMIN)
    assert response.status_code == 400
    assert "since" in response.json()["error"]
    assert server_log.crashes() == []


def test_a_redrive_of_no_statuses_is_a_400(admin_fn: FunctionServer, server_log: ServerLog) -> None:
    response = admin_fn.post("/notifications/redrive", json={"statuses": []}, headers=ADMIN)
    assert response.status_code == 400
    assert "statuses" in response.json()["error"]
    assert server_log.crashes() == []


def test_a_link_code_for_an_id_firestore_refuses_is_a_404(
    admin_fn: FunctionServer, server_log: ServerLog, crm_world: None
) -> None:
    """It was a 503 "storage unavailable, retry later", which the CRM would retry for ever."""
    for user_id in (".", "..", "__reserved__"):
        response = admin_fn.post("/link-codes", json={"user_id": user_id}, headers=ADMIN)
        assert response.status_code == 404, (user_id, response.text)
    assert server_log.crashes() == []
