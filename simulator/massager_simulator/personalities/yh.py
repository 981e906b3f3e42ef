"""The "yh" personality: a JL6328-style EMS massager (see ``protocols/specs/yh.md``).

Commands become the firmware's own: LEVEL drives every zone at that level
with the waveform of the current MODE, TIMER sets auto-off, and every accepted
or refused setting is answered by a report of the value in force. The
heartbeat (the whole state) goes out every ``heartbeat_s`` seconds while a
host is connected and at once when the state changes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from massager_protocols import ProtocolError
from massager_protocols.nmp import Event, EventCode, SetAutoOff, SetOutput, Waveform
from massager_protocols.yh import (
    LATEST,
    RANGES,
    Command,
    CrcRule,
    Direction,
    Frame,
    HeartbeatRequest,
    Revision,
    Setting,
    Status,
    StreamDecoder,
    encode_frame,
)
from massager_protocols.yh import gatt as yh_gatt

from massager_simulator.personalities.base import GattProfile, Personality

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port

_WAVEFORMS = {"constant": Waveform.CONSTANT, "pulse": Waveform.PULSE, "wave": Waveform.WAVE}
_BATTERY_EVENTS = frozenset({EventCode.LOW_BATTERY, EventCode.SHUTDOWN})


@dataclasses.dataclass(frozen=True, slots=True)
class ModeSpec:
    """What a program does to the motors."""

    name: str
    waveform: Waveform
    period_ms: int


class YhPersonality(Personality):
    """A device speaking the "yh" frame."""

    protocol = "yh"

    def __init__(self, device: SimulatedDevice) -> None:
        super().__init__(device)
        if device.model.intensity_steps != RANGES[Command.LEVEL].stop - 1:
            raise self.error(
                f"a yh device has levels 0..19, so intensity_steps must be 19, "
                f"not {device.model.intensity_steps}"
            )
        self.modes = self._modes()
        self.mode = 0
        self.zone = int(self.option("zone", 0))
        self.buzzer = 1
        self.heartbeat_s = float(self.option("heartbeat_s", 5.0))
        revision = str(self.option("revision", LATEST.value))
        try:
            self.revision = Revision(revision)
        except ValueError:
            known = ", ".join(r.value for r in Revision)
            raise self.error(f"revision {revision!r} is not one of {known}") from None
        #: CRC byte order the firmware sends: "big" (the document) or "little".
        crc = str(self.option("crc_order", "big"))
        if crc not in ("big", "little"):
            raise self.error(f"crc_order {crc!r} is not 'big' or 'little'")
        self.crc_rule = CrcRule.SPEC if crc == "big" else CrcRule.LITTLE_ENDIAN
        self._last: tuple[Status, float] | None = None
        #: Host frames this device did not understand (unknown command or direction).
        self.ignored = 0

    def _modes(self) -> tuple[ModeSpec, ...]:
        raw = self.option("modes", [])
        if not isinstance(raw, list) or len(raw) != len(RANGES[Command.MODE]):
            raise self.error("modes must list the 8 programs 0..7")
        modes = []
        for index, entry in enumerate(raw):
            if not isinstance(entry, dict) or entry.get("waveform") not in _WAVEFORMS:
                raise self.error(f"modes[{index}] needs waveform = one of {', '.join(_WAVEFORMS)}")
            waveform = _WAVEFORMS[entry["waveform"]]
            period = int(entry.get("period_ms", 0))
            if waveform != Waveform.CONSTANT and not 1 <= period <= 0xFFFF:
                raise self.error(f"modes[{index}] needs period_ms 1..65535 for {waveform.name}")
            modes.append(ModeSpec(str(entry.get("name", f"mode {index}")), waveform, period))
        return tuple(modes)

    @property
    def gatt(self) -> GattProfile:
        """FFE0 with FFE1 (write) and FFE2 (notify); 'yh' manufacturer data."""
        product = int(self.option("product", yh_gatt.PRODUCT_EMS))
        firmware = int(self.option("firmware", 1))
        return GattProfile(
            service_uuid=yh_gatt.SERVICE_UUID,
            write_uuid=yh_gatt.WRITE_CHAR_UUID,
            notify_uuid=yh_gatt.NOTIFY_CHAR_UUID,
            manufacturer_data={yh_gatt.COMPANY_ID: yh_gatt.manufacturer_data(product, firmware)},
            service_data={},
            service_uuids=(yh_gatt.SERVICE_UUID,),
            local_name=str(self.option("local_name", "EMS-" + self.device.serial[-4:])),
        )

    # -- the device's state as the protocol reports it ------------------------------

    @property
    def level(self) -> int:
        """The commanded level (every zone is driven alike)."""
        return max(self.device.commanded, default=0)

    def report(self, now: float) -> Status:
        """The heartbeat the device would send now."""
        device = self.device
        pct = device.battery_pct
        battery = 4 if pct is None else min(4, max(0, round(pct / 25)))
        minutes = math.ceil(device.auto_off_remaining_s / 60 - 1e-9)
        return Status(
            running=1 if device.is_on else 0,
            battery=battery,
            mode=self.mode,
            level=self.level,
            zone=self.zone,
            minutes=max(0, min(255, minutes)),
        )

    # -- host frames -------------------------------------------------------------

    def port_bytes(self, port: Port, data: bytes) -> None:
        """Decode the host's frames and answer each one."""
        decoder: StreamDecoder = self.port_state(
            port, lambda: StreamDecoder.for_revision(self.revision)
        )
        for frame in decoder.feed(data):
            now = self.device._clock()
            reply = self._dispatch(frame, now)
            if reply is None:
                self.ignored += 1
                continue
            self.send(port, reply)

    def _dispatch(self, frame: Frame, now: float) -> bytes | None:
        if frame.direction != Direction.HOST:
            return None
        try:
            message = frame.message()
        except ProtocolError:  # an unknown command or a short payload: no answer
            return None
        if isinstance(message, HeartbeatRequest):
            self.device.heard(now)
            status = self.report(now)
            self._last = (status, now)
            return self._frame(status)
        assert isinstance(message, Setting)
        command = Command(message.command)
        if command not in _SETTERS:
            self.device.heard(now)  # a report-only command: answered with its value
        else:
            _SETTERS[command](self, message.value, now)
        return self._frame(Setting(Direction.DEVICE, command, self._value(command)))

    def _frame(self, message: Status | Setting) -> bytes:
        """``message`` as this firmware frames it (its revision and CRC byte order)."""
        if isinstance(message, Status):
            data = bytes(dataclasses.astuple(message))
            return encode_frame(
                Direction.DEVICE, Command.HEARTBEAT, data, self.crc_rule, revision=self.revision
            )
        return encode_frame(
            message.direction,
            message.command,
            bytes([message.value]),
            self.crc_rule,
            revision=self.revision,
        )

    def _value(self, command: Command) -> int:
        device = self.device
        match command:
            case Command.MODE:
                return self.mode
            case Command.LEVEL:
                return self.level
            case Command.ZONE:
                return self.zone
            case Command.BUZZER:
                return self.buzzer
            case Command.TIMER:
                return min(255, round(device.supervisor.auto_off_s / 60))
            case Command.BATTERY:
                return self.report(device._clock()).battery
            case Command.CHARGE:
                return 1 if device.charging else 0
            case Command.BLUETOOTH:
                return 1
        raise AssertionError(command)

    def _drive(self, level: int, now: float) -> int:
        mode = self.modes[self.mode]
        mask = (1 << len(self.device.model.zones)) - 1
        period = mode.period_ms if level else 0
        waveform = mode.waveform if level else Waveform.CONSTANT
        return self.device.apply(SetOutput(mask, level, waveform, 0, period), now)

    def _set_mode(self, value: int, now: float) -> None:
        if value not in RANGES[Command.MODE]:
            self.device.heard(now)
            return
        old, self.mode = self.mode, value
        if self.level and self._drive(self.level, now):
            self.mode = old  # the firmware refused the new program: keep the old one
        elif not self.level:
            self.device.heard(now)

    def _set_level(self, value: int, now: float) -> None:
        if value not in RANGES[Command.LEVEL]:
            self.device.heard(now)
            return
        self._drive(value, now)

    def _set_zone(self, value: int, now: float) -> None:
        self.device.heard(now)
        if value in RANGES[Command.ZONE]:
            self.zone = value

    def _set_buzzer(self, value: int, now: float) -> None:
        self.device.heard(now)
        if value in RANGES[Command.BUZZER]:
            self.buzzer = value

    def _set_timer(self, value: int, now: float) -> None:
        # 0 asks for the device default, as NMP/1's SET_AUTO_OFF 0 does.
        self.device.apply(SetAutoOff(value * 60), now)

    # -- what the device says on its own ---------------------------------------------

    def status(self, now: float) -> None:
        """A heartbeat when the state changed or one is due."""
        report = self.report(now)
        last = self._last
        if last is not None and last[0] == report and now - last[1] < self.heartbeat_s:
            return
        self._last = (report, now)
        self._broadcast(self._frame(report))

    def event(self, now: float, event: Event) -> None:
        """Battery and charger events become BATTERY and CHARGE reports; stops a heartbeat."""
        if event.code in _BATTERY_EVENTS:
            battery = self.report(now).battery
            self._broadcast(self._frame(Setting(Direction.DEVICE, Command.BATTERY, battery)))
        elif event.code == EventCode.CHARGER:
            charging = 1 if self.device.charging else 0
            self._broadcast(self._frame(Setting(Direction.DEVICE, Command.CHARGE, charging)))
        self.status(now)

    def _broadcast(self, frame: bytes) -> None:
        for port in self.ports():
            self.send(port, frame)


_SETTERS = {
    Command.MODE: YhPersonality._set_mode,
    Command.LEVEL: YhPersonality._set_level,
    Command.ZONE: YhPersonality._set_zone,
    Command.BUZZER: YhPersonality._set_buzzer,
    Command.TIMER: YhPersonality._set_timer,
}


#: Registers this personality under its protocol.
PERSONALITY = YhPersonality
