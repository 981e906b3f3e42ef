"""``massager --help`` start-up time beside ``python -c pass``.

Target: at most 0.3 s. The CLI imports its verbs lazily, so help costs little
more than the interpreter itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from benchmarks.harness import Report, Target, fmt

RUNS = 15


def _time(cmd: list[str]) -> list[float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


def run() -> Report:
    """Time both commands, alternating nothing else, and compare medians."""
    massager = str(Path(sys.executable).with_name("massager"))
    base = _time([sys.executable, "-c", "pass"])
    helps = _time([massager, "--help"])
    verb_help = _time([massager, "run", "--help"]) if _has_verb(massager, "run") else []
    rows = [
        {"command": "python -c pass", "median s": fmt(median(base)), "min s": fmt(min(base))},
        {"command": "massager --help", "median s": fmt(median(helps)), "min s": fmt(min(helps))},
    ]
    if verb_help:
        rows.append(
            {
                "command": "massager run --help",
                "median s": fmt(median(verb_help)),
                "min s": fmt(min(verb_help)),
            }
        )
    return Report(
        title="CLI start-up",
        command="python -m benchmarks cli",
        table=rows,
        targets=[
            Target("massager --help, median", median(helps), 0.3, "<=", " s"),
        ],
        notes=(
            f"Median of {RUNS} runs each on the same machine; `massager --help` takes "
            f"{fmt(median(helps) / median(base))}x the bare interpreter's start-up."
        ),
    )


def _has_verb(massager: str, verb: str) -> bool:
    result = subprocess.run([massager, verb, "--help"], capture_output=True, check=False)
    return result.returncode == 0
