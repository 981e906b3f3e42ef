"""The device client: one object, one task, per connected massager.

    async with massager_sdk.connect() as device:      # the embedded simulator
        await device.set_intensity(3)                 # every zone
        await device.set_heat(40.0)
        await device.flush()                          # wait for the device to confirm

How output calls behave
-----------------------
``set_intensity``, ``set_heat`` and ``play_pattern`` check their arguments and
the safety policy, record the wanted state and return: they do not wait for the
device. The session task sends the latest wanted state of each output, one
command in flight at a time and no faster than the link's minimum gap, so a
flood of calls coalesces (latest wins) and nothing queues without bound.
Rising levels step toward the target at the safety policy's ramp pace.
``await device.flush()`` waits until the device has acknowledged everything
asked so far. A refusal by the device (a NACK) is raised by the next output
call or by ``flush()``; the refused output keeps its previous state.

``stop()``, ``status()`` and ``set_auto_off()`` go to the device at once and
return its answer.

Link loss
---------
When the link drops (or the device stops answering a command after the
retries), the session emits ``LINK_LOST`` and reconnects with exponential
backoff. If the link is back within ``reconnect_grace_s`` (default 10 s) and it
is the same device, the wanted outputs are sent again (with a soft start, as
the device watchdog will have stopped them), patterns are uploaded again, a
``LINK_RESTORED`` event is emitted and calls made meanwhile take effect. If
not, the session ends: outputs are forgotten, the device is left stopped by its
own watchdog and every further call raises ``ConnectionFailed``.

A lost link is not an emergency stop: the session does not pass its own
``LINK_LOST`` and ``LINK_RESTORED`` events to the safety policy, so outputs come
back after a short outage. The policy keeps counting the session's on-time, heat
contact and thermal dose through it, and every limit still applies. A stop the
device reports on its own (watchdog, auto-off) is an emergency stop: outputs stay
refused until :meth:`Device.resume` (``docs/safety.md``, "Lost link").

Watching without control
------------------------
``connect(url, control=False)`` opens a monitoring connection: it reads INFO and
STATUS and passes on the status and events the device sends, but it leaves the
device as it finds it. Connecting does not stop a device another host is
running, leaving sends nothing, and it sends no keepalives or status polls of
its own (so it never keeps a device's watchdog fed for a host that went
quiet). Output, heat and auto-off calls raise :class:`NotInControl`;
:meth:`Device.stop` works, because anyone may stop a massager.

Leaving
-------
Leaving the ``async with`` block (normally, by an exception or by
cancellation) sends STOP_ALL and waits for its acknowledgement before the link
is closed. With ``install_signal_handlers=True``, SIGINT and SIGTERM stop the
device at once, cancel the task that opened it and, once it is stopped, raise
``KeyboardInterrupt`` (SIGINT) or ``SystemExit(128 + signal)`` (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import signal
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import (
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    MassagerError,
    NotInControl,
    NotSupported,
    SafetyRefusal,
)
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind, Pattern, Waveform
from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.profiles.overrides import DeviceOverride
from massager_sdk.profiles.selection import LinkRequest, Selection, check_allowed
from massager_sdk.protocols import (
    AdapterStats,
    Command,
    GetInfo,
    GetStatus,
    Keepalive,
    ProtocolAdapter,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session import Requester, SessionStats, TelemetryHub, TelemetryStream
from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.plan import (
    EPS,
    OutputPlan,
    OutputState,
    SendHeat,
    SendZones,
    Upload,
    Wait,
    ZoneOutput,
)
from massager_sdk.session.slots import PatternSlots, SlotsFull
from massager_sdk.transports import Transport, open_transport

_log = logging.getLogger("massager_sdk")

ZoneKey = int | str
ZoneSpec = ZoneKey | Iterable[ZoneKey] | None
State = Literal["new", "opening", "open", "closing", "closed"]

#: Reconnect backoff: first pause, growth factor and longest pause (seconds).
BACKOFF_FIRST_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.05, 2.0, 2.0
#: Events after which the device has switched its outputs off on its own.
_DEVICE_STOPS = frozenset(
    {EventKind.AUTO_OFF, EventKind.SHUTDOWN, EventKind.BUTTON, EventKind.WATCHDOG_STOP}
)
#: Latched fault flags that say the device stopped on its own, and the event they stand for.
_STOP_LATCHES = {"watchdog": EventKind.WATCHDOG_STOP, "auto_off": EventKind.AUTO_OFF}
#: Past this fraction of the watchdog time since the device surely heard us, it may have
#: stopped unseen: nothing is sent on before its status says what it runs.
_UNSURE_FRACTION = 0.8
#: The shortest wait for a safety deadline that is already due (never spin).
_MIN_WAIT_S = 0.001
_HEAT_STOPS = frozenset({EventKind.OVERHEAT, EventKind.SENSOR_FAULT})


class Device:
    """A connected massager. Get one from :func:`connect`.

    Attributes are read without I/O; coroutines talk to the device. See the
    module documentation for when each call returns.
    """

    def __init__(
        self,
        transport: Transport,
        options: ConnectOptions | None = None,
        *,
        link: LinkRequest | None = None,
        **keywords: Any,
    ) -> None:
        """Build the session for ``transport`` (not yet opened).

        ``options`` configures it; keyword arguments naming fields of
        :class:`ConnectOptions` (``timeout=``, ``control=``, ...) override them.
        ``link`` is what :func:`connect` settled from the URL; without it, the
        link is described by the transport and ``options.protocol`` and
        ``options.device_profile``.
        """
        options, unknown = ConnectOptions.split(options, keywords)
        if unknown:
            raise TypeError(
                f"Device() got unknown keyword arguments {', '.join(sorted(unknown))}; "
                f"it takes the fields of ConnectOptions"
            )
        if link is None:
            link = LinkRequest(
                transport.description,
                protocol=options.protocol,
                device_profile=options.device_profile,
            )
        self._options = options
        self._transport = transport
        self._link = link
        # Until the device is opened and identified: the best guess without the link's word.
        self._selection: Selection
        self._adapter: ProtocolAdapter
        self._selection, self._adapter = self._link.guess()
        self._link_keys: tuple[str, ...] = ()
        self._override: DeviceOverride | None = None
        self.stats = SessionStats()
        self._requester = Requester(
            transport, self._adapter, self.stats, timeout=options.timeout, retries=options.retries
        )
        self._hub = TelemetryHub(self.stats)
        self._grace_s = float(options.reconnect_grace_s)
        self._status_interval = options.status_interval_s
        self._control = options.control

        self._state: State = "new"
        self._caps: DeviceCapabilities | None = None
        self._safety: SafetyPolicy | None = None
        # Replaced once the device is identified (its zones, slots and gap).
        self._plan = OutputPlan(0, PatternSlots(0), gap_s=transport.min_gap_s)
        self._keepalive_s = 1.0
        self._auto_off_synced = False  # the device's auto-off was set for this on-period
        self._last_status: DeviceStatus | None = None
        self._last_status_at = -math.inf
        self._error: MassagerError | None = None  # a device refusal not yet reported
        self._failure: ConnectionFailed | None = None  # the session has ended for good
        self._lost_at: float | None = None
        self._link_up = False
        self._task: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None  # STOP_ALL under way
        self._heat_task: asyncio.Task[None] | None = None  # a safety heat-off under way
        self._background: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._owner: asyncio.Task[Any] | None = None
        self._signal: int | None = None
        self._saved_handlers: dict[int, Any] = {}

    # ------------------------------------------------------------------
    # what a caller reads
    # ------------------------------------------------------------------

    @property
    def info(self) -> DeviceCapabilities:
        """What the device is and can do (read from it when connecting)."""
        if self._caps is None:
            raise RuntimeError("the device is not connected yet: use 'async with connect(...)'")
        return self._caps

    @property
    def options(self) -> ConnectOptions:
        """The options this session was configured with."""
        return self._options

    @property
    def safety(self) -> SafetyPolicy:
        """The safety policy every output, heat, auto-off and pattern call passes."""
        if self._safety is None:
            raise RuntimeError("the device is not connected yet: use 'async with connect(...)'")
        return self._safety

    @property
    def transport(self) -> Transport:
        """The link to the device (once open, inside Tuya's secure channel if it needs one)."""
        return self._transport

    @property
    def protocol(self) -> str:
        """The wire protocol spoken (settled when the device is opened)."""
        return self._selection.protocol

    @property
    def device_profile(self) -> DeviceProfile:
        """The device profile in use (settled when the device is opened)."""
        return self._selection.profile

    @property
    def name(self) -> str:
        """The display name: the user's device file's, else the model."""
        if self._override is not None and self._override.name:
            return self._override.name
        return self._caps.model if self._caps else "device"

    @property
    def connected(self) -> bool:
        """Whether the link is up now (``False`` while reconnecting and after the end)."""
        return self._link_up and self._state == "open"

    @property
    def last_status(self) -> DeviceStatus | None:
        """The latest status the device reported (no I/O)."""
        return self._last_status

    @property
    def pending_outputs(self) -> int:
        """Outputs (zones and heater) whose wanted state the device has not confirmed."""
        return self._plan.pending

    @property
    def acknowledged(self) -> OutputState:
        """What the device acknowledged: each zone's output and the heater's target.

        Read-only and without I/O. It is what the device confirmed, not what was
        asked (see :attr:`pending_outputs`); a status the device sends replaces it
        with what the device shows it runs, and a stop with everything off.
        """
        return self._plan.acknowledged

    @property
    def requests_in_flight(self) -> int:
        """Commands sent and not yet answered (bounded: one output command at a time)."""
        return self._requester.in_flight

    @property
    def wire_stats(self) -> AdapterStats:
        """What the protocol decoder saw: frames, skipped bytes, CRC errors."""
        return self._adapter.stats

    @property
    def in_control(self) -> bool:
        """Whether this host drives the device (``False``: a ``control=False`` monitor)."""
        return self._control

    @property
    def signal_received(self) -> int | None:
        """The signal that stopped the device (with ``install_signal_handlers``)."""
        return self._signal

    def telemetry(self, buffer: int | None = None) -> TelemetryStream:
        """An async iterator of :class:`DeviceStatus` and :class:`DeviceEvent`.

        It holds at most ``buffer`` items (default: ``connect(telemetry_buffer=)``);
        a consumer that falls behind loses the oldest. It ends when the device closes.
        """
        return self._hub.stream(self._options.telemetry_buffer if buffer is None else buffer)

    def on_status(self, callback: Callable[[DeviceStatus], object]) -> Callable[[], None]:
        """Call ``callback(status)`` for every status; returns a function that unsubscribes."""
        return self._hub.on_status(callback)

    def on_event(self, callback: Callable[[DeviceEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        return self._hub.on_event(callback)

    # ------------------------------------------------------------------
    # opening and closing
    # ------------------------------------------------------------------

    async def __aenter__(self) -> Device:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The stop must complete even if the caller is cancelled again meanwhile.
        closing = asyncio.ensure_future(self.close())
        cancelled = False
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
        closing.result()
        if self._signal is not None and (
            exc_type is None or issubclass(exc_type, asyncio.CancelledError)
        ):
            task = asyncio.current_task()
            if task is not None and task is self._owner:
                while task.cancelling():
                    task.uncancel()
            if self._signal == signal.SIGINT:
                raise KeyboardInterrupt from None
            raise SystemExit(128 + self._signal) from None
        if cancelled and exc_type is None:
            raise asyncio.CancelledError

    async def open(self) -> Device:
        """Connect, read the device's capabilities and start the session task."""
        if self._state != "new":
            raise RuntimeError(f"this Device is {self._state}; call connect() for a new one")
        self._state = "opening"
        loop = asyncio.get_running_loop()
        try:
            prepared = await self._link.prepare(self._transport)
        except BaseException:
            self._state = "closed"
            await self._transport.close()
            raise
        self._transport = self._requester.transport = prepared.transport
        self._adapter = self._requester.adapter = prepared.adapter
        self._selection = prepared.selection
        self._link_keys = prepared.keys
        self._override = prepared.override
        self._plan.gap_s = self._transport.min_gap_s
        self._transport.set_receiver(self._on_data, self._on_lost)
        try:
            await self._transport.connect()
            try:
                await self._handshake()
            except DeviceTimeout as exc:
                raise ConnectionFailed(
                    f"{self._transport.description} does not answer: {exc}"
                ) from exc
        except BaseException:
            self._state = "closed"
            await self._transport.close()
            raise
        self._state = "open"
        self._task = loop.create_task(self._run(), name=f"massager-{self._transport.description}")
        if self._options.install_signal_handlers:
            self._install_signals()
        return self

    async def close(self) -> None:
        """Stop the device (STOP_ALL, acknowledged), then close the link. Idempotent."""
        if self._state in ("closing", "closed"):
            while self._state != "closed":
                await self._wait_progress(None)
            return
        if self._state == "new":
            self._state = "closed"
            return
        self._state = "closing"
        try:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if not self._control:
                pass  # a monitor leaves the device as it found it
            elif self._link_up and self._failure is None:
                self._clear_wants()
                try:
                    await self._send_stop()
                except MassagerError as exc:
                    _log.warning("could not stop %s before closing: %s", self.describe(), exc)
            elif self._failure is None:
                _log.warning(
                    "closing %s while its link is down: its watchdog stops it", self.describe()
                )
            for job in list(self._background):
                job.cancel()
            await self._transport.close()
        finally:
            self._uninstall_signals()
            self._link_up = False
            self._requester.fail_all(ConnectionFailed(f"{self.describe()} is closed"))
            self._hub.close()
            self._state = "closed"
            self._notify()

    def describe(self) -> str:
        """The device and link, for messages: ``NMP Heat 4 on sim://heat4``."""
        return f"{self.name} on {self._transport.description}"

    # ------------------------------------------------------------------
    # commands
    # ------------------------------------------------------------------

    async def set_intensity(
        self,
        level: int,
        zone: ZoneSpec = None,
        *,
        waveform: Waveform = Waveform.CONSTANT,
        period: float = 0.0,
    ) -> None:
        """Drive ``zone`` (index, name, several, or ``None`` for all) at ``level``.

        ``waveform`` PULSE or WAVE needs ``period`` seconds > 0. Returns once the
        safety policy accepted the level and it is scheduled; raises
        :class:`SafetyRefusal` (nothing changes), ``ValueError``/``TypeError``
        for bad arguments, or a pending device refusal of an earlier call.
        """
        self._check_usable(drives=True)
        zones = self._zones(zone)
        level = self._level(level)
        if not isinstance(waveform, Waveform):
            raise TypeError(f"waveform must be a Waveform ({', '.join(w.name for w in Waveform)})")
        if waveform is Waveform.CONSTANT:
            period = 0.0
        elif not (isinstance(period, int | float) and period > 0):
            raise ValueError(f"a {waveform.name} waveform needs period > 0 seconds, got {period!r}")
        drive = ZoneOutput(level, waveform, float(period))
        self._adapter.validate(SetZones(zones, level, waveform, float(period)))
        self._check_outputs(zones, level)
        self._schedule(zones, drive)

    async def play_pattern(
        self,
        pattern: Pattern,
        zone: ZoneSpec = None,
        *,
        intensity: int,
        phase: float = 0.0,
    ) -> None:
        """Loop ``pattern`` on the device's own clock, scaled to ``intensity``.

        ``phase`` (0 <= phase < 1) starts that fraction into the loop (0.5 runs a
        zone half a loop behind another). The pattern is uploaded to a slot once
        (cached by content) and selected; returns once scheduled, like
        :meth:`set_intensity`.
        """
        self._check_usable(drives=True)
        caps = self.info
        if not caps.supports_patterns:
            raise NotSupported(f"{caps.model} cannot play uploaded patterns")
        if not isinstance(pattern, Pattern):
            raise TypeError(
                f"pattern must be a massager_sdk.model.Pattern, got {type(pattern).__name__}"
            )
        zones = self._zones(zone)
        level = self._level(intensity)
        if not (isinstance(phase, int | float) and 0.0 <= phase < 1.0):
            raise ValueError(f"phase must be a fraction of the loop, 0 <= phase < 1, got {phase!r}")
        steps = self._adapter.pattern_length(pattern)
        if steps > caps.pattern_max_steps:
            raise ValueError(
                f"a pattern of {steps} steps is longer than the {caps.pattern_max_steps} "
                f"steps {caps.model} stores"
            )
        slot, evict = self._choose_slot(pattern, zones)
        phase_s = phase * pattern.loop_s
        self._adapter.validate(UploadPattern(slot, pattern))
        self._adapter.validate(SetZones(zones, level, pattern_slot=slot, phase_s=phase_s))
        self._check_outputs(zones, level)
        self._plan.slots.assign(pattern, slot, evict)
        self._schedule(zones, ZoneOutput(level, Waveform.CONSTANT, 0.0, pattern, phase_s))

    async def set_heat(self, target_c: float | None) -> None:
        """Heat to ``target_c`` degrees Celsius; ``None`` (or 0) turns the heater off.

        Returns once the safety policy accepted the target and it is scheduled.
        """
        self._check_usable(drives=True)
        heat = self.info.heat
        if isinstance(target_c, bool) or not isinstance(target_c, int | float | None):
            raise TypeError(f"target_c must be a number of degrees C or None, got {target_c!r}")
        target = None if not target_c else float(target_c)
        if heat is None:
            if target is None:
                return
            raise NotSupported(f"{self.info.model} has no heater")
        if target is not None and not 0 < target <= heat.limit_c:
            raise ValueError(
                f"heat target {target} C is outside 0..{heat.limit_c} C "
                f"(the limit of {self.info.model})"
            )
        try:
            applied = self.safety.check_heat(target, self._now())
        except SafetyRefusal:
            self.stats.safety_refusals += 1
            raise
        self._adapter.validate(SetHeat(applied))
        self.stats.coalesced += self._plan.wish_heat(applied)
        self._kick()

    async def stop(self) -> None:
        """Stop every output and the heater now, and wait for the device to confirm."""
        self._check_usable(report_error=False)
        await self._stop_now("stop requested")

    def resume(self) -> None:
        """Allow outputs again after a stop the safety policy keeps in force.

        A press of the device's button, a fault or a stop the device made on its
        own blocks outputs until the user asks to go on; this is that request.
        Raises :class:`SafetyRefusal` while the stop is not carried out yet.
        """
        self._check_usable(report_error=False)
        self.safety.resume(self._now())

    async def set_auto_off(self, seconds: int) -> None:
        """Switch off after ``seconds`` of on-time (0: the default), checked by the safety policy.

        The policy counts it on the host; the device is told too, as its own second
        line of defence. Waits for the device's acknowledgement.
        """
        self._check_usable(drives=True)
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise TypeError(f"seconds must be an integer, got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"auto-off must be >= 0 seconds (0: the default), got {seconds}")
        now = self._now()
        try:
            applied = self.safety.check_auto_off(seconds, now)
        except SafetyRefusal:
            self.stats.safety_refusals += 1
            raise
        # A shorter auto-off may have ended the session already: stop now, not at the
        # next keepalive, and before the device's own auto-off would stop it too.
        self._check_safety(now)
        stopping = self._stop_task
        if stopping is not None and not stopping.done():
            await asyncio.shield(stopping)
        await self._request(SetAutoOff(applied))

    async def status(self) -> DeviceStatus:
        """Ask the device for its status now."""
        self._check_usable(report_error=False)
        reply = await self._request(GetStatus())
        assert reply is not None and reply.status is not None
        return reply.status

    async def flush(self) -> None:
        """Wait until the device has acknowledged every output asked so far.

        Raises a device refusal of a scheduled output, :class:`DeviceTimeout`
        when the device stopped answering, or :class:`ConnectionFailed` when the
        session ended.
        """
        while True:
            self._check_usable()
            if self._settled():
                return
            await self._wait_progress(None)

    # ------------------------------------------------------------------
    # argument checks
    # ------------------------------------------------------------------

    def _check_usable(self, *, report_error: bool = True, drives: bool = False) -> None:
        if self._failure is not None:
            raise self._failure
        if self._state != "open":
            raise ConnectionFailed(f"the device is {self._state}")
        if drives and not self._control:
            raise NotInControl(
                f"{self.describe()} was opened with control=False (a monitoring connection): "
                "it reads status and can stop the device, but drives nothing; "
                "connect with control=True to drive it"
            )
        if report_error and self._error is not None:
            error, self._error = self._error, None
            raise error

    def _zones(self, zone: ZoneSpec) -> tuple[int, ...]:
        caps = self.info
        if zone is None:
            return tuple(z.index for z in caps.zones)
        keys: Iterable[ZoneKey] = [zone] if isinstance(zone, int | str) else zone
        found: set[int] = set()
        for key in keys:
            if isinstance(key, bool) or not isinstance(key, int | str):
                raise TypeError(f"a zone is an index or a name, got {key!r}")
            try:
                found.add(caps.zone(key).index)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        if not found:
            raise ValueError("no zone given; pass None for every zone")
        return tuple(sorted(found))

    def _level(self, level: int) -> int:
        steps = self.info.intensity_steps
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"level must be an integer 0..{steps}, got {level!r}")
        if not 0 <= level <= steps:
            raise ValueError(f"level {level} is outside 0..{steps} of {self.info.model}")
        return level

    def _check_outputs(self, zones: tuple[int, ...], level: int) -> None:
        now = self._now()
        try:
            for zone in zones:
                self.safety.check_output(zone, level, now)
        except SafetyRefusal:
            self.stats.safety_refusals += 1
            raise

    def _choose_slot(self, pattern: Pattern, zones: tuple[int, ...]) -> tuple[int, Pattern | None]:
        """The slot for ``pattern`` and the pattern it evicts (if any); nothing is changed."""
        try:
            return self._plan.slots.choose(pattern, self._plan.busy_patterns())
        except SlotsFull:
            raise ValueError(
                f"all {self._plan.slots.capacity} pattern slots of {self.info.model} hold "
                "patterns that are playing; stop a zone or play one of those patterns"
            ) from None

    def _schedule(self, zones: tuple[int, ...], drive: ZoneOutput) -> None:
        self.stats.coalesced += self._plan.wish(zones, drive)
        self._kick()

    # ------------------------------------------------------------------
    # receiving
    # ------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = self._now()
        for item in self._adapter.feed(data, now):
            if isinstance(item, Reply):
                if item.status is not None:
                    self._status_arrived(item.status, now)
                self._requester.resolve(item)
            elif isinstance(item, DeviceStatus):
                self._status_arrived(item, now)
            else:
                self._event_arrived(item, now)

    def _status_arrived(self, status: DeviceStatus, now: float) -> None:
        self._last_status = status
        self._last_status_at = now
        if not self._control:
            self._follow(status)
        elif self._safety is not None:
            self._safety.observe_status(status, now)
        self._hub.publish(status)
        self._check_safety(now)

    def _follow(self, status: DeviceStatus) -> None:
        """A monitor takes the device's outputs as they are (it wants nothing of its own)."""
        self._take_as_told(status)
        self._notify()

    def _take_as_told(self, status: DeviceStatus) -> None:
        """What ``status`` shows the device runs becomes what it was told; a monitor,
        which wants nothing of its own, wants just that."""
        self._plan.showed(tuple(status.intensities), status.heat_target_c, follow=not self._control)

    @property
    def _told_running(self) -> bool:
        """Whether anything is on, as far as the device was told."""
        return self._plan.running

    def _event_arrived(self, event: DeviceEvent, now: float) -> None:
        if self._safety is not None and self._control:
            self._safety.observe_event(event, now)
        if event.active is not False and self._control:
            if event.kind in _DEVICE_STOPS:
                # The device switched off on its own (timer, button, battery): so do we.
                self._forget_outputs()
                if event.kind is EventKind.BUTTON and self._state == "open":
                    self._spawn_stop(f"stop button pressed on {self.describe()}")
            elif event.kind in _HEAT_STOPS and event.active:
                # Never heat again on our own; the policy has the device told (heat_off).
                self._plan.wish_heat(None)
        self._hub.publish(event)
        self._check_safety(now)

    def _on_lost(self, exc: BaseException | None) -> None:
        self._link_lost(f"{self._transport.description} closed" if exc is None else str(exc))

    # ------------------------------------------------------------------
    # safety actions and stopping
    # ------------------------------------------------------------------

    def _check_safety(self, now: float) -> None:
        """Carry out what the policy requires now; an action already under way is not repeated."""
        if (
            self._safety is None
            or not self._control  # a monitor's policy sees no session of its own
            or self._state != "open"
            or self._failure is not None
        ):
            return
        actions = self._safety.required_actions(now)
        if not actions:
            return
        stop = next((a for a in actions if a.kind == "stop_all"), None)
        action = stop or actions[0]
        if self._running(self._stop_task) or (stop is None and self._running(self._heat_task)):
            return
        self.stats.safety_stops += 1
        _log.warning("%s: safety %s: %s", self.describe(), action.kind, action.reason)
        if stop is not None:
            self._spawn_stop(stop.reason)
        else:
            self._plan.wish_heat(None)
            task = asyncio.get_running_loop().create_task(
                self._send_heat_off(), name="massager-heat-off"
            )
            self._heat_task = task
            self._background.add(task)
            task.add_done_callback(self._background_done)
        self._hub.publish(
            DeviceEvent(
                EventKind.SAFETY_STOP, None, detail=f"{action.kind}: {action.reason}", time=now
            )
        )

    @staticmethod
    def _running(task: asyncio.Task[Any] | None) -> bool:
        return task is not None and not task.done()

    def _clear_wants(self) -> None:
        """Want nothing, and withdraw whatever was planned before."""
        self._plan.clear()

    def _told_off(self) -> None:
        """The device has switched everything off."""
        self._plan.stopped()
        self._outputs_changed()

    def _forget_outputs(self) -> None:
        """The device is off on its own: want nothing more either."""
        self._clear_wants()
        self._told_off()

    def _spawn_stop(self, reason: str) -> asyncio.Task[None]:
        """Want nothing and send STOP_ALL now (one stop in flight at a time)."""
        self._clear_wants()
        running = self._stop_task
        if running is not None and not running.done():
            return running
        _log.info("%s: stopping: %s", self.describe(), reason)
        task = asyncio.get_running_loop().create_task(self._send_stop(), name="massager-stop")
        self._stop_task = task
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    async def _stop_now(self, reason: str) -> None:
        await asyncio.shield(self._spawn_stop(reason))

    async def _send_stop(self) -> None:
        await self._request(StopAll())
        self._told_off()

    async def _send_heat_off(self) -> None:
        await self._request(SetHeat(None))
        self._plan.heat_stopped()
        self._outputs_changed()

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("%s: %s failed: %s", self.describe(), task.get_name(), task.exception())
        self._kick()

    # ------------------------------------------------------------------
    # requests
    # ------------------------------------------------------------------

    async def _request(
        self, command: Command, still_wanted: Callable[[], bool] | None = None
    ) -> Reply | None:
        """Send a command over a live link; a command left unanswered means the link is lost."""
        await self._wait_link()
        try:
            return await self._requester.request(command, still_wanted=still_wanted)
        except DeviceTimeout as exc:
            self._link_lost(str(exc))
            raise
        except ConnectionFailed as exc:
            self._link_lost(str(exc))
            raise

    async def _wait_link(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._requester.timeout * (self._requester.retries + 1)
        while not self._link_up:
            if self._failure is not None:
                raise self._failure
            if self._state not in ("open", "closing"):
                raise ConnectionFailed(f"the device is {self._state}")
            if loop.time() >= deadline:
                raise ConnectionFailed(f"the link to {self.describe()} is down (reconnecting)")
            await self._wait_progress(deadline)

    async def _handshake(self) -> None:
        """Read INFO and STATUS over a fresh link and take the device's state as told."""
        self._adapter.reset()
        info = await self._requester.request(GetInfo())
        assert info is not None and info.info is not None
        caps = info.info
        first = self._caps is None
        if self._caps is None:
            caps = self._user_overrides(caps)
            self._caps = caps
            self._safety = SafetyPolicy(caps, self._options.limits, self._options.profile)
            self._plan = OutputPlan(
                len(caps.zones),
                PatternSlots(caps.pattern_slots),
                gap_s=max(self._transport.min_gap_s, caps.min_gap_s),
            )
            keepalive = self._options.keepalive_s or self._safety.keepalive_interval_s
            if keepalive >= caps.watchdog_s:
                raise ValueError(
                    f"keepalive_s={keepalive} must be shorter than the device watchdog "
                    f"({caps.watchdog_s} s)"
                )
            self._keepalive_s = keepalive
        elif (caps.model, caps.serial) != (self._caps.model, self._caps.serial):
            raise _OtherDevice(
                f"a different device answered on {self._transport.description}: "
                f"{caps.model} {caps.serial}, expected {self._caps.model} {self._caps.serial}"
            )
        reply = await self._requester.request(GetStatus())
        assert reply is not None and reply.status is not None
        status = reply.status
        if first and status.running and self._control:
            # Connecting takes control: start from a stopped device.
            await self._requester.request(StopAll())
            status = dataclasses.replace(
                status, intensities=(0,) * len(status.intensities), heat_target_c=None
            )
        self._take_as_told(status)
        self._auto_off_synced = False
        self._plan.slots.link_renewed()
        self._outputs_changed()
        self._link_up = True
        self._lost_at = None
        self._notify()

    def _user_overrides(self, caps: DeviceCapabilities) -> DeviceCapabilities:
        """The device file's word on this device, now that its serial number is known too."""
        keys = (*self._link_keys, caps.serial) if caps.serial else self._link_keys
        devices = self._link.devices
        check_allowed(devices, keys, self._transport.description)
        if self._override is None:
            self._override = devices.override(*keys)
        if self._override is None:
            return caps
        applied = self._override.apply(caps)
        if applied != caps:
            _log.info(
                "%s: the device file caps %s (intensity 0..%d, heater %s)",
                self._transport.description,
                caps.model,
                applied.intensity_steps,
                "off" if applied.heat is None else "allowed",
            )
        return applied

    # ------------------------------------------------------------------
    # link loss and reconnection
    # ------------------------------------------------------------------

    def _link_lost(self, reason: str) -> None:
        if not self._link_up or self._state not in ("open", "closing"):
            return
        now = self._now()
        self._link_up = False
        self._lost_at = now
        _log.warning("%s: link lost: %s", self.describe(), reason)
        self._requester.fail_all(ConnectionFailed(f"link to {self.describe()} lost: {reason}"))
        self._hub.publish(DeviceEvent(EventKind.LINK_LOST, True, detail=reason, time=now))
        self._kick()

    async def _reconnect(self) -> bool:
        """Regain the link within the grace period; ``False`` when the session ended."""
        loop = asyncio.get_running_loop()
        lost_at = self._lost_at if self._lost_at is not None else loop.time()
        deadline = lost_at + self._grace_s
        pause = BACKOFF_FIRST_S
        reason = "no attempt"
        while True:
            await self._transport.disconnect()
            try:
                await self._transport.connect()
                await self._handshake()
            except _OtherDevice as exc:
                reason = str(exc)
                break
            except (ConnectionFailed, DeviceTimeout, DeviceRefused, OSError, ValueError) as exc:
                reason = str(exc) or type(exc).__name__
            else:
                self.stats.reconnects += 1
                now = loop.time()
                _log.info("%s: link restored after %.2f s", self.describe(), now - lost_at)
                self._hub.publish(
                    DeviceEvent(EventKind.LINK_RESTORED, False, now - lost_at, time=now)
                )
                self._kick()
                return True
            now = loop.time()
            if now >= deadline:
                break
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * BACKOFF_FACTOR, BACKOFF_MAX_S)
        await self._give_up(reason)
        return False

    async def _give_up(self, reason: str) -> None:
        now = self._now()
        text = f"link to {self.describe()} not regained within {self._grace_s:g} s ({reason})"
        if self._control:
            text += "; the session is stopped and the device watchdog has stopped its outputs"
        _log.error("%s", text)
        if self._control and self._transport.connected:
            # It answers nothing, but a STOP may still get through.
            with contextlib.suppress(Exception):
                await self._requester.write(self._adapter.encode(StopAll(), 1))
        self._failure = ConnectionFailed(text)
        self._forget_outputs()
        self._hub.publish(DeviceEvent(EventKind.LINK_LOST, None, detail=text, time=now))
        self._requester.fail_all(self._failure)
        await self._transport.disconnect()
        self._hub.close()
        self._notify()

    # ------------------------------------------------------------------
    # the session task
    # ------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._session()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the device running unattended
            _log.exception("%s: the session task failed", self.describe())
            self._failure = ConnectionFailed(f"the session with {self.describe()} failed: {exc!r}")
            with contextlib.suppress(Exception):
                await self._requester.write(self._adapter.encode(StopAll(), 1))
            self._forget_outputs()
            self._hub.close()
            self._notify()

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            if not self._link_up:
                if not await self._reconnect():
                    return
                continue
            if not self._control:
                await self._wake.wait()  # a monitor sends nothing of its own
                continue
            now = loop.time()
            self._check_safety(now)
            actions = [
                t for t in (self._stop_task, self._heat_task) if t is not None and not t.done()
            ]
            if actions:  # outputs wait until the safety action is done
                await asyncio.wait(actions)
                continue
            try:
                wake_at = await self._step(now)
            except ConnectionFailed:
                continue  # the link is lost: reconnect
            except (DeviceTimeout, DeviceRefused) as exc:
                self._error = exc  # reported by the next call (a timeout also reconnects)
                self._notify()
                continue
            if wake_at is None:
                continue  # something was sent: look again at once
            self._notify()
            if wake_at == math.inf:
                await self._wake.wait()
            elif wake_at > loop.time() + EPS:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(wake_at):
                        await self._wake.wait()
            else:  # due already, yet nothing was sent: never spin, let time pass
                await asyncio.sleep(_MIN_WAIT_S)

    async def _step(self, now: float) -> float | None:
        """Send the most urgent thing, or return when to look again (``inf``: when woken)."""
        if self._unsure(now):
            await self._resync(now)
            return None
        assert self._safety is not None
        decision = self._plan.next(now, self._safety)
        for refusal in self._plan.take_refusals():
            self.stats.safety_refusals += 1
            self._error = refusal
        if not isinstance(decision, Wait):
            await self._carry_out(decision)
            return None
        wake_at = decision.at
        running = self._told_running
        assert self._safety is not None
        if running and not self._auto_off_synced:
            # The device's own auto-off is the second line behind the policy's clock.
            self._auto_off_synced = True
            await self._request(SetAutoOff(self._safety.device_auto_off_s(now)))
            return None
        if running:
            keepalive_at = self._requester.last_write + self._keepalive_s
            if now + EPS >= keepalive_at:
                await self._request(Keepalive())
                return None
            wake_at = min(wake_at, keepalive_at)
            if self._status_interval is not None:
                status_at = self._last_status_at + self._status_interval
                if now + EPS >= status_at:
                    await self._request(GetStatus())
                    return None
                wake_at = min(wake_at, status_at)
        deadline = self._safety.next_deadline(now)
        if deadline is not None:
            wake_at = min(wake_at, max(deadline, now + _MIN_WAIT_S))
        return wake_at

    def _unsure(self, now: float) -> bool:
        """Whether the device may have stopped by its watchdog without our knowing.

        The link carried nothing the device answered for most of its watchdog time
        while something is on (noise, a stalled host): its WATCHDOG_STOP event may
        have been lost, and a level sent on from what we told it could then start a
        stopped motor without the soft start.
        """
        caps = self._caps
        if caps is None or not self._control:
            return False
        silent = now - self._requester.last_confirmed
        return self._told_running and silent >= caps.watchdog_s * _UNSURE_FRACTION

    async def _resync(self, now: float) -> None:
        """Read the device's status; a stop latch it shows counts as the event it raised."""
        self.stats.resyncs += 1
        reply = await self._request(GetStatus())
        assert reply is not None and reply.status is not None
        running = self._told_running
        for name, kind in _STOP_LATCHES.items():
            if name in reply.status.faults and running:
                _log.warning(
                    "%s: the device stopped on its own unseen (%s latched)", self.describe(), name
                )
                self._event_arrived(
                    DeviceEvent(kind, True, detail=f"{name} found latched in STATUS", time=now),
                    self._now(),
                )
                return

    def _still_sure(self) -> bool:
        """For a command's retries: not once the device may have stopped unseen."""
        return not self._unsure(self._now())

    async def _carry_out(self, decision: SendHeat | SendZones | Upload) -> None:
        """Send what the plan decided and tell it the device's answer."""
        plan = self._plan
        if isinstance(decision, SendHeat):
            command: Command = SetHeat(decision.target_c)
        elif isinstance(decision, SendZones):
            out = decision.output
            command = SetZones(
                decision.zones, out.level, out.waveform, out.period_s, decision.slot, out.phase_s
            )
        else:
            command = UploadPattern(decision.slot, decision.pattern)
        upload = isinstance(decision, Upload)

        def still_wanted() -> bool:
            # An upload changes no output: it need not wait until the device is surely on.
            return plan.still_wanted(decision) and (upload or self._still_sure())

        try:
            reply = await self._request(command, still_wanted)
        except DeviceRefused as exc:
            if isinstance(decision, SendHeat):
                plan.refused_heat()
            elif isinstance(decision, SendZones):
                plan.refused_zones(decision)
            else:
                plan.refused_upload(decision)
            self._error = exc
            return
        if reply is None:
            return
        # Acknowledged: the device runs it even if a stop overtook it meanwhile. Record
        # the truth; the stop that follows (or the next step) switches it off again.
        if isinstance(decision, Upload):
            self.stats.pattern_uploads += 1
            plan.uploaded(decision)
            return
        self.stats.output_commands += 1
        if isinstance(decision, SendHeat):
            plan.acknowledged_heat(decision)
        else:
            assert self._safety is not None
            # The policy times a ramp from the acknowledgement (when it was told).
            plan.acknowledged_zones(decision, self._now(), self._safety)
        self._outputs_changed()

    def _outputs_changed(self) -> None:
        if not self._told_running:
            self._auto_off_synced = False
        if self._safety is not None and self._control:
            self._safety.outputs_changed(
                list(self._plan.acknowledged.levels), self._plan.acknowledged.heat_c, self._now()
            )
        self._notify()

    def _settled(self) -> bool:
        stopping = self._stop_task is not None and not self._stop_task.done()
        return not stopping and self.pending_outputs == 0

    # ------------------------------------------------------------------
    # small utilities
    # ------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _kick(self) -> None:
        self._wake.set()

    def _notify(self) -> None:
        """Wake everyone waiting for progress (flush, requests waiting for the link)."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def _wait_progress(self, deadline: float | None) -> None:
        event = self._progress
        if deadline is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await event.wait()

    # ------------------------------------------------------------------
    # signals
    # ------------------------------------------------------------------

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        self._owner = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self._on_signal, int(sig))
            except (NotImplementedError, RuntimeError, ValueError):
                _log.debug("cannot handle %s here (not the main thread?)", sig.name)
                continue
            self._saved_handlers[int(sig)] = previous

    def _uninstall_signals(self) -> None:
        if not self._saved_handlers:
            return
        loop = asyncio.get_running_loop()
        for sig, previous in self._saved_handlers.items():
            loop.remove_signal_handler(sig)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, previous)
        self._saved_handlers.clear()

    def _on_signal(self, sig: int) -> None:
        if self._signal is None:
            self._signal = sig
            _log.warning("%s: %s received: stopping", self.describe(), signal.Signals(sig).name)
        reason = f"{signal.Signals(sig).name} received"
        if not self._control:
            pass  # a monitor only ends: the device is another host's to stop
        elif self._safety is not None:
            # An emergency stop: outputs stay refused until resume(), even on a device
            # that stays open after the signal.
            self._safety.emergency_stop(reason, self._now())
        if self._control and self._state == "open" and self._failure is None:
            self._spawn_stop(reason)
        owner = self._owner
        if owner is not None and not owner.done():
            owner.cancel()


class _OtherDevice(ConnectionFailed):
    """A reconnect reached a different device than the session started with."""


def connect(
    url: str | None = None,
    *,
    options: ConnectOptions | None = None,
    **keywords: Any,
) -> Device:
    """A :class:`Device` for ``url``, to open with ``async with`` (or ``await .open()``).

    ``url`` defaults to ``sim://``: a simulated heat4 massager started in this
    process on the running event loop. Other forms: ``sim://MODEL``,
    ``serial:///dev/ttyUSB0?baud=115200``, ``tcp://HOST:PORT``,
    ``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``; a bad URL raises
    :class:`~massager_sdk.errors.BadURLError`.

    ``options`` (a :class:`~massager_sdk.session.options.ConnectOptions`)
    configures the session; each of its fields may also be given as a keyword
    argument, which wins over ``options``:

    The wire protocol is ``protocol`` (``nmp1``, ``yh``, ``tuya_ble``), else the
    URL's ``protocol=`` query parameter (``tcp://HOST:PORT?protocol=yh``), else
    the user's device file, else what the link knows (a ``sim://MODEL``'s
    model, a BLE advertisement matched against the device profiles), else
    ``nmp1``. ``device_profile`` (an id such as ``"yh-ems"``, or a path to a
    ``.toml`` file) names the device family instead: its protocol, GATT
    endpoints and, for protocols without INFO, capabilities. A Tuya BLE device
    takes ``local_key=``, ``device_id=`` and ``uuid=`` (or the device file's;
    a simulated one needs none). The device file
    (:mod:`massager_sdk.profiles.overrides`) may refuse the device, give it a
    display name, lower its intensity cap or disable its heater: ``device.info``
    shows the result, which the safety policy and programs see.

    ``limits`` and ``profile`` configure the safety policy. ``timeout`` and
    ``retries`` bound each request; ``reconnect_grace_s`` is how long a lost link
    may take to come back before the session ends. ``keepalive_s`` defaults to a
    quarter of the device watchdog; ``status_interval_s`` is how often the device
    is asked for its status while it runs, when it has not reported on its own.
    ``control=False`` opens a monitoring connection that reads status and
    events, may stop the device, and otherwise leaves it as it finds it (see
    "Watching without control" in this module's documentation). Other keyword
    arguments go to the transport (for example ``baud=``, ``min_gap_s=``,
    ``simulator=`` for ``sim://``).
    """
    settled, transport_options = ConnectOptions.split(options, keywords)
    link = LinkRequest.from_options(
        url,
        protocol=settled.protocol,
        device_profile=settled.device_profile,
        options=transport_options,
    )
    transport = open_transport(link.link_url, **transport_options)
    return Device(transport, settled, link=link)
