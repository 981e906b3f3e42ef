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
