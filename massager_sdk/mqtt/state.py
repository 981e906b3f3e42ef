"""The retained JSON state of a device, as published on ``<base>/<id>``.

The document is :class:`massager_sdk.control.state.DeviceState`'s, the same for
every face; its fields are listed in :mod:`massager_sdk.control.state`.
"""

from __future__ import annotations

from massager_sdk.control.state import (
    FAST_FIELDS,
    REFUSAL_CHARS,
    DeviceState,
    Outputs,
    ProgramView,
    fast_view,
    number,
    refusal_line,
    safety_fields,
    state_document,
    status_text,
)

__all__ = [
    "FAST_FIELDS",
    "REFUSAL_CHARS",
    "DeviceState",
    "Outputs",
    "ProgramView",
    "fast_view",
    "number",
    "refusal_line",
    "safety_fields",
    "state_document",
    "status_text",
]
