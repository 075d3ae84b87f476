"""The operations of an OpenAPI document, by 'METHOD /path', for the schemathesis tests of our two contracts."""

from __future__ import annotations

from typing import Any

from schemathesis import APIOperation
from schemathesis.core.result import Err
from schemathesis.openapi import from_path

from tests.harness import ROOT

Operation = APIOperation[Any, Any, Any, Any]


def operations_of(document: str) -> tuple[Any, dict[str, Operation]]:
    """The schema of docs/<document> and its operations; a document schemathesis cannot read fails here."""
    schema = from_path(ROOT / "docs" / document)
    operations = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        operations[f"{operation.method.upper()} {operation.path}"] = operation
    return schema, operations
