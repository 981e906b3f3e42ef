"""Checks of the messages and of validation (spec sections 4, 6.1, 7.3 and 8)."""

from __future__ import annotations

import asyncio

from massager_protocols.nmp import (
    MAX_INTENSITY_STEPS,
    OVERHEAD,
    Ack,
    Feature,
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
    UploadPattern,
    Waveform,
    encode,
    encode_frame,
)
from massager_protocols.nmp.messages import STATUS_PACKED

from massager_sdk.conformance.core import (
    SOFT_START_S,
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    all_zones,
    everything_on,
    has_heat,
    lowest_heat,
    require_info,
    show,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@check("GET_INFO returns INFO for protocol 1", "4.2 INFO")
async def _info(probe: Probe) -> str:
    reply = await probe.request(GetInfo())
    if not isinstance(reply, Info):
        raise CheckFailed(f"expected INFO, got {show(reply)}")
    if reply.protocol_version != 1:
        raise CheckFailed(f"INFO protocol_version is {reply.protocol_version}, expected 1")
    if not 1 <= len(reply.zones) <= 8:
        raise CheckFailed(f"INFO lists {len(reply.zones)} zones; 1..8 are allowed")
    if not 1 <= reply.intensity_steps <= MAX_INTENSITY_STEPS or reply.watchdog_ms == 0:
        raise CheckFailed(
            f"INFO needs intensity_steps 1..{MAX_INTENSITY_STEPS} (has {reply.intensity_steps}) "
            "and a watchdog_ms above 0"
        )
    if reply.has(Feature.HEAT) and not reply.heat_limit_dc:
        raise CheckFailed("INFO advertises HEAT but heat_limit_dc is 0")
    probe.info = reply
    return f"{reply.model} fw {reply.firmware_version}, {len(reply.zones)} zones"


@check("GET_STATUS returns STATUS with one level per zone", "4.2 STATUS")
async def _status(probe: Probe) -> str:
    info = require_info(probe)
    status = await probe.status()
    payload = probe.status_payload
    if len(payload) < 4 or not payload[3] & STATUS_PACKED:
        raise CheckFailed(
            "STATUS faults bit 7 is clear: the 1.0 layout (a byte per zone); 1.1 sets it "
            "and packs the levels two to a byte"
        )
    if len(status.intensities) != len(info.zones):
        raise CheckFailed(
            f"STATUS has {len(status.intensities)} levels for {len(info.zones)} zones"
        )
    if OVERHEAD + len(payload) > 20:
        raise CheckFailed(f"STATUS is {OVERHEAD + len(payload)} bytes; one BLE write holds 20")
    return f"battery {status.battery_pct}%, {OVERHEAD + len(payload)}-byte frame"


@check("every reply echoes the request's sequence number and type", "2, 4")
async def _echo(probe: Probe) -> str:
    probe.stray.clear()
    for seq, message in (
        (1, Keepalive()),
        (0x80, StopAll()),
        (0xA5, Keepalive()),
        (255, GetStatus()),
    ):
        reply = await probe.raw(encode(message, seq), seq)
        if isinstance(reply, (Ack, Nack)) and reply.acked_type != message.TYPE:
            raise CheckFailed(f"seq {seq}: the reply names type {reply.acked_type:#04x}")
        if isinstance(message, GetStatus) and not isinstance(reply, Status):
            raise CheckFailed(f"GET_STATUS seq {seq}: expected STATUS, got {show(reply)}")
        if isinstance(message, (Keepalive, StopAll)) and not isinstance(reply, Ack):
            raise CheckFailed(f"{message.TYPE.name} seq {seq}: expected ACK, got {show(reply)}")
    probe.stray.clear()
    await probe.transport.write(encode_frame(0, int(MsgType.STOP_ALL), b""))
    await probe.status()
    if probe.stray:
        raise CheckFailed(f"a host frame numbered 0 was answered: {show(probe.stray[0][1])}")
    return "seq 1, 128, 165 and 255 echoed; a host frame numbered 0 ignored"


@check("SET_OUTPUT drives every zone, STOP_ALL stops them", "4.1, 6.1")
async def _output(probe: Probe) -> str:
    info = require_info(probe)
    await probe.expect_ack(SetOutput(all_zones(info), 1, Waveform.CONSTANT, 0, 0))
    await probe.wait_status(lambda s: all(x == 1 for x in s.intensities), "every zone at level 1")
    await probe.expect_ack(StopAll())
    await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    return f"levels 0..{info.intensity_steps}"


@check("STATUS reports each zone's own level", "4.2 STATUS, 6.5")
async def _zone_levels(probe: Probe) -> str:
    info = require_info(probe)
    levels = tuple(1 + i % info.intensity_steps for i in range(len(info.zones)))
    for zone, level in enumerate(levels):
        await asyncio.sleep(info.min_gap_ms / 1000)
        await probe.expect_ack(SetOutput(1 << zone, level, Waveform.CONSTANT, 0, 0))
    await probe.wait_status(lambda s: s.intensities == levels, f"zone levels {list(levels)}")
    await probe.expect_ack(StopAll())
    await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    return f"levels {list(levels)}"


@check("STOP_ALL switches the heater off", "4.1 STOP_ALL")
async def _stop_heat(probe: Probe) -> str:
    info = require_info(probe)
    if not has_heat(info):
        raise NotTestable("the device advertises no heater")
    await probe.expect_ack(SetHeat(lowest_heat(info)))
    status = await probe.status()
    if status.heat_target_dc != lowest_heat(info):
        raise CheckFailed(
            f"SET_HEAT acknowledged but STATUS heat target is {status.heat_target_dc}"
        )
    await probe.expect_ack(StopAll())
    status = await probe.status()
    if status.heat_target_dc:
        raise CheckFailed(f"after STOP_ALL the heater target is still {status.heat_target_dc}")
    return "heat target 0 after STOP_ALL"


@check("out-of-range values are NACKed OUT_OF_RANGE", "7.3")
async def _out_of_range(probe: Probe) -> str:
    info = require_info(probe)
    refusals: list[Message] = [
        SetOutput(0, 1, Waveform.CONSTANT, 0, 0),  # no zone at all
        SetOutput(0b1, info.intensity_steps + 1, Waveform.CONSTANT, 0, 0),
        SetOutput(0b1, 1, 0x7F, 0, 0),
        SetOutput(0b1, 1, Waveform.PATTERN, max(info.pattern_slots, 0), 0),
        SetAutoOff(info.auto_off_max_s + 1) if info.auto_off_max_s < 0xFFFF else Keepalive(),
    ]
    if len(info.zones) < 8:
        refusals.append(SetOutput(1 << len(info.zones), 1, Waveform.CONSTANT, 0, 0))
    if has_heat(info):
        refusals.append(SetHeat(info.heat_limit_dc + 1))
        if len(info.heat_targets_dc) and lowest_heat(info) > 1:
            refusals.append(SetHeat(lowest_heat(info) - 1))
    else:
        refusals.append(SetHeat(400))
    refusals += [
        SetOutput(0b1, 1, Waveform.PULSE, 0, 0),  # a pulse needs a period
        SetOutput(0b1, 1, Waveform.WAVE, 0, 0),
    ]
    if info.pattern_slots:
        refusals += [
            UploadPattern(info.pattern_slots, (PatternStep(50, 100),)),
            UploadPattern(0, (PatternStep(101, 100),)),
            UploadPattern(0, (PatternStep(50, 0),)),
            UploadPattern(0, (PatternStep(50, 100),) * (info.pattern_max_steps + 1)),
        ]
    count = 0
    for message in refusals:
        if isinstance(message, Keepalive):
            continue
        await probe.expect_nack(message, NackCode.OUT_OF_RANGE)
        count += 1
    return f"{count} refusals (zone mask 0, periods 0, bad pattern steps among them)"


@check("a NACKed command changes nothing (read after the soft start)", "7.3")
async def _nack_changes_nothing(probe: Probe) -> str:
    info = require_info(probe)
    await everything_on(probe, info)
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    await asyncio.sleep(1.0)  # so a restarted auto-off would show as a count gone up
    before = await probe.status()
    top = info.intensity_steps
    every = all_zones(info)
    refusals: list[Message] = [
        SetOutput(every, top, 0x7F, 0, 0),  # valid level, unknown waveform
        SetOutput(every, top, Waveform.PATTERN, info.pattern_slots, 0),  # no such slot
        SetOutput(every, top + 1, Waveform.CONSTANT, 0, 0),
        SetAutoOff(info.auto_off_max_s + 1) if info.auto_off_max_s < 0xFFFF else GetStatus(),
    ]
    if len(info.zones) < 8:
        refusals.append(SetOutput(every | 1 << len(info.zones), top, Waveform.CONSTANT, 0, 0))
    if has_heat(info):
        refusals.append(SetHeat(info.heat_limit_dc + 1))
    for message in refusals:
        if isinstance(message, GetStatus):
            continue
        await probe.expect_nack(message, NackCode.OUT_OF_RANGE)
    await asyncio.sleep(SOFT_START_S)
    after = await probe.status()
    if after.intensities != before.intensities or after.heat_target_dc != before.heat_target_dc:
        raise CheckFailed(f"a NACKed command changed the device: {before} -> {after}")
    if after.auto_off_s >= before.auto_off_s:
        raise CheckFailed(
            f"auto-off read {before.auto_off_s} s, then {after.auto_off_s} s more than a second "
            "later: a NACKed SET_AUTO_OFF restarted it (or it does not count)"
        )
    return f"{len(refusals)} refusals, state unchanged {SOFT_START_S:.1f} s later"


@check("unknown message types are NACKed UNKNOWN_TYPE", "7.3, 8")
async def _unknown(probe: Probe) -> str:
    for msg_type in (0x09, 0x40, 0x7E):
        await probe.expect_nack((msg_type, b""), NackCode.UNKNOWN_TYPE)
    return "0x09, 0x40, 0x7E"


#: The fixed part of each command's payload (UPLOAD_PATTERN: one step).
_LAYOUTS: dict[MsgType, bytes] = {
    MsgType.SET_OUTPUT: bytes([0b1, 0, 0, 0, 0, 0]),
    MsgType.SET_HEAT: b"\x00\x00",
    MsgType.SET_AUTO_OFF: b"\x00\x00",
    MsgType.UPLOAD_PATTERN: bytes([0, 1, 50, 100, 0]),
}


@check("a payload shorter than its layout is NACKed BAD_LENGTH, for every type", "7.3")
async def _short(probe: Probe) -> str:
    info = require_info(probe)
    count = 0
    for msg_type, payload in _LAYOUTS.items():
        if msg_type == MsgType.UPLOAD_PATTERN and not info.pattern_slots:
            continue
        for cut in range(len(payload)):
            await probe.expect_nack((int(msg_type), payload[:cut]), NackCode.BAD_LENGTH)
            count += 1
    if info.pattern_slots:
        # A step count promising more steps than the payload holds.
        await probe.expect_nack(
            (int(MsgType.UPLOAD_PATTERN), bytes([0, 2, 50, 100, 0])), NackCode.BAD_LENGTH
        )
        count += 1
    return f"{count} short payloads refused"


@check("bytes beyond a payload's layout are ignored, for every type", "8")
async def _long(probe: Probe) -> str:
    info = require_info(probe)
    extra = b"\x00\x01\xa5\x01"
    count = 0
    for msg_type in (MsgType.GET_INFO, MsgType.GET_STATUS, MsgType.KEEPALIVE, MsgType.STOP_ALL):
        seq = probe.next_seq()
        reply = await probe.raw(encode_frame(seq, int(msg_type), extra), seq)
        wanted = {MsgType.GET_INFO: Info, MsgType.GET_STATUS: Status}.get(msg_type, Ack)
        if not isinstance(reply, wanted):
            raise CheckFailed(f"{msg_type.name} with 4 extra bytes: got {show(reply)}")
        count += 1
    for msg_type, payload in _LAYOUTS.items():
        if msg_type == MsgType.UPLOAD_PATTERN and not info.pattern_slots:
            continue
        seq = probe.next_seq()
        reply = await probe.raw(encode_frame(seq, int(msg_type), payload + extra), seq)
        if not isinstance(reply, Ack):
            raise CheckFailed(
                f"{msg_type.name} with 4 extra bytes: expected ACK, got {show(reply)}"
            )
        count += 1
    return f"{count} types answered with extra bytes"
