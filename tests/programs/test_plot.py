"""Plots of compiled programs (matplotlib is an optional extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from massager_sdk.programs import PlotUnavailable, compile_program, load_program, plot_program
from tests.programs.devices import HEAT4, NECK2_PLAIN


def test_png_plot_of_classic_on_a_heated_device(tmp_path: Path) -> None:
    out = plot_program(compile_program(load_program("classic"), HEAT4), tmp_path / "classic.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_plot_names_the_stages_and_steps(tmp_path: Path) -> None:
    out = plot_program(
        compile_program(load_program("evening-heat"), NECK2_PLAIN), tmp_path / "e.svg"
    )
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml")
    for label in ("preparatory", "main", "final", "kneading", "no heater"):
        assert label in text


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot_program(compile_program(load_program("classic"), HEAT4), tmp_path / "x.pdf")


def test_without_matplotlib_the_error_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailable, match=r"massager-sdk\[plot\]"):
        plot_program(compile_program(load_program("classic"), HEAT4), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
