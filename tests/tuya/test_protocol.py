"""Tuya BLE: keys, messages, envelopes and fragments against the golden vectors."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from massager_protocols import FrameError, ProtocolError, tuya
from massager_protocols.tuya import spec
from massager_protocols.tuya.neck import NeckDp
from massager_protocols.vectors import load

VECTORS = load("tuya_ble")
CREDENTIALS = tuya.Credentials(**VECTORS["credentials"])
SRAND = bytes.fromhex(VECTORS["srand_hex"])
SESSION = tuya.session_key(CREDENTIALS.local_key, SRAND)
LOGIN = tuya.login_key(CREDENTIALS.local_key)


def test_keys_are_md5_of_the_local_keys_first_six_characters() -> None:
    assert LOGIN.hex(" ") == VECTORS["keys"]["login_key_hex"]
    assert SESSION.hex(" ") == VECTORS["keys"]["session_key_hex"]
    assert tuya.login_key("sim0keyANYTHING") == LOGIN  # only 6 characters count
    assert tuya.crc16_modbus(b"123456789") == VECTORS["crc16_modbus"]["value"]


@pytest.mark.parametrize("entry", VECTORS["messages"], ids=lambda e: e["name"])
def test_messages_encrypt_and_fragment_to_their_vectors(entry: dict[str, object]) -> None:
    fields = entry["fields"]
    assert isinstance(fields, dict)
    message = tuya.Message(
        fields["seq"],
        fields["response_to"],
        tuya.Code[fields["code"]],
        bytes.fromhex(fields["data_hex"]),
    )
    assert message.plaintext().hex(" ") == entry["plaintext_hex"]
    security = tuya.Security[str(entry["security"])]
    key = LOGIN if security is tuya.Security.LOGIN_KEY else SESSION
    envelope = tuya.encrypt(message, key, int(security), bytes.fromhex(str(entry["iv_hex"])))
    assert envelope.hex(" ") == entry["envelope_hex"]
    fragments = [bytes.fromhex(f) for f in entry["fragments_hex"]]  # type: ignore[attr-defined]
    assert tuya.fragment(envelope) == fragments
    assert all(len(f) <= tuya.FRAGMENT_SIZE for f in fragments)
    reassembler = tuya.Reassembler()
    assert [m for f in fragments for m in reassembler.feed_packet(f)] == [envelope]
    assert tuya.decrypt(envelope, key) == message
    # The construct definitions that back the spec read the same bytes.
    assert tuya.MESSAGE.parse(message.plaintext()).data == message.data
    assert tuya.FIRST_FRAGMENT.parse(fragments[0]).length == len(envelope)


@pytest.mark.parametrize("entry", VECTORS["demo_datapoints"], ids=lambda e: e["name"])
def test_the_demo_firmwares_buffers_decode_as_its_data_points(entry: dict[str, object]) -> None:
    (point,) = tuya.decode_datapoints(bytes.fromhex(str(entry["hex"])))
    assert point.id == entry["id"] and point.id in set(NeckDp)
    assert point.type is tuya.DpType[str(entry["type"])]
    assert point.value == entry["value"]
    assert point.encode().hex(" ") == entry["hex"]


@pytest.mark.parametrize("entry", VECTORS["datapoints"], ids=lambda e: e["name"])
def test_data_points_encode_to_their_vectors(entry: dict[str, object]) -> None:
    points = [
        tuya.DataPoint(p["id"], tuya.DpType[p["type"]], p["value"])
        for p in entry["points"]  # type: ignore[attr-defined]
    ]
    data = bytes.fromhex(str(entry["hex"]))
    assert tuya.encode_datapoints(points) == data
    assert tuya.decode_datapoints(data) == points


def _pump(fragments: list[bytes], reassembler: tuya.Reassembler) -> list[bytes]:
    return [m for f in fragments for m in reassembler.feed(f)]


def test_key_exchange_and_pairing_between_host_and_device() -> None:
    host = tuya.HostChannel(CREDENTIALS, clock=lambda: 1_700_000_000.25, utc_offset=lambda: 3600)
    device = tuya.DeviceChannel(CREDENTIALS, tuya.DeviceIdentity(bound=False), SRAND)
    to_device, to_host = tuya.Reassembler(), tuya.Reassembler()
    (info,) = _pump(host.start(), to_device)
    assert tuya.security_of(info) == tuya.Security.LOGIN_KEY
    answer = device.receive(info)
    (info_answer,) = _pump(answer.writes, to_host)
    pair = host.receive(info_answer)
    assert host.session_key == SESSION
    (pair_request,) = _pump(pair.writes, to_device)
    assert tuya.security_of(pair_request) == tuya.Security.SESSION_KEY
    result = device.receive(pair_request)
    assert result.paired is True and result.pair_result == tuya.PairResult.OK
    pair_answer, time_request = _pump(result.writes, to_host)
    done = host.receive(pair_answer)
    assert done.paired is True and host.paired
    # The SDK asks the time after pairing; the host answers "ms since 1970" and the zone.
    asked = host.receive(time_request)
    (told,) = [device.open(e) for e in _pump(asked.writes, to_device)]
    assert told.code == tuya.Code.TIME1_REQ and told.data == b"1700000000250\x00\x64"
    # A device report is handed up and acknowledged.
    _, report = device.seal(tuya.Code.RECEIVE_DP, b"\x69\x01\x01\x01")
    out = host.receive(_pump(report, to_host)[0])
    assert [m.code for m in out.messages] == [tuya.Code.RECEIVE_DP]
    (ack,) = [device.open(e) for e in _pump(out.writes, to_device)]
    assert ack.code == tuya.Code.RECEIVE_DP and ack.response_to == out.messages[0].seq


def test_only_the_uuid_decides_pairing_and_a_wrong_key_is_not_understood() -> None:
    def pair(credentials: tuya.Credentials) -> tuya.Output:
        host = tuya.HostChannel(credentials)
        device = tuya.DeviceChannel(CREDENTIALS, tuya.DeviceIdentity(bound=True), SRAND)
        answer = device.receive(_pump(host.start(), tuya.Reassembler())[0])
        request = host.receive(_pump(answer.writes, tuya.Reassembler())[0])
        return device.receive(_pump(request.writes, tuya.Reassembler())[0])

    # The C SDK compares the 16-byte uuid only: another device id still pairs (2: bound).
    wrong_id = pair(tuya.Credentials(CREDENTIALS.local_key, "someone-else", CREDENTIALS.uuid))
    assert wrong_id.paired is True and wrong_id.pair_result == tuya.PairResult.ALREADY_PAIRED
    wrong_uuid = pair(tuya.Credentials(CREDENTIALS.local_key, CREDENTIALS.device_id, "other"))
    assert wrong_uuid.paired is False and wrong_uuid.pair_result == tuya.PairResult.REFUSED
    assert len(wrong_uuid.writes) < len(wrong_id.writes)  # no time request after a refusal
    stranger = tuya.HostChannel(tuya.Credentials("wrong0key", "x", "y"))
    device = tuya.DeviceChannel(CREDENTIALS, tuya.DeviceIdentity(), SRAND)
    with pytest.raises(FrameError, match="wrong key"):
        device.receive(_pump(stranger.start(), tuya.Reassembler())[0])


@settings(max_examples=200)
@given(st.binary(max_size=400), st.lists(st.integers(0, 10_000), max_size=16))
def test_random_bytes_never_raise_in_the_reassembler(data: bytes, cuts: list[int]) -> None:
    reassembler = tuya.Reassembler()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in itertools.pairwise(points):
        for envelope in reassembler.feed(data[a:b]):
            with contextlib.suppress(ProtocolError):
                tuya.decrypt(envelope, SESSION)
    assert reassembler.buffered < tuya.MAX_MESSAGE + tuya.FRAGMENT_SIZE


@settings(max_examples=100)
@given(st.binary(max_size=300), st.lists(st.integers(0, 10_000), max_size=10))
def test_messages_survive_any_cut_of_the_stream(data: bytes, cuts: list[int]) -> None:
    channel = tuya.HostChannel(CREDENTIALS)
    channel.session_key = SESSION
    fragments = channel.seal(tuya.Code.DPS, data)[1] + channel.seal(tuya.Code.DEVICE_STATUS, b"")[1]
    stream = b"".join(fragments)
    reassembler = tuya.Reassembler()
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    envelopes = [m for a, b in itertools.pairwise(points) for m in reassembler.feed(stream[a:b])]
    decoded = [tuya.decrypt(e, SESSION) for e in envelopes]
    assert [(m.code, m.data) for m in decoded] == [
        (tuya.Code.DPS, data),
        (tuya.Code.DEVICE_STATUS, b""),
    ]


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_random_data_point_bytes_only_raise_frame_errors(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        points = tuya.decode_datapoints(data)
        assert tuya.encode_datapoints(points) is not None


def test_spec_tables_match_the_code() -> None:
    text = spec.PAGE.path.read_text(encoding="utf-8")
    assert spec.PAGE.update(text) == text, "run: python -m massager_protocols.tuya.spec --write"
    tampered = text.replace("| `seq` | u32 BE |", "| `seq` | u16 BE |", 1)
    assert tampered != text and spec.PAGE.update(tampered) != tampered
