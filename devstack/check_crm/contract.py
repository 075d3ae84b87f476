"""docs/crm-connector.yaml as the checks read it: each operation's method, path and statuses, and the body schemas."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "docs" / "crm-connector.yaml"
JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
METHODS = ("get", "post", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One operation of the YAML: `listDeals` is GET /deals, answering the statuses of `responses`."""

    operation_id: str
    method: str
    path: str
    responses: dict[str, str | None]
    """Status ('200', '5XX') → the pointer of its body's schema ('#/components/schemas/DealPage'), None: no body."""

    def lists(self, status: int) -> bool:
        """True when the YAML names this status for this operation (5XX stands for every 5xx)."""
        return str(status) in self.responses or f"{str(status)[0]}XX" in self.responses

    def schema_of(self, status: int) -> str | None:
        return self.responses.get(str(status), self.responses.get(f"{str(status)[0]}XX"))

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and _path_pattern(self.path).fullmatch(path) is not None


class Contract:
    """The operations of an OpenAPI 3.1 document and a validator for the bodies it describes."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: dict[str, Operation] = {}
        self._validators: dict[str, jsonschema_rs.Validator] = {}
        for path, item in document["paths"].items():
            for method in METHODS:
                if method in item:
                    operation = _operation(document, method, path, item[method])
                    self.operations[operation.operation_id] = operation

    def operation_of(self, method: str, path: str) -> Operation | None:
        """The operation a request is for (`GET /deals/d-17` → getDeal), or None when the YAML has no such path."""
        concrete = path.partition("?")[0]
        return next((op for op in self.operations.values() if op.matches(method, concrete)), None)

    def errors(self, pointer: str, body: Any) -> list[str]:
        """What makes `body` invalid against the schema at `pointer` ('"next_cursor" is a required property')."""
        return [_message(error) for error in self._validator(pointer).iter_errors(body)]

    def enum(self, schema_name: str) -> list[str]:
        """The values of an enum schema of components ('DealStage' → prospecting, qualification...)."""
        return list(self.document["components"]["schemas"][schema_name]["enum"])

    def _validator(self, pointer: str) -> jsonschema_rs.Validator:
        if pointer not in self._validators:
            root = {"$schema": JSON_SCHEMA_2020_12, "components": self.document["components"], "$ref": pointer}
            self._validators[pointer] = jsonschema_rs.validator_for(root, validate_formats=True)
        return self._validators[pointer]


@functools.cache
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    """The contract of `path` (read once: its operations and schemas never change while the checks run)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser, when PyYAML was built with it
    return Contract(yaml.load(path.read_text(encoding="utf-8"), Loader=loader))


def _operation(document: dict[str, Any], method: str, path: str, operation: dict[str, Any]) -> Operation:
    responses: dict[str, str | None] = {}
    for status, response in operation["responses"].items():
        pointer = response.get("$ref")
        resolved = _resolve(document, pointer) if pointer else response
        media = next(iter(resolved.get("content", {}).values()), None)
        responses[str(status)] = media["schema"]["$ref"] if media else None
    return Operation(operation["operationId"], method.upper(), path, responses)


def _resolve(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    """'/deals/{id}' → a pattern for '/deals/d-17' (an id is one path segment, never empty)."""
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def _message(error: jsonschema_rs.ValidationError) -> str:
    where = ".".join(str(part) for part in error.instance_path)
    return f"{where}: {error.message}" if where else error.message
