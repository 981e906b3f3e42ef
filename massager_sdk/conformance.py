"""The NMP/1 conformance suite: checks a device against the spec, over any link.

A firmware team runs it on its board (``massager conformance --device
serial:///dev/ttyACM0``); the project runs it on the simulator. It talks raw
NMP/1 through a transport (no client, no safety layer in between: it must be
able to send what a well-behaved host never would) and leaves the device
stopped whatever happens.

Each check is an ``async`` function of a :class:`Probe` and names the spec
section it tests; a check fails by raising :class:`CheckFailed` with a message
that says what the spec expects and what the device did, and reports what it
could not test by raising :class:`NotTestable` with the reason (a second link
the device does not offer, a fault only a test bench can cause). Checks of what
the spec says a device MUST do are *required*; checks of what it SHOULD do are
*recommended*: their failures are warnings unless the run is strict.

Faults a host cannot cause by itself (a sensor failing, the button, a flat
battery) are caused through a :class:`~massager_sdk.testbench.Bench`: the
device's own test mode over the link when its INFO offers it (spec section
12: firmware built for test), else a bench given to the run (the simulator in
this process). With neither, those checks are reported as not testable.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from massager_protocols.errors import ProtocolError
from massager_protocols.nmp import (
    MAX_INTENSITY_STEPS,
    OVERHEAD,
    STUCK_AT_READING,
    TEST_ENTRY_WINDOW_S,
    Ack,
    EnterTestMode,
    Event,
    EventCode,
    EventState,
    ExitTestMode,
    Fault,
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
    StreamDecoder,
    TestFault,
    TestInject,
    UploadPattern,
    Waveform,
    encode,
    encode_frame,
)
from massager_protocols.nmp.messages import STATUS_PACKED

from massager_sdk.testbench import Bench, BenchError, InjectorBench, WireBench
from massager_sdk.transports import Transport, open_transport

REPLY_TIMEOUT_S = 1.0
#: The longest soft start the spec allows (NMP/1 1.1 timing table): a level read
#: this long after a command is the level the command left.
SOFT_START_S = 1.0


class CheckFailed(AssertionError):
    """A device did not do what the spec says."""


class NotTestable(Exception):
    """A check could not be carried out on this device or link; says why."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    passed: bool
    detail: str
    seconds: float
    required: bool = True  #: a MUST of the spec (``False``: a SHOULD, a warning at worst)
    section: str = ""  #: the spec section the check tests, e.g. ``"7.1"``
    tested: bool = True  #: ``False``: not testable here (``detail`` says why)

    def fails(self, *, strict: bool = False) -> bool:
        """Whether this result fails the run (a SHOULD fails it only when strict)."""
        return self.tested and not self.passed and (self.required or strict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        return dataclasses.asdict(self)


def run_failed(results: list[CheckResult], *, strict: bool = False) -> bool:
    """Whether a run fails: a MUST failed (or a SHOULD, when ``strict``), or the run
    stopped before every check."""
    return len(results) < len(CHECKS) or any(r.fails(strict=strict) for r in results)


class Probe:
    """A raw NMP/1 host: numbered requests, replies matched by sequence number."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.decoder = StreamDecoder()
        self.info: Info | None = None
        self._seq = 0
        self._replies: dict[int, asyncio.Future[Message]] = {}
        self.events: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        #: Unprompted STATUS frames, with the loop time they arrived at (the latest 256).
        self.statuses: collections.deque[tuple[float, Status]] = collections.deque(maxlen=256)
        self.lost = asyncio.Event()
        #: Replies that matched no waiting request: ``(seq, message)``.
        self.stray: list[tuple[int, Message]] = []
        #: What causes the faults of 7.4 to 7.6: the device's test mode, or a test
        #: bench; ``None`` when there is neither.
        self.bench: Bench | None = None
        #: The bench given to the run (used again once test mode is left).
        self.fallback_bench: Bench | None = None
        #: Whether this link has the device in test mode (spec section 12).
        self.test_mode = False
        #: Why test mode is not in use, for reports.
        self.test_mode_note = "not checked yet"
        #: Opens another link to the same device (``None``: the link cannot be shared).
        self.open_second: Callable[[], Awaitable[Probe]] | None = None
        #: The payload of the latest STATUS, as sent (its layout bits are checked).
        self.status_payload = b""

    def _on_data(self, data: bytes) -> None:
        for frame in self.decoder.feed(data, asyncio.get_running_loop().time()):
            try:
                message = frame.message()
            except ProtocolError:
                continue
            if isinstance(message, Status):
                self.status_payload = frame.payload
            if frame.seq == 0:
                if isinstance(message, Event) and not self.events.full():
                    self.events.put_nowait(message)
                elif isinstance(message, Status):
                    self.statuses.append((asyncio.get_running_loop().time(), message))
                else:
                    self.stray.append((0, message))  # an ACK or NACK must echo a seq
                continue
            waiter = self._replies.pop(frame.seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            else:
                self.stray.append((frame.seq, message))

    def _on_lost(self, _exc: BaseException | None) -> None:
        self.lost.set()

    def next_seq(self) -> int:
        """The next host sequence number (1..255, never 0)."""
        self._seq = self._seq % 255 + 1
        return self._seq

    async def raw(
        self, frame: bytes, seq: int, limit_s: float = REPLY_TIMEOUT_S, *, bytewise: bool = False
    ) -> Message:
        """Send bytes (one write each when ``bytewise``) and wait for the reply
        carrying ``seq``."""
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._replies[seq] = waiter
        if bytewise:
            for index in range(len(frame)):
                await self.transport.write(frame[index : index + 1])
        else:
            await self.transport.write(frame)
        try:
            return await asyncio.wait_for(waiter, limit_s)
        except TimeoutError:
            wrong = [f"seq {n}: {_show(m)}" for n, m in self.stray]
            raise CheckFailed(
                f"no reply to seq {seq} within {limit_s:.1f} s"
                + (f"; replies with other numbers: {', '.join(wrong)}" if wrong else "")
            ) from None
        finally:
            self._replies.pop(seq, None)

    async def request(self, message: Message, limit_s: float = REPLY_TIMEOUT_S) -> Message:
        """Send a message and wait for its reply."""
        seq = self.next_seq()
        return await self.raw(encode(message, seq), seq, limit_s)

    async def expect_ack(self, message: Message) -> None:
        """The device must ACK ``message``."""
        reply = await self.request(message)
        if not (isinstance(reply, Ack) and reply.acked_type == message.TYPE):
            raise CheckFailed(f"{message.TYPE.name}: expected ACK, got {_show(reply)}")

    async def expect_nack(self, message: Message | tuple[int, bytes], code: NackCode) -> None:
        """The device must NACK with ``code`` (``message`` may be a raw type and payload)."""
        seq = self.next_seq()
        if isinstance(message, Message):
            frame, msg_type, name = encode(message, seq), int(message.TYPE), message.TYPE.name
        else:
            msg_type, payload = message
            frame, name = encode_frame(seq, msg_type, payload), f"type 0x{msg_type:02X}"
        reply = await self.raw(frame, seq)
        if not (isinstance(reply, Nack) and reply.acked_type == msg_type and reply.code == code):
            raise CheckFailed(f"{name}: expected NACK {code.name}, got {_show(reply)}")

    async def status(self) -> Status:
        """A fresh STATUS."""
        reply = await self.request(GetStatus())
        if not isinstance(reply, Status):
            raise CheckFailed(f"GET_STATUS: expected STATUS, got {_show(reply)}")
        return reply

    async def wait_event(
        self, code: EventCode, limit_s: float, state: EventState | None = None
    ) -> Event:
        """The next EVENT with ``code`` (and ``state``, when given; others are skipped)."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise CheckFailed(f"no EVENT {code.name} within {limit_s:.1f} s")
            try:
                event = await asyncio.wait_for(self.events.get(), left)
            except TimeoutError:
                continue
            if event.code == code and (state is None or event.state == state):
                return event

    def drain_events(self) -> None:
        """Forget events received so far."""
        while not self.events.empty():
            self.events.get_nowait()

    async def wait_status(
        self, predicate: Callable[[Status], bool], what: str, limit_s: float = 2.0
    ) -> Status:
        """Poll STATUS until ``predicate`` holds (motors ramp softly)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        status = await self.status()
        while not predicate(status):
            if loop.time() > deadline:
                raise CheckFailed(f"expected {what} within {limit_s:.1f} s; STATUS: {status}")
            await asyncio.sleep(0.05)
            status = await self.status()
        return status


def _show(message: Message) -> str:
    if isinstance(message, Nack):
        return f"NACK {message.reason}"
    return f"{message.TYPE.name} {message.fields()}"


def _require_info(probe: Probe) -> Info:
    if probe.info is None:
        raise CheckFailed("skipped: INFO was not received")
    return probe.info


# -- the checks ----------------------------------------------------------------

Check = Callable[[Probe], Awaitable[str]]


@dataclasses.dataclass(frozen=True)
class RegisteredCheck:
    """One check of the suite."""

    name: str
    run: Check
    required: bool  #: a MUST of the spec (``False``: a SHOULD)
    section: str  #: the section of ``protocols/specs/nmp1.md`` it tests


CHECKS: list[RegisteredCheck] = []


def check(name: str, section: str, *, required: bool = True) -> Callable[[Check], Check]:
    """Register a check of spec ``section`` under ``name``; checks run in registration order."""

    def register(fn: Check) -> Check:
        CHECKS.append(RegisteredCheck(name, fn, required, section))
        return fn

    return register


def _one_on(probe: Probe, level: int = 1) -> SetOutput:
    """SET_OUTPUT: zone 0 on at ``level``, constant."""
    return SetOutput(0b1, level, Waveform.CONSTANT, 0, 0)


def _all_zones(info: Info) -> int:
    return (1 << len(info.zones)) - 1


def _lowest_heat(info: Info) -> int:
    return min(info.heat_targets_dc, default=info.heat_limit_dc)


def _has_heat(info: Info) -> bool:
    return info.has(Feature.HEAT) and info.heat_limit_dc > 0


async def _everything_on(probe: Probe, info: Info) -> None:
    """Zone 0 on at level 1, and the heater at its lowest preset when there is one."""
    await probe.expect_ack(_one_on(probe))
    if _has_heat(info):
        await probe.expect_ack(SetHeat(_lowest_heat(info)))


def _all_off(status: Status) -> bool:
    return not any(status.intensities) and not status.heat_target_dc


@check("GET_INFO returns INFO for protocol 1", "4.2 INFO")
async def _info(probe: Probe) -> str:
    reply = await probe.request(GetInfo())
    if not isinstance(reply, Info):
        raise CheckFailed(f"expected INFO, got {_show(reply)}")
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
    info = _require_info(probe)
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
            raise CheckFailed(f"GET_STATUS seq {seq}: expected STATUS, got {_show(reply)}")
        if isinstance(message, (Keepalive, StopAll)) and not isinstance(reply, Ack):
            raise CheckFailed(f"{message.TYPE.name} seq {seq}: expected ACK, got {_show(reply)}")
    probe.stray.clear()
    await probe.transport.write(encode_frame(0, int(MsgType.STOP_ALL), b""))
    await probe.status()
    if probe.stray:
        raise CheckFailed(f"a host frame numbered 0 was answered: {_show(probe.stray[0][1])}")
    return "seq 1, 128, 165 and 255 echoed; a host frame numbered 0 ignored"


@check("SET_OUTPUT drives every zone, STOP_ALL stops them", "4.1, 6.1")
async def _output(probe: Probe) -> str:
    info = _require_info(probe)
    await probe.expect_ack(SetOutput(_all_zones(info), 1, Waveform.CONSTANT, 0, 0))
    await probe.wait_status(lambda s: all(x == 1 for x in s.intensities), "every zone at level 1")
    await probe.expect_ack(StopAll())
    await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    return f"levels 0..{info.intensity_steps}"


@check("STATUS reports each zone's own level", "4.2 STATUS, 6.5")
async def _zone_levels(probe: Probe) -> str:
    info = _require_info(probe)
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
    info = _require_info(probe)
    if not _has_heat(info):
        raise NotTestable("the device advertises no heater")
    await probe.expect_ack(SetHeat(_lowest_heat(info)))
    status = await probe.status()
    if status.heat_target_dc != _lowest_heat(info):
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
    info = _require_info(probe)
    refusals: list[Message] = [
        SetOutput(0, 1, Waveform.CONSTANT, 0, 0),  # no zone at all
        SetOutput(0b1, info.intensity_steps + 1, Waveform.CONSTANT, 0, 0),
        SetOutput(0b1, 1, 0x7F, 0, 0),
        SetOutput(0b1, 1, Waveform.PATTERN, max(info.pattern_slots, 0), 0),
        SetAutoOff(info.auto_off_max_s + 1) if info.auto_off_max_s < 0xFFFF else Keepalive(),
    ]
    if len(info.zones) < 8:
        refusals.append(SetOutput(1 << len(info.zones), 1, Waveform.CONSTANT, 0, 0))
    if _has_heat(info):
        refusals.append(SetHeat(info.heat_limit_dc + 1))
        if len(info.heat_targets_dc) and _lowest_heat(info) > 1:
            refusals.append(SetHeat(_lowest_heat(info) - 1))
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
    info = _require_info(probe)
    await _everything_on(probe, info)
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    await asyncio.sleep(1.0)  # so a restarted auto-off would show as a count gone up
    before = await probe.status()
    top = info.intensity_steps
    every = _all_zones(info)
    refusals: list[Message] = [
        SetOutput(every, top, 0x7F, 0, 0),  # valid level, unknown waveform
        SetOutput(every, top, Waveform.PATTERN, info.pattern_slots, 0),  # no such slot
        SetOutput(every, top + 1, Waveform.CONSTANT, 0, 0),
        SetAutoOff(info.auto_off_max_s + 1) if info.auto_off_max_s < 0xFFFF else GetStatus(),
    ]
    if len(info.zones) < 8:
        refusals.append(SetOutput(every | 1 << len(info.zones), top, Waveform.CONSTANT, 0, 0))
    if _has_heat(info):
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
    info = _require_info(probe)
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
    info = _require_info(probe)
    extra = b"\x00\x01\xa5\x01"
    count = 0
    for msg_type in (MsgType.GET_INFO, MsgType.GET_STATUS, MsgType.KEEPALIVE, MsgType.STOP_ALL):
        seq = probe.next_seq()
        reply = await probe.raw(encode_frame(seq, int(msg_type), extra), seq)
        wanted = {MsgType.GET_INFO: Info, MsgType.GET_STATUS: Status}.get(msg_type, Ack)
        if not isinstance(reply, wanted):
            raise CheckFailed(f"{msg_type.name} with 4 extra bytes: got {_show(reply)}")
        count += 1
    for msg_type, payload in _LAYOUTS.items():
        if msg_type == MsgType.UPLOAD_PATTERN and not info.pattern_slots:
            continue
        seq = probe.next_seq()
        reply = await probe.raw(encode_frame(seq, int(msg_type), payload + extra), seq)
        if not isinstance(reply, Ack):
            raise CheckFailed(
                f"{msg_type.name} with 4 extra bytes: expected ACK, got {_show(reply)}"
            )
        count += 1
    return f"{count} types answered with extra bytes"


@check("the device resynchronises after noise and a bad CRC", "2.1")
async def _noise(probe: Probe) -> str:
    bad = bytearray(encode(_one_on(probe), probe.next_seq()))
    bad[-1] ^= 0xFF
    await probe.transport.write(b"\x00\xa5\x13\x37" + bytes(bad))
    status = await probe.status()
    if any(status.intensities):
        raise CheckFailed("a frame with a bad CRC switched a zone on")
    return "frame after noise answered; corrupt frame ignored"


@check("frames inside a failed candidate are found (A5 01 in noise)", "2.1")
async def _false_start(probe: Probe) -> str:
    # Noise that looks like the start of a 10-byte frame, then a request: the
    # request lies inside the false candidate. The repeated request completes
    # the candidate, its CRC fails, and both requests are found in the buffer.
    first, second = probe.next_seq(), probe.next_seq()
    waiter = asyncio.ensure_future(
        probe.raw(b"\xa5\x01\x0a\x05\x06" + encode(GetStatus(), first), first)
    )
    # Well within the 200 ms after which a silent link abandons the candidate (rule 6):
    # the second request must complete it, so its CRC failure decides.
    await asyncio.sleep(0.05)
    reply = await probe.raw(encode(GetStatus(), second), second)
    if not isinstance(reply, Status):
        waiter.cancel()
        raise CheckFailed(f"GET_STATUS after noise: expected STATUS, got {_show(reply)}")
    try:
        await waiter
    except CheckFailed:
        raise CheckFailed(
            "the request inside the false candidate was lost: after a CRC failure only "
            "the candidate's first byte is discarded"
        ) from None
    return "both requests answered"


def _embedded_upload(seq: int, inner_seq: int) -> bytes | None:
    """An UPLOAD_PATTERN frame whose steps hold ``A5 01`` and a whole valid
    KEEPALIVE frame numbered ``inner_seq`` (``None`` if no step layout fits)."""
    for candidate in range(inner_seq, inner_seq + 200):
        n = candidate % 254 + 1
        inner = encode(Keepalive(), n)  # A5 01 00 n 06 crcL crcH
        if inner[5] > 100:
            continue
        steps = (
            PatternStep(50, inner[0] | inner[1] << 8),
            PatternStep(inner[2], inner[3] | inner[4] << 8),
            PatternStep(inner[5], inner[6] | 1 << 8),
        )
        return encode(UploadPattern(0, steps), seq)
    return None


@check("A5 01 and a whole frame inside a payload, fed byte by byte", "2.1")
async def _embedded(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.pattern_slots or info.pattern_max_steps < 3:
        raise NotTestable("needs a pattern slot of at least 3 steps to carry the bytes")
    seq = probe.next_seq()
    frame = _embedded_upload(seq, 200)
    assert frame is not None
    inner_seq = frame[5 + 5 + 3]  # step 2's duration low byte: the inner frame's seq
    probe.stray.clear()
    reply = await probe.raw(frame, seq, limit_s=REPLY_TIMEOUT_S + len(frame) * 0.01, bytewise=True)
    if not (isinstance(reply, Ack) and reply.acked_type == MsgType.UPLOAD_PATTERN):
        raise CheckFailed(f"UPLOAD_PATTERN carrying A5 01: expected ACK, got {_show(reply)}")
    await probe.status()
    if any(n == inner_seq for n, _ in probe.stray):
        raise CheckFailed("the KEEPALIVE inside the upload's payload was answered as a frame")
    return "the upload was ACKed, the frame inside it ignored"


@check("heat targets: the lowest preset is accepted, above the limit refused", "6.4, 7.3, 7.4")
async def _heat_limit(probe: Probe) -> str:
    info = _require_info(probe)
    if not _has_heat(info):
        await probe.expect_nack(SetHeat(400), NackCode.OUT_OF_RANGE)
        return "no heater: SET_HEAT refused"
    await probe.expect_nack(SetHeat(info.heat_limit_dc + 1), NackCode.OUT_OF_RANGE)
    lowest = _lowest_heat(info)
    await probe.expect_ack(SetHeat(lowest))
    status = await probe.status()
    if status.heat_target_dc != lowest:
        raise CheckFailed(f"SET_HEAT {lowest} acknowledged but STATUS target is {status}")
    if status.temperature_dc is not None and status.temperature_dc > info.heat_limit_dc:
        raise CheckFailed(f"temperature {status.temperature_dc} above the limit")
    await probe.expect_ack(SetHeat(0))
    return f"limit {info.heat_limit_dc / 10:.1f} C enforced"


async def _levels_over(probe: Probe, seconds: float) -> list[int]:
    """Zone 0's level in STATUS, sampled every 50 ms for ``seconds``; a KEEPALIVE every
    250 ms (in authenticated mode reading STATUS does not feed the watchdog, 10.2)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    levels: list[int] = []
    while loop.time() < end:
        if len(levels) % 5 == 0:
            await probe.expect_ack(Keepalive())
        levels.append((await probe.status()).intensities[0])
        await asyncio.sleep(0.05)
    return levels


def _plays(levels: list[int], high: int) -> bool:
    """Whether the samples go high and back to 0 at least twice."""
    changes, up = 0, False
    for level in levels:
        if not up and level >= high:
            up, changes = True, changes + 1
        elif up and level == 0:
            up, changes = False, changes + 1
    return changes >= 3


@check("uploaded patterns play over time", "6.2, 6.3")
async def _patterns(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.has(Feature.PATTERNS) or not info.pattern_slots:
        raise NotTestable("the device advertises no patterns")
    await probe.expect_nack(UploadPattern(0, ()), NackCode.OUT_OF_RANGE)
    steps = (PatternStep(100, 400), PatternStep(0, 400))
    await probe.expect_ack(UploadPattern(0, steps))
    top = info.intensity_steps
    await probe.expect_ack(SetOutput(0b1, top, Waveform.PATTERN, 0, 0))
    await asyncio.sleep(SOFT_START_S)
    levels = await _levels_over(probe, 2.4)
    await probe.expect_ack(StopAll())
    if not _plays(levels, (top + 1) // 2):
        raise CheckFailed(f"a 400 ms on / 400 ms off pattern did not play: levels {levels}")
    return f"levels 0..{max(levels)} alternate"


@check("pulse and wave play over time", "6.2")
async def _waveforms(probe: Probe) -> str:
    info = _require_info(probe)
    top = info.intensity_steps
    for waveform in (Waveform.PULSE, Waveform.WAVE):
        await probe.expect_ack(SetOutput(0b1, top, waveform, 0, 800))
        await asyncio.sleep(SOFT_START_S)
        levels = await _levels_over(probe, 2.4)
        await probe.expect_ack(StopAll())
        if not _plays(levels, (top + 1) // 2):
            raise CheckFailed(f"{waveform.name} with an 800 ms period did not play: {levels}")
    return "both swing between 0 and the intensity"


@check("the watchdog stops outputs and the heater when the host falls silent", "7.1")
async def _watchdog(probe: Probe) -> str:
    info = _require_info(probe)
    probe.drain_events()
    await _everything_on(probe, info)
    limit = info.watchdog_ms / 1000
    started = asyncio.get_running_loop().time()
    await probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0, EventState.RAISED)
    took = asyncio.get_running_loop().time() - started
    status = await probe.status()
    if not _all_off(status) or not status.faults & Fault.WATCHDOG:
        raise CheckFailed(f"after WATCHDOG_STOP the device is not stopped and latched: {status}")
    if took < limit * 0.9:
        raise CheckFailed(f"watchdog fired after {took:.2f} s, before its {limit:.2f} s timeout")
    await probe.expect_ack(_one_on(probe))
    status = await probe.status()
    if status.faults & Fault.WATCHDOG:
        raise CheckFailed("the WATCHDOG latch did not clear when an output was switched on")
    return f"stopped after {took:.2f} s (timeout {limit:.2f} s); latch cleared"


@check("auto-off counts down in STATUS, then stops outputs and the heater", "6.5, 7.2")
async def _auto_off(probe: Probe) -> str:
    info = _require_info(probe)
    probe.drain_events()
    await probe.expect_ack(SetAutoOff(3))
    await _everything_on(probe, info)
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    stopped = False
    try:
        first = (await probe.status()).auto_off_s
        await asyncio.sleep(1.2)
        second = (await probe.status()).auto_off_s
        if not 2 <= first <= 3 or not 0 < second < first:
            raise CheckFailed(
                f"STATUS auto_off_s read {first} then {second} 1.2 s later; "
                "a count down from 3 s expected"
            )
        await probe.expect_ack(SetAutoOff(3))  # sets the limit; never restarts the count
        await probe.wait_event(EventCode.AUTO_OFF, 4.0)
        stopped = True
    finally:
        # Ask the feeder to finish rather than cancel it: on Python 3.11 a
        # cancellation that races a reply inside wait_for() can be swallowed.
        done.set()
        await feeder
        if not stopped:  # leave the device's default for the checks that follow
            await probe.expect_ack(StopAll())
            await probe.expect_ack(SetAutoOff(0))
    took = loop.time() - started
    if took > 3.0 + 0.8:
        raise CheckFailed(
            f"auto-off stopped after {took:.2f} s, not 3 s: "
            "repeating SET_AUTO_OFF restarted the count"
        )
    status = await probe.status()
    if not _all_off(status) or not status.faults & Fault.AUTO_OFF:
        raise CheckFailed(f"after AUTO_OFF the device is not stopped and latched: {status}")
    if status.auto_off_s:
        raise CheckFailed(f"STATUS auto_off_s is {status.auto_off_s} with nothing on")
    await probe.expect_ack(SetAutoOff(0))
    await probe.expect_ack(_one_on(probe))
    status = await probe.status()
    if status.faults & Fault.AUTO_OFF:
        raise CheckFailed("the AUTO_OFF latch did not clear when an output was switched on")
    return f"{first} s, {second} s, stopped after {took:.2f} s (set to 3 s); latch cleared"


@check("STATUS about once a second while on, once more when off", "6.5")
async def _telemetry(probe: Probe) -> str:
    info = _require_info(probe)
    loop = asyncio.get_running_loop()
    await probe.expect_ack(_one_on(probe))
    started = loop.time()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    try:
        await asyncio.sleep(3.2)
    finally:
        done.set()
        await feeder
    running = [t for t, _ in probe.statuses if t >= started]
    if len(running) < 2:
        raise CheckFailed(
            f"{len(running)} unprompted STATUS in 3.2 s while on; about one a second expected"
        )
    stopped = loop.time()
    await probe.expect_ack(StopAll())
    await asyncio.sleep(1.0)
    after = [s for t, s in probe.statuses if t >= stopped]
    if not after or not _all_off(after[-1]):
        raise CheckFailed("no unprompted STATUS showing everything off after STOP_ALL")
    return f"{len(running)} reports in 3.2 s on, the last one after STOP_ALL"


@check("no telemetry while idle", "6.5", required=False)
async def _idle(probe: Probe) -> str:
    await probe.expect_ack(StopAll())
    await asyncio.sleep(1.0)
    quiet = asyncio.get_running_loop().time()
    await asyncio.sleep(2.5)
    idle = [t for t, _ in probe.statuses if t >= quiet]
    if idle:
        raise CheckFailed(f"{len(idle)} unprompted STATUS while idle; none expected")
    return "none in 2.5 s"


# -- faults: test mode (12), the button (7.6), heat (7.4) and battery (7.5) ---------

#: How long a device may take to notice an injected fault and report it.
FAULT_S = 3.0
#: How long a heater stuck on may take to reach the cut-off, and the pad to cool.
HEAT_S = 240.0
#: Battery levels to read on the way down, looking for the low and shutdown levels
#: (INFO does not state them; 7.5 says "about 10 %" and "about 3 %").
_BATTERY_STEPS: tuple[int, ...] = (30, 25, 20, 18, 16, *range(15, -1, -1))


def _bench(probe: Probe, what: str) -> Bench:
    """The bench that causes faults, or ``NotTestable`` saying why there is none."""
    if probe.bench is None:
        raise NotTestable(
            f"{what} needs the device's test mode ({probe.test_mode_note}) or a test bench"
        )
    return probe.bench


def _enter_for(info: Info) -> EnterTestMode:
    return EnterTestMode.for_serial(info.serial)


async def _fresh_info(probe: Probe) -> None:
    """GET_INFO: opens the link's test-mode entry window (12.1)."""
    reply = await probe.request(GetInfo())
    if not isinstance(reply, Info):
        raise CheckFailed(f"GET_INFO: expected INFO, got {_show(reply)}")


@check("test mode is entered only by its deliberate sequence", "12.1")
async def _test_mode_entry(probe: Probe) -> str:
    info = _require_info(probe)
    refused = NackCode.TEST_MODE_REFUSED
    enter = _enter_for(info)
    if not info.has(Feature.TEST_MODE):
        probe.test_mode_note = "INFO does not offer it: not built for test"
        for message in (enter, ExitTestMode(), TestInject(int(TestFault.BUTTON))):
            await probe.expect_nack(message, NackCode.UNKNOWN_TYPE)
        return "not offered; its three messages are unknown types, as in production"
    probe.test_mode_note = "offered, but it could not be entered"
    # An injection outside test mode changes nothing (the output stays on).
    await probe.expect_ack(_one_on(probe))
    await probe.expect_nack(TestInject(int(TestFault.BUTTON)), refused)
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 still on")
    await probe.expect_ack(StopAll())
    await probe.expect_nack(ExitTestMode(), refused)
    wrong = [
        ("a wrong magic", dataclasses.replace(enter, magic=enter.magic ^ 1)),
        ("another device's serial", dataclasses.replace(enter, serial_crc=enter.serial_crc ^ 1)),
    ]
    for what, message in wrong:
        await _fresh_info(probe)
        reply = await probe.request(message)
        if not (isinstance(reply, Nack) and reply.code == refused):
            raise CheckFailed(
                f"ENTER_TEST_MODE with {what}: expected NACK {refused.name}, got {_show(reply)}"
            )
    # The wrong attempt closed the window: even the right request needs a new INFO.
    await probe.expect_nack(enter, refused)
    await _fresh_info(probe)
    await probe.expect_ack(_one_on(probe))
    await probe.expect_nack(enter, refused)  # something is on
    await probe.expect_ack(StopAll())
    await _fresh_info(probe)
    await asyncio.sleep(TEST_ENTRY_WINDOW_S + 0.5)
    await probe.expect_nack(enter, refused)  # INFO too old
    await _fresh_info(probe)
    await probe.expect_ack(enter)
    probe.test_mode, probe.bench = True, WireBench(probe.request)
    return "refused on a wrong magic or serial, without a fresh INFO, with an output on; entered"


@check("the button stops everything and sends EVENT BUTTON", "7.6")
async def _button(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.has(Feature.BUTTON):
        raise NotTestable("the device advertises no button")
    bench = _bench(probe, "pressing the button")
    probe.drain_events()
    await _everything_on(probe, info)
    await bench.inject(TestFault.BUTTON)
    event = await probe.wait_event(EventCode.BUTTON, 1.0)
    if event.state != EventState.MOMENTARY:
        raise CheckFailed(f"EVENT BUTTON state {event.state}; momentary (2) expected")
    status = await probe.status()
    if not _all_off(status):
        raise CheckFailed(f"after the button the device still runs: {status}")
    return f"stopped, EVENT BUTTON momentary; pressed {bench.how}"


async def _one_sensor_fault(probe: Probe, bench: Bench, info: Info, fault: TestFault) -> None:
    lowest = _lowest_heat(info)
    probe.drain_events()
    await probe.expect_ack(_one_on(probe))
    await probe.expect_ack(SetHeat(lowest))
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    try:
        value = 0 if fault != TestFault.SENSOR_STUCK else STUCK_AT_READING
        await bench.inject(fault, value)
        # A stuck sensor shows only once the pad should have warmed: give it a minute.
        limit = 60.0 if fault == TestFault.SENSOR_STUCK else FAULT_S
        await probe.wait_event(EventCode.SENSOR_FAULT, limit, EventState.RAISED)
        status = await probe.status()
        if status.heat_target_dc or not status.faults & Fault.SENSOR:
            raise CheckFailed(
                f"{fault.name}: after SENSOR_FAULT the heater is not off and locked: {status}"
            )
        if not status.intensities[0]:
            raise CheckFailed(f"{fault.name}: a sensor fault stopped the motors too: {status}")
        if status.temperature_dc is not None:
            raise CheckFailed(
                f"{fault.name}: STATUS reports {status.temperature_dc / 10:.1f} C from a faulted "
                f"sensor; -2048 (none) expected while the fault lasts (6.4)"
            )
        await probe.expect_nack(SetHeat(lowest), NackCode.HEAT_LOCKED)
        # Precedence (7.3): a value out of range is named before the lock.
        await probe.expect_nack(SetHeat(info.heat_limit_dc + 1), NackCode.OUT_OF_RANGE)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.SENSOR_OK)
    await probe.wait_event(EventCode.SENSOR_FAULT, FAULT_S, EventState.CLEARED)
    await probe.expect_ack(SetHeat(lowest))
    await probe.expect_ack(SetHeat(0))


@check("a sensor fault cuts the heater and locks heat until it clears", "6.4, 7.3, 7.4")
async def _sensor_fault(probe: Probe) -> str:
    info = _require_info(probe)
    if not _has_heat(info):
        raise NotTestable("the device advertises no heater")
    bench = _bench(probe, "a failing temperature sensor")
    faults = [TestFault.SENSOR_OPEN, TestFault.SENSOR_SHORT, TestFault.SENSOR_STUCK]
    for fault in faults:
        await _one_sensor_fault(probe, bench, info, fault)
    names = ", ".join(f.name.removeprefix("SENSOR_").lower() for f in faults)
    return (
        f"{names}: heater off, motors on, SENSOR set, no reading, HEAT_LOCKED, cleared; {bench.how}"
    )


@check("a heater stuck on is cut off at the limit and locked until the pad cools", "7.4")
async def _overheat(probe: Probe) -> str:
    info = _require_info(probe)
    if not _has_heat(info):
        raise NotTestable("the device advertises no heater")
    bench = _bench(probe, "a heater driver stuck on")
    lowest = _lowest_heat(info)
    probe.drain_events()
    await probe.expect_ack(SetHeat(lowest))
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    hottest = -0x800
    try:
        await bench.inject(TestFault.HEATER_STUCK_ON, 1)
        raised = await probe.wait_event(EventCode.OVERHEAT, HEAT_S, EventState.RAISED)
        if raised.value > info.heat_limit_dc:
            raise CheckFailed(
                f"OVERHEAT raised at {raised.value / 10:.1f} C, above the "
                f"{info.heat_limit_dc / 10:.1f} C limit"
            )
        status = await probe.status()
        if status.heat_target_dc or not status.faults & Fault.OVERHEAT:
            raise CheckFailed(f"after OVERHEAT the heater is not off and locked: {status}")
        await probe.expect_nack(SetHeat(lowest), NackCode.HEAT_LOCKED)
        # The cut-off disconnects the heater whatever its driver does: the pad cools.
        deadline = loop.time() + HEAT_S
        while True:
            status = await probe.status()
            hottest = max(hottest, status.temperature_dc or hottest)
            if not status.faults & Fault.OVERHEAT:
                break
            if loop.time() > deadline:
                raise CheckFailed(f"OVERHEAT still set {HEAT_S:.0f} s after the cut-off: {status}")
            await asyncio.sleep(0.5)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.HEATER_STUCK_ON, 0)
    cleared = await probe.wait_event(EventCode.OVERHEAT, FAULT_S, EventState.CLEARED)
    if hottest > info.heat_limit_dc:
        raise CheckFailed(f"the pad read {hottest / 10:.1f} C after the cut-off, above the limit")
    if cleared.value > info.heat_limit_dc - 20:
        raise CheckFailed(
            f"OVERHEAT cleared at {cleared.value / 10:.1f} C: the hysteresis is under 2.0 C"
        )
    await probe.expect_ack(SetHeat(lowest))
    await probe.expect_ack(SetHeat(0))
    return (
        f"cut off at {raised.value / 10:.1f} C, at most {hottest / 10:.1f} C after, cleared at "
        f"{cleared.value / 10:.1f} C; {bench.how}"
    )


async def _battery_down(probe: Probe, bench: Bench, code: EventCode, start: int) -> int:
    """Step the battery down from ``start`` until EVENT ``code`` RAISED; the level it did."""
    for level in (pct for pct in _BATTERY_STEPS if pct <= start):
        await bench.inject(TestFault.BATTERY_LEVEL, level)
        try:
            event = await probe.wait_event(code, 1.5, EventState.RAISED)
        except CheckFailed:
            continue
        if event.value != level:
            raise CheckFailed(f"EVENT {code.name} value {event.value}; the battery read {level} %")
        return level
    raise CheckFailed(f"no EVENT {code.name} RAISED with the battery read down to 0 %")


@check("low battery cuts the heater, critical stops everything; both clear 2 % above", "7.3, 7.5")
async def _battery(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.has(Feature.BATTERY):
        raise NotTestable("the device advertises no battery")
    bench = _bench(probe, "a battery running down")
    heat = _has_heat(info)
    lowest = _lowest_heat(info)
    probe.drain_events()
    await _everything_on(probe, info)
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    try:
        low = await _battery_down(probe, bench, EventCode.LOW_BATTERY, 100)
        status = await probe.status()
        if not status.faults & Fault.LOW_BATTERY or status.heat_target_dc:
            raise CheckFailed(f"at {low} %: LOW_BATTERY yet heater on or flag clear: {status}")
        if heat:
            await probe.expect_nack(SetHeat(lowest), NackCode.LOW_BATTERY)
        shutdown = await _battery_down(probe, bench, EventCode.SHUTDOWN, low)
        status = await probe.status()
        if not status.faults & Fault.BATTERY_CRITICAL or not _all_off(status):
            raise CheckFailed(f"at {shutdown} %, SHUTDOWN but the device is not stopped: {status}")
        await probe.expect_nack(_one_on(probe), NackCode.LOW_BATTERY)
    finally:
        done.set()
        await feeder
        await probe.expect_ack(StopAll())
    try:
        await bench.inject(TestFault.BATTERY_LEVEL, shutdown + 3)
        await probe.wait_event(EventCode.SHUTDOWN, FAULT_S, EventState.CLEARED)
        await probe.expect_ack(_one_on(probe))
        await probe.expect_ack(StopAll())
        await bench.inject(TestFault.BATTERY_LEVEL, low + 3)
        await probe.wait_event(EventCode.LOW_BATTERY, FAULT_S, EventState.CLEARED)
        if heat:
            await probe.expect_ack(SetHeat(lowest))
            await probe.expect_ack(SetHeat(0))
    finally:
        await bench.inject(TestFault.BATTERY_LEVEL, -1)
    return f"low at {low} %, shutdown at {shutdown} %, both cleared 3 % above; {bench.how}"


@check("test mode ends with EXIT_TEST_MODE and with its link", "12.1")
async def _test_mode_exit(probe: Probe) -> str:
    info = _require_info(probe)
    if not probe.test_mode:
        raise NotTestable(f"test mode: {probe.test_mode_note}")
    await probe.expect_ack(ExitTestMode())
    probe.test_mode, probe.bench = False, probe.fallback_bench
    await probe.expect_nack(TestInject(int(TestFault.BUTTON)), NackCode.TEST_MODE_REFUSED)
    if probe.open_second is None:
        return "left with EXIT_TEST_MODE (one link: its loss not tested)"
    second = await probe.open_second()
    try:
        await _fresh_info(second)
        await second.expect_ack(_enter_for(info))
        await _fresh_info(probe)
        await probe.expect_nack(_enter_for(info), NackCode.TEST_MODE_REFUSED)  # one link only
    finally:
        with suppress(Exception):
            await second.transport.close()
    await asyncio.sleep(0.5)
    await _fresh_info(probe)
    await probe.expect_ack(_enter_for(info))  # the lost link's test mode is gone
    await probe.expect_ack(ExitTestMode())
    return "left with EXIT_TEST_MODE and with the loss of its link; one link at a time"


@check("a monitor's frames do not feed the watchdog of another link's outputs", "7.7")
async def _monitor(probe: Probe) -> str:
    info = _require_info(probe)
    if probe.open_second is None:
        raise NotTestable("this link cannot be opened twice (one host per link)")
    try:
        monitor = await probe.open_second()
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise NotTestable(f"the device refused a second link: {exc}") from None
    try:
        try:
            await monitor.status()
        except (CheckFailed, ConnectionError, OSError):
            raise NotTestable("the device takes one link at a time (a second is refused)") from None
        probe.drain_events()
        await probe.expect_ack(_one_on(probe))
        # The monitor may not take control ...
        reply = await monitor.request(SetOutput(0b1, 2, Waveform.CONSTANT, 0, 0))
        if not (isinstance(reply, Nack) and reply.code == NackCode.BUSY):
            raise CheckFailed(
                f"SET_OUTPUT from a second link while the first controls: {_show(reply)}"
            )
        # Precedence (7.3): control is checked before the values.
        await monitor.expect_nack(
            SetOutput(0b1, info.intensity_steps + 1, Waveform.CONSTANT, 0, 0), NackCode.BUSY
        )
        # ... and its polling keeps nothing alive.
        limit = info.watchdog_ms / 1000
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop = asyncio.Event()
        poller = asyncio.ensure_future(_poll(monitor, info.watchdog_ms / 4000, stop))
        try:
            await probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0)
        except CheckFailed:
            raise CheckFailed(
                f"a second link polling GET_STATUS kept the outputs on past the "
                f"{limit:.1f} s watchdog"
            ) from None
        finally:
            stop.set()
            await poller
        took = loop.time() - started
        # A stop from the monitor reaches the controlling host as an EVENT.
        await probe.expect_ack(_one_on(probe))
        probe.drain_events()
        await monitor.expect_ack(StopAll())
        event = await probe.wait_event(EventCode.LINK_STOP, 1.0)
        status = await probe.status()
        if not _all_off(status):
            raise CheckFailed(f"STOP_ALL from a second link did not stop the device: {status}")
    finally:
        with suppress(Exception):
            await monitor.transport.close()
    return f"watchdog after {took:.2f} s despite the monitor; BUSY; STOP_ALL -> EVENT {event.code}"


async def _poll(probe: Probe, every: float, done: asyncio.Event) -> None:
    """GET_STATUS every ``every`` seconds until ``done`` is set."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), every)
            return
        except TimeoutError:
            pass
        with suppress(CheckFailed):
            await probe.request(GetStatus())


async def _feed_watchdog(probe: Probe, every: float, done: asyncio.Event) -> None:
    """Send KEEPALIVE every ``every`` seconds until ``done`` is set."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), every)
            return
        except TimeoutError:
            pass
        with suppress(CheckFailed):
            await probe.request(Keepalive())


# -- running -------------------------------------------------------------------

#: Link schemes a device can be reached on twice at once (a second host).
_SHAREABLE = ("sim", "tcp")


async def _open_probe(url: str | None, options: dict[str, Any]) -> Probe:
    transport = open_transport(url, **options)
    probe = Probe(transport)
    transport.set_receiver(probe._on_data, probe._on_lost)
    await asyncio.wait_for(transport.connect(), 5.0)
    return probe


@asynccontextmanager
async def probe_session(
    url: str | None, *, bench: Bench | None = None, **options: Any
) -> AsyncIterator[Probe]:
    """A connected :class:`Probe`; the device is sent STOP_ALL on the way out.

    ``bench`` injects faults (default: the ``simulator=`` option, when given).
    """
    probe = await _open_probe(url, options)
    if bench is None and options.get("simulator") is not None:
        from massager_simulator.testmode import Injector

        bench = InjectorBench(Injector(options["simulator"]))
    probe.bench = probe.fallback_bench = bench
    scheme = (url or "sim://").split("://", 1)[0]
    if scheme in _SHAREABLE and (scheme != "sim" or options.get("simulator") is not None):
        probe.open_second = lambda: _open_probe(url, options)
    try:
        yield probe
    finally:
        with suppress(Exception):
            if probe.transport.connected:
                if probe.test_mode:
                    await probe.request(ExitTestMode())
                await probe.request(StopAll())
        await probe.transport.close()


async def run_conformance(
    url: str | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    bench: Bench | None = None,
    **options: Any,
) -> list[CheckResult]:
    """Run every check against the device at ``url``; the device is left stopped.

    Without a URL or with ``sim://`` and no ``simulator=`` option, the suite
    starts a simulator of its own, which is also its test bench
    (``sim://MODEL?test_mode=true``: one built for test, whose faults the suite
    causes over the link).
    """
    if (url is None or url.startswith("sim://")) and options.get("simulator") is None:
        from massager_simulator import DEFAULT_MODEL, SimulatedDevice, list_models, load_model
        from massager_simulator.testmode import offering

        from massager_sdk.transports.sim import test_mode_query

        parts = urllib.parse.urlsplit(url or "sim://")
        model = urllib.parse.unquote(parts.netloc)
        if (model or DEFAULT_MODEL) not in list_models():
            model = ""  # not a model: the transport says what is accepted
        device = load_model(model or DEFAULT_MODEL)
        if test_mode_query(parts.query):  # ?test_mode=true: a device built for test
            device = offering(device)
        async with SimulatedDevice(device) as simulator:
            return await run_conformance(
                url, on_result=on_result, bench=bench, simulator=simulator, **options
            )
    from massager_sdk import conformance_auth  # noqa: F401  (registers the section 10 checks)

    results: list[CheckResult] = []
    async with probe_session(url, bench=bench, **options) as probe:
        for registered in CHECKS:
            start = time.perf_counter()
            tested = True
            try:
                detail = await registered.run(probe)
                passed = True
            except NotTestable as exc:
                detail, passed, tested = f"not testable: {exc}", False, False
            except (CheckFailed, BenchError) as exc:
                detail, passed = str(exc), False
            except (ConnectionError, OSError) as exc:
                detail, passed = f"link error: {exc}", False
            finally:
                with suppress(Exception):
                    await probe.request(StopAll())
            result = CheckResult(
                registered.name,
                passed,
                detail,
                time.perf_counter() - start,
                registered.required,
                registered.section,
                tested,
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
            if probe.lost.is_set():
                break
    return results
