"""What every safety rule shares: the policy's state, the rule interface and small helpers.

A rule is one concern of the policy (the session clock, intensity, heat, screening,
stops). Each refuses requests (:meth:`Rule.output_block`, :meth:`Rule.heat_block`,
:meth:`Rule.level_caps`, :meth:`Rule.heat_refusal`), evaluates over time
(:meth:`Rule.advance`, :meth:`Rule.evaluate`, :meth:`Rule.deadlines`) and adds its
fields to the snapshot (:meth:`Rule.snapshot`). The engine,
:class:`~massager_sdk.safety.policy.SafetyPolicy`, asks them in a fixed order.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import NamedTuple

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus
from massager_sdk.safety.limits import Limit, SafetyLimits
from massager_sdk.safety.screening import HealthProfile, ScreeningAction

logger = logging.getLogger("massager_sdk.safety")

#: Time-based conditions count as reached this close to their deadline, so that a
#: caller that wakes at the policy's next deadline always finds them reached.
TIME_EPS = 1e-6


class Cap(NamedTuple):
    """A ceiling on a zone's level and the limit that sets it."""

    limit: Limit
    level: int
    detail: str


@dataclasses.dataclass(slots=True)
class PolicyState:
    """What the device was told and what the policy owes it; shared by every rule."""

    caps: DeviceCapabilities
    limits: SafetyLimits
    profile: HealthProfile
    levels: list[int]
    heat: float | None = None  #: the heat target the device was last told
    time: float | None = None  #: the policy's clock (``None`` before the first call)
    stop_owed: str | None = None  #: why ``stop_all`` is required now
    heat_off_owed: str | None = None  #: why ``heat_off`` is required now
    block_since: float = -math.inf  #: when the latest stop or lock began
    #: Why the profile may not drive the device (no acknowledged default profile).
    profile_refused: str | None = None

    @property
    def now(self) -> float:
        """The policy's clock (0 before the first call)."""
        return self.time if self.time is not None else 0.0

    @property
    def outputs_on(self) -> bool:
        """Whether a motor or the heater was last told to be on."""
        return any(self.levels) or self.heat is not None

    def owe_stop(self, reason: str) -> None:
        """Require ``stop_all`` (the first reason stays until the outputs are off)."""
        if self.stop_owed is None:
            logger.warning("stop_all required: %s", reason)
            self.stop_owed = reason
            self.block_since = self.now

    def owe_heat_off(self, reason: str) -> None:
        """Require ``heat_off`` (the first reason stays until the heater is off)."""
        if self.heat_off_owed is None:
            logger.warning("heat_off required: %s", reason)
            self.heat_off_owed = reason
            self.block_since = self.now

    def screening_detail(self, action: ScreeningAction) -> str:
        """Why the profile calls for ``action``, for a refusal's message."""
        names = ", ".join(self.profile.reasons(action))
        return f"the health profile lists {names} (see docs/safety.md)"


class Rule:
    """One concern of the safety policy. Every hook does nothing unless overridden."""

    def __init__(self, state: PolicyState) -> None:
        self.state = state

    # refusals, asked in the engine's order: the first that applies is raised
    def output_block(self) -> SafetyRefusal | None:
        """A refusal of any output or heat request, whatever its value."""
        return None

    def heat_block(self) -> SafetyRefusal | None:
        """A refusal of any heat target at all."""
        return None

    def level_caps(self, zone: int) -> list[Cap]:
        """Ceilings this rule puts on ``zone``'s level."""
        return []

    def heat_refusal(self, target: float) -> SafetyRefusal | None:
        """A refusal of this heat target's value (after every block passed)."""
        return None

    # over time
    def advance(self, dt: float) -> None:
        """Move this rule's clocks on by ``dt`` seconds (``state.time`` is still the old time)."""

    def evaluate(self, now: float) -> None:
        """Turn reached conditions into locks and owed actions."""

    def deadlines(self, now: float) -> list[float]:
        """Times at which this rule's conditions are reached next."""
        return []

    # what happened
    def outputs_changed(self, was_on: bool, now: float) -> None:
        """The device was told new outputs (``state.levels``, ``state.heat`` hold them)."""

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """A status report arrived."""

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """A device or host event arrived."""

    def resume(self, now: float) -> None:
        """The user asked to carry on after a stop."""

    def snapshot(self, now: float) -> dict[str, object]:
        """This rule's fields of :class:`~massager_sdk.safety.policy.SafetySnapshot`."""
        return {}


def refusal(limit: Limit, requested: object, allowed: object, detail: str) -> SafetyRefusal:
    """A refusal naming ``limit`` by its plain string, so messages read "safety limit 'rest'"."""
    return SafetyRefusal(limit.value, requested, allowed, detail)


def with_request(block: SafetyRefusal, requested: object) -> SafetyRefusal:
    """``block`` with the value that was actually requested."""
    return SafetyRefusal(block.limit, requested, block.allowed, block.detail)


def floor(value: float) -> int:
    """``math.floor`` with a hair of slack, so that 10 * 0.3 counts as 3, not 2.999..."""
    return math.floor(value + 1e-9)


def fraction_level(steps: int, fraction: float) -> int:
    """The level ``fraction`` of ``steps`` stands for (at least 1, at most ``steps``)."""
    return max(1, min(steps, floor(steps * fraction)))
