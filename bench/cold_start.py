"""Benchmark 3: cold start of each function in a fresh interpreter (bench/cold_start_probe.py), median of runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.stack import Stack
from bench.stats import median
from tests.harness import ROOT

FUNCTIONS = {"webhook": "telegram_webhook", "notify": "notify", "admin": "admin"}
REQUESTS = {
    "unauthenticated": "no secret, signature or token: answered 401 without touching Firestore",
    "first_real": "webhook: /help from an unlinked user; notify: a signed event for an unknown user; admin: GET /audit",
}
EXPECTED_STATUS = {"unauthenticated": 401, "first_real": 200}
TIMINGS = ("interpreter_s", "framework_import_s", "main_import_s", "first_request_s", "since_spawn_s")


def probe(function: str, kind: str, bytecode: Path) -> dict[str, Any]:
    """One fresh interpreter serving one request; compiled bytecode is kept in `bytecode`, as a deployed
    instance has it (this machine sets PYTHONDONTWRITEBYTECODE, which would recompile our modules every time).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(bytecode)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    spawned_at = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "bench.cold_start_probe", function, FUNCTIONS[function], kind, repr(spawned_at)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start probe of {function} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != EXPECTED_STATUS[kind]:
        raise RuntimeError(f"{function} answered {result['status']} to its {kind} first request")
    return result


def run(stack: Stack, quick: bool) -> dict[str, Any]:
    """Median timings per function and kind of first request, and whether google-genai was imported."""
    stack.reset()
    runs = 3 if quick else 5
    bytecode = stack.workdir / "bytecode"
    results: dict[str, Any] = {"runs": runs, "requests": REQUESTS, "functions": {}}
    for function in FUNCTIONS:
        probe(function, "first_real", bytecode)  # compiles and caches the bytecode; not counted
        per_kind: dict[str, Any] = {}
        for kind in REQUESTS:
            probes = [probe(function, kind, bytecode) for _ in range(runs)]
            summary = {name: round(median([p[name] for p in probes]) * 1000, 1) for name in TIMINGS}
            per_kind[kind] = {
                **{name.removesuffix("_s") + "_ms": value for name, value in summary.items()},
                "import_and_first_request_ms": round(
                    median([(p["main_import_s"] + p["first_request_s"]) for p in probes]) * 1000, 1
                ),
                "genai_imported": any(p["genai_imported"] for p in probes),
                **(
                    {"assistant_import_ms": round(median([p["assistant_import_s"] for p in probes]) * 1000, 1)}
                    if "assistant_import_s" in probes[0]
                    else {}
                ),
                "modules_loaded": int(median([p["modules"] for p in probes])),
            }
        results["functions"][function] = per_kind
    results["genai_check"] = {
        function: "FAIL: imports google.genai" if any(k["genai_imported"] for k in kinds.values()) else "ok"
        for function, kinds in results["functions"].items()
        if function in ("notify", "admin")
    }
    return results
