"""Run the benchmarks and record their figures in docs/performance.md.

    python -m benchmarks            # all of them
    python -m benchmarks codec sim  # those whose module name contains a word

Exits 1 when a target is missed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Report
from massager_sdk.safety.ledger import LEDGER_ENV

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADER = """# Performance

Figures from `make bench` (`python -m benchmarks`), written by the benchmarks
themselves. Each section says the command that produced it; ratios compare with a
baseline measured in the same run, because the machines are shared and noisy.
A timing never decides a unit test.
"""


def _section_key(module: str) -> str:
    return f"<!-- bench:{module} -->"


def record(module: str, report: Report) -> None:
    """Replace (or add) the section of ``module`` in docs/performance.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    key = _section_key(module)
    block = f"{key}\n{report.markdown()}\n{key}\n"
    pattern = re.compile(re.escape(key) + r".*?" + re.escape(key) + r"\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    DOC.write_text(text)


@contextlib.contextmanager
def own_ledger(name: str) -> Iterator[None]:
    """A session ledger of the benchmark's own (``$MASSAGER_LEDGER``, which the processes
    it starts inherit): sessions recorded in the user's ledger would carry over into the
    runs (rest periods, session time used) and the runs into the user's history."""
    before = os.environ.get(LEDGER_ENV)
    with tempfile.TemporaryDirectory(prefix="massager-bench-") as tmp:
        os.environ[LEDGER_ENV] = str(Path(tmp) / f"{name}.sqlite3")
        try:
            yield
        finally:
            if before is None:
                del os.environ[LEDGER_ENV]
            else:
                os.environ[LEDGER_ENV] = before


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; 1 if a target is missed."""
    import benchmarks

    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if argv:
        names = [n for n in names if any(word in n for word in argv)]
    failed = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", flush=True)
        with own_ledger(name):
            report: Report = module.run()
        print(report.markdown(), flush=True)
        record(name, report)
        if not report.ok:
            failed.append(name)
    if failed:
        print(f"targets missed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
