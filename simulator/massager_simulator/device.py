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

The firmware is built from parts with one job each, which the device composes:
:class:`~.outputs.Outputs` (motors and pattern slots),
:class:`~.heating.Heating` (pad, sensor and heater control),
:class:`~.power.Power` (battery, charger and loads),
:class:`~.supervisor.Supervisor` (latches, the controlling link, watchdog and
auto-off) and :class:`~.reports.Reports` (EVENTs, STATUS and telemetry). The
device itself runs the control loop, holds the links and dispatches commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from massager_protocols.nmp import (
    EventCode,
    EventState,
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
)

from massager_simulator.battery import Battery
from massager_simulator.faults import FaultConfig
from massager_simulator.heating import Heating
from massager_simulator.link import Carrier, LinkEnd, Port, attach_in_process
from massager_simulator.model import DEFAULT_MODEL, DeviceModel, load_model
from massager_simulator.outputs import Outputs
from massager_simulator.personalities import Personality, make_personality
from massager_simulator.power import Power
from massager_simulator.readings import DeviceReadings
from massager_simulator.reports import Reports
from massager_simulator.supervisor import Supervisor

#: Control period while something is on (heater loop, ramps, battery).
ACTIVE_TICK_S = 0.25
#: Control period when idle (cooling, charging, battery thresholds).
IDLE_TICK_S = 1.0

_NOT_BUSY = frozenset({MsgType.GET_INFO, MsgType.GET_STATUS, MsgType.STOP_ALL, MsgType.KEEPALIVE})
#: Commands only the controlling link may send while something is on.
_CONTROL = frozenset(
    {MsgType.SET_OUTPUT, MsgType.SET_HEAT, MsgType.SET_AUTO_OFF, MsgType.UPLOAD_PATTERN}
)

#: Carries out one command: 0 (ACK) or the NackCode.
Handler = Callable[[Any, float], int]


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _no_heater(m: SetHeat, now: float) -> int:
    return NackCode.OUT_OF_RANGE  # nothing to set, nor to switch off


