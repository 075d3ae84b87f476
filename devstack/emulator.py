"""Start and stop the Firestore emulator (gcloud emulators firestore start) for tests and `make run`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 60.0


@dataclass
class Emulator:
    """A running emulator: `host` is what FIRESTORE_EMULATOR_HOST must be set to."""

    host: str
    process: subprocess.Popen[bytes] | None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def reset(self, project: str) -> None:
        """Delete every document of `project` (the emulator's reset endpoint)."""
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=10).close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_emulator(log_path: Path | None = None, port: int | None = None) -> Emulator:
    """Start a fresh emulator on this loopback port (a free one by default) and wait until it answers."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise RuntimeError(
            "gcloud is not installed: install the Google Cloud CLI and its Firestore emulator "
            "('gcloud components install cloud-firestore-emulator', or the Debian package "
            "google-cloud-cli-firestore-emulator)"
        )
    host = f"127.0.0.1:{port or free_port()}"
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115  (the process owns it)
    process = subprocess.Popen(
        [gcloud, "emulators", "firestore", "start", f"--host-port={host}", "--quiet"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    emulator = Emulator(host, process)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not is_ready(host):
        if process.poll() is not None or time.monotonic() > deadline:
            emulator.stop()
            where = f" (see {log_path})" if log_path else ""
            raise RuntimeError(f"the Firestore emulator did not start on {host}{where}")
        time.sleep(0.2)
    return emulator


def existing_or_new_emulator(log_path: Path | None = None, port: int | None = None) -> Emulator:
    """The emulator FIRESTORE_EMULATOR_HOST names, or a new one this process owns (on `port` if given)."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if host:
        return Emulator(host, None)
    return start_emulator(log_path, port)
