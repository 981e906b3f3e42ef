"""The NMP/1 conformance suite: checks a device against the spec, over any link.

A firmware team runs it on its board (``massager conformance --device
serial:///dev/ttyACM0``); the project runs it on the simulator. It talks raw
NMP/1 through a transport (no client, no safety layer in between: it must be
able to send what a well-behaved host never would) and leaves the device
stopped whatever happens.

Each check is an ``async`` function of a :class:`Probe`; a check fails by
raising :class:`CheckFailed` with a message that says what the spec expects and
what the device did. Checks of what the spec says a device MUST do are
*required*; checks of what it SHOULD do are *recommended*: their failures are
reported as warnings and do not fail the suite.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from massager_protocols.errors import ProtocolError
from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    Fault,
    Feature,
    GetInfo,
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
    encode,
    encode_frame,
)

from massager_sdk.transports import Transport, open_transport

REPLY_TIMEOUT_S = 1.0


class CheckFailed(AssertionError):
    """A device did not do what the spec says."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    passed: bool
    detail: str
    seconds: float
    required: bool = True  #: a MUST of the spec (``False``: a SHOULD, a warning at worst)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view."""
        return dataclasses.asdict(self)


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

    def _on_data(self, data: bytes) -> None:
        for frame in self.decoder.feed(data, asyncio.get_running_loop().time()):
            try:
                message = frame.message()
            except ProtocolError:
                continue
            if frame.seq == 0:
                if isinstance(message, Event) and not self.events.full():
                    self.events.put_nowait(message)
                elif isinstance(message, Status):
                    self.statuses.append((asyncio.get_running_loop().time(), message))
                continue
            waiter = self._replies.pop(frame.seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    def _on_lost(self, _exc: BaseException | None) -> None:
        self.lost.set()

    def next_seq(self) -> int:
        """The next host sequence number (1..255, never 0)."""
        self._seq = self._seq % 255 + 1
        return self._seq

    async def raw(self, frame: bytes, seq: int, limit_s: float = REPLY_TIMEOUT_S) -> Message:
        """Send bytes and wait for the reply carrying ``seq``."""
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._replies[seq] = waiter
        await self.transport.write(frame)
        try:
            return await asyncio.wait_for(waiter, limit_s)
        except TimeoutError:
            raise CheckFailed(f"no reply to seq {seq} within {limit_s:.1f} s") from None
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

    async def wait_event(self, code: EventCode, limit_s: float) -> Event:
        """The next EVENT with ``code`` (others are skipped)."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise CheckFailed(f"no EVENT {code.name} within {limit_s:.1f} s")
            try:
                event = await asyncio.wait_for(self.events.get(), left)
            except TimeoutError:
                continue
            if event.code == code:
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


CHECKS: list[RegisteredCheck] = []


def check(name: str, *, required: bool = True) -> Callable[[Check], Check]:
    """Register a check under ``name``; checks run in registration order."""

    def register(fn: Check) -> Check:
        CHECKS.append(RegisteredCheck(name, fn, required))
        return fn

    return register


@check("GET_INFO returns INFO for protocol 1")
async def _info(probe: Probe) -> str:
    reply = await probe.request(GetInfo())
    if not isinstance(reply, Info):
        raise CheckFailed(f"expected INFO, got {_show(reply)}")
    if reply.protocol_version != 1:
        raise CheckFailed(f"INFO protocol_version is {reply.protocol_version}, expected 1")
    if not 1 <= len(reply.zones) <= 8:
        raise CheckFailed(f"INFO lists {len(reply.zones)} zones; 1..8 are allowed")
    if reply.intensity_steps < 1 or reply.watchdog_ms == 0:
        raise CheckFailed("INFO needs intensity_steps >= 1 and a watchdog_ms above 0")
    if reply.has(Feature.HEAT) and not reply.heat_limit_dc:
        raise CheckFailed("INFO advertises HEAT but heat_limit_dc is 0")
    probe.info = reply
    return f"{reply.model} fw {reply.firmware_version}, {len(reply.zones)} zones"


@check("GET_STATUS returns STATUS with one level per zone")
async def _status(probe: Probe) -> str:
    info = _require_info(probe)
    status = await probe.status()
    if len(status.intensities) != len(info.zones):
        raise CheckFailed(
            f"STATUS has {len(status.intensities)} levels for {len(info.zones)} zones"
        )
    return f"battery {status.battery_pct}%"


@check("KEEPALIVE and STOP_ALL are acknowledged")
async def _keepalive(probe: Probe) -> str:
    await probe.expect_ack(Keepalive())
    await probe.expect_ack(StopAll())
    return "ACK"


@check("SET_OUTPUT drives a zone, STOP_ALL stops it")
async def _output(probe: Probe) -> str:
    info = _require_info(probe)
    await probe.expect_ack(SetOutput(0b1, 1, Waveform.CONSTANT, 0, 0))
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    await probe.expect_ack(StopAll())
    await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    return f"levels 0..{info.intensity_steps}"


@check("out-of-range values are NACKed and change nothing")
async def _out_of_range(probe: Probe) -> str:
    info = _require_info(probe)
    before = await probe.status()
    await probe.expect_nack(
        SetOutput(0b1, info.intensity_steps + 1, Waveform.CONSTANT, 0, 0), NackCode.OUT_OF_RANGE
    )
    if len(info.zones) < 8:
        await probe.expect_nack(
            SetOutput(1 << len(info.zones), 1, Waveform.CONSTANT, 0, 0), NackCode.OUT_OF_RANGE
        )
    await probe.expect_nack(SetOutput(0b1, 1, 0x7F, 0, 0), NackCode.OUT_OF_RANGE)
    await probe.expect_nack(
        SetOutput(0b1, 1, Waveform.PATTERN, info.pattern_slots, 0), NackCode.OUT_OF_RANGE
    )
    await probe.expect_nack(SetAutoOff(info.auto_off_max_s + 1), NackCode.OUT_OF_RANGE)
    after = await probe.status()
    if after.intensities != before.intensities or after.heat_target_dc != before.heat_target_dc:
        raise CheckFailed(f"a NACKed command changed the device: {before} -> {after}")
    return "5 refusals, state unchanged"


@check("unknown types and short payloads are NACKed")
async def _malformed(probe: Probe) -> str:
    await probe.expect_nack((0x7E, b""), NackCode.UNKNOWN_TYPE)
    await probe.expect_nack((int(SetOutput.TYPE), b"\x01\x02"), NackCode.BAD_LENGTH)
    return "UNKNOWN_TYPE, BAD_LENGTH"


@check("payload bytes beyond the layout are ignored")
async def _trailing(probe: Probe) -> str:
    seq = probe.next_seq()
    reply = await probe.raw(encode_frame(seq, int(Keepalive.TYPE), b"\x00\x01\x02"), seq)
    if not isinstance(reply, Ack):
        raise CheckFailed(f"KEEPALIVE with 3 extra bytes: expected ACK, got {_show(reply)}")
    return "ACK"


@check("the device resynchronises after noise and a bad CRC")
async def _noise(probe: Probe) -> str:
    bad = bytearray(encode(SetOutput(0b1, 1, Waveform.CONSTANT, 0, 0), probe.next_seq()))
    bad[-1] ^= 0xFF
    await probe.transport.write(b"\x00\xa5\x13\x37" + bytes(bad))
    status = await probe.status()
    if any(status.intensities):
        raise CheckFailed("a frame with a bad CRC switched a zone on")
    return "frame after noise answered; corrupt frame ignored"


@check("heat targets above the limit are refused")
async def _heat_limit(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.has(Feature.HEAT):
        await probe.expect_nack(SetHeat(400), NackCode.OUT_OF_RANGE)
        return "no heater: SET_HEAT refused"
    await probe.expect_nack(SetHeat(info.heat_limit_dc + 1), NackCode.OUT_OF_RANGE)
    lowest = min(info.heat_targets_dc, default=info.heat_limit_dc)
    await probe.expect_ack(SetHeat(lowest))
    status = await probe.status()
    if status.heat_target_dc != lowest:
        raise CheckFailed(f"SET_HEAT {lowest} acknowledged but STATUS target is {status}")
    if status.temperature_dc is not None and status.temperature_dc > info.heat_limit_dc:
        raise CheckFailed(f"temperature {status.temperature_dc} above the limit")
    await probe.expect_ack(SetHeat(0))
    return f"limit {info.heat_limit_dc / 10:.1f} C enforced"


@check("uploaded patterns play")
async def _patterns(probe: Probe) -> str:
    info = _require_info(probe)
    if not info.has(Feature.PATTERNS) or not info.pattern_slots:
        return "no patterns advertised"
    await probe.expect_nack(UploadPattern(0, ()), NackCode.OUT_OF_RANGE)
    steps = (PatternStep(100, 200), PatternStep(0, 200))
    await probe.expect_ack(UploadPattern(0, steps))
    await probe.expect_ack(SetOutput(0b1, 1, Waveform.PATTERN, 0, 0))
    await probe.expect_ack(StopAll())
    return "upload and play acknowledged"


@check("the watchdog stops outputs when the host falls silent")
async def _watchdog(probe: Probe) -> str:
    info = _require_info(probe)
    probe.drain_events()
    await probe.expect_ack(SetOutput(0b1, 1, Waveform.CONSTANT, 0, 0))
    limit = info.watchdog_ms / 1000
    started = asyncio.get_running_loop().time()
    await probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0)
    took = asyncio.get_running_loop().time() - started
    status = await probe.status()
    if any(status.intensities) or not status.faults & Fault.WATCHDOG:
        raise CheckFailed(f"after WATCHDOG_STOP the device is not stopped and latched: {status}")
    if took < limit * 0.9:
        raise CheckFailed(f"watchdog fired after {took:.2f} s, before its {limit:.2f} s timeout")
    return f"stopped after {took:.2f} s (timeout {limit:.2f} s)"


@check("auto-off stops outputs after the time set")
async def _auto_off(probe: Probe) -> str:
    info = _require_info(probe)
    probe.drain_events()
    await probe.expect_ack(SetAutoOff(2))
    await probe.expect_ack(SetOutput(0b1, 1, Waveform.CONSTANT, 0, 0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = asyncio.Event()
    feeder = asyncio.ensure_future(_feed_watchdog(probe, info.watchdog_ms / 3000, done))
    try:
        await probe.wait_event(EventCode.AUTO_OFF, 4.0)
    finally:
        # Ask the feeder to finish rather than cancel it: on Python 3.11 a
        # cancellation that races a reply inside wait_for() can be swallowed.
        done.set()
        await feeder
    took = loop.time() - started
    status = await probe.status()
    if any(status.intensities) or not status.faults & Fault.AUTO_OFF:
        raise CheckFailed(f"after AUTO_OFF the device is not stopped and latched: {status}")
    await probe.expect_ack(SetAutoOff(0))
    return f"stopped after {took:.2f} s (set to 2 s)"


@check("STATUS about once a second while on, once more when off", required=False)
async def _telemetry(probe: Probe) -> str:
    info = _require_info(probe)
    loop = asyncio.get_running_loop()
    await probe.expect_ack(SetOutput(0b1, 1, Waveform.CONSTANT, 0, 0))
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
    if not after or any(after[-1].intensities) or after[-1].heat_target_dc:
        raise CheckFailed("no unprompted STATUS showing everything off after STOP_ALL")
    quiet = loop.time()
    await asyncio.sleep(2.5)
    idle = [t for t, _ in probe.statuses if t >= quiet]
    if idle:
        raise CheckFailed(f"{len(idle)} unprompted STATUS while idle; none expected")
    return f"{len(running)} reports in 3.2 s on, the last one after STOP_ALL, none idle"


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


@asynccontextmanager
async def probe_session(url: str | None, **options: Any) -> AsyncIterator[Probe]:
    """A connected :class:`Probe`; the device is sent STOP_ALL on the way out."""
    transport = open_transport(url, **options)
    probe = Probe(transport)
    transport.set_receiver(probe._on_data, probe._on_lost)
    await transport.connect()
    try:
        yield probe
    finally:
        with suppress(Exception):
            if transport.connected:
                await probe.request(StopAll())
        await transport.close()


async def run_conformance(
    url: str | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    **options: Any,
) -> list[CheckResult]:
    """Run every check against the device at ``url``; the device is left stopped."""
    results: list[CheckResult] = []
    async with probe_session(url, **options) as probe:
        for registered in CHECKS:
            start = time.perf_counter()
            try:
                detail = await registered.run(probe)
                passed = True
            except CheckFailed as exc:
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
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
            if probe.lost.is_set():
                break
    return results
