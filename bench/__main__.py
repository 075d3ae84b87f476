"""`make bench` (python -m bench): run the benchmarks, print a table per benchmark, write bench/results.json.

python -m bench                  all six (about 2.5 minutes on two cores)
python -m bench --only 1,3       some of them
python -m bench --quick          fewer updates, runs and events
python -m bench --events 600     benchmark 4 with 600 events
python -m bench --only 4 --fanout-pace 29   benchmark 4 with notify's pacer at 29 messages/s (an experiment)

Benchmarks print figures; a target marked FAIL (benchmark 6: a linked update reading its session with more than
one CRM call) makes the run exit 1, after the tables and bench/results.json are written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import cold_start, crm_backends, fanout, firestore_cost, report, request_size, update_handling
from bench.stack import running_stack

RESULTS = Path(__file__).resolve().parent / "results.json"
BENCHMARKS = {
    1: "update_handling",
    2: "firestore_cost",
    3: "cold_start",
    4: "fanout",
    5: "request_size",
    6: "crm_backends",
}


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="1,2,3,4,5,6", help="comma-separated benchmark numbers, e.g. 1,3")
    parser.add_argument("--quick", action="store_true", help="fewer updates, runs and events (a smoke run)")
    parser.add_argument("--events", type=int, default=None, help="benchmark 4: events to send (default 300; quick 120)")
    parser.add_argument("--fanout-runs", type=int, default=None, help="benchmark 4: repetitions (default 3; quick 1)")
    parser.add_argument(
        "--fanout-pace",
        type=float,
        default=None,
        help="benchmark 4: run notify with its pacer at this rate (experiment)",
    )
    arguments = parser.parse_args(argv)
    try:
        arguments.selected = sorted({int(part) for part in arguments.only.split(",") if part.strip()})
    except ValueError:
        parser.error(f"--only takes benchmark numbers like 1,3, not {arguments.only!r}")
    unknown = set(arguments.selected) - set(BENCHMARKS)
    if unknown or not arguments.selected:
        parser.error(f"--only: benchmarks are numbered 1 to {len(BENCHMARKS)}")
    if arguments.events is not None and arguments.events < 1:
        parser.error("--events must be at least 1")
    return arguments


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    quick: bool = arguments.quick
    events = arguments.events or (120 if quick else 300)
    fanout_runs = arguments.fanout_runs or (1 if quick else 3)
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arguments": {"only": arguments.selected, "quick": quick, "events": events, "fanout_runs": fanout_runs},
        "machine": machine(),
        "benchmarks": {},
    }
    started = time.monotonic()
    print(f"make bench: benchmarks {', '.join(map(str, arguments.selected))} on {os.cpu_count()} CPUs", flush=True)
    with running_stack() as stack:
        for number in arguments.selected:
            name = BENCHMARKS[number]
            began = time.monotonic()
            print(f"\n▶ {number}. {name} …", flush=True)
            if number == 1:
                result: Any = update_handling.run(stack, quick)
                text = report.update_handling(result)
            elif number == 2:
                result = firestore_cost.run(stack)
                text = report.firestore_cost(result)
            elif number == 3:
                result = cold_start.run(stack, quick)
                text = report.cold_start(result)
            elif number == 4:
                result = [fanout.run(stack, events, arguments.fanout_pace) for _ in range(fanout_runs)]
                text = report.fanout(result)
            elif number == 5:
                result = request_size.run(stack)
                text = report.request_size(result)
            else:
                result = crm_backends.run(stack, quick)
                text = report.crm_backends(result)
            results["benchmarks"][name] = result
            print(text, flush=True)
            print(f"({time.monotonic() - began:.1f} s)", flush=True)
    results["duration_s"] = round(time.monotonic() - started, 1)
    failures = [
        f"{name}: {target}"
        for name, result in results["benchmarks"].items()
        if isinstance(result, dict)
        for target in result.get("failures", [])
    ]
    results["failures"] = failures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
        f" in {results['duration_s']} s"
    )
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
