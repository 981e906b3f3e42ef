"""The session package keeps its shape: imports go one way (sizes: test_class_size.py)."""

from __future__ import annotations

import ast
import pathlib

import massager_sdk

ROOT = pathlib.Path(massager_sdk.__file__).parent
SESSION = ROOT / "session"
#: Each module of the package, and the modules of the package it may import.
ALLOWED = {
    "options": set(),
    "slots": set(),
    "plan": {"slots"},
    "requester": set(),
    "telemetry": {"requester"},
    "signals": set(),
    "core": {"options", "plan", "requester", "slots", "telemetry"},
    "link": {"core", "plan", "slots"},
    "engine": {"core", "link", "plan"},
    "outputs": {"core", "plan", "slots"},
    "__init__": {"options", "plan", "requester", "telemetry"},
}


def session_imports(path: pathlib.Path) -> set[str]:
    """The ``massager_sdk.session`` modules ``path`` imports (at run time or for typing)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["massager_sdk", "session"] and len(parts) > 2:
                found.add(parts[2])
            elif parts[:2] == ["massager_sdk", "client"]:
                found.add("client")
    return found


def test_every_module_is_known_and_imports_only_below_itself() -> None:
    modules = {p.stem for p in SESSION.glob("*.py")}
    assert modules == set(ALLOWED)
    for name in modules:
        imported = session_imports(SESSION / f"{name}.py")
        assert imported <= ALLOWED[name], f"session.{name} imports {imported - ALLOWED[name]}"


def test_the_plan_and_the_slots_do_no_io() -> None:
    for name in ("plan", "slots"):
        tree = ast.parse((SESSION / f"{name}.py").read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not imported & {"asyncio", "socket", "time", "threading"}, name
        assert not any(isinstance(n, ast.AsyncFunctionDef | ast.Await) for n in ast.walk(tree))