class SimulatedDevice(DeviceReadings):
    """A simulated neck massager: the firmware, its hardware and its links.

    ``model`` is a :class:`DeviceModel` or a model name (``heat4``, ``neck2``,
    ``handheld``). ``battery_pct`` is the initial charge of a battery device;
    ``ambient_c`` overrides the model's ambient temperature; ``address`` is
    the Bluetooth address it advertises when registered for BLE.
    Start it with ``await device.start()`` (or ``async with device:``; a
    ``connect()`` on a running loop also starts it), then reach it with
    :meth:`connect`, :func:`~massager_simulator.serve_tcp` or
    :func:`~massager_simulator.open_pty`. What it shows a test bench
    (``levels``, ``temperature_c``, ``fault_flags``, ``status()``, ...) is
    :class:`~massager_simulator.readings.DeviceReadings`.
    """

    #: The classes of the firmware's parts. A variant firmware (one with a
    #: deliberate bug, to show that a conformance suite catches it) subclasses
    #: a part and names its class here.
    outputs_class: ClassVar[type[Outputs]] = Outputs
    heating_class: ClassVar[type[Heating]] = Heating
    power_class: ClassVar[type[Power]] = Power
    supervisor_class: ClassVar[type[Supervisor]] = Supervisor
    reports_class: ClassVar[type[Reports]] = Reports

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
        m = load_model(model) if isinstance(model, str) else model
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
        self._t: float | None = None  # time physics was last advanced to
        self._t_ctrl = 0.0  # time of the last control tick
        self._ports: list[Port] = []
        self._port_serial = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        #: The motors and pattern slots (SET_OUTPUT, UPLOAD_PATTERN).
        self.outputs = self.outputs_class(self)
        #: The heater, its pad and its sensor (SET_HEAT); ``None`` without a heater.
        self.heating = None if m.heat is None else self.heating_class(self, m.heat)
        #: The battery, its charger and the loads; ``None`` on mains power.
        self.power: Power | None = None
        if m.battery is not None:
            pct = 100.0 if battery_pct is None else battery_pct
            self.power = self.power_class(self, Battery(m.battery, pct))
        elif battery_pct is not None:
            raise ValueError(f"model {m.name} runs on mains power; it takes no battery_pct")
        #: Latches, control, watchdog and auto-off (STOP_ALL, KEEPALIVE, SET_AUTO_OFF).
        self.supervisor = self.supervisor_class(self)
        #: EVENTs, STATUS and the telemetry schedule.
        self.reports = self.reports_class(self)
        supervisor, outputs, heating = self.supervisor, self.outputs, self.heating
        self._handlers: dict[int, tuple[type[Message], Handler]] = {
            MsgType.SET_OUTPUT: (SetOutput, outputs.set_output),
            MsgType.SET_HEAT: (SetHeat, _no_heater if heating is None else heating.set_heat),
            MsgType.STOP_ALL: (StopAll, supervisor.stop_all),
            MsgType.KEEPALIVE: (Keepalive, supervisor.keepalive),
            MsgType.SET_AUTO_OFF: (SetAutoOff, supervisor.set_auto_off),
            MsgType.UPLOAD_PATTERN: (UploadPattern, outputs.upload_pattern),
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
        self.supervisor.stop_everything()
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
            self.supervisor.stop_everything()
        now = loop.time()
        self._t = self._t_ctrl = self.supervisor.last_rx = now
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

    def _port_bytes(self, port: Port, data: bytes) -> None:
        self.personality.port_bytes(port, data)

    def _port_closed(self, port: Port) -> None:
        if port in self._ports:
            self._ports.remove(port)
        self.personality.port_closed(port)
        if self.is_on and (not self._ports or port is self.supervisor.controller):
            # The controlling host went away: a device is never left running
            # unattended, whoever else is still watching.
            now = self._clock()
            self._advance(now)
            self.supervisor.stop_everything()
            self.reports.broadcast(now)

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
        if self.heating is not None:
            self.heating.apply_fault(old, faults)
        if old.drop_after_s != faults.drop_after_s:
            for port in self._ports:
                port.arm_drop()
        self._poke()

    def inject(self, **changes: Any) -> FaultConfig:
        """Change some injected faults, e.g. ``inject(sensor="stuck", busy=0.2)``."""
        self.faults = self._faults.replace(**changes)
        return self._faults

    def press_button(self) -> None:
        """A user presses the device's button: everything stops, EVENT BUTTON."""
        if not self.model.button:
            raise ValueError(f"model {self.model.name} has no button")
        now = self._clock_started()
        self._advance(now)
        self.supervisor.stop_everything()
        self.reports.event(now, EventCode.BUTTON, EventState.MOMENTARY)
        self.reports.broadcast(now)

    def set_charging(self, charging: bool) -> None:
        """Connect or disconnect the charger (EVENT CHARGER)."""
        power = self.power
        if power is None:
            raise ValueError(f"model {self.model.name} runs on mains power; it has no charger")
        now = self._clock_started()
        self._advance(now)
        power.set_charging(now, charging)

    # ------------------------------------------------------------------
    # The firmware's main loop
    # ------------------------------------------------------------------

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    def _clock_started(self) -> float:
        self._ensure_started()
        return self._clock()

    def _poke(self) -> None:
        """Wake the main loop now (a deadline may have moved closer)."""
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
        supervisor = self.supervisor
        report_at = self.reports.next_due()
        auto_off_at = supervisor.auto_off_at
        if auto_off_at is None:
            return now + IDLE_TICK_S if report_at is None else min(now + IDLE_TICK_S, report_at)
        assert report_at is not None
        return min(now + ACTIVE_TICK_S, supervisor.watchdog_at, auto_off_at, report_at)

    def _tick(self, now: float) -> None:
        dt = now - self._t_ctrl
        self._t_ctrl = now
        self._advance(now)
        if self.heating is not None:
            self.heating.tick(now, dt)
        if self.power is not None:
            self.power.tick(now)
        if not self.supervisor.tick(now):
            self.reports.tick(now)
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
        if self.heating is not None:
            self.heating.advance(dt)
        if self.power is not None:
            self.power.advance(dt)

    def _status(self, now: float) -> Status:
        """The STATUS at ``now`` (what a personality reports)."""
        return self.reports.status(now)

    def _update_load(self, now: float) -> None:
        if self.power is not None:
            self.power.update_load(now)

    # ------------------------------------------------------------------
    # Commands
    # ------------------------------------------------------------------

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
        supervisor = self.supervisor
        controller = supervisor.controller
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
            self.reports.event(now, EventCode.LINK_STOP, EventState.MOMENTARY)
        elif self.is_on and supervisor.controller is None:
            supervisor.controller = link
        return 0

    def heard(self, now: float, link: object | None = None) -> None:
        """A valid frame arrived on ``link``; it feeds the watchdog when that link
        controls the device (or nothing does, or the protocol has one host)."""
        self._advance(now)
        self.supervisor.heard(now, link)

    def command_type(self, msg_type: int) -> type[Message] | None:
        """The message class of a command type the firmware carries out, or ``None``."""
        entry = self._handlers.get(msg_type)
        return None if entry is None else entry[0]
