"""A program run in a pseudo-terminal, as a person at a terminal would run it: typing, reading, Ctrl-C."""

from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class Terminal:
    """Runs `argv` with a pseudo-terminal as its controlling terminal (so Ctrl-C sends SIGINT, readline edits)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, columns: int = 200) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the program
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        self.raw = ""  # everything the program wrote, escape sequences included
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._seen = 0  # where the next expect() starts looking, in the raw output
        self.exit_code: int | None = None

    @property
    def output(self) -> str:
        """What it wrote, without the terminal's control sequences."""
        return ESCAPES.sub("", self.raw)

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C: the terminal sends SIGINT to the program's foreground process group."""
        os.write(self.fd, b"\x03")

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the raw output after the last match matches `pattern` (a regex); return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.raw, self._seen)
            if match:
                self._seen = match.end()
                return match
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{pattern!r} not shown; the terminal shows:\n{self.output[-3000:]}")

    def wait(self, timeout: float = 30.0) -> int:
        """Read until the program ends; its exit code (negative: killed by that signal)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline - time.monotonic()):
            pass
        while self.exit_code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout} s; the terminal shows:\n{self.output[-3000:]}")
            else:
                time.sleep(0.05)
        os.close(self.fd)
        return self.exit_code

    def kill(self) -> None:
        """Make sure it is gone (SIGTERM to its process group, as closing a terminal window would)."""
        if self.exit_code is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.wait(timeout=30)
            except (ProcessLookupError, AssertionError):
                os.killpg(self.pid, signal.SIGKILL)

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False once the program closed the terminal."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the program (all of it) closed the terminal
            return False
        if not chunk:
            return False
        self.raw += self._decoder.decode(chunk)
        return True
