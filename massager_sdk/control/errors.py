"""A refused control request: what was wrong, in which field, and what is accepted."""

from __future__ import annotations

from typing import Any


class ControlError(ValueError):
    """A refused control request. Nothing of the request was applied.

    ``kind`` names the refusal for faces that tell kinds apart (the MQTT
    bridge's refusal events): ``invalid_command``, ``no_program``,
    ``program_running``, ``unavailable``...
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        accepted: str | None = None,
        kind: str = "invalid_command",
    ):
        self.message = message
        self.field = field
        self.accepted = accepted
        self.kind = kind
        text = f"{field}: {message}" if field else message
        super().__init__(f"{text} (accepted: {accepted})" if accepted else text)

    def to_dict(self) -> dict[str, Any]:
        """The refusal as JSON-ready values."""
        return {"error": str(self), "field": self.field, "accepted": self.accepted}
