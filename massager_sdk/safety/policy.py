"""The safety policy: one object that every outgoing command passes through.

It is an engine over rules (:mod:`massager_sdk.safety.rules`: screening, intensity,
stops, the session clock, heat), each of which refuses requests, evaluates over time
and adds to the snapshot. The policy itself keeps no clock: every call takes ``now``,
the event loop's time in seconds, and the policy advances its rules to it. The client
asks before it sends (:meth:`SafetyPolicy.check_output`, :meth:`~SafetyPolicy.ramp_level`,
:meth:`~SafetyPolicy.check_heat`, :meth:`~SafetyPolicy.check_auto_off`), tells what
it sent (:meth:`~SafetyPolicy.outputs_changed`) and what it heard
(:meth:`~SafetyPolicy.observe_status`, :meth:`~SafetyPolicy.observe_event`), and
carries out :meth:`~SafetyPolicy.required_actions` no later than
:meth:`~SafetyPolicy.next_deadline`.

``docs/safety.md`` describes the session model and every limit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import warnings
from collections.abc import Sequence
from typing import Literal, TypeAlias

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import NotSupported, SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus
from massager_sdk.safety.ledger import Ledger, LedgerError
from massager_sdk.safety.limits import Limit, SafetyLimits
from massager_sdk.safety.rules import PolicyState, RuleChain
from massager_sdk.safety.rules.base import TIME_EPS, refusal
from massager_sdk.safety.rules.heat import COOLING_BELOW_C
from massager_sdk.safety.rules.intensity import SOFT_START_LEVEL
from massager_sdk.safety.screening import HealthProfile

logger = logging.getLogger("massager_sdk.safety")

__all__ = [
    "COOLING_BELOW_C",
    "IN_FLIGHT_S",
    "SOFT_START_LEVEL",
    "TIME_EPS",
    "SafetyAction",
    "SafetyPolicy",
    "SafetySnapshot",
]

#: A change the device acknowledges this soon after a stop or lock began was in flight
#: when it began: not counted as a violation (the required action undoes it anyway).
IN_FLIGHT_S = 5.0
#: Refusals that come from a state that begins at some moment (rather than a fixed cap).
_STATE_BLOCKS = {
    Limit.EMERGENCY_STOP,
    Limit.SESSION_MAX,
    Limit.REST,
    Limit.HEAT_FAULT,
    Limit.TEMPERATURE_STALE,
    Limit.THERMAL_DOSE,
    Limit.HEAT_CONTACT,
}


#: ``"default"``: the user's ledger (:func:`~massager_sdk.safety.ledger.default_ledger_path`).
LedgerChoice: TypeAlias = Ledger | Literal["default"] | None


@dataclasses.dataclass(frozen=True, slots=True)
class SafetyAction:
    """Something the client must do right now; ``stop_all`` includes the heater."""

    kind: Literal["stop_all", "heat_off"]
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class SafetySnapshot:
    """The policy's state, for status displays and MQTT (:meth:`to_dict` is JSON-able)."""

    session_active: bool  #: a session exists (running or paused)
    outputs_on: bool  #: a motor or the heater was last told to be on
    session_elapsed_s: float  #: on-time of the session
    session_remaining_s: float  #: on-time left before the auto-off
    auto_off_s: int  #: the auto-off that applies (never above ``session_max_s``)
    session_max_s: int
    rest_remaining_s: float  #: time until outputs are allowed again after a finished session
    heat_on: bool
    heat_target_c: float | None
    heat_allowed: bool  #: whether some heat target would be accepted now
    heat_max_c: float | None  #: the highest target accepted now (``None``: no heat allowed)
    heat_contact_s: float  #: heater on-time in this session
    temperature_c: float | None  #: the last reported temperature
    thermal_dose_min: float  #: equivalent minutes at 44 C
    thermal_dose_fraction: float  #: of the burn threshold (360 equivalent minutes)
    thermal_dose_limit_fraction: float  #: where heat goes off
    heat_faults: tuple[str, ...]  #: faults that lock the heat (latched until resumed)
    emergency_stopped: bool
    stop_reason: str | None
    pending: tuple[str, ...]  #: kinds of the actions required now
    refusals: int
    last_refusal: str | None
    violations: int  #: outputs the device was told that the policy would have refused
    screening: tuple[str, ...]  #: the profile's contraindications
    overrides: tuple[tuple[str, float], ...]  #: limits set less safe than their defaults

    def to_dict(self) -> dict[str, object]:
        """The snapshot as plain JSON-able values."""
        data = dataclasses.asdict(self)
        data["heat_faults"] = list(self.heat_faults)
        data["pending"] = list(self.pending)
        data["screening"] = list(self.screening)
        data["overrides"] = dict(self.overrides)
        return data


