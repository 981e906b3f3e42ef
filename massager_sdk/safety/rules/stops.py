"""Stops: the emergency stop latch, device stops and faults, and outputs outside the policy."""

from __future__ import annotations

import logging

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus
from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import Rule, refusal

logger = logging.getLogger("massager_sdk.safety")

_MOTOR_FAULT_NAMES = {"motor", "motor_fault"}


class StopLatch(Rule):
    """Everything off at once, and blocked until the user resumes."""

    stopped: str | None = None  #: why the latch is set (``None``: not set)
    violations = 0  #: outputs the device was told that the policy would have refused

    def stop(self, reason: str) -> None:
        """Set the latch and require ``stop_all``."""
        if self.stopped is None:
            logger.warning("emergency stop: %s", reason)
            self.stopped = reason
            self.state.block_since = self.state.now
        self.state.owe_stop(reason)

    def violation(self, detail: str) -> None:
        """The device was told something the policy would have refused: stop."""
        self.violations += 1
        logger.error("outputs outside the safety policy: %s", detail)
        self.stop(f"{Limit.OUTPUTS_OUTSIDE_POLICY}: {detail}")

    def output_block(self) -> SafetyRefusal | None:
        """Any output while the latch is set."""
        if self.stopped is None:
            return None
        detail = f"stopped: {self.stopped}; resume() starts again"
        return refusal(Limit.EMERGENCY_STOP, "on", None, detail)

    def evaluate(self, now: float) -> None:
        """Ask for ``stop_all`` again while anything is on under the latch."""
        if self.stopped is not None and self.state.outputs_on:
            self.state.owe_stop(self.stopped)

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """A motor fault flag stops everything."""
        if {f.lower() for f in status.faults} & _MOTOR_FAULT_NAMES:
            self.stop("the device reports a motor fault")

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """The button, a motor fault: stop. A device stop or lost link: stop if anything was on."""
        if not event.raised:
            return
        kind = event.kind
        if kind.latches_stop or (kind.stops_if_on and self.state.outputs_on):
            self.stop(kind.stop_reason)

    def resume(self, now: float) -> None:
        """Lift the latch."""
        if self.stopped is not None:
            logger.warning("resumed after stop: %s", self.stopped)
        self.stopped = None

    def snapshot(self, now: float) -> dict[str, object]:
        """Whether the latch is set, why, and the violations seen."""
        return {
            "emergency_stopped": self.stopped is not None,
            "stop_reason": self.stopped,
            "violations": self.violations,
        }
