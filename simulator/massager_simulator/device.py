"""The virtual firmware: a neck massager, whatever wire protocol it speaks.

:class:`SimulatedDevice` is written the way firmware is: commands in, answers
out, a control loop that ticks on the device's clock, and a handful of
latched fault flags. Its own command set is NMP/1's messages (the open
contract); the wire protocol is a personality
(:mod:`massager_simulator.personalities`, NMP/1's among them) that decodes
frames, calls :meth:`SimulatedDevice.apply` and reports in its own frames.
Time is the running event loop's (``loop.time()`` and ``asyncio.sleep``-style
timers only), so on a
:class:`~massager_simulator.clock.VirtualTimeEventLoop` a 20-minute session
runs in a fraction of a second.

The firmware contract it keeps (see ``protocols/specs/nmp1.md``):

- every command is accepted (0) or refused (a NackCode); a refused command
  changes nothing; STOP_ALL is never refused;
- control belongs to one link at a time: the link whose command switched
  something on, until everything is off again or that link closes (then
  everything stops). Another link's commands that change the outputs are
  refused BUSY; its STOP_ALL is obeyed and the stop reported as EVENT
  LINK_STOP; only the controlling link's frames feed the watchdog;
- the watchdog stops everything when something is on and no valid frame has
  arrived from the controlling link for ``watchdog_ms``; auto-off stops
  everything ``auto_off`` seconds after something was switched on; both
  latch a fault flag that the next accepted SET_OUTPUT or SET_HEAT clears;
- the heater never exceeds the model's limit (see :mod:`.heater`);
- while anything is on, the personality is asked to report about once a
  second, and once more when everything has gone off (if it wants that).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from massager_protocols.nmp import (
    Event,
    EventCode,
    EventState,
    Fault,
    Keepalive,
    Message,
    MsgType,
    NackCode,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    UploadPattern,
    Waveform,
)

from massager_simulator.battery import Battery
from massager_simulator.faults import FaultConfig
from massager_simulator.heater import (
    OPEN_READING_C,
    OVERHEAT_CLEAR_C,
    SENSOR_RANGE_C,
    SHORT_READING_C,
    HeaterControl,
    sensor_noise,
    settle,
)
from massager_simulator.link import Carrier, LinkEnd, Port, attach_in_process
from massager_simulator.model import DEFAULT_MODEL, DeviceModel, load_model
from massager_simulator.motors import Motor, Pattern
from massager_simulator.personalities import Personality, make_personality

#: Control period while something is on (heater loop, ramps, battery).
ACTIVE_TICK_S = 0.25
#: Control period when idle (cooling, charging, battery thresholds).
IDLE_TICK_S = 1.0
#: Unprompted STATUS period while something is on.
TELEMETRY_S = 1.0
#: A level's hysteresis above its threshold before a battery event clears.
BATTERY_HYSTERESIS_PCT = 2
#: Nominal cell voltage used to turn heater watts into battery milliamps.
NOMINAL_V = 3.7
_EPS = 1e-9

_LATCHES = Fault.WATCHDOG | Fault.AUTO_OFF
_HEAT_LOCKS = Fault.SENSOR | Fault.OVERHEAT
_NOT_BUSY = frozenset({MsgType.GET_INFO, MsgType.GET_STATUS, MsgType.STOP_ALL, MsgType.KEEPALIVE})
#: Commands only the controlling link may send while something is on.
_CONTROL = frozenset(
    {MsgType.SET_OUTPUT, MsgType.SET_HEAT, MsgType.SET_AUTO_OFF, MsgType.UPLOAD_PATTERN}
)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _dc(celsius: float) -> int:
    """Degrees to the int16 tenths an EVENT value carries."""
    return max(-0x8000, min(0x7FFF, round(celsius * 10)))


class SimulatedDevice:
    """A simulated neck massager: the firmware, its hardware and its links.

    ``model`` is a :class:`DeviceModel` or a model name (``heat4``, ``neck2``,
    ``handheld``). ``battery_pct`` is the initial charge of a battery device;
    ``ambient_c`` overrides the model's ambient temperature; ``address`` is
    the Bluetooth address it advertises when registered for BLE.
    Start it with ``await device.start()`` (or ``async with device:``; a
    ``connect()`` on a running loop also starts it), then reach it with
    :meth:`connect`, :func:`~massager_simulator.serve_tcp` or
    :func:`~massager_simulator.open_pty`.
    """

    def __init__(
        self,
        model: DeviceModel | str = DEFAULT_MODEL,
        *,
        serial: str | None = None,
        faults: FaultConfig | None = None,
        battery_pct: float | None = None,
        ambient_c: float | None = None,
        address: str | None = None,
    ) -> None:
        self.model = load_model(model) if isinstance(model, str) else model
        m = self.model
        if m.heat is not None and ambient_c is not None:
            m = dataclasses.replace(m, heat=dataclasses.replace(m.heat, ambient_c=ambient_c))
            self.model = m
        #: The INFO this device answers with.
        self.info = m.info(serial)
        self.serial = self.info.serial
        #: The Bluetooth address it advertises with (see :mod:`massager_simulator.ble`).
        self.address = address
        self._faults = faults if faults is not None else FaultConfig()
        self._rng = random.Random(self._faults.seed)
        self._motors = [Motor(m.intensity_steps, m.ramp_ms) for _ in m.zones]
        self._patterns: dict[int, Pattern] = {}
        self._flags = Fault(0)
        self._auto_off_s = m.auto_off_default_s
        self._on_since: float | None = None
        self._last_rx = 0.0
        self._next_status = 0.0
        self._off_report_at: float | None = None  # the last report, once the motors stop
        self._t: float | None = None  # time physics was last advanced to
        self._t_ctrl = 0.0  # time of the last control tick
        self._ports: list[Port] = []
        self._controller: object | None = None  # the link in control while something is on
        self._port_serial = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        #: Recent EVENTs the device emitted, ``(time, event)``, newest last.
        self.event_log: deque[tuple[float, Event]] = deque(maxlen=256)
        self._heat: HeaterControl | None = None
        self._pad_c = 0.0
        self._stuck_reading = 0.0
        if m.heat is not None:
            self._pad_c = m.heat.ambient_c
            self._heat = HeaterControl(m.heat, self._pad_c)
            self._stuck_reading = self._pad_c
            self._heater_ma = m.heat.power_w / NOMINAL_V * 1000.0
        self._battery: Battery | None = None
        if m.battery is not None:
            self._battery = Battery(m.battery, 100.0 if battery_pct is None else battery_pct)
        elif battery_pct is not None:
            raise ValueError(f"model {m.name} runs on mains power; it takes no battery_pct")
        self._apply_sensor_fault(FaultConfig(), self._faults)
        self._handlers: dict[int, tuple[type[Message], Callable[[Any, float], int]]] = {
            MsgType.SET_OUTPUT: (SetOutput, self._set_output),
            MsgType.SET_HEAT: (SetHeat, self._set_heat),
            MsgType.STOP_ALL: (StopAll, self._stop_all),
            MsgType.KEEPALIVE: (Keepalive, self._keepalive),
            MsgType.SET_AUTO_OFF: (SetAutoOff, self._set_auto_off),
            MsgType.UPLOAD_PATTERN: (UploadPattern, self._upload_pattern),
        }
        #: How the firmware speaks: the personality of the model's protocol. It
        #: translates that protocol's commands into the firmware's own
        #: (:meth:`apply`) and reports in its own frames.
        self.personality: Personality = make_personality(self)

    def __repr__(self) -> str:
        return f"SimulatedDevice({self.model.name!r}, serial={self.serial!r})"

    # ------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------

    async def start(self) -> None:
        """Power on: start the firmware on the running event loop."""
        self._ensure_started()

    async def stop(self) -> None:
        """Power off: close every link, stop all outputs and the firmware."""
        for port in list(self._ports):
            port.close()
        self._ports.clear()
        if self._t is not None:
            self._advance(self._clock())
        self._stop_everything()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if task.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def __aenter__(self) -> SimulatedDevice:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether the firmware is running."""
        return self._task is not None and not self._task.done()

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "a simulated device runs on an asyncio event loop: call start() or connect() "
                "from async code"
            ) from None
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            return loop
        if task is not None and task.get_loop() is not loop:
            # Powered on again under another event loop: links of the old one are gone.
            for port in self._ports:
                port.abandon()
            self._ports.clear()
            self._stop_everything()
        now = loop.time()
        self._t = self._t_ctrl = self._last_rx = now
        self._task = loop.create_task(
            self._run(), name=f"simulated {self.model.name} {self.serial}"
        )
        return loop

    # ------------------------------------------------------------------
    # Links
    # ------------------------------------------------------------------

    def connect(self, mtu: int | None = None) -> LinkEnd:
        """Open an in-process link; returns the host's end.

        ``mtu`` limits each write and each chunk read to that many bytes (a
        packet link such as BLE); ``None`` gives a plain byte stream. Closing
        the link tells the device its host went away.
        """
        self._ensure_started()
        return attach_in_process(LinkEnd(mtu), lambda t: self.open_port(t, "in-process"))

    def open_port(self, carrier: Carrier, name: str) -> Port:
        """Attach a link carried by ``carrier`` (used by every link kind).

        Raises ``ConnectionRefusedError`` when the device is off.
        """
        if not self.running:
            raise ConnectionRefusedError(f"simulated {self.model.name} {self.serial} is off")
        self._port_serial += 1
        port = Port(self, carrier, name, seed=self._faults.seed * 1000 + self._port_serial)
        self._ports.append(port)
        return port

    @property
    def link_count(self) -> int:
        """How many links are open."""
        return len(self._ports)

    def drop_links(self) -> None:
        """Drop every open link at once (both ends see it fail)."""
        for port in list(self._ports):
            port.drop()

    def _port_closed(self, port: Port) -> None:
        if port in self._ports:
            self._ports.remove(port)
        self.personality.port_closed(port)
        if self.is_on and (not self._ports or port is self._controller):
            # The controlling host went away: a device is never left running
            # unattended, whoever else is still watching.
            now = self._clock()
            self._advance(now)
            self._stop_everything()
            self._broadcast_status(now)

    # ------------------------------------------------------------------
    # Faults and actions
    # ------------------------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        """The injected faults (assign a new :class:`FaultConfig` to change them)."""
        return self._faults

    @faults.setter
    def faults(self, faults: FaultConfig) -> None:
        if not isinstance(faults, FaultConfig):
            raise TypeError(f"faults must be a FaultConfig, got {type(faults).__name__}")
        old, self._faults = self._faults, faults
        if faults.seed != old.seed:
            self._rng.seed(faults.seed)
        if self._t is not None:
            self._advance(self._clock())
        self._apply_sensor_fault(old, faults)
        if old.drop_after_s != faults.drop_after_s:
            for port in self._ports:
                port.arm_drop()
        self._poke()

    def inject(self, **changes: Any) -> FaultConfig:
        """Change some injected faults, e.g. ``inject(sensor="stuck", busy=0.2)``."""
        self.faults = self._faults.replace(**changes)
        return self._faults

    def _apply_sensor_fault(self, old: FaultConfig, new: FaultConfig) -> None:
        if new.sensor == "stuck" and (old.sensor != "stuck" or old.stuck_c != new.stuck_c):
            self._stuck_reading = (
                new.stuck_c if new.stuck_c is not None else self._healthy_reading()
            )

    def press_button(self) -> None:
        """A user presses the device's button: everything stops, EVENT BUTTON."""
        if not self.model.button:
            raise ValueError(f"model {self.model.name} has no button")
        now = self._clock_started()
        self._advance(now)
        self._stop_everything()
        self._event(now, EventCode.BUTTON, EventState.MOMENTARY)
        self._broadcast_status(now)

    def set_charging(self, charging: bool) -> None:
        """Connect or disconnect the charger (EVENT CHARGER)."""
        battery = self._battery
        if battery is None:
            raise ValueError(f"model {self.model.name} runs on mains power; it has no charger")
        now = self._clock_started()
        self._advance(now)
        if battery.charging == charging:
            return
        battery.charging = charging
        state = EventState.RAISED if charging else EventState.CLEARED
        self._event(now, EventCode.CHARGER, state, battery.level)
        self._broadcast_status(now)
        self._poke()

    # ------------------------------------------------------------------
    # Observable state
    # ------------------------------------------------------------------

    def _observe(self) -> float:
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return self._t if self._t is not None else 0.0
        if self._t is not None:
            self._advance(now)
        return now

    @property
    def levels(self) -> tuple[float, ...]:
        """Each zone's actual motor output now, 0..intensity_steps (ramps, waveforms)."""
        now = self._observe()
        return tuple(m.level(now) for m in self._motors)

    @property
    def intensities(self) -> tuple[int, ...]:
        """Each zone's actual output rounded, as STATUS reports it."""
        now = self._observe()
        return tuple(round(m.level(now)) for m in self._motors)

    @property
    def commanded(self) -> tuple[int, ...]:
        """Each zone's commanded intensity."""
        return tuple(m.target for m in self._motors)

    @property
    def temperature_c(self) -> float | None:
        """The heater pad's true temperature (``None`` without a heater)."""
        self._observe()
        return self._pad_c if self._heat is not None else None

    @property
    def sensed_temperature_c(self) -> float | None:
        """What the temperature sensor reads now (``None`` without a heater)."""
        self._observe()
        return self._sense() if self._heat is not None else None

    @property
    def heat_target_c(self) -> float | None:
        """The heater target, or ``None`` when the heater is off."""
        heat = self._heat
        return heat.target_c if heat is not None and heat.target_c > 0 else None

    @property
    def heater_duty(self) -> float:
        """The power fraction actually reaching the heater, 0..1."""
        return self._heater_applied()

    @property
    def battery_pct(self) -> float | None:
        """State of charge in percent (``None`` on mains power)."""
        self._observe()
        return self._battery.pct if self._battery is not None else None

    @property
    def battery_mv(self) -> int:
        """Battery terminal voltage in mV (0 on mains power)."""
        self._observe()
        return self._battery.mv if self._battery is not None else 0

    @property
    def charging(self) -> bool:
        """Whether the charger is connected."""
        return self._battery is not None and self._battery.charging

    @property
    def fault_flags(self) -> Fault:
        """Fault and latch flags, as STATUS reports them."""
        return self._flags

    @property
    def is_on(self) -> bool:
        """Whether any motor or the heater is on."""
        heat = self._heat
        return any(m.target for m in self._motors) or (heat is not None and heat.target_c > 0)

    @property
    def auto_off_remaining_s(self) -> float:
        """Seconds until auto-off (0 when nothing is on)."""
        now = self._observe()
        if self._on_since is None:
            return 0.0
        return max(0.0, self._on_since + self._auto_off_s - now)

    def status(self) -> Status:
        """The STATUS the device would send now."""
        return self._status(self._observe())

    # ------------------------------------------------------------------
    # The firmware's main loop
    # ------------------------------------------------------------------

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    def _clock_started(self) -> float:
        self._ensure_started()
        return self._clock()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self._tick(now)
            wake_at = self._next_wake(now)
            fut: asyncio.Future[None] = loop.create_future()
            self._wake = fut
            handle = loop.call_at(wake_at, _resolve, fut)
            try:
                await fut
            finally:
                handle.cancel()
                self._wake = None

    def _next_wake(self, now: float) -> float:
        if self._on_since is None:
            off_report = self._off_report_at
            return now + IDLE_TICK_S if off_report is None else min(now + IDLE_TICK_S, off_report)
        return min(
            now + ACTIVE_TICK_S,
            self._last_rx + self.model.watchdog_ms / 1000.0,
            self._on_since + self._auto_off_s,
            self._next_status,
        )

    def _tick(self, now: float) -> None:
        dt = now - self._t_ctrl
        self._t_ctrl = now
        self._advance(now)
        if self._heat is not None:
            self._heat_tick(now, dt)
        if self._battery is not None:
            self._battery_tick(now)
        if self._on_since is not None:
            if now >= self._last_rx + self.model.watchdog_ms / 1000.0 - _EPS:
                self._halt(now, Fault.WATCHDOG, EventCode.WATCHDOG_STOP, 0)
            elif now >= self._on_since + self._auto_off_s - _EPS:
                self._halt(now, Fault.AUTO_OFF, EventCode.AUTO_OFF, self._auto_off_s)
            elif now >= self._next_status - _EPS:
                self._broadcast_status(now)
        elif self._off_report_at is not None and now >= self._off_report_at - _EPS:
            self._off_report_at = None
            self._broadcast_status(now)
        self._update_load(now)

    def _advance(self, now: float) -> None:
        """Move the physics (pad temperature, battery charge) forward to ``now``."""
        t = self._t
        if t is None:
            self._t = now
            return
        dt = now - t
        if dt <= 0.0:
            return
        self._t = now
        heat = self._heat
        if heat is not None:
            self._pad_c = settle(self._pad_c, heat.spec, self._heater_applied(), dt)
            heat.advance(dt)
        if self._battery is not None:
            self._battery.advance(dt, self._faults.drain)

    def _heater_applied(self) -> float:
        heat = self._heat
        if heat is None or heat.target_c <= 0:
            return 0.0  # the heater's enable switch is open
        return 1.0 if self._faults.heater_stuck_on else heat.duty

    def _healthy_reading(self) -> float:
        noise = sensor_noise(self._t or 0.0, self._faults.seed)
        return round(self._pad_c + noise, 1)

    def _sense(self) -> float:
        mode = self._faults.sensor
        if mode == "ok":
            return self._healthy_reading()
        if mode == "stuck":
            return self._stuck_reading
        return OPEN_READING_C if mode == "open" else SHORT_READING_C

    def _heat_tick(self, now: float, dt: float) -> None:
        heat = self._heat
        assert heat is not None
        sensed = self._sense()
        if not self._flags & Fault.SENSOR:
            if not heat.plausible(sensed, now):
                was_on = heat.target_c > 0
                self._latch(Fault.SENSOR)
                self._heater_off(now)
                self._event(now, EventCode.SENSOR_FAULT, EventState.RAISED, _dc(sensed))
                if was_on:
                    self._broadcast_status(now)
                return
        elif self._faults.sensor == "ok":
            # The sensor was repaired: trust it again.
            heat.trust(sensed, now)
            self._unlatch(now, Fault.SENSOR, EventCode.SENSOR_FAULT, _dc(sensed))
        else:
            return
        if sensed >= heat.cutoff_c and not self._flags & Fault.OVERHEAT:
            self._latch(Fault.OVERHEAT)
            self._heater_off(now)
            self._event(now, EventCode.OVERHEAT, EventState.RAISED, _dc(sensed))
            self._broadcast_status(now)
            return
        if self._flags & Fault.OVERHEAT and sensed <= heat.spec.limit_c - OVERHEAT_CLEAR_C:
            self._unlatch(now, Fault.OVERHEAT, EventCode.OVERHEAT, _dc(sensed))
        heat.control(sensed, dt)

    def _battery_tick(self, now: float) -> None:
        battery = self._battery
        assert battery is not None
        spec = battery.spec
        level = battery.level
        flags = self._flags
        if not flags & Fault.LOW_BATTERY and level <= spec.low_pct:
            self._latch(Fault.LOW_BATTERY)
            self._event(now, EventCode.LOW_BATTERY, EventState.RAISED, level)
            if self._heat is not None and self._heat.target_c > 0:
                # The heater is the largest load: it goes first.
                self._heater_off(now)
                self._broadcast_status(now)
        elif flags & Fault.LOW_BATTERY and level > spec.low_pct + BATTERY_HYSTERESIS_PCT:
            self._unlatch(now, Fault.LOW_BATTERY, EventCode.LOW_BATTERY, level)
        if not flags & Fault.BATTERY_CRITICAL and level <= spec.shutdown_pct:
            self._latch(Fault.BATTERY_CRITICAL)
            self._stop_everything()
            self._event(now, EventCode.SHUTDOWN, EventState.RAISED, level)
            self._broadcast_status(now)
        elif flags & Fault.BATTERY_CRITICAL and level > spec.shutdown_pct + BATTERY_HYSTERESIS_PCT:
            self._unlatch(now, Fault.BATTERY_CRITICAL, EventCode.SHUTDOWN, level)

    def _update_load(self, now: float) -> None:
        battery = self._battery
        if battery is None:
            return
        spec = battery.spec
        load = spec.idle_ma + spec.motor_ma * sum(m.load(now) for m in self._motors)
        if self._heat is not None:
            load += self._heater_ma * self._heater_applied()
        battery.load_ma = load

    # ------------------------------------------------------------------
    # State changes
    # ------------------------------------------------------------------

    def _latch(self, flag: Fault) -> None:
        self._flags |= flag

    def _unlatch(self, now: float, flag: Fault, code: EventCode, value: int = 0) -> None:
        if self._flags & flag:
            self._flags &= ~flag
            self._event(now, code, EventState.CLEARED, value)

    def _heater_off(self, now: float) -> None:
        if self._heat is not None:
            self._heat.off()
        self._after_change(now)

    def _stop_everything(self) -> None:
        for motor in self._motors:
            motor.stop()
        if self._heat is not None:
            self._heat.off()
        self._on_since = None
        self._controller = None

    def _halt(self, now: float, flag: Fault, code: EventCode, value: int) -> None:
        """A safety stop by the device: everything off, latch, EVENT, STATUS."""
        self._stop_everything()
        self._latch(flag)
        self._event(now, code, EventState.RAISED, value)
        self._broadcast_status(now)

    def _after_change(self, now: float) -> None:
        """Track the on/off transition after outputs changed."""
        on = self.is_on
        if on and self._on_since is None:
            self._off_report_at = None  # on again before the motors had wound down
            self._on_since = now
            self._next_status = now + TELEMETRY_S
            self._poke()
        elif not on and self._on_since is not None:
            self._on_since = None
            self._controller = None
            self._report_off(now)
        self._update_load(now)

    def _event(self, now: float, code: EventCode, state: EventState, value: int = 0) -> None:
        value = max(-0x8000, min(0x7FFF, value))  # the field is an int16
        event = Event(code=int(code), state=int(state), value=value)
        self.event_log.append((now, event))
        self.personality.event(now, event)

    def _status(self, now: float) -> Status:
        battery = self._battery
        heat = self._heat
        temperature: int | None = None
        if heat is not None:
            sensed = self._sense()
            low, high = SENSOR_RANGE_C
            if low <= sensed <= high:  # an open or shorted sensor has no reading to report
                temperature = round(sensed * 10)
        remaining = 0
        if self._on_since is not None:
            left = self._on_since + self._auto_off_s - now
            # Whole seconds, rounded up; the epsilon keeps float noise from adding one.
            remaining = max(0, min(0xFFFF, math.ceil(left - 1e-6)))
        return Status.make(
            battery_pct=None if battery is None else battery.level,
            charging=battery is not None and battery.charging,
            battery_mv=0 if battery is None else battery.mv,
            faults=int(self._flags),
            heat_target_dc=0 if heat is None else round(heat.target_c * 10),
            temperature_dc=temperature,
            auto_off_s=remaining,
            intensities=[round(m.level(now)) for m in self._motors],
        )

    def _report_off(self, now: float) -> None:
        """One more report when everything has gone off, so watching hosts see it
        (for a personality that wants it).

        Motors switched off with SET_OUTPUT wind down along their ramp: the report
        goes out when they have stopped.
        """
        if not self.personality.reports_when_off:
            return
        settled = max((m.settled_at(now) for m in self._motors), default=now)
        if settled <= now + _EPS:
            self._off_report_at = None
            self._broadcast_status(now)
        else:
            self._off_report_at = settled
            self._poke()

    def _broadcast_status(self, now: float) -> None:
        self._next_status = now + TELEMETRY_S
        if self._ports:
            self.personality.status(now)

    # ------------------------------------------------------------------
    # Frames
    # ------------------------------------------------------------------

    def _port_bytes(self, port: Port, data: bytes) -> None:
        self.personality.port_bytes(port, data)

    def apply(self, message: Message, now: float, link: object | None = None) -> int:
        """Carry out a host command as the firmware does: 0, or the NackCode.

        Protocol personalities call this for every command they translate, so
        range checks, latches and the watchdog behave the same in every
        protocol. ``link`` is the link the command came on (``None``: the
        protocol has one host, which always controls). A command counts as a
        frame heard (see :meth:`heard`).
        """
        self.heard(now, link)
        entry = self._handlers.get(message.TYPE)
        if entry is None:
            return NackCode.UNKNOWN_TYPE
        controller = self._controller
        other = link is not None and controller is not None and link is not controller
        if other and message.TYPE in _CONTROL:
            return NackCode.BUSY  # another link holds control
        busy = self._faults.busy
        if busy and message.TYPE not in _NOT_BUSY and self._rng.random() < busy:
            return NackCode.BUSY
        was_on = self.is_on
        code = entry[1](message, now)
        if code:
            return code
        if other and was_on and not self.is_on:
            # Stopped from another link: the controlling host must hear of it.
            self._event(now, EventCode.LINK_STOP, EventState.MOMENTARY)
        elif self.is_on and self._controller is None:
            self._controller = link
        return 0

    def heard(self, now: float, link: object | None = None) -> None:
        """A valid frame arrived on ``link``; it feeds the watchdog when that link
        controls the device (or nothing does, or the protocol has one host)."""
        self._advance(now)
        controller = self._controller
        if link is None or controller is None or link is controller:
            self._last_rx = now

    def command_type(self, msg_type: int) -> type[Message] | None:
        """The message class of a command type the firmware carries out, or ``None``."""
        entry = self._handlers.get(msg_type)
        return None if entry is None else entry[0]

    # Each handler checks everything first and changes state only when it
    # accepts: it returns 0 (ACK) or the NackCode.

    def _set_output(self, m: SetOutput, now: float) -> int:
        model = self.model
        if m.zone_mask == 0 or m.zone_mask >> len(model.zones):
            return NackCode.OUT_OF_RANGE
        if m.intensity > model.intensity_steps:
            return NackCode.OUT_OF_RANGE
        try:
            waveform = Waveform(m.waveform)
        except ValueError:
            return NackCode.OUT_OF_RANGE
        pattern: Pattern | None = None
        pattern_id = period_ms = 0
        if waveform == Waveform.PATTERN:
            pattern = self._patterns.get(m.pattern_id)
            if pattern is None:
                return NackCode.OUT_OF_RANGE
            pattern_id, period_ms = m.pattern_id, m.period_ms
        elif waveform != Waveform.CONSTANT:
            if m.period_ms == 0 and m.intensity:
                return NackCode.OUT_OF_RANGE
            period_ms = m.period_ms
        if m.intensity and self._flags & Fault.BATTERY_CRITICAL:
            return NackCode.LOW_BATTERY
        for index, motor in enumerate(self._motors):
            if m.zone_mask >> index & 1:
                motor.command(now, m.intensity, waveform, pattern_id, pattern, period_ms)
        self._accepted_output(now, switched_on=m.intensity > 0)
        return 0

    def _set_heat(self, m: SetHeat, now: float) -> int:
        heat = self._heat
        if heat is None:
            return NackCode.OUT_OF_RANGE  # nothing to set, nor to switch off
        target = m.target_dc
        if target:
            if target > self.info.heat_limit_dc or target < min(self.info.heat_targets_dc):
                return NackCode.OUT_OF_RANGE
            if self._flags & _HEAT_LOCKS:
                return NackCode.HEAT_LOCKED
            if self._flags & (Fault.LOW_BATTERY | Fault.BATTERY_CRITICAL):
                return NackCode.LOW_BATTERY
            heat.target_c = target / 10.0
        else:
            heat.off()
        self._accepted_output(now, switched_on=target > 0)
        return 0

    def _accepted_output(self, now: float, *, switched_on: bool) -> None:
        if switched_on:  # the latches clear when the host switches something on again
            for flag, code in (
                (Fault.WATCHDOG, EventCode.WATCHDOG_STOP),
                (Fault.AUTO_OFF, EventCode.AUTO_OFF),
            ):
                self._unlatch(now, flag, code)
        self._after_change(now)

    def _stop_all(self, m: StopAll, now: float) -> int:
        was_on = self.is_on
        self._stop_everything()
        self._update_load(now)
        if was_on:
            self._report_off(now)
        return 0

    def _keepalive(self, m: Keepalive, now: float) -> int:
        return 0

    def _set_auto_off(self, m: SetAutoOff, now: float) -> int:
        if m.seconds > self.model.auto_off_max_s:
            return NackCode.OUT_OF_RANGE
        self._auto_off_s = m.seconds or self.model.auto_off_default_s
        self._poke()  # a shorter limit may already have run out
        return 0

    def _upload_pattern(self, m: UploadPattern, now: float) -> int:
        model = self.model
        if m.pattern_id >= model.pattern_slots:
            return NackCode.OUT_OF_RANGE
        if not 1 <= len(m.steps) <= model.pattern_max_steps:
            return NackCode.OUT_OF_RANGE
        if any(s.level_pct > 100 or s.duration_ms == 0 for s in m.steps):
            return NackCode.OUT_OF_RANGE
        pattern = Pattern(m.steps)
        self._patterns[m.pattern_id] = pattern
        for motor in self._motors:
            if motor.waveform == Waveform.PATTERN and motor.pattern_id == m.pattern_id:
                motor.pattern = pattern
        return 0
