"""The "yh" adapter: protocol-neutral commands to "yh" frames and back.

"yh" devices have no INFO message and no sequence numbers: capabilities come
from the device profile (default: the built-in ``yh-ems``), and the device
answers every setting with a report of the value in force, which is matched to
the oldest command waiting for that report. How commands map:

============== ================================================================
SetZones       MODE (the profile's mode nearest the waveform, when it changes),
               ZONE (the profile zone's body position, once), LEVEL
StopAll        LEVEL 0
SetAutoOff     TIMER in whole minutes (rounded up; 0: the device default)
Keepalive,     HEARTBEAT request; the device's heartbeat answers
GetStatus,
GetInfo
SetHeat(None)  HEARTBEAT request (there is no heater to switch off)
============== ================================================================

A setting answered with another value than the one sent was refused: the
reply says ``NOT_APPLIED`` and nothing else is assumed to have changed.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import TYPE_CHECKING, ClassVar

from massager_protocols import ProtocolError, yh
from massager_protocols.yh import gatt as yh_gatt

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
from massager_sdk.protocols.base import (
    AdapterStats,
    DeviceCommand,
    GetInfo,
    GetStatus,
    Incoming,
    Keepalive,
    ProtocolAdapter,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.protocols.registry import Markers, ProtocolSpec

if TYPE_CHECKING:
    from massager_sdk.profiles.model import DeviceProfile

#: The profile used when none is given.
DEFAULT_PROFILE = "yh-ems"
#: Commands waiting for reports, at most; an older one was lost on the way.
_MAX_PENDING = 32


@dataclasses.dataclass(slots=True)
class _Pending:
    """A command sent and the reports that answer it, in order."""

    seq: int
    name: str
    expect: collections.deque[tuple[int, int | None]]  # (command, value or None for any)
    ok: bool = True
    status: DeviceStatus | None = None
    info: bool = False


class YhAdapter(ProtocolAdapter):
    """The "yh" frame over any byte stream."""

    name: ClassVar[str] = "yh"

    def __init__(self, profile: DeviceProfile) -> None:
        """An adapter for devices of ``profile`` (``adapter_for`` picks the default one)."""
        resolved = profile
        if resolved.protocol != self.name or resolved.device is None:
            raise ValueError(f"profile {resolved.id!r} is not a yh profile with capabilities")
        self.profile = resolved
        self.device = resolved.device
        self.caps: DeviceCapabilities = resolved.capabilities()
        revision = str(resolved.options.get("revision", yh.LATEST.value))
        try:
            self.revision = yh.Revision(revision)
        except ValueError:
            known = ", ".join(r.value for r in yh.Revision)
            raise ValueError(
                f"profile {resolved.id!r}: revision {revision!r} is not one of {known}"
            ) from None
        rules = resolved.options.get("crc_rules")
        self._decoder = yh.StreamDecoder.for_revision(
            self.revision, None if rules is None else [yh.CrcRule(r) for r in rules]
        )
        self._pending: collections.deque[_Pending] = collections.deque()
        self._undecodable = 0
        self._mode: int | None = None  # the program the device runs, as last confirmed
        self._zone: int | None = None
        self._level = 0
        self._battery: int | None = None
        self._charging = False
        self._last: yh.Status | None = None

    # -- commands ------------------------------------------------------------------

    def encode(self, command: DeviceCommand, seq: int) -> bytes:
        """The frames of ``command``; ``ValueError`` when a "yh" device cannot do it."""
        frames, expect, kind = self._plan(command)
        if len(self._pending) >= _MAX_PENDING:
            self._pending.popleft()
        self._pending.append(
            _Pending(seq, kind, collections.deque(expect), info=isinstance(command, GetInfo))
        )
        return b"".join(frames)

    def validate(self, command: DeviceCommand) -> None:
        """Raise ``ValueError`` if ``command`` cannot be expressed; nothing is queued."""
        self._plan(command)

    def _plan(
        self, command: DeviceCommand
    ) -> tuple[list[bytes], list[tuple[int, int | None]], str]:
        host = yh.Direction.HOST
        heartbeat = yh.HeartbeatRequest().encode(self.revision)
        any_status: list[tuple[int, int | None]] = [(yh.Command.HEARTBEAT, None)]
        match command:
            case SetZones():
                if command.pattern_slot is not None:
                    raise ValueError(f"{self.caps.model} cannot play uploaded patterns")
                zones = set(command.zones)
                if zones != {z.index for z in self.caps.zones}:
                    raise ValueError(
                        f"{self.caps.model} drives its {len(self.caps.zones)} zone(s) together; "
                        f"got zones {sorted(zones)}"
                    )
                if not 0 <= command.level <= self.caps.intensity_steps:
                    raise ValueError(
                        f"level {command.level} is outside 0..{self.caps.intensity_steps}"
                    )
                frames: list[bytes] = []
                expect: list[tuple[int, int | None]] = []
                if command.level:
                    mode = self.device.mode_for(command.waveform, command.period_s).value
                    if mode != self._mode:
                        frames.append(yh.Setting(host, yh.Command.MODE, mode).encode(self.revision))
                        expect.append((yh.Command.MODE, mode))
                    zone = self.device.zones[0].device_zone
                    if zone != self._zone:
                        frames.append(yh.Setting(host, yh.Command.ZONE, zone).encode(self.revision))
                        expect.append((yh.Command.ZONE, zone))
                frames.append(
                    yh.Setting(host, yh.Command.LEVEL, command.level).encode(self.revision)
                )
                expect.append((yh.Command.LEVEL, command.level))
                return frames, expect, "SET_LEVEL"
            case StopAll():
                level = yh.Setting(host, yh.Command.LEVEL, 0).encode(self.revision)
                return [level], [(yh.Command.LEVEL, 0)], "STOP"
            case SetAutoOff():
                minutes = math.ceil(command.seconds / 60)
                if not 0 <= minutes <= 255:
                    raise ValueError(f"auto-off of {command.seconds} s is outside 0..255 minutes")
                timer = yh.Setting(host, yh.Command.TIMER, minutes).encode(self.revision)
                return [timer], [(yh.Command.TIMER, minutes or None)], "SET_TIMER"
            case SetHeat():
                if command.target_c is not None:
                    raise ValueError(f"{self.caps.model} has no heater")
                return [heartbeat], any_status, "HEAT_OFF"
            case UploadPattern():
                raise ValueError(f"{self.caps.model} cannot store patterns")
            case Keepalive():
                return [heartbeat], any_status, "HEARTBEAT"
            case GetStatus():
                return [heartbeat], any_status, "GET_STATUS"
            case GetInfo():
                return [heartbeat], any_status, "GET_INFO"
        raise TypeError(f"not a command: {command!r}")

    # -- what the device sends ------------------------------------------------------

    def feed(self, data: bytes, now: float) -> list[Incoming]:
        """Replies, statuses and events completed by ``data``."""
        out: list[Incoming] = []
        for frame in self._decoder.feed(data):
            try:
                message = frame.message()
            except ProtocolError:
                self._undecodable += 1
                continue
            if frame.direction != yh.Direction.DEVICE:
                self._undecodable += 1  # our own frame echoed back
                continue
            out.extend(self._received(message, now))
        return out

    def _received(self, message: yh.Message, now: float) -> list[Incoming]:
        out: list[Incoming] = []
        if isinstance(message, yh.Status):
            out.extend(self._heartbeat(message, now))
            command, value = int(yh.Command.HEARTBEAT), None
        else:
            assert isinstance(message, yh.Setting)
            command, value = message.command, message.value
            out.extend(self._report(message, now))
        pending = self._match(command)
        if pending is None:
            if isinstance(message, yh.Status) or command in (yh.Command.LEVEL, yh.Command.BATTERY):
                out.append(self._status(now))
            return out
        wanted = pending.expect.popleft()[1]
        if wanted is not None and wanted != value:
            pending.ok = False
            self._forget(command)
        if isinstance(message, yh.Status):
            pending.status = self._status(now)
        if not pending.expect:
            self._pending.remove(pending)
            out.append(
                Reply(
                    pending.seq,
                    pending.name,
                    pending.ok,
                    reason="" if pending.ok else "NOT_APPLIED",
                    status=pending.status,
                    info=self.caps if pending.info and pending.ok else None,
                )
            )
        return out

    def _match(self, command: int) -> _Pending | None:
        """The oldest command waiting for this report; older ones were lost on the way."""
        for index, pending in enumerate(self._pending):
            if pending.expect and pending.expect[0][0] == command:
                for _ in range(index):
                    self._pending.popleft()
                return pending
        return None

    def _forget(self, command: int) -> None:
        if command == yh.Command.MODE:
            self._mode = None
        elif command == yh.Command.ZONE:
            self._zone = None

    def _report(self, message: yh.Setting, now: float) -> list[Incoming]:
        match message.command:
            case yh.Command.MODE:
                self._mode = message.value
            case yh.Command.ZONE:
                self._zone = message.value
            case yh.Command.LEVEL:
                self._level = message.value
            case yh.Command.BATTERY:
                self._battery = message.value
            case yh.Command.CHARGE:
                charging = message.value > 0
                if charging != self._charging:
                    self._charging = charging
                    return [DeviceEvent(EventKind.CHARGER, charging, detail="charge", time=now)]
        return []

    def _heartbeat(self, status: yh.Status, now: float) -> list[Incoming]:
        last, self._last = self._last, status
        self._mode, self._zone, self._battery = status.mode, status.zone, status.battery
        was_running = self._level > 0 or (last is not None and bool(last.running))
        stopped = was_running and not status.running
        asked = any(p.expect and p.expect[0] == (yh.Command.LEVEL, 0) for p in self._pending)
        self._level = status.level
        if stopped and not asked:
            # The device stopped on its own (timer, button, battery): "yh" says not why.
            detail = "timer ran out" if last is not None and last.minutes <= 1 else "no cause given"
            return [DeviceEvent(EventKind.SHUTDOWN, None, detail=detail, time=now)]
        return []

    def _status(self, now: float) -> DeviceStatus:
        last = self._last
        battery = self._battery
        running = last is not None and bool(last.running)
        return DeviceStatus(
            intensities=(self._level,) * len(self.caps.zones),
            heat_target_c=None,
            temperature_c=None,
            battery_pct=None if battery is None else min(100, battery * 25),
            battery_mv=None,
            charging=self._charging,
            auto_off_s=last.minutes * 60 if running and last is not None else 0,
            faults=frozenset({"low_battery"}) if battery == 0 else frozenset(),
            time=now,
        )

    def reset(self) -> None:
        """Drop any partial frame, forget commands in flight and the device's last state.

        A device found stopped after a reconnect stopped because its host was gone,
        not on its own: its first report must not read as a shutdown.
        """
        self._decoder.reset()
        self._pending.clear()
        self._mode = self._zone = None
        self._level = 0
        self._last = None

    @property
    def stats(self) -> AdapterStats:
        """Frames decoded, bytes skipped, CRC errors and frames not understood."""
        s = self._decoder.stats
        return AdapterStats(s.frames, s.bytes_skipped, s.crc_errors, self._undecodable)


#: The "yh" registration: capabilities come from the device profile.
PROTOCOL = ProtocolSpec(
    name=YhAdapter.name,
    manufacturer="Jieli",  # the JL6328 chip's maker: the devices name no other
    adapter=YhAdapter,
    default_profile=DEFAULT_PROFILE,
    contract="massager_protocols.yh",
    markers=Markers(frozenset({yh_gatt.COMPANY_ID})),
)
