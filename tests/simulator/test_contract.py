"""The firmware keeps the NMP/1 contract: replies, sequence numbers, NACKs that change nothing."""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Any

import pytest
from massager_protocols.nmp import (
    OVERHEAD,
    Ack,
    Frame,
    GetInfo,
    GetStatus,
    Info,
    Keepalive,
    Message,
    MsgType,
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
    encode,
    encode_frame,
)
from massager_simulator import FaultConfig, SimulatedDevice

from tests.simulator.nmp_host import NmpHost, virtual


def snapshot(device: SimulatedDevice) -> dict[str, Any]:
    """Everything a command could change, observed from outside."""
    return {
        "status": device.status().fields(),
        "commanded": device.commanded,
        "levels": device.levels,
        "heat_target": device.heat_target_c,
        "faults": device.fault_flags,
        "on": device.is_on,
        "auto_off": device.auto_off_remaining_s,
    }


async def busy_device(model: str = "heat4") -> tuple[SimulatedDevice, NmpHost]:
    """A device doing several things at once, so a stray change would show."""
    device = SimulatedDevice(model)
    await device.start()
    host = NmpHost(device.connect())
    if device.model.pattern_slots:
        steps = (PatternStep(100, 300), PatternStep(20, 200))
        assert isinstance(await host.request(UploadPattern(0, steps)), Ack)
        assert isinstance(await host.request(SetOutput(0b01, 3, Waveform.PATTERN, 0, 100)), Ack)
    if len(device.model.zones) > 1:
        assert isinstance(await host.request(SetOutput(0b10, 2, Waveform.PULSE, 0, 800)), Ack)
    if device.model.heat is not None:
        assert isinstance(await host.request(SetHeat(400)), Ack)
    assert isinstance(await host.request(SetAutoOff(600)), Ack)
    await asyncio.sleep(2.5)  # ramps done, heater warming, waveforms mid-cycle
    await host.request(Keepalive())
    return device, host


def test_replies_echo_the_sequence_number_and_unprompted_frames_use_zero() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            for seq in (1, 77, 255):
                reply = await host.send_frame(encode(Keepalive(), seq), seq)
                assert reply == Ack(MsgType.KEEPALIVE)
            assert isinstance(await host.request(SetOutput(0b1, 5)), Ack)
            await asyncio.sleep(1.5)
            assert host.statuses(), "a running device sends STATUS unprompted"
            await host.close()

    virtual(scenario)


def test_get_info_answers_info_and_get_status_answers_status() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4", serial="H4-123456") as device:
            host = NmpHost(device.connect())
            info = await host.request(GetInfo())
            assert isinstance(info, Info)
            assert info.serial == "H4-123456"
            assert info.intensity_steps == 10 and len(info.zones) == 4
            assert info.heat_limit_dc == 450 and info.heat_targets_dc == (380, 400, 420)
            assert info.watchdog_ms == 3000 and info.auto_off_default_s == 900
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            assert status.intensities == (0, 0, 0, 0)
            assert status.battery_pct == 100
            assert status.temperature_dc is not None and abs(status.temperature_dc - 250) <= 2
            await host.close()

    virtual(scenario)


def test_a_host_frame_with_seq_zero_is_ignored() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await host.link.write(encode(SetOutput(0b1, 3), 0))
            await asyncio.sleep(0.5)
            assert device.commanded == (0, 0)
            assert not host.unprompted
            # The link still works afterwards.
            assert isinstance(await host.request(Keepalive()), Ack)
            await host.close()

    virtual(scenario)


def _steps(n: int, level: int = 50, duration: int = 100) -> tuple[PatternStep, ...]:
    return tuple(PatternStep(level, duration) for _ in range(n))


def _out(*args: int) -> bytes:
    return SetOutput(*args).encode_payload()


def _upload(slot: int, steps: tuple[PatternStep, ...]) -> bytes:
    return UploadPattern(slot, steps).encode_payload()


