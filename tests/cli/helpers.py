"""Run the real ``massager`` console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MASSAGER = Path(sys.executable).with_name("massager")


def massager(
    *args: str, stdin: str | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``massager ARGS`` with its output captured (not a terminal)."""
    return subprocess.run(
        [str(MASSAGER), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


class Terminal:
    """``massager ARGS`` on a pseudo-terminal (stdin, stdout and stderr), driven like a user.

    :meth:`expect` waits for text to appear (up to a generous timeout, so a slow
    machine only makes it slower, never decides the result); :meth:`send` types.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        import pty

        self._master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [str(MASSAGER), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={
                **os.environ,
                **(env or {}),
                "COLUMNS": "100",
                "LINES": "40",
                "TERM": "xterm-256color",
            },
            close_fds=True,
        )
        os.close(slave)
        self.screen = ""

    def _read(self, wait: float) -> str:
        """Read what is shown: ``"data"``, ``"idle"`` (nothing within ``wait``) or ``"end"``."""
        import select

        ready, _, _ = select.select([self._master], [], [], wait)
        if not ready:
            return "idle"
        try:
            data = os.read(self._master, 65536)
        except OSError:  # the child closed the terminal
            return "end"
        self.screen += data.decode("utf-8", "replace")
        return "data" if data else "end"

    def expect(self, text: str, timeout: float = 60) -> None:
        """Wait until ``text`` has been shown; fail with the screen if it never is."""
        import time

        deadline = time.monotonic() + timeout
        while text not in self.screen:
            assert time.monotonic() < deadline, f"{text!r} never shown:\n{self.screen}"
            if self._read(0.2) == "end" and text not in self.screen:
                raise AssertionError(f"ended before showing {text!r}:\n{self.screen}")

    def send(self, keys: bytes) -> None:
        """Type ``keys``."""
        os.write(self._master, keys)

    def finish(self, timeout: float = 60) -> int:
        """Read everything until the process ends; its exit code."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self._read(0.2)
            if got == "end" or (got == "idle" and self.process.poll() is not None):
                break
        code = self.process.wait(10)
        os.close(self._master)
        return code
