"""The safety policy: one object that every outgoing command passes through.

It is pure: no I/O, no tasks, no clock of its own. Every call takes ``now``, the
event loop's time in seconds, and the policy advances its clocks (session on-time,
heat contact, thermal dose) to it. The client asks before it sends
(:meth:`SafetyPolicy.check_output`, :meth:`~SafetyPolicy.ramp_level`,
:meth:`~SafetyPolicy.check_heat`, :meth:`~SafetyPolicy.check_auto_off`), tells
what it sent (:meth:`~SafetyPolicy.outputs_changed`) and what it heard
(:meth:`~SafetyPolicy.observe_status`, :meth:`~SafetyPolicy.observe_event`), and
carries out :meth:`~SafetyPolicy.required_actions` no later than
:meth:`~SafetyPolicy.next_deadline`.

The session model, in short (``docs/safety.md`` has the long form): a session
starts when anything is switched on and counts *on-time*. Switching everything
off pauses it; it ends, and its time budget is renewed, only after everything has
stayed off for the rest period. When its on-time reaches the auto-off (at most
the hard maximum) the session is over: everything must go off and stay off for the
rest period.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import NotSupported, SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.safety.limits import CONTACT_LIMIT_C, CONTACT_LONG_S, Limit, SafetyLimits
from massager_sdk.safety.screening import ScreeningAction, UserProfile
from massager_sdk.safety.thermal import ThermalDose

logger = logging.getLogger("massager_sdk.safety")

#: Time-based conditions count as reached this close to their deadline, so that a
#: caller that wakes at :meth:`SafetyPolicy.next_deadline` always finds them reached.
TIME_EPS = 1e-6
#: Below this reported temperature a switched-off heater counts as cooling: the
#: thermal dose decays instead of growing.
COOLING_BELOW_C = 40.0
#: The first level a zone may take when it starts from off (soft start).
SOFT_START_LEVEL = 1
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

_HEAT_FAULT_NAMES = {
    "overheat": "overheat",
    "sensor": "sensor_fault",
    "sensor_fault": "sensor_fault",
}
_MOTOR_FAULT_NAMES = {"motor", "motor_fault"}
#: Device events that mean the device stopped its outputs on its own.
_DEVICE_STOPS = {
    EventKind.WATCHDOG_STOP: "the device watchdog stopped the outputs",
    EventKind.AUTO_OFF: "the device's auto-off stopped the outputs",
    EventKind.SHUTDOWN: "the device shut down",
    EventKind.LINK_LOST: "the link to the device was lost",
}


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
    """

    def __init__(
        self,
        caps: DeviceCapabilities,
        limits: SafetyLimits | None = None,
        profile: UserProfile | None = None,
    ) -> None:
        self.caps = caps
        self.profile = profile if profile is not None else UserProfile()
        base = limits if limits is not None else SafetyLimits()
        self.limits = base.safest(self.profile.limits) if self.profile.limits else base
        for name, value in self.limits.overridden().items():
            logger.warning(
                "safety override: %s=%s is less safe than its default (%s)",
                name,
                value,
                getattr(SafetyLimits(), name),
            )
        if caps.intensity_steps < 1:
            raise ValueError(f"{caps.model}: intensity_steps must be at least 1")
        steps = caps.intensity_steps
        #: Seconds between the steps of a rising level (never faster than the link).
        self.ramp_interval_s = max(
            self.limits.ramp_interval_s, caps.min_gap_s, self.limits.ramp_s / steps
        )
        #: The most a level may rise in one step (after the soft start).
        self.ramp_step = max(1, _floor(steps * self.ramp_interval_s / self.limits.ramp_s))
        self._zones = len(caps.zones)
        self._levels = [0] * self._zones
        self._last_rise = [-math.inf] * self._zones
        self._heat: float | None = None
        self._time: float | None = None
        # session
        self._auto_off_s = self.limits.auto_off_s
        self._session_active = False
        self._session_over = False
        self._on_s = 0.0
        self._contact_s = 0.0
        self._off_since: float | None = None
        # heat
        self._heat_on_since = 0.0
        self._reading: float | None = None
        self._reading_time = -math.inf
        self._dose = ThermalDose(self.limits.dose_half_life_s)
        self._dose_locked = False
        self._stale_locked = False
        self._device_faults: set[str] = set()
        self._host_faults: set[str] = set()
        self._heat_fault: str | None = None
        # stops and bookkeeping
        self._stopped: str | None = None
        self._stop_owed: str | None = None
        self._heat_off_owed: str | None = None
        self._block_since = -math.inf  # when the latest stop or lock began
        self._refusals = 0
        self._last_refusal: str | None = None
        self._violations = 0

    # ------------------------------------------------------------------ facts

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
        index = self._zone(zone)
        if self.profile.refuses_sessions:
            return 0
        return min(value for _, value in self._zone_caps(index))

    def intensity_max(self) -> int:
        """The highest level every zone may take (what one control for all zones offers)."""
        return min(self.zone_max(zone.index) for zone in self.caps.zones)

    def heat_presets(self) -> tuple[float, ...]:
        """The device's heat presets this policy may ever accept (empty: no heat at all)."""
        heat = self.caps.heat
        if heat is None or self.profile.refuses_sessions or self.profile.refuses_heat:
            return ()
        ceiling = min(heat.limit_c, self.limits.heat_max_c)
        return tuple(t for t in heat.targets_c if t <= ceiling)

    # ------------------------------------------------------------ the checks

    def check_output(self, zone: int, level: int, now: float) -> None:
        """Refuse a level for ``zone`` that the policy does not allow now. Off is always allowed."""
        self._advance(now)
        refusal = self._output_refusal(self._zone(zone), _level(level))
        if refusal is not None:
            self._refuse(refusal)

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
        base = min(_level(current), self._levels[index])
        target = _level(target)
        if target <= base:
            return target
        refusal = self._output_refusal(index, target)
        if refusal is not None:
            self._refuse(refusal)
        if now - self._last_rise[index] < self.ramp_interval_s - TIME_EPS:
            return base
        return min(target, self._ramp_ceiling(base))

    def check_heat(self, target_c: float | None, now: float) -> float | None:
        """The heat target to apply, or a refusal. ``None`` (heater off) is always allowed."""
        self._advance(now)
        if target_c is None:
            return None
        target = _temperature(target_c)
        if self.caps.heat is None:
            raise NotSupported(f"{self.caps.model} has no heater")
        refusal = self._heat_refusal(target)
        if refusal is not None:
            self._refuse(refusal)
        return target

    def check_auto_off(self, seconds: int, now: float) -> int:
        """The auto-off to apply, in seconds; 0 asks for the policy's default.

        The value also becomes the host's own auto-off, counted in session on-time.
        """
        self._advance(now)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError(f"auto-off must be a whole number of seconds >= 0, not {seconds!r}")
        device_max = self.caps.auto_off_max_s if self.caps.auto_off_max_s > 0 else math.inf
        if seconds == 0:
            value = int(min(self.limits.auto_off_s, device_max))
        else:
            if seconds > self.limits.session_max_s:
                self._refuse(
                    _refusal(
                        Limit.SESSION_MAX,
                        seconds,
                        int(min(self.limits.session_max_s, device_max)),
                        "no auto-off may pass the session's hard maximum",
                    )
                )
            if seconds > device_max:
                self._refuse(
                    _refusal(
                        Limit.DEVICE_AUTO_OFF_MAX,
                        seconds,
                        int(device_max),
                        f"{self.caps.model} accepts at most {int(device_max)} s",
                    )
                )
            value = seconds
        self._auto_off_s = value
        self._evaluate(self._now)
        return value

    def device_auto_off_s(self, now: float) -> int:
        """Seconds to program into the device's own auto-off, its second line of defence.

        The on-time left in the session, rounded up and kept within the device's range.
        """
        self._advance(now)
        left = self._deadline_s - (self._on_s if self._session_active else 0.0)
        seconds = max(1, math.ceil(left - TIME_EPS))
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
        if len(levels) != self._zones:
            raise ValueError(
                f"outputs_changed needs {self._zones} levels (one per zone), got {len(levels)}"
            )
        new_levels = [_level(v) for v in levels]
        heat = None if heat_target_c is None else _temperature(heat_target_c)
        problems: list[str] = []
        in_flight: list[str] = []

        def refused(what: str, refusal: SafetyRefusal) -> None:
            recent = now - self._block_since <= IN_FLIGHT_S
            late = refusal.limit in _STATE_BLOCKS and recent
            (in_flight if late else problems).append(f"{what}: {refusal}")

        for index, (old, new) in enumerate(zip(self._levels, new_levels, strict=True)):
            if new <= old:
                continue
            refusal = self._output_refusal(index, new)
            if refusal is not None:
                refused(f"zone {index} level {new}", refusal)
            elif now - self._last_rise[index] < self.ramp_interval_s - TIME_EPS:
                problems.append(
                    f"zone {index} rose again {now - self._last_rise[index]:.3f} s after "
                    f"its last rise; the ramp allows one rise every {self.ramp_interval_s} s"
                )
            elif new > self._ramp_ceiling(old):
                problems.append(
                    f"zone {index} jumped {old} -> {new}; the ramp allows "
                    f"{old} -> {self._ramp_ceiling(old)}"
                )
            self._last_rise[index] = now
        new_heat_allowed = False
        if heat is not None and heat != self._heat:
            if self.caps.heat is None:
                problems.append(f"heat {heat} C sent to a device without a heater")
            else:
                refusal = self._heat_refusal(heat)
                if refusal is not None:
                    refused(f"heat {heat} C", refusal)
                new_heat_allowed = refusal is None

        was_on = self._outputs_on
        if heat is not None and self._heat is None:
            self._heat_on_since = now
        self._levels = new_levels
        self._heat = heat
        if self._outputs_on:
            self._off_since = None
            if not self._session_active:
                self._start_session()
        else:
            if was_on:
                self._off_since = now
            self._stop_owed = None
        if heat is None or new_heat_allowed:
            # Off, or a new target the policy allows (e.g. down to 43 C after 10 minutes
            # of contact): a condition that still holds asks again below.
            self._heat_off_owed = None
        if in_flight:
            logger.warning("in flight when a stop or lock began: %s", "; ".join(in_flight))
        if problems:
            self._violation("; ".join(problems))
        self._evaluate(now)

    def observe_status(self, status: DeviceStatus, now: float) -> None:
        """Take in a status report: the temperature reading and the device's fault flags."""
        self._advance(now)
        if status.temperature_c is not None:
            self._take_reading(status.temperature_c, now)
        names = {f.lower() for f in status.faults}
        self._device_faults = {_HEAT_FAULT_NAMES[f] for f in names if f in _HEAT_FAULT_NAMES}
        self._refresh_heat_faults()
        if names & _MOTOR_FAULT_NAMES:
            self._stop("the device reports a motor fault")
        self._evaluate(now)

    def observe_event(self, event: DeviceEvent, now: float) -> None:
        """Take in a device or host event: faults, the button, a lost link, a device stop.

        The button and a motor fault always stop everything; a lost link or a stop
        the device made on its own (watchdog, auto-off, shutdown) stops everything
        when anything was on. Either way outputs stay blocked until :meth:`resume`.
        """
        self._advance(now)
        raised = event.active is not False
        kind = event.kind
        if kind in (EventKind.OVERHEAT, EventKind.SENSOR_FAULT):
            name = "overheat" if kind is EventKind.OVERHEAT else "sensor_fault"
            if event.active:
                self._device_faults.add(name)
            elif event.active is False:
                self._device_faults.discard(name)  # a one-off report clears nothing
            if raised:
                self._latch_heat_fault(name)
            if event.value is not None and kind is EventKind.OVERHEAT:
                self._take_reading(event.value, now)
            self._refresh_heat_faults()
        elif kind is EventKind.BUTTON and raised:
            self._stop("the device button was pressed")
        elif kind is EventKind.MOTOR_FAULT and raised:
            self._stop("the device reports a motor fault")
        elif kind in _DEVICE_STOPS and raised and self._outputs_on:
            self._stop(_DEVICE_STOPS[kind])
        self._evaluate(now)

    def emergency_stop(self, reason: str, now: float) -> None:
        """Everything off at once; outputs stay blocked until :meth:`resume`.

        The session clock pauses as with any other stop: an emergency stop does not
        renew the session's time budget. Never raises.
        """
        with contextlib.suppress(ValueError):  # a bad clock value must not prevent the stop
            self._advance(now)
        self._stop(reason or "emergency stop")

    def resume(self, now: float) -> None:
        """Lift an emergency stop (and heat faults that have cleared) after the user asks.

        Refused while the stop has not been carried out yet (``stop_all`` still
        pending). Screening, the rest period and an active fault still apply.
        """
        self._advance(now)
        if self._stop_owed is not None:
            self._refuse(
                _refusal(
                    Limit.EMERGENCY_STOP,
                    "resume",
                    None,
                    f"outputs are not reported off yet ({self._stop_owed}); carry out stop_all",
                )
            )
        if self._stopped is not None:
            logger.warning("resumed after stop: %s", self._stopped)
        self._stopped = None
        self._stale_locked = False  # the staleness timer restarts when heat goes on again
        if self._heat_fault is not None and not self._active_heat_faults:
            logger.warning("heat fault lock lifted: %s", self._heat_fault)
            self._heat_fault = None
        self._evaluate(now)

    # ---------------------------------------------------- what to do, when

    def required_actions(self, now: float) -> list[SafetyAction]:
        """What the client must do right now; repeats until it reports the outputs off."""
        self._advance(now)
        if self._stop_owed is not None:
            return [SafetyAction("stop_all", self._stop_owed)]
        if self._heat_off_owed is not None:
            return [SafetyAction("heat_off", self._heat_off_owed)]
        return []

    def next_deadline(self, now: float) -> float | None:
        """When :meth:`required_actions` must be consulted next (``None``: nothing pending).

        ``now`` itself when an action is required already.
        """
        self._advance(now)
        if self._stop_owed is not None or self._heat_off_owed is not None:
            return now
        due: list[float] = []
        if self._outputs_on and self._session_active and not self._session_over:
            due.append(now + self._deadline_s - self._on_s)
        if self._heat is not None:
            if self.caps.has_temperature_sensor:
                due.append(self._stale_deadline)
            temp = self._dose_temperature()
            if temp is not None and not self._dose_locked:
                due.append(now + self._dose.seconds_until(self.limits.dose_limit_fraction, temp))
            if self._heat > CONTACT_LIMIT_C:
                due.append(now + CONTACT_LONG_S - self._contact_s)
        return min(due) if due else None

    def snapshot(self, now: float) -> SafetySnapshot:
        """The policy's state at ``now``."""
        self._advance(now)
        block = self._heat_block() if self.caps.heat is not None else None
        heat_allowed = self.caps.heat is not None and block is None
        pending = tuple(a.kind for a in self.required_actions(now))
        return SafetySnapshot(
            session_active=self._session_active,
            outputs_on=self._outputs_on,
            session_elapsed_s=self._on_s,
            session_remaining_s=max(
                0.0, self._deadline_s - (self._on_s if self._session_active else 0.0)
            ),
            auto_off_s=int(self._deadline_s),
            session_max_s=self.limits.session_max_s,
            rest_remaining_s=self._rest_remaining(now),
            heat_on=self._heat is not None,
            heat_target_c=self._heat,
            heat_allowed=heat_allowed,
            heat_max_c=self._allowed_heat_max() if heat_allowed else None,
            heat_contact_s=self._contact_s,
            temperature_c=self._reading,
            thermal_dose_min=self._dose.minutes,
            thermal_dose_fraction=self._dose.fraction,
            thermal_dose_limit_fraction=self.limits.dose_limit_fraction,
            heat_faults=self._heat_fault_names(),
            emergency_stopped=self._stopped is not None,
            stop_reason=self._stopped,
            pending=pending,
            refusals=self._refusals,
            last_refusal=self._last_refusal,
            violations=self._violations,
            screening=tuple(sorted(c.value for c in self.profile.contraindications)),
            overrides=tuple(self.limits.overridden().items()),
        )

    # ------------------------------------------------------------- internals

    @property
    def _now(self) -> float:
        return self._time if self._time is not None else 0.0

    @property
    def _outputs_on(self) -> bool:
        return any(self._levels) or self._heat is not None

    @property
    def _deadline_s(self) -> float:
        return min(self._auto_off_s, self.limits.session_max_s)

    @property
    def _stale_deadline(self) -> float:
        return max(self._heat_on_since, self._reading_time) + self.limits.temperature_timeout_s

    @property
    def _active_heat_faults(self) -> set[str]:
        return self._device_faults | self._host_faults

    def _heat_fault_names(self) -> tuple[str, ...]:
        active = tuple(sorted(self._active_heat_faults))
        if active:
            return active
        return (self._heat_fault,) if self._heat_fault is not None else ()

    def _zone(self, zone: int) -> int:
        if isinstance(zone, bool) or not isinstance(zone, int) or not 0 <= zone < self._zones:
            valid = ", ".join(f"{z.index}={z.name!r}" for z in self.caps.zones)
            raise ValueError(f"no zone {zone!r} on {self.caps.model}; zones are {valid}")
        return zone

    def _zone_caps(self, zone: int) -> list[tuple[Limit, int]]:
        steps = self.caps.intensity_steps
        caps = [
            (Limit.DEVICE_STEPS, steps),
            (Limit.INTENSITY_MAX, _fraction_level(steps, self.limits.max_fraction)),
        ]
        if self.caps.zones[zone].gentle_only:
            caps.append(
                (Limit.FRONT_NECK_GENTLE, _fraction_level(steps, self.limits.gentle_fraction))
            )
        if self.profile.caps_intensity:
            caps.append(
                (Limit.SCREENING_INTENSITY, _fraction_level(steps, self.limits.capped_fraction))
            )
        return caps

    def _ramp_ceiling(self, base: int) -> int:
        return SOFT_START_LEVEL if base == 0 else base + self.ramp_step

    def _screening_detail(self, action: ScreeningAction) -> str:
        names = ", ".join(self.profile.reasons(action))
        return f"the user profile lists {names} (see docs/safety.md)"

    def _session_block(self) -> SafetyRefusal | None:
        """A refusal that applies to any output or heat request, whatever its value."""
        if self.profile.refuses_sessions:
            return _refusal(
                Limit.SCREENING_SESSIONS,
                "on",
                None,
                self._screening_detail(ScreeningAction.REFUSE_SESSIONS),
            )
        if self._stopped is not None:
            return _refusal(
                Limit.EMERGENCY_STOP,
                "on",
                None,
                f"stopped: {self._stopped}; resume() starts again",
            )
        if self._session_over:
            if self._outputs_on:
                return _refusal(
                    Limit.SESSION_MAX,
                    "on",
                    None,
                    f"the session used its {self._deadline_s / 60:g} min; "
                    f"then rest {self.limits.rest_s / 60:g} min",
                )
            return _refusal(
                Limit.REST,
                "on",
                None,
                f"rest after the session: {self._rest_remaining(self._now):.0f} s left",
            )
        return None

    def _output_refusal(self, zone: int, level: int) -> SafetyRefusal | None:
        if level == 0:
            return None
        allowed = self.zone_max(zone)
        if level > self.caps.intensity_steps:
            return _refusal(
                Limit.DEVICE_STEPS,
                level,
                allowed,
                f"{self.caps.model} has levels 0..{self.caps.intensity_steps}",
            )
        block = self._session_block()
        if block is not None:
            return _with_request(block, level)
        limit, cap = min(self._zone_caps(zone), key=lambda item: item[1])
        if level > cap:
            zone_name = self.caps.zones[zone].name
            details = {
                Limit.INTENSITY_MAX: f"max_fraction={self.limits.max_fraction}",
                Limit.FRONT_NECK_GENTLE: f"zone {zone_name!r} is over the front of the neck",
                Limit.SCREENING_INTENSITY: self._screening_detail(ScreeningAction.CAP_INTENSITY),
            }
            return _refusal(limit, level, cap, details.get(limit, ""))
        return None

    def _heat_block(self) -> SafetyRefusal | None:
        """A refusal for any heat target at all."""
        block = self._session_block()
        if block is not None:
            return block
        if self.profile.refuses_heat:
            return _refusal(
                Limit.SCREENING_HEAT,
                "on",
                None,
                self._screening_detail(ScreeningAction.REFUSE_HEAT),
            )
        if self._heat_fault is not None:
            return _refusal(
                Limit.HEAT_FAULT,
                "on",
                None,
                f"{self._heat_fault}; heat stays off until the fault clears and resume()",
            )
        if self._stale_locked:
            return _refusal(
                Limit.TEMPERATURE_STALE,
                "on",
                None,
                "no temperature reading while heating; heat is allowed again after one arrives",
            )
        if self._dose_locked:
            half = self.limits.dose_limit_fraction / 2
            wait = self._dose.seconds_to_decay(half)
            return _refusal(
                Limit.THERMAL_DOSE,
                "on",
                None,
                f"thermal dose {self._dose.fraction:.1%} of the burn threshold reached its "
                f"limit {self.limits.dose_limit_fraction:.0%}; heat is allowed again below "
                f"{half:.0%}, in about {wait / 60:.0f} min",
            )
        return None

    def _allowed_heat_max(self) -> float:
        assert self.caps.heat is not None
        ceiling = min(self.caps.heat.limit_c, self.limits.heat_max_c)
        if self._contact_s >= CONTACT_LONG_S - TIME_EPS:
            ceiling = min(ceiling, CONTACT_LIMIT_C)
        return ceiling

    def _heat_refusal(self, target: float) -> SafetyRefusal | None:
        assert self.caps.heat is not None
        if target > self.caps.heat.limit_c:
            return _refusal(
                Limit.DEVICE_HEAT_LIMIT,
                target,
                self._allowed_heat_max(),
                f"{self.caps.model} heats to at most {self.caps.heat.limit_c} C",
            )
        block = self._heat_block()
        if block is not None:
            return _with_request(block, target)
        if target > self.limits.heat_max_c:
            return _refusal(
                Limit.HEAT_MAX,
                target,
                self._allowed_heat_max(),
                f"heat_max_c is {self.limits.heat_max_c} C (docs/safety.md)",
            )
        if target > self._allowed_heat_max():
            return _refusal(
                Limit.HEAT_CONTACT,
                target,
                self._allowed_heat_max(),
                f"after {CONTACT_LONG_S / 60:g} min of heat contact at most "
                f"{CONTACT_LIMIT_C} C (IEC 60601-1 practice)",
            )
        return None

    def _rest_remaining(self, now: float) -> float:
        if not self._session_over:
            return 0.0
        if self._off_since is None:
            return float(self.limits.rest_s)
        return max(0.0, self.limits.rest_s - (now - self._off_since))

    def _dose_temperature(self) -> float | None:
        """The skin-side temperature the dose assumes now (``None``: cooling)."""
        if self._heat is not None:
            # Assume the pad is at its target at once; a reading above it wins.
            if self._reading is not None and self._reading_time >= self._heat_on_since:
                return max(self._heat, self._reading)
            return self._heat
        if self._reading is not None and self._reading >= COOLING_BELOW_C:
            # Heater off but still hot (cooling down, or stuck on): count it while fresh.
            return self._reading if self._now < self._reading_fresh_until else None
        return None

    @property
    def _reading_fresh_until(self) -> float:
        return self._reading_time + self.limits.temperature_timeout_s

    def _advance(self, now: float) -> None:
        """Bring the clocks to ``now`` (time never runs backwards here)."""
        if not isinstance(now, int | float) or not math.isfinite(now):
            raise ValueError(f"now must be a finite number of seconds, not {now!r}")
        if self._time is None:
            self._time = now
        dt = now - self._time
        if dt > 0:
            if self._outputs_on and self._session_active:
                self._on_s += dt
            if self._heat is not None:
                self._contact_s += dt
            temp = self._dose_temperature()
            if self._heat is None and temp is not None:
                # A hot reading counts only until it goes stale; then the pad cools.
                hot = min(dt, self._reading_fresh_until - self._time)
                self._dose.advance(hot, temp)
                self._dose.advance(dt - hot, None)
            else:
                self._dose.advance(dt, temp)
            self._time = now
        self._evaluate(self._time)

    def _evaluate(self, now: float) -> None:
        """Turn reached time-based conditions into locks and required actions."""
        on = self._outputs_on
        if (
            self._session_active
            and not self._session_over
            and self._on_s >= self._deadline_s - TIME_EPS
        ):
            self._session_over = True
            # A lock begins here even with everything off: a command may be in flight.
            self._block_since = now
            logger.warning(
                "session reached its %g min auto-off; rest %g min",
                self._deadline_s / 60,
                self.limits.rest_s / 60,
            )
        if self._session_over and on:
            self._owe_stop(f"the session used its {self._deadline_s / 60:g} min")
        if self._stopped is not None and on:
            self._owe_stop(self._stopped)
        if (
            self._session_active
            and not on
            and self._off_since is not None
            and now - self._off_since >= self.limits.rest_s - TIME_EPS
        ):
            self._end_session()
        temp = self._dose_temperature()
        if not self._dose_locked:
            limit = self.limits.dose_limit_fraction
            if temp is not None:
                reached = self._dose.seconds_until(limit, temp) <= TIME_EPS
            else:
                reached = self._dose.fraction >= limit * (1 - 1e-9)
            if reached:
                self._dose_locked = True
                logger.warning(
                    "thermal dose %.1f%% of the burn threshold: heat locked",
                    100 * self._dose.fraction,
                )
        elif self._dose_locked and self._dose.fraction <= self.limits.dose_limit_fraction / 2:
            self._dose_locked = False
        if self._heat is None:
            return
        if self.caps.has_temperature_sensor and now >= self._stale_deadline - TIME_EPS:
            if not self._stale_locked:
                logger.warning("no temperature reading while heating: heat off")
            self._stale_locked = True
        reason = None
        if self._stale_locked:
            reason = "no temperature reading while heating"
        elif self._dose_locked:
            reason = "thermal dose limit reached"
        elif self._heat_fault is not None:
            reason = f"heat fault: {self._heat_fault}"
        elif self._heat > self._allowed_heat_max():
            reason = f"{CONTACT_LONG_S / 60:g} min of heat contact: at most {CONTACT_LIMIT_C} C"
        if reason is not None:
            self._owe_heat_off(reason)

    def _start_session(self) -> None:
        self._session_active = True
        self._session_over = False
        self._on_s = 0.0
        self._contact_s = 0.0
        logger.info("session started")

    def _end_session(self) -> None:
        logger.info("session ended after %.0f s of on-time and a full rest", self._on_s)
        self._session_active = False
        self._session_over = False
        self._on_s = 0.0
        self._contact_s = 0.0
        self._off_since = None

    def _take_reading(self, temp_c: float, now: float) -> None:
        if not math.isfinite(temp_c):
            return
        self._reading = temp_c
        self._reading_time = now
        self._stale_locked = False
        if self.caps.heat is not None:
            threshold = min(
                self.caps.heat.limit_c, self.limits.heat_max_c + self.limits.overtemp_margin_c
            )
            if temp_c > threshold:
                self._host_faults.add("overtemperature")
            else:
                self._host_faults.discard("overtemperature")

    def _refresh_heat_faults(self) -> None:
        for name in sorted(self._active_heat_faults):
            self._latch_heat_fault(name)

    def _latch_heat_fault(self, name: str) -> None:
        if self._heat_fault is None:
            self._heat_fault = name
            logger.warning("heat fault %s: heat off and locked", name)
            # Sent even when the heater is already off: the device may think otherwise.
            self._owe_heat_off(f"heat fault: {name}")

    def _stop(self, reason: str) -> None:
        if self._stopped is None:
            logger.warning("emergency stop: %s", reason)
            self._stopped = reason
            self._block_since = self._now
        self._owe_stop(reason)

    def _owe_stop(self, reason: str) -> None:
        if self._stop_owed is None:
            logger.warning("stop_all required: %s", reason)
            self._stop_owed = reason
            self._block_since = self._now

    def _owe_heat_off(self, reason: str) -> None:
        if self._heat_off_owed is None:
            logger.warning("heat_off required: %s", reason)
            self._heat_off_owed = reason
            self._block_since = self._now

    def _violation(self, detail: str) -> None:
        self._violations += 1
        logger.error("outputs outside the safety policy: %s", detail)
        self._stop(f"{Limit.OUTPUTS_OUTSIDE_POLICY}: {detail}")

    def _refuse(self, refusal: SafetyRefusal) -> None:
        self._refusals += 1
        self._last_refusal = str(refusal)
        logger.warning("refused: %s", refusal)
        raise refusal


def _refusal(limit: Limit, requested: object, allowed: object, detail: str) -> SafetyRefusal:
    # The plain string, so that messages read "safety limit 'rest'".
    return SafetyRefusal(limit.value, requested, allowed, detail)


def _with_request(block: SafetyRefusal, requested: object) -> SafetyRefusal:
    return SafetyRefusal(block.limit, requested, block.allowed, block.detail)


def _floor(value: float) -> int:
    # A hair of slack so that 10 * 0.3 counts as 3, not 2.999...
    return math.floor(value + 1e-9)


def _fraction_level(steps: int, fraction: float) -> int:
    return max(1, min(steps, _floor(steps * fraction)))


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