OOR, PAT, PULSE = NackCode.OUT_OF_RANGE, Waveform.PATTERN, Waveform.PULSE

# (what, model, message type, payload, expected NACK code)
NACK_CASES: list[tuple[str, str, int, bytes, NackCode]] = [
    ("zone mask 0", "heat4", 3, _out(0, 3), OOR),
    ("zone beyond the list", "heat4", 3, _out(0b10000, 3), OOR),
    ("zone beyond neck2's two", "neck2", 3, _out(0b100, 1), OOR),
    ("intensity above steps", "heat4", 3, _out(0b1, 11), OOR),
    ("intensity above neck2's 5", "neck2", 3, _out(0b1, 6), OOR),
    ("unknown waveform", "heat4", 3, _out(0b1, 3, 4), OOR),
    ("pattern never uploaded", "heat4", 3, _out(0b1, 3, PAT, 5), OOR),
    ("pattern slot beyond slots", "heat4", 3, _out(0b1, 3, PAT, 200), OOR),
    ("pulse without a period", "heat4", 3, _out(0b1, 3, PULSE, 0, 0), OOR),
    ("heat on a device without heat", "neck2", 4, SetHeat(400).encode_payload(), OOR),
    ("heat off on a device without heat", "handheld", 4, SetHeat(0).encode_payload(), OOR),
    ("heat above the limit", "heat4", 4, SetHeat(451).encode_payload(), OOR),
    ("heat below the lowest preset", "heat4", 4, SetHeat(379).encode_payload(), OOR),
    ("auto-off above the maximum", "heat4", 7, SetAutoOff(1201).encode_payload(), OOR),
    ("pattern slot beyond slots", "heat4", 8, _upload(8, _steps(2)), OOR),
    ("pattern with no steps", "heat4", 8, _upload(1, ()), OOR),
    ("pattern with too many steps", "heat4", 8, _upload(1, _steps(33)), OOR),
    ("pattern level above 100 %", "heat4", 8, _upload(1, _steps(2, level=101)), OOR),
    ("pattern step of 0 ms", "heat4", 8, _upload(1, _steps(2, duration=0)), OOR),
    ("pattern on a device with 4 slots", "neck2", 8, _upload(4, _steps(2)), OOR),
    ("unknown type", "heat4", 0x7E, b"", NackCode.UNKNOWN_TYPE),
    ("a device-side type", "heat4", MsgType.STATUS, b"\x00" * 9, NackCode.UNKNOWN_TYPE),
    ("short SET_OUTPUT", "heat4", 3, b"\x01\x02", NackCode.BAD_LENGTH),
    ("short SET_HEAT", "heat4", 4, b"\x90", NackCode.BAD_LENGTH),
    ("empty SET_AUTO_OFF", "heat4", 7, b"", NackCode.BAD_LENGTH),
    ("truncated pattern", "heat4", 8, bytes([1, 3, 50, 100, 0]), NackCode.BAD_LENGTH),
]


@pytest.mark.parametrize(
    ("model", "msg_type", "payload", "code"),
    [case[1:] for case in NACK_CASES],
    ids=[f"{case[1]}: {case[0]}" for case in NACK_CASES],
)
def test_every_nack_case_is_refused_and_changes_nothing(
    model: str, msg_type: int, payload: bytes, code: NackCode
) -> None:
    async def scenario() -> None:
        device, host = await busy_device(model)
        before = snapshot(device)
        reply = await host.send_raw(msg_type, payload)
        assert reply == Nack(msg_type, code), reply
        assert snapshot(device) == before
        await host.close()
        await device.stop()

    virtual(scenario)


def test_a_refused_pattern_upload_leaves_the_slot_unusable() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            refused = await host.request(UploadPattern(2, _steps(2, level=101)))
            assert refused == Nack(MsgType.UPLOAD_PATTERN, NackCode.OUT_OF_RANGE)
            reply = await host.request(SetOutput(0b1, 3, Waveform.PATTERN, 2))
            assert reply == Nack(MsgType.SET_OUTPUT, NackCode.OUT_OF_RANGE)
            await host.close()

    virtual(scenario)


