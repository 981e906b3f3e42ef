"""Build NMP/1's C sources with the system C compiler (shared by the C tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "protocols" / "c"
SUPPORT = Path(__file__).resolve().parent / "support.c"
#: The warnings the C sources must be clean under.
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-pedantic"]
LIBRARY = [C_DIR / "nmp1.c", C_DIR / "nmp1_gen.c"]
EXAMPLES = C_DIR / "examples"
#: The device skeleton and its POSIX harness.
HARNESS = [EXAMPLES / "nmp1_posix.c", EXAMPLES / "nmp1_device.c", *LIBRARY]


def compiler() -> str:
    """The system C compiler; skips the calling test when there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and (path := shutil.which(name)):
            return path
    pytest.skip(
        "no C compiler: none of $CC, cc, gcc or clang is on PATH "
        "(install one, e.g. apt-get install gcc, to run the C tests)"
    )


def run(args: list[str | Path]) -> None:
    """Run the compiler; fail the test with its messages when it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))}\n{done.stdout}{done.stderr}")
