"""Only the storage adapters reach the Firestore library: import-linter cannot tell google.cloud from google.genai
(one external package to it), so this reads every module's imports itself."""

from __future__ import annotations

import ast

from tests.harness import ROOT

STORAGE_LIBRARIES = ("google.cloud", "google.api_core")


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_outside_shared_store_imports_the_firestore_library() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path.read_text()) if name.startswith(STORAGE_LIBRARIES)
        )
        for path in sorted((ROOT / "shared").rglob("*.py"))
        if "store" not in path.relative_to(ROOT / "shared").parts[:1]
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_an_import_of_the_library() -> None:
    assert _imports("from google.cloud import firestore\nimport google.api_core.exceptions\n") >= {
        "google.cloud.firestore",
        "google.api_core.exceptions",
    }
    assert not {name for name in _imports("from google import genai") if name.startswith(STORAGE_LIBRARIES)}
