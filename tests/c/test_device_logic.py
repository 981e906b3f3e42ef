"""The C device skeleton's state machine on a fake board and a virtual clock.

The skeleton is built with a test board (``device_support.c``) into a shared
library; each test feeds it frames and ticks, then reads what it sent and what
it drives. The clock starts just before the 32-bit millisecond counter wraps,
so every timer is also checked across the wrap. These cover what the
conformance suite cannot reach from outside: heat and battery faults, the
heater after a stop, and the waveforms over time.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from massager_protocols.nmp import (
    NO_TEMPERATURE,
    OVERHEAD,
    Ack,
    Event,
    EventCode,
    EventState,
    Fault,
    Feature,
    Frame,
    GetStatus,
    Info,
    Keepalive,
    Message,
    Nack,
    NackCode,
    PatternStep,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    StreamDecoder,
    UploadPattern,
    Waveform,
    ZoneInfo,
    encode,
    encode_frame,
)

from tests.c.cbuild import C_DIR, EXAMPLES, LIBRARY, STRICT, compiler, run
from tests.protocols.embedded import embedded_upload

INFO = Info(
    protocol_version=1,
    fw_major=0,
    fw_minor=1,
    fw_patch=0,
    features=Feature.HEAT
    | Feature.PATTERNS
    | Feature.BATTERY
    | Feature.BUTTON
    | Feature.TEMPERATURE_SENSOR,
    intensity_steps=10,
    watchdog_ms=1500,
    auto_off_default_s=900,
    auto_off_max_s=1800,
    heat_limit_dc=450,
    battery_mah=2200,
    pattern_slots=4,
    pattern_max_steps=16,
    min_gap_ms=20,
    model="TEST",
    serial="T-1",
    heat_targets_dc=(380, 400, 420),
    zones=tuple(ZoneInfo(p, f"zone {p}") for p in (1, 2, 3, 4)),
)
#: 4 s before the 32-bit millisecond counter wraps.
START_MS = 0xFFFFFFFF - 4000
TICK_MS = 10


@pytest.fixture(scope="session")
def device_lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    cc = compiler()
    out: Path = tmp_path_factory.mktemp("device-logic") / "libdevice.so"
    support = Path(__file__).resolve().parent / "device_support.c"
    sources = [support, EXAMPLES / "nmp1_device.c", *LIBRARY]
    run([cc, *STRICT, "-O2", "-fPIC", "-shared", f"-I{C_DIR}", f"-I{EXAMPLES}", *sources,
         "-o", out])  # fmt: skip
    lib = ctypes.CDLL(str(out))
    lib.sim_init.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
    lib.sim_receive.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.sim_tick.argtypes = [ctypes.c_uint32]
    lib.sim_set_temperature.argtypes = [ctypes.c_int16]
    lib.sim_set_battery.argtypes = [ctypes.c_uint8, ctypes.c_uint8]
    lib.sim_motor.argtypes = [ctypes.c_uint8]
    lib.sim_motor.restype = ctypes.c_uint8
    lib.sim_heater.restype = ctypes.c_uint8
    lib.sim_take_output.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.sim_take_output.restype = ctypes.c_size_t
    return lib


class CDevice:
    """The skeleton on the fake board; ``elapsed`` is virtual milliseconds since start."""

    def __init__(self, lib: ctypes.CDLL, info: Info = INFO) -> None:
        self.lib = lib
        payload = info.encode_payload()
        assert lib.sim_init(payload, len(payload), START_MS) == 0
        self.elapsed = 0
        self._seq = 0
        self._decoder = StreamDecoder()
        #: Everything the device sent: (elapsed ms, seq, message).
        self.sent: list[tuple[int, int, Message]] = []
        #: The same, as frames.
        self.frames: list[Frame] = []

    def _collect(self) -> None:
        buf = ctypes.create_string_buffer(16384)
        n = self.lib.sim_take_output(buf, len(buf))
        for frame in self._decoder.feed(buf.raw[:n]):
            self.frames.append(frame)
            self.sent.append((self.elapsed, frame.seq, frame.message()))

    def tick(self, ms: int) -> None:
        """Let ``ms`` pass, ticking every 10 ms."""
        for _ in range(ms // TICK_MS):
            self.elapsed += TICK_MS
            self.lib.sim_tick((START_MS + self.elapsed) & 0xFFFFFFFF)
            self._collect()

    def feed(self, data: bytes) -> None:
        self.lib.sim_receive(data, len(data))
        self._collect()

    def request(self, message: Message) -> Message:
        """Send ``message``; the reply with its seq (replies are immediate)."""
        self._seq = self._seq % 255 + 1
        self.feed(encode(message, self._seq))
        (reply,) = [m for _, seq, m in self.sent if seq == self._seq]
        self.sent = [entry for entry in self.sent if entry[1] != self._seq]
        return reply

    def status(self) -> Status:
        reply = self.request(GetStatus())
        assert isinstance(reply, Status)
        return reply

    def unprompted(self) -> list[Message]:
        return [m for _, seq, m in self.sent if seq == 0]

    def events(self) -> list[tuple[int, int]]:
        return [(m.code, m.state) for m in self.unprompted() if isinstance(m, Event)]

    def motors(self) -> list[int]:
        return [self.lib.sim_motor(z) for z in range(len(INFO.zones))]

    def heater(self) -> int:
        return int(self.lib.sim_heater())

    def keep_alive(self, ms: int, every: int = 500) -> None:
        for _ in range(ms // every):
            self.tick(every)
            assert self.request(Keepalive()) == Ack(Keepalive.TYPE)


@pytest.fixture
def device(device_lib: ctypes.CDLL) -> Iterator[CDevice]:
    yield CDevice(device_lib)


def test_the_watchdog_stops_motors_and_heater_latches_and_reports(device: CDevice) -> None:
    assert device.request(SetOutput(0b0101, 6)) == Ack(SetOutput.TYPE)
    assert device.request(SetHeat(420)) == Ack(SetHeat.TYPE)
    device.tick(1000)
    assert device.motors() == [6, 0, 6, 0] and device.heater() == 100
    device.sent.clear()
    device.tick(490)  # 1490 ms since the last frame
    assert device.events() == []
    device.tick(20)
    assert device.events() == [(EventCode.WATCHDOG_STOP, EventState.RAISED)]
    assert device.motors() == [0, 0, 0, 0] and device.heater() == 0
    # EVENT first, then the STATUS that shows the stop.
    last = device.unprompted()[-1]
    assert isinstance(last, Status) and last.faults & Fault.WATCHDOG
    assert not any(last.intensities) and last.heat_target_dc == 0
    # The latch clears when the host next switches an output on.
    assert device.request(SetOutput(0b1, 1)) == Ack(SetOutput.TYPE)
    assert not device.status().faults & Fault.WATCHDOG


def test_stop_all_turns_the_heater_off_too(device: CDevice) -> None:
    device.request(SetHeat(400))
    device.tick(100)
    assert device.heater() == 100
    assert device.request(StopAll()) == Ack(StopAll.TYPE)
    device.tick(20)
    assert device.heater() == 0 and device.status().heat_target_dc == 0


def test_auto_off_counts_down_in_status_then_stops_and_latches(device: CDevice) -> None:
    assert device.request(SetAutoOff(5)) == Ack(SetAutoOff.TYPE)
    device.request(SetOutput(0b1, 3))  # on from the next tick, at 10 ms
    device.keep_alive(2500)
    assert device.status().auto_off_s == 3  # 2.51 s left, rounded up
    device.keep_alive(2000)
    assert device.events() == []
    device.keep_alive(1000)
    assert (EventCode.AUTO_OFF, EventState.RAISED) in device.events()
    status = device.status()
    assert status.faults & Fault.AUTO_OFF and not any(status.intensities)
    assert status.auto_off_s == 0


def test_setting_auto_off_again_never_restarts_the_count(device: CDevice) -> None:
    device.request(SetOutput(0b1, 3))  # on from the next tick, at 10 ms
    device.keep_alive(2500)
    assert device.request(SetAutoOff(5)) == Ack(SetAutoOff.TYPE)
    assert device.status().auto_off_s == 3  # counted from switching on, not from SET_AUTO_OFF
    device.keep_alive(3000)
    assert (EventCode.AUTO_OFF, EventState.RAISED) in device.events()


def test_a_host_frame_numbered_zero_is_ignored(device: CDevice) -> None:
    device.feed(encode(SetOutput(0b1, 3), 0))
    device.tick(500)
    assert not [m for _, _, m in device.sent if isinstance(m, (Ack, Nack))]
    assert device.motors() == [0, 0, 0, 0]


def test_a_refused_command_changes_nothing(device: CDevice) -> None:
    device.request(SetOutput(0b1, 4))
    device.tick(500)
    before = device.status()
    refused = [
        (SetOutput(0, 4), NackCode.OUT_OF_RANGE),
        (SetOutput(0b10000, 4), NackCode.OUT_OF_RANGE),
        (SetOutput(0b1, 11), NackCode.OUT_OF_RANGE),
        (SetOutput(0b1, 4, Waveform.PULSE, 0, 0), NackCode.OUT_OF_RANGE),
        (SetOutput(0b1, 4, Waveform.PATTERN, 2), NackCode.OUT_OF_RANGE),
        (SetHeat(460), NackCode.OUT_OF_RANGE),
        (SetHeat(300), NackCode.OUT_OF_RANGE),
        (SetAutoOff(1801), NackCode.OUT_OF_RANGE),
        (UploadPattern(4, (PatternStep(50, 100),)), NackCode.OUT_OF_RANGE),
        (UploadPattern(0, (PatternStep(101, 100),)), NackCode.OUT_OF_RANGE),
        (UploadPattern(0, (PatternStep(50, 0),)), NackCode.OUT_OF_RANGE),
    ]
    for message, code in refused:
        assert device.request(message) == Nack(message.TYPE, code), message
    device.tick(500)
    assert device.status() == before


def test_short_payloads_and_unknown_types_are_refused(device: CDevice) -> None:
    device.feed(bytes.fromhex("a50102110301022328"))  # not a frame: a bad CRC
    device.feed(encode_frame(5, SetOutput.TYPE, b"\x01\x02"))
    device.feed(encode_frame(6, 0x7E, b""))
    device.feed(encode_frame(7, 0x83, b""))  # a device-to-host type
    replies = [(seq, m) for _, seq, m in device.sent]
    assert replies == [
        (5, Nack(SetOutput.TYPE, NackCode.BAD_LENGTH)),
        (6, Nack(0x7E, NackCode.UNKNOWN_TYPE)),
        (7, Nack(0x83, NackCode.UNKNOWN_TYPE)),
    ]


def test_overheat_cuts_the_heater_locks_heat_and_clears_below_the_limit(device: CDevice) -> None:
    device.request(SetHeat(420))
    device.tick(100)
    device.lib.sim_set_temperature(455)
    device.tick(20)
    assert device.events() == [(EventCode.OVERHEAT, EventState.RAISED)]
    assert device.heater() == 0
    status = device.status()
    assert status.faults & Fault.OVERHEAT and status.heat_target_dc == 0
    assert device.request(SetHeat(400)) == Nack(SetHeat.TYPE, NackCode.HEAT_LOCKED)
    device.lib.sim_set_temperature(440)  # under the limit, inside the 2 C band
    device.tick(20)
    assert device.status().faults & Fault.OVERHEAT
    device.lib.sim_set_temperature(420)
    device.tick(20)
    assert device.events()[-1] == (EventCode.OVERHEAT, EventState.CLEARED)
    assert device.request(SetHeat(400)) == Ack(SetHeat.TYPE)


def test_a_sensor_fault_turns_the_heater_off_and_locks_heat(device: CDevice) -> None:
    device.request(SetHeat(400))
    device.tick(50)
    device.lib.sim_set_temperature(NO_TEMPERATURE)
    device.tick(20)
    assert device.events() == [(EventCode.SENSOR_FAULT, EventState.RAISED)]
    status = device.status()
    assert status.faults & Fault.SENSOR and status.temperature_dc is None
    assert device.heater() == 0 and status.heat_target_dc == 0
    assert device.request(SetHeat(400)) == Nack(SetHeat.TYPE, NackCode.HEAT_LOCKED)
    device.lib.sim_set_temperature(300)
    device.tick(20)
    assert device.events()[-1] == (EventCode.SENSOR_FAULT, EventState.CLEARED)
    assert device.status().temperature_dc == 300


def test_low_battery_warns_then_shuts_down_and_refuses_outputs(device: CDevice) -> None:
    device.request(SetOutput(0b1, 5))
    device.request(SetHeat(400))
    device.lib.sim_set_battery(11, 0)
    device.keep_alive(500)
    assert device.events() == [] and device.heater() == 100
    device.lib.sim_set_battery(10, 0)
    device.keep_alive(500)
    assert device.events() == [(EventCode.LOW_BATTERY, EventState.RAISED)]
    assert device.motors()[0] == 5
    assert device.heater() == 0  # the heater, the largest load, goes first
    device.lib.sim_set_battery(3, 0)
    device.keep_alive(500)
    assert device.events()[-1] == (EventCode.SHUTDOWN, EventState.RAISED)
    assert device.motors() == [0, 0, 0, 0]
    assert device.request(SetOutput(0b1, 5)) == Nack(SetOutput.TYPE, NackCode.LOW_BATTERY)
    assert device.request(SetHeat(400)) == Nack(SetHeat.TYPE, NackCode.LOW_BATTERY)
    assert device.status().battery_pct == 3


def test_the_button_stops_everything(device: CDevice) -> None:
    device.request(SetOutput(0b1111, 2))
    device.request(SetHeat(380))
    device.tick(200)
    device.lib.sim_button()
    device.tick(20)
    assert device.events() == [(EventCode.BUTTON, EventState.MOMENTARY)]
    assert device.motors() == [0, 0, 0, 0] and device.heater() == 0


def test_soft_start_then_a_pulse_then_a_pattern_with_its_phase(device: CDevice) -> None:
    device.request(SetOutput(0b1, 10))
    device.tick(20)
    assert 0 < device.motors()[0] < 10, "the level ramps, it does not jump"
    device.keep_alive(500)
    assert device.motors()[0] == 10
    device.request(SetOutput(0b1, 10, Waveform.PULSE, 0, 400))
    samples = []
    for _ in range(8):
        device.tick(100)
        samples.append(device.motors()[0])
    assert samples == [10, 0, 0, 10, 10, 0, 0, 10]
    steps = (PatternStep(100, 200), PatternStep(50, 200), PatternStep(0, 200))
    assert device.request(UploadPattern(1, steps)) == Ack(UploadPattern.TYPE)
    # Zone 0 from the loop's start, zone 1 200 ms into it.
    device.request(SetOutput(0b01, 10, Waveform.PATTERN, 1, 0))
    device.request(SetOutput(0b10, 10, Waveform.PATTERN, 1, 200))
    device.keep_alive(500)  # zone 1's soft start
    seen = set()
    for _ in range(12):
        device.tick(50)
        a, b = device.motors()[:2]
        seen.add((a, b))
    assert seen == {(10, 5), (5, 0), (0, 10)}


def test_telemetry_once_a_second_while_on_once_more_at_off_none_idle(device: CDevice) -> None:
    device.request(SetOutput(0b1, 2))
    device.keep_alive(3500)
    on = [t for t, seq, m in device.sent if seq == 0 and isinstance(m, Status)]
    assert len(on) == 3 and all(b - a == 1000 for a, b in itertools.pairwise(on))
    device.sent.clear()
    device.request(StopAll())
    device.tick(20)
    (last,) = device.unprompted()
    assert isinstance(last, Status) and not any(last.intensities)
    device.sent.clear()
    device.keep_alive(3000)
    assert device.unprompted() == []


def test_the_upload_is_taken_and_not_the_keepalive_inside_it_byte_by_byte(
    device: CDevice,
) -> None:
    case = embedded_upload(upload_seq=9, slot=1)
    for byte in case.frame:
        device.feed(bytes([byte]))
    assert [(seq, m) for _, seq, m in device.sent] == [(9, Ack(UploadPattern.TYPE))]


def test_link_loss_stops_everything(device: CDevice) -> None:
    device.request(SetOutput(0b1, 2))
    device.request(SetHeat(380))
    device.tick(200)
    device.lib.sim_link_lost()
    device.tick(20)
    assert device.motors() == [0, 0, 0, 0] and device.heater() == 0


def test_a_corrupted_length_byte_holds_the_link_only_until_it_falls_silent(
    device: CDevice,
) -> None:
    # An UPLOAD_PATTERN header whose length byte says 200: a candidate the
    # receiver waits for (within the type's bound) that nothing will complete.
    device.feed(bytes([0xA5, 0x01, 200, 9, UploadPattern.TYPE, 0x00]))
    device.feed(encode(GetStatus(), 42))
    assert [seq for _, seq, _ in device.sent] == []  # held inside the false candidate
    device.tick(250)  # section 2.1, rule 6: silence abandons the candidate
    assert 42 in [seq for _, seq, _ in device.sent]
    assert isinstance(device.status(), Status)


def test_eight_zones_report_their_own_levels_in_one_ble_write(device_lib: ctypes.CDLL) -> None:
    zones = tuple(ZoneInfo(p % 6, f"zone {p}") for p in range(8))
    device = CDevice(device_lib, dataclasses.replace(INFO, zones=zones, auto_off_max_s=7200))
    levels = (1, 2, 3, 4, 5, 6, 7, 10)
    for zone, level in enumerate(levels):
        assert device.request(SetOutput(1 << zone, level)) == Ack(SetOutput.TYPE)
        device.tick(30)  # past min_gap_ms
    assert device.request(SetAutoOff(5000)) == Ack(SetAutoOff.TYPE)
    device.keep_alive(1500)  # past the soft start
    device.feed(encode(GetStatus(), 200))
    (frame,) = [f for f in device.frames if f.seq == 200]
    assert OVERHEAD + len(frame.payload) == 20  # 7 + 9 + 8 / 2
    status = frame.message()
    assert isinstance(status, Status)
    assert status.intensities == levels
    assert status.auto_off_s == 4095  # 12 bits: 4095 s or more
