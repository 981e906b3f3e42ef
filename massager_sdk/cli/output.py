"""Output for humans (rich, only on a terminal) and for scripts (JSON)."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: Any) -> None:
    """Print one JSON document (or one JSON line of a stream) and flush."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_default) + "\n")
    sys.stdout.flush()


def _default(obj: Any) -> Any:
    import dataclasses
    import enum

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def is_terminal() -> bool:
    """Whether stdout is an interactive terminal (live displays and colour)."""
    return sys.stdout.isatty()


def console() -> Any:
    """A rich Console: colours and live displays on a terminal, plain text otherwise."""
    from rich.console import Console

    if is_terminal():
        return Console()
    # Not a terminal: no colour, no cursor movement, no wrapping to a guessed width.
    return Console(force_terminal=False, no_color=True, highlight=False, width=200)
