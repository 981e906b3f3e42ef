"""The device client: one object, one task, per connected massager.

:class:`Device` is the public face; the work is done by the parts of
:mod:`massager_sdk.session` (options, output requests, output plan, pattern
slots, link supervisor, engine, requester, telemetry, signal guard).

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
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import ConnectionFailed, NotInControl, SafetyRefusal
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, Waveform
from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.profiles.selection import LinkRequest
from massager_sdk.protocols import AdapterStats, GetStatus, SetAutoOff
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session.core import SessionCore, cancel_and_wait
from massager_sdk.session.engine import Engine
from massager_sdk.session.link import LinkSupervisor
from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.outputs import (
    OutputRequests,
    ZoneKey,
    ZoneSpec,
    level_of,
    waveform_period,
    zones_of,
)
from massager_sdk.session.plan import OutputState
from massager_sdk.session.requester import SessionStats
from massager_sdk.session.signals import SignalGuard
from massager_sdk.session.telemetry import TelemetryStream
from massager_sdk.transports import Transport, open_transport

__all__ = ["Device", "ZoneKey", "ZoneSpec", "connect", "level_of", "waveform_period", "zones_of"]

_log = logging.getLogger("massager_sdk")


class Device:
    """A connected massager. Get one from :func:`connect`.

    Attributes are read without I/O; coroutines talk to the device. See the
    module documentation for when each call returns. The work is done by the
    parts of :mod:`massager_sdk.session`: this class checks that the session
    can take the call, then delegates (the output calls to
    :class:`~massager_sdk.session.outputs.OutputRequests`).
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
        self._core = core = SessionCore(transport, link, options)
        self._supervisor = LinkSupervisor(core)
        self._engine = Engine(core, self._supervisor)
        self._outputs = OutputRequests(core)
        self._signals: SignalGuard | None = None
        self._task: asyncio.Task[None] | None = None
        #: Counters of the session.
        self.stats: SessionStats = core.stats

    # ------------------------------------------------------------------
    # what a caller reads
    # ------------------------------------------------------------------

    @property
    def info(self) -> DeviceCapabilities:
        """What the device is and can do (read from it when connecting)."""
        if self._core.caps is None:
            raise RuntimeError("the device is not connected yet: use 'async with connect(...)'")
        return self._core.caps

    @property
    def options(self) -> ConnectOptions:
        """The options this session was configured with."""
        return self._core.options

    @property
    def safety(self) -> SafetyPolicy:
        """The safety policy every output, heat, auto-off and pattern call passes."""
        if self._core.safety is None:
            raise RuntimeError("the device is not connected yet: use 'async with connect(...)'")
        return self._core.safety

    @property
    def transport(self) -> Transport:
        """The link to the device (once open, inside Tuya's secure channel if it needs one)."""
        return self._core.transport

    @property
    def protocol(self) -> str:
        """The wire protocol spoken (settled when the device is opened)."""
        return self._core.selection.protocol

    @property
    def device_profile(self) -> DeviceProfile:
        """The device profile in use (settled when the device is opened)."""
        return self._core.selection.profile

    @property
    def name(self) -> str:
        """The display name: the user's device file's, else the model."""
        return self._core.name

    @property
    def connected(self) -> bool:
        """Whether the link is up now (``False`` while reconnecting and after the end)."""
        return self._core.link_up and self._core.state == "open"

    @property
    def last_status(self) -> DeviceStatus | None:
        """The latest status the device reported (no I/O)."""
        return self._core.last_status

    @property
    def pending_outputs(self) -> int:
        """Outputs (zones and heater) whose wanted state the device has not confirmed."""
        return self._core.plan.pending

    @property
    def acknowledged(self) -> OutputState:
        """What the device acknowledged: each zone's output and the heater's target.

        Read-only, no I/O; not what was asked (:attr:`pending_outputs`). It changes
        with each acknowledged command, a stop, and the device stopping on its own;
        on connecting, and at each status for a monitor, it is what the status shows.
        """
        return self._core.plan.acknowledged

    @property
    def requests_in_flight(self) -> int:
        """Commands sent and not yet answered (bounded: one output command at a time)."""
        return self._core.requester.in_flight

    @property
    def wire_stats(self) -> AdapterStats:
        """What the protocol decoder saw: frames, skipped bytes, CRC errors."""
        return self._core.adapter.stats

    @property
    def in_control(self) -> bool:
        """Whether this host drives the device (``False``: a ``control=False`` monitor)."""
        return self._core.control

    @property
    def signal_received(self) -> int | None:
        """The signal that stopped the device (with ``install_signal_handlers``)."""
        return None if self._signals is None else self._signals.received

    def telemetry(self, buffer: int | None = None) -> TelemetryStream:
        """An async iterator of :class:`DeviceStatus` and :class:`DeviceEvent`.

        It holds at most ``buffer`` items (default: ``connect(telemetry_buffer=)``);
        a consumer that falls behind loses the oldest. It ends when the device closes.
        """
        return self._core.hub.stream(self.options.telemetry_buffer if buffer is None else buffer)

    def on_status(self, callback: Callable[[DeviceStatus], object]) -> Callable[[], None]:
        """Call ``callback(status)`` for every status; returns a function that unsubscribes."""
        return self._core.hub.on_status(callback)

    def on_event(self, callback: Callable[[DeviceEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        return self._core.hub.on_event(callback)

    def describe(self) -> str:
        """The device and link, for messages: ``NMP Heat 4 on sim://heat4``."""
        return self._core.describe()

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
        if self._signals is not None:
            self._signals.reraise(exc_type)
        if cancelled and exc_type is None:
            raise asyncio.CancelledError

    async def open(self) -> Device:
        """Connect, read the device's capabilities and start the session task."""
        core = self._core
        if core.state != "new":
            raise RuntimeError(f"this Device is {core.state}; call connect() for a new one")
        core.state = "opening"
        await self._supervisor.open(self._engine.on_data)
        core.state = "open"
        self._task = asyncio.get_running_loop().create_task(
            self._engine.run(), name=f"massager-{core.transport.description}"
        )
        if core.options.install_signal_handlers:
            self._signals = SignalGuard(self._engine.signalled).__enter__()
        return self

    async def close(self) -> None:
        """Stop the device (STOP_ALL, acknowledged), then close the link. Idempotent."""
        core = self._core
        if core.state in ("closing", "closed"):
            while core.state != "closed":
                await core.wait_progress(None)
            return
        if core.state == "new":
            core.state = "closed"
            return
        core.state = "closing"
        try:
            task, self._task = self._task, None
            if task is not None:
                # Cancelled again if the first is lost (a timeout expiring at the same
                # moment swallows it on Python 3.11): closing must never hang.
                await cancel_and_wait(task)
            await self._engine.leave()
            for job in list(core.background):
                job.cancel()
            await core.transport.close()
        finally:
            if self._signals is not None:
                self._signals.__exit__(None, None, None)
            core.link_up = False
            core.requester.fail_all(ConnectionFailed(f"{self.describe()} is closed"))
            core.hub.close()
            core.state = "closed"
            core.notify()

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
        self._outputs.intensity(zone, level, waveform, period)

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
        self._outputs.pattern(pattern, zone, intensity, phase)

    async def set_heat(self, target_c: float | None) -> None:
        """Heat to ``target_c`` degrees Celsius; ``None`` (or 0) turns the heater off.

        Returns once the safety policy accepted the target and it is scheduled.
        """
        self._check_usable(drives=True)
        self._outputs.heat(target_c)

    async def stop(self) -> None:
        """Stop every output and the heater now, and wait for the device to confirm."""
        self._check_usable(report_error=False)
        await asyncio.shield(self._engine.spawn_stop("stop requested"))

    async def emergency_stop(self, reason: str = "emergency stop requested") -> None:
        """Stop everything now, as :meth:`stop`, and refuse outputs until :meth:`resume`."""
        self._check_usable(report_error=False)
        if self._core.control:  # a monitor's policy holds no session to latch
            self.safety.emergency_stop(reason, self._core.now())
        await asyncio.shield(self._engine.spawn_stop(reason))

    def resume(self) -> None:
        """Allow outputs again after a stop the safety policy keeps in force.

        A press of the device's button, a fault or a stop the device made on its
        own blocks outputs until the user asks to go on; this is that request.
        Raises :class:`SafetyRefusal` while the stop is not carried out yet.
        """
        self._check_usable(report_error=False)
        self.safety.resume(self._core.now())

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
        now = self._core.now()
        try:
            applied = self.safety.check_auto_off(seconds, now)
        except SafetyRefusal:
            self.stats.safety_refusals += 1
            raise
        # A shorter auto-off may have ended the session already: stop now, not at the
        # next keepalive, and before the device's own auto-off would stop it too.
        self._engine.check_safety(now)
        stopping = self._core.stop_task
        if stopping is not None and not stopping.done():
            await asyncio.shield(stopping)
        await self._supervisor.request(SetAutoOff(applied))

    async def status(self) -> DeviceStatus:
        """Ask the device for its status now."""
        self._check_usable(report_error=False)
        reply = await self._supervisor.request(GetStatus())
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
            if self._core.settled():
                return
            await self._core.wait_progress(None)

    # ------------------------------------------------------------------
    # checks
    # ------------------------------------------------------------------

    def _check_usable(self, *, report_error: bool = True, drives: bool = False) -> None:
        core = self._core
        if core.failure is not None:
            raise core.failure
        if core.state != "open":
            raise ConnectionFailed(f"the device is {core.state}")
        if drives and not core.control:
            raise NotInControl(
                f"{self.describe()} was opened with control=False (a monitoring connection): "
                "it reads status and can stop the device, but drives nothing; "
                "connect with control=True to drive it"
            )
        if report_error and core.error is not None:
            error, core.error = core.error, None
            raise error


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
    argument, which wins over ``options``.

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

    ``limits`` and ``health_profile`` (the person's; ``profile`` is its deprecated old
    name) configure the safety policy. ``timeout`` and
    ``retries`` bound each request; ``reconnect_grace_s`` is how long a lost link
    may take to come back before the session ends. ``keepalive_s`` defaults to a
    third of the device watchdog (each keepalive goes at a random 80-100 % of it
    after the last frame); ``status_interval_s`` is how often the device
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
