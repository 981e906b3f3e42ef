"""No class in the SDK, the simulator or the protocols spans more than 400 lines.

A class that long does more than one job; split it into parts with one job each.
The sizes are read from the source files with ``ast``: a class spans from its
``class`` line (or first decorator) to its last line, nested classes included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("massager_sdk", "simulator", "protocols")
MAX_LINES = 400


def class_spans(source: str) -> list[tuple[str, int, int]]:
    """Every class in ``source`` (nested ones too): ``(name, first line, lines)``."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            assert node.end_lineno is not None
            spans.append((node.name, first, node.end_lineno - first + 1))
    return spans


def sources() -> list[Path]:
    """Every Python file of the packages, build and virtual-env folders left out."""
    found = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if any(p.startswith(".") or p in ("build", "__pycache__") for p in parts):
                continue
            found.append(path)
    return found


def test_class_spans_measure_from_the_decorator_to_the_last_line() -> None:
    source = "@dataclass\nclass A:\n    x: int\n\n    class B:\n        y: int\n"
    assert sorted(class_spans(source)) == [("A", 1, 6), ("B", 5, 2)]


def test_there_are_sources_to_check() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in sources()}
    assert "simulator/massager_simulator/device.py" in names
    assert "massager_sdk/client.py" in names
    assert any(name.startswith("protocols/") for name in names)


@pytest.mark.parametrize("tree", TREES)
def test_no_class_spans_more_than_400_lines(tree: str) -> None:
    too_long = []
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(tree + "/"):
            continue
        for name, line, lines in class_spans(path.read_text(encoding="utf-8")):
            if lines > MAX_LINES:
                too_long.append(f"{rel}:{line} class {name} spans {lines} lines")
    assert not too_long, f"classes over {MAX_LINES} lines (split them): " + "; ".join(too_long)
