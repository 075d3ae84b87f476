"""What deploy.sh needs from infra/: service accounts, roles, secrets, and the indexes and TTLs still missing.

deploy.sh asks one question per call and reads plain lines back, so the JSON stays in Python:

    infra_plan.py iam                            -> WHO<TAB>SERVICE-ACCOUNT<TAB>ROLE,...<TAB>SECRET,...
    infra_plan.py missing-indexes [--existing F] -> GROUP<TAB>QUERY-SCOPE<TAB>FIELD-CONFIG<TAB>...
    infra_plan.py missing-ttls [--existing F]    -> GROUP<TAB>FIELD

--existing is the JSON that `gcloud firestore indexes composite list --format=json` (or
`gcloud firestore fields ttls list --format=json`) printed; without it nothing exists yet.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INDEXES_FILE = ROOT / "infra" / "firestore.indexes.json"
ROLES_FILE = ROOT / "infra" / "roles.json"

# Firestore appends __name__ to every composite index; it is not part of what we declare.
DOCUMENT_ID = "__name__"
DEFAULT_SINGLE_FIELD_INDEXES = [
    {"order": "ASCENDING", "queryScope": "COLLECTION"},
    {"order": "DESCENDING", "queryScope": "COLLECTION"},
    {"arrayConfig": "CONTAINS", "queryScope": "COLLECTION"},
]

IndexKey = tuple[str, str, tuple[tuple[str, str], ...]]


class InfraFileError(ValueError):
    """An infra/ file says something deploy.sh cannot apply."""


def _field_mode(field: dict[str, Any], where: str) -> tuple[str, str]:
    path = field.get("fieldPath")
    modes = [key for key in ("order", "arrayConfig") if key in field]
    if not path or len(modes) != 1:
        raise InfraFileError(f"{where}: each field needs a fieldPath and exactly one of order or arrayConfig")
    mode = str(field[modes[0]]).upper()
    if mode not in ("ASCENDING", "DESCENDING", "CONTAINS"):
        raise InfraFileError(f"{where}: {path} has unknown order/arrayConfig {mode}")
    return str(path), mode


def index_key(index: dict[str, Any], group: str | None = None, where: str = "index") -> IndexKey:
    """What identifies an index: collection group, query scope and the ordered (field, mode) pairs."""
    group = group or index.get("collectionGroup")
    if not group:
        raise InfraFileError(f"{where}: collectionGroup is missing")
    scope = str(index.get("queryScope", "COLLECTION")).upper()
    fields = tuple(
        _field_mode(field, f"{where} on {group}")
        for field in index.get("fields", [])
        if field.get("fieldPath") != DOCUMENT_ID
    )
    return str(group), scope, fields


def declared_indexes(document: dict[str, Any]) -> list[IndexKey]:
    """The composite indexes of a firestore.indexes.json, validated."""
    keys = []
    for number, index in enumerate(document.get("indexes", []), start=1):
        key = index_key(index, where=f"index #{number}")
        if len(key[2]) < 2:
            raise InfraFileError(
                f"index #{number} on {key[0]} has one field: Firestore builds single-field indexes itself "
                "and refuses a composite index for them; remove it"
            )
        keys.append(key)
    return keys


def existing_indexes(listed: list[dict[str, Any]]) -> set[IndexKey]:
    """The keys of the indexes `gcloud firestore indexes composite list --format=json` printed."""
    keys = set()
    for index in listed:
        # name: projects/P/databases/D/collectionGroups/G/indexes/ID
        parts = str(index.get("name", "")).split("/")
        group = parts[parts.index("collectionGroups") + 1] if "collectionGroups" in parts else None
        keys.add(index_key(index, group=group))
    return keys


def field_config(path: str, mode: str) -> str:
    """A --field-config value of `gcloud firestore indexes composite create`."""
    if mode == "CONTAINS":
        return f"field-path={path},array-config=contains"
    return f"field-path={path},order={mode.lower()}"


def declared_ttls(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The (collection group, field) TTL policies of a firestore.indexes.json, validated."""
    ttls = []
    for override in document.get("fieldOverrides", []):
        group, path = override.get("collectionGroup"), override.get("fieldPath")
        where = f"fieldOverride {group}.{path}"
        if not group or not path:
            raise InfraFileError("each fieldOverride needs a collectionGroup and a fieldPath")
        if override.get("ttl") is not True:
            raise InfraFileError(f'{where}: deploy.sh applies TTL overrides only; set "ttl": true or remove it')
        indexes = override.get("indexes", DEFAULT_SINGLE_FIELD_INDEXES)
        if sorted(map(json.dumps, indexes)) != sorted(map(json.dumps, DEFAULT_SINGLE_FIELD_INDEXES)):
            raise InfraFileError(
                f"{where}: deploy.sh keeps the default single-field indexes; "
                'list exactly the three defaults in "indexes"'
            )
        ttls.append((str(group), str(path)))
    return ttls


def existing_ttls(listed: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The (group, field) pairs `gcloud firestore fields ttls list --format=json` printed."""
    found = set()
    for field in listed:
        # name: projects/P/databases/D/collectionGroups/G/fields/F
        parts = str(field.get("name", "")).split("/")
        if "collectionGroups" in parts and "fields" in parts:
            found.add((parts[parts.index("collectionGroups") + 1], parts[parts.index("fields") + 1]))
    return found


def _load(path: Path | None) -> Any:
    if path is None:
        return []
    text = path.read_text(encoding="utf-8").strip()
    return json.loads(text) if text else []


def iam_table(roles: dict[str, Any]) -> list[str]:
    """One line per function (and the build): who, service account id, project roles, secrets."""
    entries = {**roles["functions"], "build": roles["build"]}
    lines = []
    for who, entry in entries.items():
        account = entry.get("service_account", "")
        if not 6 <= len(account) <= 30:
            raise InfraFileError(f"{who}: service_account must be a 6-30 character id, got {account!r}")
        roles_, secrets = entry.get("project_roles", []), entry.get("secrets", [])
        lines.append("\t".join([who, account, ",".join(roles_), ",".join(secrets)]))
    return lines


def answer(args: argparse.Namespace) -> list[str]:
    """The lines that answer one deploy.sh question."""
    if args.question == "iam":
        return iam_table(json.loads(args.roles.read_text(encoding="utf-8")))
    document = json.loads(args.indexes.read_text(encoding="utf-8"))
    if args.question == "missing-indexes":
        present = existing_indexes(_load(args.existing))
        return [
            "\t".join([group, scope.lower().replace("_", "-"), *(field_config(path, mode) for path, mode in fields)])
            for group, scope, fields in declared_indexes(document)
            if (group, scope, fields) not in present
        ]
    present_ttls = existing_ttls(_load(args.existing))
    return [f"{group}\t{path}" for group, path in declared_ttls(document) if (group, path) not in present_ttls]


def main(argv: list[str] | None = None) -> int:
    """Print the answer to one question, one item per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indexes", type=Path, default=INDEXES_FILE, help="firestore.indexes.json")
    parser.add_argument("--roles", type=Path, default=ROLES_FILE, help="roles.json")
    questions = parser.add_subparsers(dest="question", required=True)
    questions.add_parser("iam")
    for question in ("missing-indexes", "missing-ttls"):
        questions.add_parser(question).add_argument("--existing", type=Path, help="gcloud's JSON list")
    args = parser.parse_args(argv)
    try:
        lines = answer(args)
    except (InfraFileError, OSError, json.JSONDecodeError) as error:
        print(f"infra_plan: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
