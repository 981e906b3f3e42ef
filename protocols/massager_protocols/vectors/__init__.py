"""Golden test vectors, shipped with the package so any test harness can load them.

``load("nmp1")`` returns the parsed JSON: ``{"messages": [...], "exchanges": [...]}``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load(name: str) -> dict[str, Any]:
    """The vectors of protocol ``name`` (for example ``"nmp1"``)."""
    path = resources.files(__package__).joinpath(f"{name}.json")
    if not path.is_file():
        available = sorted(
            p.name.removesuffix(".json")
            for p in resources.files(__package__).iterdir()
            if p.name.endswith(".json")
        )
        raise FileNotFoundError(f"no vectors named {name!r}; available: {available}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
