"""Conformance of NMP/1 authenticated mode (spec section 10).

These checks apply to a device whose INFO advertises ``AUTH``; on any other
they report that section 10 does not apply. The device's key comes from the
key store (:func:`massager_sdk.keys.key_for`: ``massager pair`` keeps it
there, ``massager conformance --key`` adds one for the run). With the key, the
first check switches the run to signing: every state change the other checks
send is signed on its way out (:class:`SigningTransport`), so the whole suite
runs on a device in this mode. Without it, what a host without a key may do
is still checked (reading, stopping, unsigned and wrongly signed frames
refused); the checks that need correctly signed frames are not testable.

The checks send what a well-behaved host never would: unsigned state
changes, replays, frames signed out of order, with another key or another
link's nonce, and more bad tags than the failure allowance holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import weakref

from massager_protocols.nmp import (
    Ack,
    EventCode,
    Feature,
    GetInfo,
    GetSession,
    GetStatus,
    Info,
    Keepalive,
    Message,
    MsgType,
    Nack,
    NackCode,
    PatternStep,
    Session,
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
from massager_protocols.nmp import auth as nmp_auth

from massager_sdk.conformance.core import (
    REPLY_TIMEOUT_S,
    SOFT_START_S,
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    one_on,
    show,
)
from massager_sdk.conformance.signing import SigningTransport
from massager_sdk.keys import key_for

#: Seconds a link's failure allowance takes to fill from empty (10.3).
_REFILL_ALL_S = nmp_auth.FAILURE_BURST * nmp_auth.FAILURE_REFILL_S

#: The check that reads the session and, with the key, makes the run sign its
#: state changes: it runs before any other check (see ``suite.CHECKS``).
SESSION = Checks()
#: The other checks of section 10, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@dataclasses.dataclass
class _Mode:
    """What the first check learnt of a device in authenticated mode."""

    info: Info
    session: Session
    key: bytes | None  #: the device's key, when the run has it
    signing: SigningTransport | None  #: the probe's signing link, when there is a key
    missing: str = ""  #: why there is no key, when there is none


_MODES: weakref.WeakKeyDictionary[Probe, _Mode | None] = weakref.WeakKeyDictionary()


def _mode(probe: Probe) -> _Mode:
    if probe not in _MODES:
        raise CheckFailed("skipped: the authenticated-mode session was not read")
    mode = _MODES[probe]
    if mode is None:
        raise NotTestable("the device does not advertise AUTH (0x0040) in INFO: section 10")
    return mode


def _keyed(probe: Probe) -> tuple[_Mode, SigningTransport]:
    mode = _mode(probe)
    if mode.signing is None:
        raise NotTestable(f"needs the device's key: {mode.missing}")
    return mode, mode.signing


async def _session_after_info(probe: Probe) -> tuple[Info, Session | None]:
    """GET_INFO; the INFO and the SESSION that must follow it with the same seq."""
    seq = probe.next_seq()
    probe.stray.clear()
    reply = await probe.raw(encode(GetInfo(), seq), seq)
    if not isinstance(reply, Info):
        raise CheckFailed(f"GET_INFO: expected INFO, got {show(reply)}")
    if not reply.has(Feature.AUTH):
        return reply, None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLY_TIMEOUT_S
    while loop.time() < deadline:
        for n, message in probe.stray:
            if isinstance(message, Session) and n == seq:
                return reply, message
        await asyncio.sleep(0.01)
    raise CheckFailed(
        f"INFO advertises AUTH but no SESSION with seq {seq} followed it within "
        f"{REPLY_TIMEOUT_S:.1f} s (section 10.1: INFO, then SESSION)"
    )


async def _get_session(probe: Probe) -> Session:
    reply = await probe.request(GetSession())
    if not isinstance(reply, Session):
        raise CheckFailed(f"GET_SESSION: expected SESSION, got {show(reply)}")
    if len(reply.nonce) != nmp_auth.NONCE_SIZE:
        raise CheckFailed(f"SESSION nonce has {len(reply.nonce)} bytes, expected 8")
    return reply


async def _send(probe: Probe, frame: bytes, seq: int) -> Message:
    """``frame`` exactly as given; the reply with ``seq``."""
    link = probe.transport
    if not isinstance(link, SigningTransport):
        return await probe.raw(frame, seq)
    with link.as_written():
        return await probe.raw(frame, seq)


async def _refused(probe: Probe, frame: bytes, what: str) -> None:
    """The device must NACK ``frame`` NOT_AUTHENTICATED, naming its type and seq."""
    seq, msg_type = frame[3], frame[4]
    reply = await _send(probe, frame, seq)
    if not (
        isinstance(reply, Nack)
        and reply.acked_type == msg_type
        and reply.code == NackCode.NOT_AUTHENTICATED
    ):
        raise CheckFailed(f"{what}: expected NACK NOT_AUTHENTICATED, got {show(reply)}")


async def _accepted(probe: Probe, frame: bytes, what: str) -> None:
    seq, msg_type = frame[3], frame[4]
    reply = await _send(probe, frame, seq)
    if not (isinstance(reply, Ack) and reply.acked_type == msg_type):
        raise CheckFailed(f"{what}: expected ACK, got {show(reply)}")


def _sign(probe: Probe, signing: SigningTransport, message: Message) -> bytes:
    return signing.signer.sign(probe.next_seq(), message.TYPE, message.encode_payload())


def _state(status: Status) -> tuple[tuple[int, ...], int]:
    return tuple(status.intensities), status.heat_target_dc


async def _unchanged(probe: Probe, before: Status, what: str) -> None:
    """After the soft start, STATUS must show what it showed before ``what``."""
    await asyncio.sleep(SOFT_START_S)
    after = await probe.status()
    if _state(after) != _state(before):
        raise CheckFailed(f"{what} changed the device: {before} -> {after}")


async def _level_one_on(probe: Probe, signing: SigningTransport) -> Status:
    await _accepted(probe, _sign(probe, signing, one_on(1)), "signed SET_OUTPUT")
    return await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")


# -- the checks ----------------------------------------------------------------


@SESSION.check("authenticated mode: INFO then SESSION; the run signs with the device's key", "10.1")
async def _auth_session(probe: Probe) -> str:
    info, session = await _session_after_info(probe)
    if session is None:
        _MODES[probe] = None
        raise NotTestable("the device does not advertise AUTH (0x0040) in INFO: section 10")
    _MODES[probe] = mode = _Mode(info, session, None, None)
    again = await _get_session(probe)
    if (again.nonce, again.key_id) != (session.nonce, session.key_id):
        raise CheckFailed(
            f"GET_SESSION on the same link drew another session: nonce "
            f"{bytes(session.nonce).hex()} then {bytes(again.nonce).hex()} (section 10.1: only a "
            "new connection or a new key draws a new one)"
        )
    key = key_for(info.serial, session.key_id)
    if key is None:
        mode.missing = (
            f"no key for {info.model} {info.serial}: pair it (`massager pair`) or give the "
            "label secret with --key"
        )
        raise NotTestable(mode.missing + "; the checks that need signed frames are not run")
    if nmp_auth.key_id(key) != session.key_id:
        mode.missing = (
            f"the key given is not the key of {info.model} {info.serial} (key id "
            f"{nmp_auth.key_id(key):08x}, the device reports {session.key_id:08x})"
        )
        raise NotTestable(mode.missing)
    mode.key = key
    mode.signing = SigningTransport(probe.transport, nmp_auth.Signer(key, session))
    probe.transport = mode.signing
    opener = probe.open_second
    if opener is not None:

        async def signed_second() -> Probe:
            other = await opener()
            try:
                session = await _get_session(other)
            except CheckFailed:
                return other  # no second session: the caller finds the link refused
            other.transport = SigningTransport(other.transport, nmp_auth.Signer(key, session))
            return other

        probe.open_second = signed_second
    return f"key id {session.key_id:08x}; state changes are signed from here on"


@check("unsigned state changes are NACKed NOT_AUTHENTICATED and change nothing", "10.2")
async def _unsigned(probe: Probe) -> str:
    mode = _mode(probe)
    info = mode.info
    if mode.signing is not None:
        before = await _level_one_on(probe, mode.signing)
    else:
        before = await probe.status()
    every = (1 << len(info.zones)) - 1
    messages: list[Message] = [
        SetOutput(every, info.intensity_steps, Waveform.CONSTANT, 0, 0),
        SetAutoOff(1),
        Keepalive(),
    ]
    if info.has(Feature.HEAT) and info.heat_limit_dc:
        messages.append(SetHeat(min(info.heat_targets_dc, default=info.heat_limit_dc)))
    if info.pattern_slots:
        messages.append(UploadPattern(0, (PatternStep(100, 100),)))
        messages.append(SetOutput(every, info.intensity_steps, Waveform.PATTERN, 0, 0))
    for message in messages:
        seq = probe.next_seq()
        await _refused(probe, encode(message, seq), f"unsigned {message.TYPE.name}")
    if mode.signing is not None:  # so the watchdog does not decide what STATUS shows
        await _accepted(probe, _sign(probe, mode.signing, Keepalive()), "signed KEEPALIVE")
    await _unchanged(probe, before, "an unsigned state change")
    after = await probe.status()
    if mode.signing is not None and after.auto_off_s <= 1:
        raise CheckFailed(f"an unsigned SET_AUTO_OFF 1 s took effect: auto-off {after.auto_off_s}")
    return f"{len(messages)} unsigned state changes refused, STATUS unchanged"


@check("correctly signed frames are accepted, also after lost counters", "10.2")
async def _signed(probe: Probe) -> str:
    _, signing = _keyed(probe)
    await _level_one_on(probe, signing)
    signing.signer.counter += 1000  # a host whose last 1000 frames were lost
    await _accepted(probe, _sign(probe, signing, one_on(2)), "SET_OUTPUT 1000 counters ahead")
    await probe.wait_status(lambda s: s.intensities[0] == 2, "zone 0 at level 2")
    await _accepted(probe, _sign(probe, signing, Keepalive()), "signed KEEPALIVE")
    return f"accepted up to counter {signing.signer.counter}"


@check("a replayed signed frame is refused and changes nothing", "10.2")
async def _replay(probe: Probe) -> str:
    _, signing = _keyed(probe)
    frame = _sign(probe, signing, one_on(1))
    await _accepted(probe, frame, "signed SET_OUTPUT")
    await probe.wait_status(lambda s: s.intensities[0] == 1, "zone 0 at level 1")
    await probe.expect_ack(StopAll())
    before = await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    await _refused(probe, frame, "the same SET_OUTPUT frame again")
    await _unchanged(probe, before, "a replayed SET_OUTPUT")
    return "the replay was refused; the device stayed off"


@check("a signed frame older than one accepted (reordered) is refused", "10.2")
async def _reordered(probe: Probe) -> str:
    _, signing = _keyed(probe)
    older = _sign(probe, signing, one_on(1))
    newer = _sign(probe, signing, one_on(2))
    await _accepted(probe, newer, "the newer SET_OUTPUT")
    before = await probe.wait_status(lambda s: s.intensities[0] == 2, "zone 0 at level 2")
    await _accepted(probe, _sign(probe, signing, Keepalive()), "signed KEEPALIVE")
    await _refused(probe, older, "a SET_OUTPUT signed before the one accepted")
    await _unchanged(probe, before, "an older SET_OUTPUT")
    return "the older frame was refused; the level of the newer stayed"


def _other_key(key: bytes) -> bytes:
    return hashlib.sha256(b"not the device's key" + key).digest()


@check("frames signed with another key or nonce, or tampered with, are refused", "10.2")
async def _forged(probe: Probe) -> str:
    mode = _mode(probe)
    nonce = bytes(mode.session.nonce)
    key = mode.key if mode.key is not None else bytes(nmp_auth.KEY_SIZE)
    counter = mode.signing.signer.counter + 1 if mode.signing is not None else 1
    payload = one_on(1).encode_payload()

    def signed(with_key: bytes, with_nonce: bytes) -> bytes:
        seq = probe.next_seq()
        return nmp_auth.sign_frame(with_key, with_nonce, counter, seq, MsgType.SET_OUTPUT, payload)

    frames = [
        ("SET_OUTPUT signed with another key", signed(_other_key(key), nonce)),
        ("SET_OUTPUT signed for another nonce", signed(key, bytes(b ^ 0x5A for b in nonce))),
    ]
    if mode.key is not None:
        good = signed(key, nonce)
        body = bytearray(good[5:-2])
        body[1] = 2  # the level, changed after the tag was computed
        tampered = encode_frame(good[3], MsgType.SET_OUTPUT, bytes(body))
        frames.append(("a signed SET_OUTPUT whose level was changed", tampered))
    before = await probe.status()
    for what, frame in frames:
        await _refused(probe, frame, what)
    await _unchanged(probe, before, "a forged SET_OUTPUT")
    if mode.signing is not None:
        await _level_one_on(probe, mode.signing)  # the refusals took no counter
    return f"{len(frames)} forged frames refused, STATUS unchanged"


@check("a frame signed for one link is refused on another; each link has its nonce", "10.1")
async def _other_link(probe: Probe) -> str:
    _, signing = _keyed(probe)
    if probe.open_second is None:
        raise NotTestable("this link cannot be opened twice (one host per link)")
    with contextlib.suppress(Exception):
        await probe.expect_ack(StopAll())
    try:
        second = await probe.open_second()
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise NotTestable(f"the device refused a second link: {exc}") from None
    try:
        if not isinstance(second.transport, SigningTransport):
            raise NotTestable("the device takes one link at a time (a second is refused)")
        theirs = second.transport.signer.nonce
        if theirs == signing.signer.nonce:
            raise CheckFailed(f"two links were given the same nonce {theirs.hex()}")
        seq = second.next_seq()
        frame = signing.signer.sign(seq, MsgType.SET_OUTPUT, one_on(1).encode_payload())
        before = await second.status()
        await _refused(second, frame, "a SET_OUTPUT signed for the first link, on the second")
        await _unchanged(second, before, "a frame signed for another link")
    finally:
        with contextlib.suppress(Exception):
            await second.transport.close()
    return "the second link has its own nonce and refused the first link's frame"


@check("unsigned KEEPALIVEs do not feed the watchdog", "10.2, 7.1")
async def _unsigned_keepalive(probe: Probe) -> str:
    mode, signing = _keyed(probe)
    limit = mode.info.watchdog_ms / 1000
    probe.drain_events()
    await _level_one_on(probe, signing)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiter = asyncio.ensure_future(probe.wait_event(EventCode.WATCHDOG_STOP, limit * 1.5 + 1.0))
    try:
        while not waiter.done():
            seq = probe.next_seq()
            with contextlib.suppress(CheckFailed):
                await _send(probe, encode(Keepalive(), seq), seq)
            await asyncio.wait([waiter], timeout=limit / 4)
        await waiter
    except CheckFailed:
        raise CheckFailed(
            f"unsigned KEEPALIVEs every {limit / 4:.2f} s kept the outputs on past the "
            f"{limit:.1f} s watchdog (only authenticated frames feed it)"
        ) from None
    finally:
        waiter.cancel()
    return f"the watchdog stopped the device after {loop.time() - started:.2f} s"


@check("reading and stopping need no key", "10.4")
async def _open_without_key(probe: Probe) -> str:
    mode = _mode(probe)
    seq = probe.next_seq()
    reply = await _send(probe, encode(GetInfo(), seq), seq)
    if not isinstance(reply, Info):
        raise CheckFailed(f"GET_INFO: expected INFO, got {show(reply)}")
    seq = probe.next_seq()
    reply = await _send(probe, encode(GetStatus(), seq), seq)
    if not isinstance(reply, Status):
        raise CheckFailed(f"GET_STATUS: expected STATUS, got {show(reply)}")
    session = await _get_session(probe)
    if bytes(session.nonce) != bytes(mode.session.nonce):
        raise CheckFailed("GET_SESSION drew a new nonce on the same link")
    if mode.signing is not None:
        await _level_one_on(probe, mode.signing)
    seq = probe.next_seq()
    await _accepted(probe, encode(StopAll(), seq), "unsigned STOP_ALL")
    await probe.wait_status(lambda s: not any(s.intensities), "every zone off")
    return "GET_INFO, GET_STATUS, GET_SESSION answered; unsigned STOP_ALL stopped the device"


@check("past 8 bad tags, signed frames are refused until the allowance refills", "10.3")
async def _rate_limit(probe: Probe) -> str:
    mode, signing = _keyed(probe)
    await asyncio.sleep(_REFILL_ALL_S)  # what earlier checks spent comes back
    await probe.expect_ack(StopAll())
    before = await probe.status()
    nonce = bytes(mode.session.nonce)
    assert mode.key is not None
    for attempt in range(nmp_auth.FAILURE_BURST):
        seq = probe.next_seq()
        frame = nmp_auth.sign_frame(
            _other_key(mode.key),
            nonce,
            signing.signer.counter + 1,
            seq,
            MsgType.SET_OUTPUT,
            one_on(1).encode_payload(),
        )
        await _refused(probe, frame, f"bad tag {attempt + 1}")
    await _refused(probe, _sign(probe, signing, one_on(1)), "a correct frame, allowance spent")
    seq = probe.next_seq()
    await _accepted(probe, encode(StopAll(), seq), "unsigned STOP_ALL, allowance spent")
    await _unchanged(probe, before, "a frame sent while the allowance was spent")
    await asyncio.sleep(nmp_auth.FAILURE_REFILL_S * 1.5)
    await _accepted(probe, _sign(probe, signing, one_on(1)), "a correct frame after refilling")
    return (
        f"{nmp_auth.FAILURE_BURST} bad tags spent the allowance; a correct frame was refused, "
        "then accepted once it refilled"
    )
