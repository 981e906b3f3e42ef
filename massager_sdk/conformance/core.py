"""The core of the conformance suite: the probe, the registry, results, errors, running.

Each check is an ``async`` function of a :class:`Probe` that names the spec
section it tests, registered in the :class:`Checks` of its spec area (one
module of this package each); :mod:`massager_sdk.conformance.suite` puts the
areas in the order a run takes them. Check modules import this module and
nothing imports them but the suite.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from massager_protocols.errors import ProtocolError
from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    EventState,
    ExitTestMode,
    Feature,
    GetStatus,
    Info,
    Message,
    Nack,
    NackCode,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    StreamDecoder,
    Waveform,
    encode,
    encode_frame,
)

from massager_sdk.conformance.bench import Bench, BenchError, InjectorBench
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
            wrong = [f"seq {n}: {show(m)}" for n, m in self.stray]
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
            raise CheckFailed(f"{message.TYPE.name}: expected ACK, got {show(reply)}")

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
            raise CheckFailed(f"{name}: expected NACK {code.name}, got {show(reply)}")

    async def status(self) -> Status:
        """A fresh STATUS."""
        reply = await self.request(GetStatus())
        if not isinstance(reply, Status):
            raise CheckFailed(f"GET_STATUS: expected STATUS, got {show(reply)}")
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


def show(message: Message) -> str:
    """A message as a report names it: a NACK by its reason, others by type and fields."""
    if isinstance(message, Nack):
        return f"NACK {message.reason}"
    return f"{message.TYPE.name} {message.fields()}"


def require_info(probe: Probe) -> Info:
    """The INFO the first checks read; ``CheckFailed`` when there is none."""
    if probe.info is None:
        raise CheckFailed("skipped: INFO was not received")
    return probe.info


# -- the registry ----------------------------------------------------------------

Check = Callable[[Probe], Awaitable[str]]


@dataclasses.dataclass(frozen=True)
class RegisteredCheck:
    """One check of the suite."""

    name: str
    run: Check
    required: bool  #: a MUST of the spec (``False``: a SHOULD)
    section: str  #: the section of ``protocols/specs/nmp1.md`` it tests


class Checks:
    """The checks of one spec area, in the order they are registered (and run)."""

    def __init__(self) -> None:
        self._registered: list[RegisteredCheck] = []

    def check(self, name: str, section: str, *, required: bool = True) -> Callable[[Check], Check]:
        """Register a check of spec ``section`` under ``name``, after those registered so far."""

        def register(fn: Check) -> Check:
            self._registered.append(RegisteredCheck(name, fn, required, section))
            return fn

        return register

    def __iter__(self) -> Iterator[RegisteredCheck]:
        return iter(self._registered)

    def __len__(self) -> int:
        return len(self._registered)


# -- what several areas' checks share -------------------------------------------


def one_on(level: int = 1) -> SetOutput:
    """SET_OUTPUT: zone 0 on at ``level``, constant."""
    return SetOutput(0b1, level, Waveform.CONSTANT, 0, 0)


def all_zones(info: Info) -> int:
    return (1 << len(info.zones)) - 1


def lowest_heat(info: Info) -> int:
    return min(info.heat_targets_dc, default=info.heat_limit_dc)


def has_heat(info: Info) -> bool:
    return info.has(Feature.HEAT) and info.heat_limit_dc > 0


async def everything_on(probe: Probe, info: Info) -> None:
    """Zone 0 on at level 1, and the heater at its lowest preset when there is one."""
    await probe.expect_ack(one_on())
    if has_heat(info):
        await probe.expect_ack(SetHeat(lowest_heat(info)))


def all_off(status: Status) -> bool:
    return not any(status.intensities) and not status.heat_target_dc


async def send_every(probe: Probe, message: Message, every: float, done: asyncio.Event) -> None:
    """Send ``message`` every ``every`` seconds until ``done`` is set (no reply needed)."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), every)
            return
        except TimeoutError:
            pass
        with suppress(CheckFailed):
            await probe.request(message)


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


async def run_checks(
    url: str | None,
    checks: Iterable[RegisteredCheck],
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    bench: Bench | None = None,
    **options: Any,
) -> list[CheckResult]:
    """Run ``checks`` in order against the device at ``url``; the device is left stopped.

    Each check is followed by STOP_ALL; the run ends early if the link is lost.
    """
    results: list[CheckResult] = []
    async with probe_session(url, bench=bench, **options) as probe:
        for registered in checks:
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