def test_a_refused_auto_off_keeps_the_previous_setting() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            assert isinstance(await host.request(SetAutoOff(120)), Ack)
            assert isinstance(await host.request(SetAutoOff(5000)), Nack)
            assert isinstance(await host.request(SetOutput(0b1, 2)), Ack)
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            assert status.auto_off_s == 120
            await host.close()

    virtual(scenario)


def test_a_frame_failing_its_crc_is_answered_bad_crc_and_ignored() -> None:
    async def scenario() -> None:
        device, host = await busy_device()
        before = snapshot(device)
        seq = host.next_seq()
        frame = bytearray(encode(StopAll(), seq))
        frame[-1] ^= 0xFF
        reply = await host.send_frame(bytes(frame), seq)
        assert reply == Nack(MsgType.STOP_ALL, NackCode.BAD_CRC)
        assert snapshot(device) == before
        await host.close()
        await device.stop()

    virtual(scenario)


def test_stop_all_is_never_nacked_even_when_the_device_is_busy() -> None:
    async def scenario() -> None:
        device, host = await busy_device()
        device.inject(busy=1.0)
        assert await host.request(SetOutput(0b1, 1)) == Nack(MsgType.SET_OUTPUT, NackCode.BUSY)
        assert await host.request(StopAll()) == Ack(MsgType.STOP_ALL)
        assert not device.is_on
        assert device.commanded == (0, 0, 0, 0) and device.heat_target_c is None
        await host.close()
        await device.stop()

    virtual(scenario)


def test_frames_split_anywhere_and_merged_are_all_answered() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            # Byte by byte.
            seq = host.next_seq()
            reply = await host.send_frame(encode(SetOutput(0b11, 4), seq), seq, chunk=1)
            assert reply == Ack(MsgType.SET_OUTPUT)
            # Three frames in one write, with garbage between them.
            seqs = [host.next_seq() for _ in range(3)]
            futures = {s: asyncio.get_running_loop().create_future() for s in seqs}
            host._waiting.update(futures)
            blob = (
                b"\x00\xa5garbage"
                + encode(Keepalive(), seqs[0])
                + b"\x13\x37"
                + encode(GetStatus(), seqs[1])
                + encode(SetHeat(420), seqs[2])
            )
            await host.link.write(blob)
            replies = [await futures[s] for s in seqs]
            assert replies[0] == Ack(MsgType.KEEPALIVE)
            assert isinstance(replies[1], Status)
            assert replies[2] == Ack(MsgType.SET_HEAT)
            await host.close()

    virtual(scenario)


def test_extra_trailing_payload_bytes_are_accepted() -> None:
    """A newer minor revision may append fields; this firmware ignores them."""

    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            payload = SetHeat(380).encode_payload() + b"\x01\x02"
            assert await host.send_raw(MsgType.SET_HEAT, payload) == Ack(MsgType.SET_HEAT)
            assert device.heat_target_c == 38.0
            await host.close()

    virtual(scenario)


def test_unprompted_status_about_once_a_second_while_on_and_none_when_idle() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            await asyncio.sleep(5)
            assert host.statuses() == []
            assert isinstance(await host.request(SetOutput(0b11, 3)), Ack)
            for _ in range(10):
                await asyncio.sleep(1)
                await host.request(Keepalive())
            times = [t for t, _ in host.statuses()]
            assert 9 <= len(times) <= 11
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(0.5 <= g <= 1.5 for g in gaps), gaps
            assert host.statuses()[-1][1].intensities == (3, 3)
            await host.close()

    virtual(scenario)


