"""The policy's rules in the order they are asked.

:class:`RuleChain` builds the rules over one :class:`~.base.PolicyState` and
answers for all of them: the first refusal that applies is the one raised, and
the clocks advance and evaluate in an order that keeps the reasons stable.
:class:`~massager_sdk.safety.policy.SafetyPolicy` checks its arguments, asks
the chain and keeps the count of refusals.
"""

from __future__ import annotations

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety.ledger import Ledger, LedgerError
from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import Cap, PolicyState, Rule, refusal, with_request
from massager_sdk.safety.rules.heat import HeatGuard
from massager_sdk.safety.rules.history import SessionHistory
from massager_sdk.safety.rules.intensity import IntensityCaps
from massager_sdk.safety.rules.screening import ProfileScreening
from massager_sdk.safety.rules.session import SessionClock
from massager_sdk.safety.rules.stops import StopLatch


class RuleChain:
    """Every rule of a policy, asked in a fixed order."""

    def __init__(self, state: PolicyState, ledger: Ledger | LedgerError | None) -> None:
        self.state = state
        self.intensity = IntensityCaps(state)
        self.stops = StopLatch(state)
        self.session = SessionClock(state)
        self.heat = HeatGuard(state, self.session)
        self.history = SessionHistory(state, ledger, self.session, self.heat, self.stops)
        #: Asked in this order for refusals: the first that applies is the one raised.
        self.rules: tuple[Rule, ...] = (
            ProfileScreening(state),
            self.intensity,
            self.stops,
            self.session,
            self.heat,
            self.history,
        )
        #: Advanced and evaluated in this order: the session's clock before the stop
        #: latch (whose reason for ``stop_all`` comes second), then heat, then the record.
        self.clocks: tuple[Rule, ...] = (self.session, self.stops, self.heat, self.history)

    # -- time ------------------------------------------------------------------------

    def advance(self, dt: float) -> None:
        """Move every clock ``dt`` seconds on."""
        for rule in self.clocks:
            rule.advance(dt)

    def evaluate(self, now: float) -> None:
        """Let every clock act on what holds at ``now``."""
        for rule in self.clocks:
            rule.evaluate(now)

    def deadlines(self, now: float) -> list[float]:
        """When some rule's condition is reached next."""
        return [t for rule in self.clocks for t in rule.deadlines(now)]

    # -- refusals --------------------------------------------------------------------

    def zone_max(self, zone: int) -> int:
        """The highest level zone index ``zone`` may ever take."""
        profile, caps = self.state.profile, self.state.caps
        if profile.refuses_sessions or (caps.electrical and profile.electrical_reasons()):
            return 0
        return min(cap.level for cap in self.level_caps(zone))

    def level_caps(self, zone: int) -> list[Cap]:
        """Every rule's ceiling on zone index ``zone``."""
        return [cap for rule in self.rules for cap in rule.level_caps(zone)]

    def output_block(self) -> SafetyRefusal | None:
        """The first rule's refusal of any output or heat, whatever its value."""
        for rule in self.rules:
            block = rule.output_block()
            if block is not None:
                return block
        return None

    def heat_block(self) -> SafetyRefusal | None:
        """The first refusal of any heat target, whatever its value."""
        block = self.output_block()
        for rule in self.rules:
            if block is not None:
                break
            block = rule.heat_block()
        return block

    def output_refusal(self, zone: int, level: int) -> SafetyRefusal | None:
        """Why ``level`` on zone index ``zone`` is refused now (``None``: it is allowed)."""
        if level == 0:
            return None
        caps = self.state.caps
        steps = caps.intensity_steps
        if level > steps:
            detail = f"{caps.model} has levels 0..{steps}"
            return refusal(Limit.DEVICE_STEPS, level, self.zone_max(zone), detail)
        block = self.output_block()
        if block is not None:
            return with_request(block, level)
        lowest = min(self.level_caps(zone), key=lambda c: c.level)
        if level > lowest.level:
            return refusal(lowest.limit, level, lowest.level, lowest.detail)
        return None

    def heat_refusal(self, target: float) -> SafetyRefusal | None:
        """Why the heat target ``target`` is refused now (``None``: it is allowed)."""
        found = self.heat.out_of_range(target)
        if found is not None:
            return found
        block = self.heat_block()
        if block is not None:
            return with_request(block, target)
        for rule in self.rules:
            found = rule.heat_refusal(target)
            if found is not None:
                return found
        return None
