"""Which bridge holds which device, when several bridges share one broker.

The rule (documented in docs/home-assistant.md):

1. A bridge takes a device only if ``<base>/<id>/claim`` is empty, is its own
   claim, or names a bridge whose state topic says ``offline`` (or has never
   said anything). It then publishes its own retained claim.
2. If two live bridges claim the same device at once, the older claim wins
   (earlier ``since``; the smaller owner name on a tie). Every bridge sees the
   same claims and decides the same way: the loser lets the device go and does
   not publish anything for it; the winner publishes its claim again.
3. A bridge that let a device go takes it over when the holder goes offline.

Claims are JSON: ``{"owner": ..., "state_topic": ..., "since": unix_time}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from massager_sdk.mqtt.topics import ONLINE


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """One bridge's claim on a device."""

    owner: str  #: the bridge id (or its MQTT client id when it has none)
    state_topic: str  #: the owner's state topic: ``online`` while it is alive
    since: float  #: when the owner first took the device (Unix time)

    def payload(self) -> bytes:
        """The retained payload."""
        return json.dumps(
            {"owner": self.owner, "state_topic": self.state_topic, "since": self.since}
        ).encode()

    @classmethod
    def parse(cls, payload: bytes) -> Claim | None:
        """A claim from a payload; ``None`` for an empty (cleared) or unreadable one."""
        if not payload:
            return None
        try:
            data: Any = json.loads(payload)
            owner, topic, since = data["owner"], data["state_topic"], data["since"]
        except (ValueError, TypeError, KeyError):
            return None
        if not (isinstance(owner, str) and isinstance(topic, str)):
            return None
        if isinstance(since, bool) or not isinstance(since, int | float):
            return None
        if not math.isfinite(since):
            return None
        return cls(owner, topic, float(since))

    def beats(self, other: Claim) -> bool:
        """Whether this claim wins over ``other`` when both holders are alive."""
        return (self.since, self.owner) < (other.since, other.owner)


class ClaimBook:
    """Every claim and bridge state seen on the broker."""

    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}
        self.bridge_states: dict[str, str] = {}

    def seen_claim(self, device_id: str, payload: bytes) -> Claim | None:
        """Record a claim message (an empty one clears it); returns the claim."""
        claim = Claim.parse(payload)
        if claim is None:
            self.claims.pop(device_id, None)
        else:
            self.claims[device_id] = claim
        return claim

    def seen_bridge_state(self, topic: str, payload: bytes) -> None:
        """Record a bridge's ``online``/``offline``."""
        self.bridge_states[topic] = payload.decode("utf-8", "replace").strip()

    def alive(self, claim: Claim) -> bool:
        """Whether the claim's holder says it is online."""
        return self.bridge_states.get(claim.state_topic) == ONLINE

    def may_take(self, device_id: str, owner: str) -> Claim | None:
        """``None`` if ``owner`` may take the device; else the live claim in its way."""
        claim = self.claims.get(device_id)
        if claim is None or claim.owner == owner or not self.alive(claim):
            return None
        return claim

    def keeps(self, device_id: str, mine: Claim) -> bool:
        """Whether ``mine`` still holds the device given the latest claim seen."""
        other = self.claims.get(device_id)
        if other is None or other.owner == mine.owner or not self.alive(other):
            return True
        return mine.beats(other)
