"""A function served in a process of its own, as a Cloud Functions instance is (benchmark 4's notify):

    python -m bench.serve <function> <target> <port> [<pacer messages per second>]

The optional rate is an experiment: notify's pacer at that rate instead of its own.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from werkzeug.serving import make_server

from devstack.emulator import free_port
from tests.harness import ROOT, forbid_network

STARTUP_SECONDS = 60.0


def pace_notify_at(per_second: float) -> None:
    """Make the notify endpoint deliver with its pacer at `per_second` (this process only)."""
    from shared.notify import endpoint
    from shared.notify.delivery import DeliveryOptions, EventResult, notify_events
    from shared.notify.events import ReceivedEvent
    from shared.telegram.client import TelegramClient

    def paced(events: Sequence[ReceivedEvent], telegram: TelegramClient | None = None) -> list[EventResult]:
        return notify_events(events, telegram, DeliveryOptions(per_second=per_second))

    endpoint.notify_events = paced  # type: ignore[attr-defined,assignment]


def main() -> None:
    function, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    forbid_network()
    if len(sys.argv) > 4:
        pace_notify_at(float(sys.argv[4]))
    import functions_framework

    app = functions_framework.create_app(target, str(ROOT / "functions" / function / "main.py"))  # type: ignore[no-untyped-call]
    server = make_server("127.0.0.1", port, app, threaded=True)
    server.serve_forever()


@dataclass
class ServedProcess:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve_in_process(
    function: str, target: str, log_path: Path, per_second: float | None = None
) -> Iterator[ServedProcess]:
    """Start `python -m bench.serve` with this process's environment; wait until it answers; stop it after."""
    port = free_port()
    command = [sys.executable, "-m", "bench.serve", function, target, str(port)]
    if per_second is not None:
        command.append(str(per_second))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    served = ServedProcess(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                requests.get(served.url + "/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{function} did not start (see {log_path})") from None
                time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
