"""The session clock: on-time up to the auto-off, then a rest (docs/safety.md, "Sessions").

A session starts when anything is switched on and counts *on-time*. Switching
everything off pauses it; it ends, and its time budget is renewed, only after
everything has stayed off for the rest period. When its on-time reaches the auto-off
(at most the hard maximum) the session is over: everything must go off and stay off
for the rest period.
"""

from __future__ import annotations

import logging
import math

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import TIME_EPS, PolicyState, Rule, refusal

logger = logging.getLogger("massager_sdk.safety")


class SessionClock(Rule):
    """On-time, heat contact time and the rest after a finished session."""

    def __init__(self, state: PolicyState) -> None:
        super().__init__(state)
        self.auto_off_s = state.limits.auto_off_s  #: the host's auto-off, in on-time
        self.active = False  #: a session exists (running or paused)
        self.over = False  #: the session used its time: rest before the next
        self.on_s = 0.0  #: on-time of the session
        self.contact_s = 0.0  #: heater on-time in the session
        self.off_since: float | None = None  #: when everything went off

    @property
    def deadline_s(self) -> float:
        """The on-time at which the session is over."""
        return min(self.auto_off_s, self.state.limits.session_max_s)

    @property
    def remaining_s(self) -> float:
        """On-time left before the auto-off."""
        return max(0.0, self.deadline_s - (self.on_s if self.active else 0.0))

    def auto_off_for(self, seconds: int) -> int | SafetyRefusal:
        """The auto-off a request for ``seconds`` gives (0: the default), or its refusal."""
        caps, limits = self.state.caps, self.state.limits
        device_max = caps.auto_off_max_s if caps.auto_off_max_s > 0 else math.inf
        if seconds == 0:
            return int(min(limits.auto_off_s, device_max))
        if seconds > limits.session_max_s:
            allowed = int(min(limits.session_max_s, device_max))
            detail = "no auto-off may pass the session's hard maximum"
            return refusal(Limit.SESSION_MAX, seconds, allowed, detail)
        if seconds > device_max:
            detail = f"{caps.model} accepts at most {int(device_max)} s"
            return refusal(Limit.DEVICE_AUTO_OFF_MAX, seconds, int(device_max), detail)
        return seconds

    def rest_remaining(self, now: float) -> float:
        """Time until outputs are allowed again after a finished session."""
        if not self.over:
            return 0.0
        if self.off_since is None:
            return float(self.state.limits.rest_s)
        return max(0.0, self.state.limits.rest_s - (now - self.off_since))

    def output_block(self) -> SafetyRefusal | None:
        """Any output once the session used its time, until the rest is over."""
        if not self.over:
            return None
        if self.state.outputs_on:
            detail = (
                f"the session used its {self.deadline_s / 60:g} min; "
                f"then rest {self.state.limits.rest_s / 60:g} min"
            )
            return refusal(Limit.SESSION_MAX, "on", None, detail)
        left = self.rest_remaining(self.state.now)
        return refusal(Limit.REST, "on", None, f"rest after the session: {left:.0f} s left")

    def advance(self, dt: float) -> None:
        """Count on-time while anything is on, and heat contact while the heater is on."""
        if self.state.outputs_on and self.active:
            self.on_s += dt
        if self.state.heat is not None:
            self.contact_s += dt

    def evaluate(self, now: float) -> None:
        """End the session's time at its auto-off; end the session after a full rest."""
        on = self.state.outputs_on
        if self.active and not self.over and self.on_s >= self.deadline_s - TIME_EPS:
            self.over = True
            # A lock begins here even with everything off: a command may be in flight.
            self.state.block_since = now
            logger.warning(
                "session reached its %g min auto-off; rest %g min",
                self.deadline_s / 60,
                self.state.limits.rest_s / 60,
            )
        if self.over and on:
            self.state.owe_stop(f"the session used its {self.deadline_s / 60:g} min")
        if (
            self.active
            and not on
            and self.off_since is not None
            and now - self.off_since >= self.state.limits.rest_s - TIME_EPS
        ):
            logger.info("session ended after %.0f s of on-time and a full rest", self.on_s)
            self.active = self.over = False
            self.on_s = self.contact_s = 0.0
            self.off_since = None

    def deadlines(self, now: float) -> list[float]:
        """When the running session reaches its auto-off."""
        if self.state.outputs_on and self.active and not self.over:
            return [now + self.deadline_s - self.on_s]
        return []

    def outputs_changed(self, was_on: bool, now: float) -> None:
        """Start the session with the first output; note when everything went off."""
        if self.state.outputs_on:
            self.off_since = None
            if not self.active:
                self.active, self.over = True, False
                self.on_s = self.contact_s = 0.0
                logger.info("session started")
        elif was_on:
            self.off_since = now

    def snapshot(self, now: float) -> dict[str, object]:
        """The session's fields."""
        return {
            "session_active": self.active,
            "session_elapsed_s": self.on_s,
            "session_remaining_s": self.remaining_s,
            "auto_off_s": int(self.deadline_s),
            "session_max_s": self.state.limits.session_max_s,
            "rest_remaining_s": self.rest_remaining(now),
            "heat_contact_s": self.contact_s,
        }
