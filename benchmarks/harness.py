"""Shared pieces of the benchmarks: timing helpers, results and the report.

Each ``benchmarks/bench_*.py`` module defines ``run() -> Report``. The report
states each target as a figure and a bound; ratios compare against a baseline
measured in the same run, because these machines are shared and noisy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence


@dataclasses.dataclass(frozen=True)
class Target:
    """One checked figure: ``value`` must be ``<=`` or ``>=`` ``bound``."""

    name: str
    value: float
    bound: float
    op: str  # "<=" or ">="
    unit: str = ""

    @property
    def ok(self) -> bool:
        """Whether the figure meets its bound."""
        return self.value <= self.bound if self.op == "<=" else self.value >= self.bound


@dataclasses.dataclass
class Report:
    """What one benchmark measured."""

    title: str
    command: str
    table: list[dict[str, str]]
    targets: list[Target]
    notes: str = ""

    @property
    def ok(self) -> bool:
        """Whether every target was met."""
        return all(t.ok for t in self.targets)

    def markdown(self) -> str:
        """The report as a Markdown section."""
        lines = [f"## {self.title}", "", f"Command: `{self.command}`", ""]
        if self.table:
            head = list(self.table[0])
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            lines.extend("| " + " | ".join(row[h] for h in head) + " |" for row in self.table)
            lines.append("")
        if self.targets:
            lines.append("| target | measured | bound | met |")
            lines.append("|---|---|---|---|")
            for t in self.targets:
                lines.append(
                    f"| {t.name} | {fmt(t.value)}{t.unit} | {t.op} {fmt(t.bound)}{t.unit} | "
                    f"{'yes' if t.ok else 'NO'} |"
                )
            lines.append("")
        if self.notes:
            lines.extend([self.notes.strip(), ""])
        return "\n".join(lines)


def fmt(value: float) -> str:
    """A figure with three significant digits."""
    if value == 0 or math.isinf(value) or math.isnan(value):
        return str(value)
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}"


def rate(fn: Callable[[], object], *, min_time: float = 0.3, repeat: int = 5) -> float:
    """Calls per second of ``fn``: the best of ``repeat`` runs of at least ``min_time``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 10:
            break
        n *= 4
    per_run = max(1, int(n * (min_time / max(elapsed, 1e-9))))
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(per_run):
            fn()
        best = min(best, (time.perf_counter() - start) / per_run)
    return 1.0 / best


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``samples``."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]
