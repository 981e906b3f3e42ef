"""The Tuya BLE personality: a neck massager as Tuya's demo firmware behaves.

After the key exchange and pairing (``protocols/specs/tuya_ble.md``; only the
uuid is compared, and the device asks the time after pairing), DPS writes set
the data points: switch (``switch_on``, 0 in the demo, turns the massage on),
gear 0..15 (level 1..16), mode 0..4 and heat (0 on, 1 off). As in the demo's
handler, only the first data point of a write is applied (``multi_dp_writes
= true``: all of them), gear, mode and heat are ignored while switched off,
and the whole write is echoed back as a data point report. A status query
gets the result byte only (``report_after_query = true``: and a report of
every data point). A stop by the firmware itself (watchdog, auto-off,
button, battery) and the low-battery alarm are reported unprompted.

Over BLE it serves service 0x1910 and advertises 0xA201; bound (``bound``,
default true: a device whose local key you hold is bound), it advertises
its product id encrypted, as Tuya's SDK does.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, Any

from massager_protocols import ProtocolError
from massager_protocols.nmp import (
    Event,
    EventCode,
    EventState,
    Fault,
    SetHeat,
    SetOutput,
    StopAll,
    Waveform,
)
from massager_protocols.tuya import (
    Code,
    Credentials,
    DataPoint,
    DeviceChannel,
    DeviceIdentity,
    DpType,
    Reassembler,
    decode_datapoints,
    encode_datapoints,
)
from massager_protocols.tuya import gatt as tuya_gatt

from massager_simulator.personalities.base import GattProfile, Personality

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port

_WAVEFORMS = {"constant": Waveform.CONSTANT, "pulse": Waveform.PULSE, "wave": Waveform.WAVE}
#: Events after which the firmware has switched itself off.
_STOPS = frozenset(
    {EventCode.WATCHDOG_STOP, EventCode.AUTO_OFF, EventCode.BUTTON, EventCode.SHUTDOWN}
)
GEARS = 16
HEAT_ON, HEAT_OFF = 0, 1


@dataclasses.dataclass(slots=True)
class _Link:
    reassembler: Reassembler
    channel: DeviceChannel


class TuyaPersonality(Personality):
    """A device speaking Tuya BLE with the neck-massager data points."""

    protocol = "tuya_ble"

    def __init__(self, device: SimulatedDevice) -> None:
        super().__init__(device)
        if device.model.intensity_steps != GEARS:
            raise self.error(f"gears 0..15 are levels 1..16: intensity_steps must be {GEARS}")
        try:
            self.credentials = Credentials(
                str(self.option("local_key", "")),
                str(self.option("device_id", "")),
                str(self.option("uuid", "")),
            )
        except ProtocolError as exc:
            raise self.error(f"local_key, device_id and uuid: {exc}") from None
        self.product_id = str(self.option("product_id", ""))
        self.switch_on = int(self.option("switch_on", 0))
        self.multi_dp_writes = bool(self.option("multi_dp_writes", False))
        self.report_after_query = bool(self.option("report_after_query", False))
        self.bound = bool(self.option("bound", True))
        self.dp = {
            name: int(self.option(f"dp_{name}", default))
            for name, default in (
                ("low_battery", 101), ("heat", 102), ("gear", 103), ("mode", 104), ("switch", 105)
            )
        }  # fmt: skip
        self.modes = self._modes()
        self.heat_c = float(self.option("heat_c", 40.0))
        self.power = False
        self.gear = 0
        self.mode = 0
        self._reported: dict[int, Any] = {}
        self._refused = False  # the firmware refused to switch on: it says so after the echo
        #: The host's answer to the time request sent after pairing, once it came.
        self.time_told: bytes | None = None
        self._rng = random.Random(device.faults.seed)

    def _modes(self) -> tuple[tuple[Waveform, int], ...]:
        raw = self.option("modes", [])
        if not isinstance(raw, list) or not raw:
            raise self.error("modes must list the programs, each { waveform, period_ms }")
        modes = []
        for index, entry in enumerate(raw):
            if not isinstance(entry, dict) or entry.get("waveform") not in _WAVEFORMS:
                raise self.error(f"modes[{index}] needs waveform = one of {', '.join(_WAVEFORMS)}")
            modes.append((_WAVEFORMS[entry["waveform"]], int(entry.get("period_ms", 0))))
        return tuple(modes)

    @property
    def gatt(self) -> GattProfile:
        """Service 1910 (write 2B11, notify 2B10); A201 advertised, with Tuya's service
        and manufacturer data (the product id encrypted once bound)."""
        creds, bound = self.credentials, self.bound
        return GattProfile(
            service_uuid=tuya_gatt.COMMAND_SERVICE_UUID,
            write_uuid=tuya_gatt.WRITE_CHAR_UUID,
            notify_uuid=tuya_gatt.NOTIFY_CHAR_UUID,
            manufacturer_data={
                tuya_gatt.COMPANY_ID: tuya_gatt.manufacturer_data(
                    self.product_id, creds.uuid, bound=bound, local_key=creds.local_key
                )
            },
            service_data={
                tuya_gatt.SERVICE_UUID: tuya_gatt.service_data(
                    self.product_id, creds.uuid, bound=bound, local_key=creds.local_key
                )
            },
            service_uuids=(tuya_gatt.SERVICE_UUID,),
            local_name=str(self.option("local_name", "TY")),
        )

    # -- the data points ----------------------------------------------------------------

    def values(self) -> dict[int, Any]:
        """Every data point's value in force."""
        dp = self.dp
        if self.power and not self.device.is_on:
            self.power = False  # the firmware stopped (its host went away) since the last report
        low = bool(self.device.fault_flags & (Fault.LOW_BATTERY | Fault.BATTERY_CRITICAL))
        return {
            dp["switch"]: self.power == (self.switch_on == 1),  # the bool the data point holds
            dp["gear"]: self.gear,
            dp["mode"]: self.mode,
            dp["heat"]: HEAT_ON if self.device.heat_target_c else HEAT_OFF,
            dp["low_battery"]: low,
        }

    def _points(self, ids: list[int]) -> list[DataPoint]:
        values = self.values()
        bools = {self.dp["switch"], self.dp["low_battery"]}
        return [
            DataPoint(i, DpType.BOOL if i in bools else DpType.ENUM, values[i])
            for i in ids
            if i in values
        ]

    def _drive(self, now: float) -> int:
        waveform, period = self.modes[self.mode]
        mask = (1 << len(self.device.model.zones)) - 1
        return self.device.apply(SetOutput(mask, self.gear + 1, waveform, 0, period), now)

    def _write(self, point: DataPoint, now: float) -> None:
        dp, device = self.dp, self.device
        value = point.value
        if point.id == dp["switch"]:
            # The demo reads the value's first byte: ON = 0 switches on, anything else off.
            value = int(value) == self.switch_on if not isinstance(value, (str, bytes)) else False
            if value and not self.power:
                self.power = True
                if self._drive(now):
                    self.power = False
                    self._refused = True
            elif not value:
                device.apply(StopAll(), now)
                self.power = False
            return
        if not self.power or not isinstance(value, int) or isinstance(value, bool):
            device.heard(now)  # the demo firmware ignores these while switched off
            return
        if point.id == dp["gear"] and 0 <= value < GEARS:
            old, self.gear = self.gear, value
            if self._drive(now):
                self.gear = old
        elif point.id == dp["mode"]:
            # The demo takes any value past the named modes as its last ("intelligent").
            old, self.mode = self.mode, min(max(value, 0), len(self.modes) - 1)
            if self._drive(now):
                self.mode = old
        elif point.id == dp["heat"]:  # the demo: 0 heats, any other value is off
            target = round(self.heat_c * 10) if value == HEAT_ON else 0
            device.apply(SetHeat(target), now)
        else:
            device.heard(now)

    # -- links -------------------------------------------------------------------------

    def _link(self) -> _Link:
        srand = bytes(self._rng.getrandbits(8) for _ in range(6))
        identity = DeviceIdentity(
            auth_key=bytes(self._rng.getrandbits(8) for _ in range(32)), bound=self.bound
        )
        rng = self._rng
        channel = DeviceChannel(
            self.credentials,
            identity,
            srand,
            iv=lambda: rng.randbytes(16),
        )
        return _Link(Reassembler(), channel)

    def port_bytes(self, port: Port, data: bytes) -> None:
        """Reassemble, decrypt, answer."""
        link: _Link = self.port_state(port, self._link)
        for envelope in link.reassembler.feed(data):
            try:
                out = link.channel.receive(envelope)
            except ProtocolError:
                continue  # a message this device cannot decrypt or check: dropped
            now = self.device._clock()
            if out.paired:
                self.bound = True  # the SDK binds on the first pairing and advertises so
            if out.writes:
                self.device.heard(now)
            for fragment in out.writes:
                self.send(port, fragment)
            for message in out.messages:
                self._message(port, link, message, now)

    def _message(self, port: Port, link: _Link, message: Any, now: float) -> None:
        if message.response_to:
            self.device.heard(now)  # the host's acknowledgement of a report, or the time
            if message.code == Code.TIME1_REQ:
                self.time_told = message.data
            return
        if message.code == Code.DPS:
            try:
                points = decode_datapoints(message.data)
            except ProtocolError:
                self._answer(port, link, message, 1)
                return
            for point in points if self.multi_dp_writes else points[:1]:
                self._write(point, now)
            self._answer(port, link, message, 0)
            self._echo(port, link, message.data)
        elif message.code == Code.DEVICE_STATUS:
            self.device.heard(now)
            self._answer(port, link, message, 0)
            if self.report_after_query:
                self._report(port, link, list(self.values()))
        else:
            self.device.heard(now)

    def _answer(self, port: Port, link: _Link, message: Any, result: int) -> None:
        _, writes = link.channel.seal(message.code, bytes([result]), message.seq)
        for fragment in writes:
            self.send(port, fragment)

    def _echo(self, port: Port, link: _Link, data: bytes) -> None:
        """The demo reports the write as it came, applied or not.

        Data points its handler ignored stay uncorrected, as on the demo; a switch-on
        the simulated firmware refused (a flat battery) is reported after the echo,
        as a firmware reports a stop of its own.
        """
        refused, self._refused = self._refused, False
        if data:
            self._reported.update(self.values())  # what is in force counts as told
            _, writes = link.channel.seal(Code.RECEIVE_DP, data)
            for fragment in writes:
                self.send(port, fragment)
        if refused:
            self._report(port, link, [self.dp["switch"]])

    def _report(self, port: Port, link: _Link, ids: list[int]) -> None:
        points = self._points(ids)
        if not points:
            return
        for point in points:
            self._reported[point.id] = point.value
        _, writes = link.channel.seal(Code.RECEIVE_DP, encode_datapoints(points))
        for fragment in writes:
            self.send(port, fragment)

    def _broadcast_changes(self) -> None:
        values = self.values()
        changed = [i for i, v in values.items() if self._reported.get(i) != v]
        if not changed:
            return
        for port in self.ports():
            link = self._state.get(port)
            if link is not None and link.channel.paired:
                self._report(port, link, changed)

    # -- what the device says on its own --------------------------------------------------

    def status(self, now: float) -> None:
        """Report the data points that changed since they were last reported."""
        if self.power and not self.device.is_on:
            self.power = False
        self._broadcast_changes()

    def event(self, now: float, event: Event) -> None:
        """A stop by the firmware switches the massage off; the alarm is a data point."""
        if event.code in _STOPS and event.state != EventState.CLEARED:
            self.power = False
        self._broadcast_changes()


#: Registers this personality under its protocol.
PERSONALITY = TuyaPersonality
