"""Build the deploy bundles: build/<fn>/ = functions/<fn>/main.py + shared/ + requirements.txt.

Each bundle is what `gcloud functions deploy --source=build/<fn>` uploads, so it must import and serve
with nothing but itself on the path. Usage: python3 scripts/build_bundles.py [--out DIR] [FUNCTION ...]
Standard library only: deploy.sh runs it with whatever python3 the operator has.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("webhook", "notify", "admin")
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache", ".ruff_cache")


def build_bundle(function: str, out_dir: Path, root: Path = ROOT) -> Path:
    """(Re)create out_dir/<function>/ from the sources under root and return its path."""
    entry_point = root / "functions" / function / "main.py"
    if not entry_point.is_file():
        raise FileNotFoundError(f"{entry_point} is missing: every function needs functions/<name>/main.py")
    bundle = out_dir / function
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    shutil.copy2(entry_point, bundle / "main.py")
    shutil.copytree(root / "shared", bundle / "shared", ignore=JUNK)
    shutil.copy2(root / "requirements.txt", bundle / "requirements.txt")
    return bundle


def main(argv: list[str] | None = None) -> int:
    """Build the bundles named on the command line (all three by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", metavar="FUNCTION", help=f"{', '.join(FUNCTIONS)} (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.functions) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function {', '.join(unknown)}: choose from {', '.join(FUNCTIONS)}")
    out_dir: Path = args.out.resolve()
    for function in args.functions or FUNCTIONS:
        bundle = build_bundle(function, out_dir)
        print(f"built {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
