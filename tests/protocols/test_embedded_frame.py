"""Section 2.1, rule 5: a frame inside an incomplete candidate is never taken.

Fed one byte at a time, a receiver sees the KEEPALIVE embedded in an upload's
payload complete before the upload does; it must still take the upload only.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from massager_protocols.nmp import (
    MAX_FRAME,
    Ack,
    Frame,
    GetStatus,
    SetHeat,
    SetOutput,
    Status,
    StreamDecoder,
    Waveform,
    decode_frame,
    encode,
)
from massager_simulator import SimulatedDevice

from tests.protocols.embedded import embedded_upload
from tests.simulator.nmp_host import NmpHost, virtual


def one_byte_at_a_time(data: bytes, decoder: StreamDecoder | None = None) -> list[Frame]:
    decoder = decoder or StreamDecoder()
    frames: list[Frame] = []
    for byte in data:
        frames += decoder.feed(bytes([byte]))
    return frames


def test_the_decoder_fed_byte_by_byte_takes_the_upload_not_the_keepalive_inside() -> None:
    case = embedded_upload()
    frames = one_byte_at_a_time(case.frame)
    assert frames == [decode_frame(case.frame)]
    assert frames[0].message() == case.upload


def test_when_the_outer_frame_fails_its_crc_the_frame_inside_is_taken() -> None:
    case = embedded_upload()
    broken = bytearray(case.frame)
    broken[-1] ^= 0xFF
    frames = one_byte_at_a_time(bytes(broken))
    assert frames == [decode_frame(case.keepalive_frame)]


def test_the_simulator_fed_byte_by_byte_acknowledges_the_upload_and_nothing_else() -> None:
    case = embedded_upload(upload_seq=7, slot=1)

    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            host = NmpHost(device.connect())
            # Every byte is its own write: the device's receiver sees the
            # embedded KEEPALIVE complete before the upload does.
            reply = await host.send_frame(case.frame, case.upload_seq, chunk=1)
            assert reply == Ack(case.upload.TYPE)
            # The pattern was stored: a SET_OUTPUT may play slot 1.
            assert await host.request(SetOutput(0b1, 3, Waveform.PATTERN, 1)) == Ack(0x03)
            status = await host.request(GetStatus())
            assert isinstance(status, Status)
            await host.close()
            # Everything the device sent, replies and telemetry alike.
            sent = StreamDecoder().feed(b"".join(host.chunks))
            seqs = [f.seq for f in sent if f.seq != 0]
            assert case.keepalive_seq not in seqs, "the embedded KEEPALIVE was answered"
            assert seqs.count(case.upload_seq) == 1

    virtual(scenario)


FRAMES = [
    encode(SetOutput(3, 4, 2, 0, 1500), 9),
    encode(SetHeat(400), 10),
    encode(Status.make(battery_pct=50, intensities=(1, 2)), 0),
    embedded_upload().frame,
    embedded_upload().keepalive_frame,
]
PIECES = st.one_of(
    st.sampled_from(FRAMES),
    st.binary(max_size=40),
    st.sampled_from([b"\xa5", b"\xa5\x01", b"\xa5\x01\x00", b"\xa5\x01\x05\x01"]),
    st.sampled_from(FRAMES).map(lambda f: f[: len(f) // 2]),
)


@settings(max_examples=300)
@given(st.lists(PIECES, max_size=12), st.lists(st.integers(0, 10_000), max_size=20))
def test_the_frames_out_do_not_depend_on_how_the_stream_is_cut(
    pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces) + bytes(MAX_FRAME)
    chunked = StreamDecoder()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    frames: list[Frame] = []
    for a, b in itertools.pairwise(points):
        frames += chunked.feed(data[a:b])
    bytewise = StreamDecoder()
    assert frames == one_byte_at_a_time(data, bytewise)
    assert chunked.stats == bytewise.stats