@pytest.mark.parametrize("how", ["stop all", "last output off", "heater off", "watchdog"])
def test_one_last_status_when_everything_goes_off_then_silence(how: str) -> None:
    """A host that only listens (a second link) learns of the stop, then hears nothing."""

    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            listener = NmpHost(device.connect())
            if how == "heater off":
                assert isinstance(await host.request(SetHeat(400)), Ack)
            else:
                assert isinstance(await host.request(SetOutput(0b1111, 3)), Ack)
            await asyncio.sleep(2.5)
            assert listener.statuses()
            off_at = asyncio.get_running_loop().time()
            if how == "stop all":
                assert isinstance(await host.request(StopAll()), Ack)
            elif how == "last output off":
                assert isinstance(await host.request(SetOutput(0b0011, 0)), Ack)
                await asyncio.sleep(0.3)  # between two reports: two zones still run
                assert listener.statuses()[-1][1].intensities == (0, 0, 3, 3) or (
                    listener.statuses()[-1][0] < off_at
                )
                off_at = asyncio.get_running_loop().time()
                assert isinstance(await host.request(SetOutput(0b1100, 0)), Ack)
            elif how == "heater off":
                assert isinstance(await host.request(SetHeat(0)), Ack)
            else:
                await asyncio.sleep(device.model.watchdog_ms / 1000)
            await asyncio.sleep(2.0)  # motors switched off wind down along their ramp
            reported = [(t, s) for t, s in listener.statuses() if t >= off_at]
            assert len(reported) == 1, reported  # one report of the stop, not two
            last = reported[0][1]
            assert last.intensities == (0, 0, 0, 0) and last.heat_target_dc == 0
            await asyncio.sleep(10)
            assert listener.statuses()[-1] == reported[0], "telemetry went on while idle"
            await host.close()
            await listener.close()

    virtual(scenario)


def test_each_model_answers_its_own_info() -> None:
    async def scenario() -> dict[str, Message]:
        infos: dict[str, Message] = {}
        for name in ("neck2", "heat4", "handheld"):
            async with SimulatedDevice(name) as device:
                host = NmpHost(device.connect())
                infos[name] = await host.request(GetInfo())
                await host.close()
        return infos

    infos = virtual(scenario)
    neck2, heat4, handheld = infos["neck2"], infos["heat4"], infos["handheld"]
    assert isinstance(neck2, Info) and isinstance(heat4, Info) and isinstance(handheld, Info)
    assert [z.position for z in neck2.zones] == [1, 2] and neck2.heat_limit_dc == 0
    assert [z.position for z in heat4.zones] == [1, 2, 3, 4]
    assert [z.position for z in handheld.zones] == [7] and handheld.battery_mah == 0
    assert struct.pack("<H", neck2.features) != struct.pack("<H", heat4.features)


def test_fault_config_with_no_faults_is_the_default() -> None:
    assert SimulatedDevice("neck2").faults == FaultConfig()
    assert encode_frame(1, 6, b"") == encode(Keepalive(), 1)


def test_an_eight_zone_status_is_one_ble_write_with_each_zone_s_level() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("wrap8") as device:
            link = device.connect()
            levels = (15, 0, 1, 14, 2, 13, 3, 12)
            for seq, (zone, level) in enumerate(enumerate(levels), start=1):
                await link.write(encode(SetOutput(1 << zone, level), seq))
                await asyncio.sleep(0.05)  # min_gap_ms apart
            await asyncio.sleep(1.5)  # past the soft start
            await link.write(encode(GetStatus(), 99))
            await asyncio.sleep(0.1)
            decoder, frames = StreamDecoder(), list[Frame]()
            while not frames or frames[-1].seq != 99:
                frames += decoder.feed(await link.read())
            reply = frames[-1]
            assert reply.msg_type == MsgType.STATUS
            assert OVERHEAD + len(reply.payload) == 20
            assert reply.payload[9:] == bytes([0x0F, 0xE1, 0xD2, 0xC3])  # zone 2k low, 2k+1 high
            status = reply.message()
            assert isinstance(status, Status) and status.intensities == levels
            link.close()

    virtual(scenario)