class SafetyPolicy:
    """Limits that no API call, command-line flag, program or MQTT message can bypass.

    Refusals raise :class:`~massager_sdk.errors.SafetyRefusal` (naming the limit, the
    requested and the allowed value), are logged on the ``massager_sdk.safety`` logger
    and counted in :meth:`snapshot`. Bad arguments (a zone that does not exist, a
    negative level) raise ``ValueError``; a heat request to a device without a heater
    raises :class:`~massager_sdk.errors.NotSupported`.

    ``ledger`` is where the device's safety history is read and written (see
    :mod:`massager_sdk.safety.ledger`): by default the user's ledger, shared by every
    process, so that a new process carries on the session clock, the rest and the
    thermal dose of the last one. A ledger that cannot be used refuses every output.
    ``None`` keeps no history beyond this object (for simulations of the policy).

    ``profile_refused`` says why the person may not drive the device at all (a
    session that fell back on a default profile nobody acknowledged): every output
    is then refused, naming the limit ``profile_acknowledged``.
    """

    def __init__(
        self,
        caps: DeviceCapabilities,
        limits: SafetyLimits | None = None,
        health_profile: HealthProfile | None = None,
        *,
        ledger: LedgerChoice = "default",
        profile_refused: str | None = None,
        profile: HealthProfile | None = None,
    ) -> None:
        if profile is not None:
            # The old keyword, from before device profiles and health profiles had
            # names of their own; kept for a release.
            warnings.warn(
                "SafetyPolicy(profile=...) is deprecated: use health_profile=",
                DeprecationWarning,
                stacklevel=2,
            )
            if health_profile is not None and health_profile is not profile:
                raise TypeError("give health_profile= only (profile= is its old name)")
            health_profile = profile
        self.caps = caps
        #: The person's health profile, screened by the rules.
        self.health_profile = health_profile if health_profile is not None else HealthProfile()
        base = limits if limits is not None else SafetyLimits()
        self.limits = (
            base.safest(self.health_profile.limits) if self.health_profile.limits else base
        )
        for name, value in self.limits.overridden().items():
            logger.warning(
                "safety override: %s=%s is less safe than its default (%s)",
                name,
                value,
                getattr(SafetyLimits(), name),
            )
        self._state = PolicyState(
            caps,
            self.limits,
            self.health_profile,
            [0] * len(caps.zones),
            profile_refused=profile_refused,
        )
        #: The rules, asked in a fixed order.
        self._chain = RuleChain(self._state, _open_ledger(ledger))
        #: Seconds between the steps of a rising level (never faster than the link).
        self.ramp_interval_s = self._chain.intensity.ramp_interval_s
        #: The most a level may rise in one step (after the soft start).
        self.ramp_step = self._chain.intensity.ramp_step
        self._refusals = 0
        self._last_refusal: str | None = None

    # ------------------------------------------------------------------ facts

    @property
    def profile(self) -> HealthProfile:
        """The old name of :attr:`health_profile` (deprecated; warns)."""
        warnings.warn(
            "SafetyPolicy.profile is deprecated: use health_profile",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.health_profile

    @property
    def ledger(self) -> Ledger | None:
        """The session ledger this policy reads and writes (``None``: none, or it failed)."""
        return self._chain.history.ledger

    @property
    def keepalive_interval_s(self) -> float:
        """How often the host should feed the device watchdog while anything is on.

        A third of the watchdog time, so two lost keepalives do not trip it.
        """
        if self.caps.watchdog_s <= 0:
            return 1.0
        return max(self.caps.min_gap_s, self.caps.watchdog_s / 3)

    def zone_max(self, zone: int) -> int:
        """The highest level ``zone`` may ever take under this policy and profile."""
        return self._chain.zone_max(self._zone(zone))

    def intensity_max(self) -> int:
        """The highest level every zone may take (what one control for all zones offers)."""
        return min(self.zone_max(zone.index) for zone in self.caps.zones)

    def heat_presets(self) -> tuple[float, ...]:
        """The device's heat presets this policy may ever accept (empty: no heat at all)."""
        heat = self.caps.heat
        if heat is None or self.health_profile.refuses_sessions or self.health_profile.refuses_heat:
            return ()
        ceiling = min(heat.limit_c, self.limits.heat_max_c)
        return tuple(t for t in heat.targets_c if t <= ceiling)

    # ------------------------------------------------------------ the checks

    def check_output(self, zone: int, level: int, now: float) -> None:
        """Refuse a level for ``zone`` that the policy does not allow now. Off is always allowed."""
        self._advance(now)
        found = self._chain.output_refusal(self._zone(zone), _level(level))
        if found is not None:
            self._refuse(found)

    def ramp_level(self, zone: int, current: int, target: int, now: float) -> int:
        """The level to send now on the way from ``current`` to ``target``.

        Decreases are immediate. A rise starts at level 1 (soft start) and then
        climbs at most :attr:`ramp_step` levels every :attr:`ramp_interval_s`. Raises
        :class:`~massager_sdk.errors.SafetyRefusal` when ``target`` is not allowed.
        The ramp starts from the lower of ``current`` and what the device was last
        told, so a caller that sees the device report a lower level (it stopped on its
        own) passes that level and ramps up softly again.
        """
        self._advance(now)
        index = self._zone(zone)
        base = min(_level(current), self._state.levels[index])
        target = _level(target)
        if target <= base:
            return target
        found = self._chain.output_refusal(index, target)
        if found is not None:
            self._refuse(found)
        if not self._chain.intensity.may_rise(index, now):
            return base
        return min(target, self._chain.intensity.ceiling(base))

    def check_heat(self, target_c: float | None, now: float) -> float | None:
        """The heat target to apply, or a refusal. ``None`` (heater off) is always allowed."""
        self._advance(now)
        if target_c is None:
            return None
        target = _temperature(target_c)
        if self.caps.heat is None:
            raise NotSupported(f"{self.caps.model} has no heater")
        found = self._chain.heat_refusal(target)
        if found is not None:
            self._refuse(found)
        return target

    def check_auto_off(self, seconds: int, now: float) -> int:
        """The auto-off to apply, in seconds; 0 asks for the policy's default.

        The value also becomes the host's own auto-off, counted in session on-time.
        """
        self._advance(now)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError(f"auto-off must be a whole number of seconds >= 0, not {seconds!r}")
        chosen = self._chain.session.auto_off_for(seconds)
        if isinstance(chosen, SafetyRefusal):
            self._refuse(chosen)
        else:
            self._chain.session.auto_off_s = chosen
        self._evaluate(self._state.now)
        return self._chain.session.auto_off_s

    def device_auto_off_s(self, now: float) -> int:
        """Seconds to program into the device's own auto-off, its second line of defence.

        The on-time left in the session, rounded up and kept within the device's range.
        """
        self._advance(now)
        seconds = max(1, math.ceil(self._chain.session.remaining_s - TIME_EPS))
        if self.caps.auto_off_max_s > 0:
            seconds = min(seconds, self.caps.auto_off_max_s)
        return seconds

    # ------------------------------------------------------ what happened

    def outputs_changed(
        self, levels: Sequence[int], heat_target_c: float | None, now: float
    ) -> None:
        """Record what the device was actually told: every zone's level and the heat target.

        Starts and pauses the session clock and the heat contact time. A change the
        policy would have refused (a bypass) is a violation: logged, counted, and the
        policy requires ``stop_all`` and blocks outputs until :meth:`resume`.
        """
        self._advance(now)
        state = self._state
        if len(levels) != len(state.levels):
            raise ValueError(
                f"outputs_changed needs {len(state.levels)} levels (one per zone), "
                f"got {len(levels)}"
            )
        new_levels = [_level(v) for v in levels]
        heat = None if heat_target_c is None else _temperature(heat_target_c)
        problems: list[str] = []
        in_flight: list[str] = []

        def refused(what: str, found: SafetyRefusal) -> None:
            recent = now - state.block_since <= IN_FLIGHT_S
            late = found.limit in _STATE_BLOCKS and recent
            (in_flight if late else problems).append(f"{what}: {found}")

        for index, (old, new) in enumerate(zip(state.levels, new_levels, strict=True)):
            if new <= old:
                continue
            found = self._chain.output_refusal(index, new)
            if found is not None:
                refused(f"zone {index} level {new}", found)
            else:
                problem = self._chain.intensity.rise_problem(index, old, new, now)
                if problem is not None:
                    problems.append(problem)
            self._chain.intensity.rose(index, now)
        new_heat_allowed = False
        if heat is not None and heat != state.heat:
            if self.caps.heat is None:
                problems.append(f"heat {heat} C sent to a device without a heater")
            else:
                found = self._chain.heat_refusal(heat)
                if found is not None:
                    refused(f"heat {heat} C", found)
                new_heat_allowed = found is None

        was_on = state.outputs_on
        state.levels = new_levels
        state.heat = heat
        for rule in self._chain.rules:
            rule.outputs_changed(was_on, now)
        if not state.outputs_on:
            state.stop_owed = None
        if heat is None or new_heat_allowed:
            # Off, or a new target the policy allows (e.g. down to 43 C after 10 minutes
            # of contact): a condition that still holds asks again below.
            state.heat_off_owed = None
        if in_flight:
            logger.warning("in flight when a stop or lock began: %s", "; ".join(in_flight))
        if problems:
            self._chain.stops.violation("; ".join(problems))
        self._evaluate(now)

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """Take in a status report: the temperature reading and the device's fault flags."""
        self._advance(now)
        for rule in self._chain.rules:
            rule.observe_status(status, now)
        self._evaluate(now)

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """Take in a device or host event: faults, the button, a lost link, a device stop.

        What each kind means is said once, on :class:`~massager_sdk.model.EventKind`:
        a kind that :attr:`~massager_sdk.model.EventKind.latches_stop` (the button, a
        motor fault) always stops everything; one that
        :attr:`~massager_sdk.model.EventKind.stops_if_on` (a lost link, a stop the
        device made on its own) stops everything when anything was on; a
        :attr:`~massager_sdk.model.EventKind.heat_fault` locks the heat. Either way
        outputs stay blocked until :meth:`resume`.
        """
        self._advance(now)
        for rule in self._chain.rules:
            rule.observe_event(event, now)
        self._evaluate(now)

    def emergency_stop(self, reason: str, now: float) -> None:
        """Everything off at once; outputs stay blocked until :meth:`resume`.

        The session clock pauses as with any other stop: an emergency stop does not
        renew the session's time budget. Never raises.
        """
        with contextlib.suppress(ValueError):  # a bad clock value must not prevent the stop
            self._advance(now)
        self._chain.stops.stop(reason or "emergency stop")
        self._chain.history.note("emergency_stop", reason or "emergency stop", self._state.now)

    def resume(self, now: float) -> None:
        """Lift an emergency stop (and heat faults that have cleared) after the user asks.

        Refused while the stop has not been carried out yet (``stop_all`` still
        pending). Screening, the rest period and an active fault still apply.
        """
        self._advance(now)
        owed = self._state.stop_owed
        if owed is not None:
            self._refuse(
                refusal(
                    Limit.EMERGENCY_STOP,
                    "resume",
                    None,
                    f"outputs are not reported off yet ({owed}); carry out stop_all",
                )
            )
        for rule in self._chain.rules:
            rule.resume(now)
        self._evaluate(now)

    # ---------------------------------------------------- what to do, when

    def required_actions(self, now: float) -> list[SafetyAction]:
        """What the client must do right now; repeats until it reports the outputs off."""
        self._advance(now)
        state = self._state
        if state.stop_owed is not None:
            return [SafetyAction("stop_all", state.stop_owed)]
        if state.heat_off_owed is not None:
            return [SafetyAction("heat_off", state.heat_off_owed)]
        return []

    def next_deadline(self, now: float) -> float | None:
        """When :meth:`required_actions` must be consulted next (``None``: nothing pending).

        ``now`` itself when an action is required already.
        """
        self._advance(now)
        if self._state.stop_owed is not None or self._state.heat_off_owed is not None:
            return now
        due = self._chain.deadlines(now)
        return min(due) if due else None

    def snapshot(self, now: float) -> SafetySnapshot:
        """The policy's state at ``now``."""
        self._advance(now)
        heat_allowed = self.caps.heat is not None and self._chain.heat_block() is None
        fields: dict[str, object] = {}
        for rule in self._chain.rules:
            fields.update(rule.snapshot(now))
        return SafetySnapshot(
            outputs_on=self._state.outputs_on,
            heat_allowed=heat_allowed,
            heat_max_c=self._chain.heat.allowed_max() if heat_allowed else None,
            pending=tuple(a.kind for a in self.required_actions(now)),
            refusals=self._refusals,
            last_refusal=self._last_refusal,
            overrides=tuple(self.limits.overridden().items()),
            **fields,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------- internals

    def _zone(self, zone: int) -> int:
        if (
            isinstance(zone, bool)
            or not isinstance(zone, int)
            or not 0 <= zone < len(self.caps.zones)
        ):
            valid = ", ".join(f"{z.index}={z.name!r}" for z in self.caps.zones)
            raise ValueError(f"no zone {zone!r} on {self.caps.model}; zones are {valid}")
        return zone

    def _advance(self, now: float) -> None:
        """Bring the rules' clocks to ``now`` (time never runs backwards here)."""
        if not isinstance(now, int | float) or not math.isfinite(now):
            raise ValueError(f"now must be a finite number of seconds, not {now!r}")
        state = self._state
        if state.time is None:
            state.time = now
        dt = now - state.time
        if dt > 0:
            self._chain.advance(dt)
            state.time = now
        self._chain.history.sync(state.time)  # before a session starts: what other processes did
        self._evaluate(state.time)

    def _evaluate(self, now: float) -> None:
        self._chain.evaluate(now)

    def _refuse(self, found: SafetyRefusal) -> None:
        self._refusals += 1
        self._last_refusal = str(found)
        logger.warning("refused: %s", found)
        self._chain.history.note("refusal", str(found), self._state.now)
        raise found


def _open_ledger(choice: LedgerChoice) -> Ledger | LedgerError | None:
    """The ledger to use, or why it cannot be used (the policy then refuses outputs)."""
    if choice != "default":
        return choice
    try:
        # One per process: every device's status-rate writes go in one batch.
        return Ledger.shared()
    except LedgerError as exc:
        logger.error("%s", exc)
        return exc


def _level(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a level must be a whole number >= 0, not {value!r}")
    return value


def _temperature(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"a heat target must be a finite number of degrees C, not {value!r}")
    if value <= 0:
        raise ValueError(
            f"a heat target must be above 0 C (None turns the heater off), not {value}"
        )
    return float(value)
