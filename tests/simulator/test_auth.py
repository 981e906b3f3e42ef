"""The simulated firmware in NMP/1 authenticated mode (spec section 10).

Nothing without the key changes the outputs: the golden session replayed,
pairing only after the button is held, and a property test that random,
replayed, tampered and wrongly keyed frames leave the device as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from massager_protocols.crc import crc16_ccitt_false
from massager_protocols.nmp import (
    Ack,
    Feature,
    GetInfo,
    GetSession,
    Info,
    Keepalive,
    Message,
    MsgType,
    Nack,
    NackCode,
    Pair,
    Session,
    SessionFlag,
    SetHeat,
    SetOutput,
    StopAll,
    StreamDecoder,
    decode_frame,
    encode,
    encode_frame,
)
from massager_protocols.nmp.auth import Signer, key_id, sign_frame
from massager_protocols.nmp.framing import payload_bound
from massager_protocols.vectors import load
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.auth import device_auth, hold_button, label_secret
from massager_simulator.model import ModelError

from tests.simulator.nmp_host import NmpHost, virtual

VECTORS = load("nmp1_auth")
LABEL = label_secret("H4A-000001")


def refused(reply: Message, msg_type: int) -> bool:
    return reply == Nack(msg_type, NackCode.NOT_AUTHENTICATED)


def state(device: SimulatedDevice) -> tuple[Any, ...]:
    """Everything a host command could change."""
    auth = device_auth(device)
    return (
        device.commanded,
        device.heat_target_c,
        device.supervisor.auto_off_s,
        sorted(device.outputs.patterns),
        auth.key,
        auth.window_until,
    )


async def open_session(host: NmpHost, key: bytes) -> Signer:
    session = await host.request(GetSession())
    assert isinstance(session, Session)
    return Signer(key, session)


async def signed(host: NmpHost, signer: Signer, message: Message) -> Message:
    seq = host.next_seq()
    return await host.send_frame(signer.frame(message, seq), seq)


def test_info_advertises_the_mode_and_other_models_do_not() -> None:
    assert SimulatedDevice("heat4-auth").info.has(Feature.AUTH)
    assert not SimulatedDevice("heat4").info.has(Feature.AUTH)


def test_the_golden_session_gets_the_golden_answers() -> None:
    model = load_model(VECTORS["model"])
    model = dataclasses.replace(
        model, protocol_options={"auth": True, "label_secret": VECTORS["key"]}
    )

    async def scenario() -> list[str]:
        async with SimulatedDevice(model) as device:
            device_auth(device).nonce_source = lambda: bytes.fromhex(VECTORS["nonce"])
            host = NmpHost(device.connect())
            session = await host.request(GetSession())
            assert isinstance(session, Session) and session.key_id == VECTORS["key_id"]
            answers = []
            for step in VECTORS["session"]:
                frame = bytes.fromhex(step["hex"])
                before = device.commanded, device.heat_target_c
                reply = await host.send_frame(frame, decode_frame(frame).seq)
                if isinstance(reply, Ack):
                    answers.append("ACK")
                else:
                    assert isinstance(reply, Nack)
                    answers.append(f"NACK {NackCode(reply.code).name}")
                    assert (device.commanded, device.heat_target_c) == before
            await host.close()
            return answers

    assert virtual(scenario) == [step["reply"] for step in VECTORS["session"]]


def test_unsigned_state_changes_are_refused_and_change_nothing() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            for message in (SetOutput(0b1111, 5), SetHeat(400), Keepalive()):
                assert refused(await host.request(message), message.TYPE)
            assert device.commanded == (0, 0, 0, 0) and device.heat_target_c is None
            # reading and stopping stay open
            assert isinstance(await host.request(GetInfo()), Info)
            assert await host.request(StopAll()) == Ack(MsgType.STOP_ALL)
            await host.close()

    virtual(scenario)


def test_the_label_secret_drives_the_device_and_a_wrong_key_does_not() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            signer = await open_session(host, LABEL)
            assert await signed(host, signer, SetOutput(0b0011, 4)) == Ack(MsgType.SET_OUTPUT)
            assert device.commanded == (4, 4, 0, 0)
            seq = host.next_seq()
            payload = SetOutput(0b1111, 9).encode_payload()
            forged = sign_frame(bytes(32), signer.nonce, signer.counter + 1, seq, 3, payload)
            assert refused(await host.send_frame(forged, seq), MsgType.SET_OUTPUT)
            assert device.commanded == (4, 4, 0, 0)
            await host.close()

    virtual(scenario)


def test_only_authenticated_frames_feed_the_watchdog() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            signer = await open_session(host, LABEL)
            assert await signed(host, signer, SetOutput(0b0001, 3)) == Ack(MsgType.SET_OUTPUT)
            watchdog_s = device.model.watchdog_ms / 1000
            # an attacker polls STATUS and sends unsigned keepalives: the watchdog still bites
            for _ in range(int(watchdog_s * 4) + 4):
                await host.request(Keepalive())
                await host.request(GetInfo())
                await asyncio.sleep(0.5)
            assert device.commanded == (0, 0, 0, 0)
            await host.close()

    virtual(scenario)


def test_pairing_needs_the_button_and_a_long_hold_resets_the_key() -> None:
    new_key = bytes(range(100, 132))

    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            # outside the window PAIR changes nothing
            assert refused(await host.request(Pair(tuple(new_key))), MsgType.PAIR)
            assert device_auth(device).key == LABEL
            hold_button(device, 5.0)
            session = await host.request(GetSession())
            assert isinstance(session, Session)
            assert session.flags == SessionFlag.PAIRING_OPEN | SessionFlag.LABEL_KEY
            assert refused(await host.request(Pair((1, 2, 3))), MsgType.PAIR)  # not 32 bytes
            assert await host.request(Pair(tuple(new_key))) == Ack(MsgType.PAIR)
            # the old key is refused, the new one works
            session = await host.request(GetSession())
            assert isinstance(session, Session) and session.key_id == key_id(new_key)
            seq = host.next_seq()
            old = sign_frame(LABEL, bytes(session.nonce), 1, seq, MsgType.SET_HEAT, b"\x90\x01")
            assert refused(await host.send_frame(old, seq), MsgType.SET_HEAT)
            signer = Signer(new_key, session)
            assert await signed(host, signer, SetHeat(400)) == Ack(MsgType.SET_HEAT)
            # a second PAIR needs the button again
            assert refused(await host.request(Pair(tuple(LABEL))), MsgType.PAIR)
            hold_button(device, 15.0)  # reset: the label secret is the key again
            assert device.heat_target_c is None  # a hold is a press: everything stopped
            session = await host.request(GetSession())
            assert isinstance(session, Session)
            assert session.key_id == key_id(LABEL) and session.flags == SessionFlag.LABEL_KEY
            await host.close()

    virtual(scenario)


def test_the_pairing_window_closes_after_30_s() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            hold_button(device, 5.0)
            await asyncio.sleep(30.5)
            assert refused(await host.request(Pair(tuple(bytes(32)))), MsgType.PAIR)
            await host.close()

    virtual(scenario)


def test_a_model_with_a_bad_auth_option_is_a_clear_error() -> None:
    model = dataclasses.replace(load_model("heat4-auth"), protocol_options={"auth": "yes"})
    with pytest.raises(ModelError, match="auth = 'yes'; accepted: true or false"):
        SimulatedDevice(model)
    model = dataclasses.replace(model, protocol_options={"auth": True, "label_secret": "12"})
    with pytest.raises(ModelError, match="label_secret: a device secret is 32 bytes"):
        SimulatedDevice(model)


def test_a_model_without_the_mode_has_no_pairing() -> None:
    with pytest.raises(ValueError, match="no authenticated mode"):
        hold_button(SimulatedDevice("heat4"), 5.0)


# -- the property: no frame without the key changes the outputs ---------------------

_STATE_TYPES = [t for t in range(1, 0x80) if t != MsgType.STOP_ALL]


def _fix_crc(body: bytes) -> bytes:
    return body + crc16_ccitt_false(body[1:]).to_bytes(2, "little")


@st.composite
def attacks(draw: st.DrawFn, recorded: int) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["random", "forged", "replay", "tampered"]))
    if kind == "random":
        msg_type = draw(st.sampled_from(_STATE_TYPES))
        # Within the type's bound: a longer frame is noise and gets no answer (2.1).
        return kind, (msg_type, draw(st.binary(max_size=payload_bound(msg_type))))
    if kind == "forged":
        msg_type = draw(st.sampled_from([MsgType.SET_OUTPUT, MsgType.SET_HEAT, MsgType.KEEPALIVE]))
        key = draw(st.binary(min_size=32, max_size=32).filter(lambda k: k != LABEL))
        counter = draw(st.integers(1, 0xFFFF_FFFF))
        return kind, (msg_type, key, counter, draw(st.binary(max_size=6)))
    index = draw(st.integers(0, recorded - 1))
    return kind, (index, draw(st.integers(0, 10_000)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(attacks(recorded=2), min_size=1, max_size=8))
def test_no_frame_without_the_key_changes_the_device(plan: list[tuple[str, Any]]) -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            signer = await open_session(host, LABEL)
            recorded = []
            for message in (SetOutput(0b1111, 5), SetHeat(400)):
                seq = host.next_seq()
                frame = signer.frame(message, seq)
                assert await host.send_frame(frame, seq) == Ack(message.TYPE)
                recorded.append(frame)
            before = state(device)
            for kind, args in plan:
                if kind == "random":
                    msg_type, payload = args
                    seq = host.next_seq()
                    frame = encode_frame(seq, msg_type, payload)
                elif kind == "forged":
                    msg_type, key, counter, payload = args
                    seq = host.next_seq()
                    frame = sign_frame(key, signer.nonce, counter, seq, msg_type, payload)
                elif kind == "replay":
                    frame = recorded[args[0]]
                    seq = decode_frame(frame).seq
                else:  # one bit flipped from seq to the tag's last byte (CRC made good)
                    body = bytearray(recorded[args[0]][:-2])
                    bit = args[1] % ((len(body) - 3) * 8)
                    body[3 + bit // 8] ^= 1 << (bit % 8)
                    frame = _fix_crc(bytes(body))
                    seq = frame[3]
                    if seq == 0:
                        continue  # seq 0 is ignored by design: nothing to answer
                    if frame[4] == MsgType.STOP_ALL or frame[2] > payload_bound(frame[4]):
                        # A flip that made STOP_ALL (which needs no key, by design) or a
                        # header beyond its type's bound (noise, no answer) tests nothing.
                        continue
                reply = await host.send_frame(frame, seq)
                assert not isinstance(reply, Ack), (kind, frame.hex(" "), reply)
                assert state(device) == before
            await host.close()

    virtual(scenario)


def test_get_info_is_answered_with_info_then_the_links_session() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4-auth") as device:
            host = NmpHost(device.connect())
            frame = encode(GetInfo(), 9)
            await host.link.write(frame)
            await asyncio.sleep(0.1)  # on the virtual clock: every reply is in by then
            frames = StreamDecoder().feed(b"".join(host.chunks))
            replies = [f.message() for f in frames if f.seq == 9]
            assert [type(m) for m in replies] == [Info, Session]
            session = replies[1]
            assert isinstance(session, Session) and session.key_id == key_id(LABEL)
            assert await host.request(GetSession()) == session  # the same nonce, asked again
            await host.close()

    virtual(scenario)
