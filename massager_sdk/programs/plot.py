"""Draw a compiled program: intensity per zone and heat over time, stages labelled.

matplotlib is an optional extra (``pip install massager-sdk[plot]``); it is
imported only here, when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from massager_sdk.errors import MassagerError
from massager_sdk.programs.compiler import CompiledProgram

_FORMATS = (".png", ".svg")


class PlotUnavailable(MassagerError):
    """matplotlib is not installed."""


def pyplot_for(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    """``path`` checked as a plot file (``.png`` or ``.svg``) and matplotlib's pyplot,
    drawing off screen; ``PlotUnavailable`` without matplotlib."""
    out = Path(path)
    if out.suffix.lower() not in _FORMATS:
        raise ValueError(f"cannot plot to {out.name!r}: use a .png or .svg file name")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable(
            "plotting needs matplotlib: pip install 'massager-sdk[plot]'"
        ) from None
    return out, plt


def plot_program(compiled: CompiledProgram, path: str | Path) -> Path:
    """Write a plot of ``compiled`` to ``path`` (``.png`` or ``.svg``); returns the path.

    One row per zone shows its level over time (hatched where the device loops
    a rhythm or plays its own waveform), the last row the heater target; stage
    boundaries are drawn across all rows and named at the top.
    """
    path, plt = pyplot_for(path)

    timeline = compiled.timeline
    zones = len(timeline.outputs)
    minutes = timeline.duration_s / 60
    fig, axes = plt.subplots(
        zones + 1,
        1,
        sharex=True,
        figsize=(12, 1.3 * (zones + 1) + 1.2),
        gridspec_kw={"hspace": 0.15},
    )
    title = compiled.program.title or compiled.program.name
    fig.suptitle(
        f"{title}: {compiled.program.name} on {compiled.caps.model} ({_mmss(timeline.duration_s)})",
        fontsize=11,
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for zone in range(zones):
        ax = axes[zone]
        xs, ys, rhythm = _steps(timeline.outputs[zone], timeline.duration_s)
        colour = colours[zone % len(colours)]
        ax.step(xs, ys, where="post", color=colour, linewidth=0.8)
        ax.fill_between(xs, ys, step="post", color=colour, alpha=0.25, linewidth=0)
        ax.fill_between(
            xs,
            [y if r else 0 for y, r in zip(ys, rhythm, strict=True)],
            step="post",
            facecolor="none",
            edgecolor=colour,
            hatch="////",
            linewidth=0,
        )
        ax.set_ylim(0, timeline.intensity_steps * 1.05)
        ax.set_ylabel(timeline.zone_names[zone], rotation=0, ha="right", va="center")
        ax.set_yticks([0, timeline.intensity_steps])
    heat_ax = axes[-1]
    if compiled.caps.heat is None:
        heat_ax.text(0.5, 0.5, "no heater", transform=heat_ax.transAxes, ha="center")
        heat_ax.set_yticks([])
    else:
        hx, hy = _heat(timeline.heat, timeline.duration_s)
        heat_ax.step(hx, hy, where="post", color="tab:red")
        low = min(compiled.caps.heat.targets_c or (30.0,)) - 5
        heat_ax.set_ylim(low, compiled.caps.heat.limit_c + 1)
        heat_ax.axhline(compiled.caps.heat.limit_c, color="tab:red", linestyle=":", linewidth=0.8)
        if all(target is None for _, target in timeline.heat):
            heat_ax.text(0.5, 0.5, "heater off", transform=heat_ax.transAxes, ha="center")
    heat_ax.set_ylabel("heat C", rotation=0, ha="right", va="center")
    heat_ax.set_xlabel("minutes (hatched: rhythm looped by the device or its waveform)")
    heat_ax.set_xlim(0, minutes)
    _stages(axes, compiled)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _steps(
    changes: tuple[tuple[float, Any], ...], end: float
) -> tuple[list[float], list[int], list[bool]]:
    xs = [t / 60 for t, _ in changes] + [end / 60]
    ys = [out.level for _, out in changes]
    rhythm = [out.pattern is not None or out.period_s > 0 for _, out in changes]
    return xs, [*ys, ys[-1]], [*rhythm, rhythm[-1]]


def _heat(
    changes: tuple[tuple[float, float | None], ...], end: float
) -> tuple[list[float], list[float]]:
    xs = [t / 60 for t, _ in changes] + [end / 60]
    ys = [target if target is not None else float("nan") for _, target in changes]
    return xs, [*ys, ys[-1]]


def _stages(axes: Any, compiled: CompiledProgram) -> None:
    spans = compiled.timeline.spans
    stage_starts: list[tuple[float, str]] = []
    for span in spans:
        if not stage_starts or stage_starts[-1][1] != span.stage:
            stage_starts.append((span.start_s, span.stage))
        for ax in axes:
            ax.axvline(span.start_s / 60, color="grey", linewidth=0.4, linestyle=":")
    top = axes[0]
    for i, (start, name) in enumerate(stage_starts):
        for ax in axes:
            ax.axvline(start / 60, color="black", linewidth=0.9)
        end = stage_starts[i + 1][0] if i + 1 < len(stage_starts) else compiled.duration_s
        top.text(
            (start + end) / 120,
            1.08,
            name,
            transform=top.get_xaxis_transform(),
            ha="center",
            fontsize=9,
            fontweight="bold",
        )
    bottom = axes[-1]
    for span in spans:
        bottom.text(
            (span.start_s + span.end_s) / 120,
            -0.55,
            span.name,
            transform=bottom.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=7,
            rotation=30,
        )


def _mmss(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
