"""Fault injection: every fault has the effect it names, reproducibly from its seed."""

from __future__ import annotations

import asyncio

import pytest
from massager_protocols.nmp import (
    Ack,
    Keepalive,
    MsgType,
    Nack,
    NackCode,
    SetOutput,
    StreamDecoder,
    encode,
)
from massager_simulator import FaultConfig, SimulatedDevice

from tests.simulator.nmp_host import NmpHost, virtual


async def burst(
    faults: FaultConfig, count: int = 200, gap_s: float = 0.05, model: str = "neck2"
) -> NmpHost:
    """Send ``count`` keepalives ``gap_s`` apart through ``faults``; return the host."""
    device = SimulatedDevice(model, faults=faults)
    await device.start()
    host = NmpHost(device.connect())
    for _ in range(count):
        await host.link.write(encode(Keepalive(), host.next_seq()))
        if gap_s:
            await asyncio.sleep(gap_s)
    await asyncio.sleep(1.0)
    await host.close()
    await device.stop()
    return host


def replies(host: NmpHost) -> list[tuple[int, int]]:
    """(seq, type) of every frame the host decoded, from its raw chunks."""
    decoder = StreamDecoder()
    return [(f.seq, f.msg_type) for chunk in host.chunks for f in decoder.feed(chunk)]


def test_corruption_breaks_some_frames_both_ways_and_is_reproducible() -> None:
    faults = FaultConfig(corrupt=0.01, seed=3)
    first = virtual(lambda: burst(faults))
    again = virtual(lambda: burst(faults))
    other = virtual(lambda: burst(faults.replace(seed=4)))
    assert first.chunks == again.chunks
    assert first.chunks != other.chunks
    # Device to host: the host's decoder rejects some frames.
    assert first.decoder.stats.crc_errors > 0
    # Host to device: the device answers some requests NACK BAD_CRC.
    frames = replies(first)
    bad_crc = Nack(MsgType.KEEPALIVE, NackCode.BAD_CRC).encode_payload()
    assert any(bad_crc in chunk for chunk in first.chunks)
    acked = [f for f in frames if f[1] == MsgType.ACK]
    assert len(acked) > 100  # most get through


def test_delay_adds_latency_each_way() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("neck2", faults=FaultConfig(delay_ms=120)) as device:
            host = NmpHost(device.connect())
            sent = loop.time()
            assert await host.request(Keepalive()) == Ack(MsgType.KEEPALIVE)
            rtt = loop.time() - sent
            await host.close()
            return rtt

    assert virtual(scenario) == pytest.approx(0.240, abs=1e-3)


def test_reply_delay_holds_back_only_what_the_device_sends() -> None:
    async def scenario() -> tuple[float, tuple[int, ...]]:
        loop = asyncio.get_running_loop()
        faults = FaultConfig(reply_delay_ms=2000)
        async with SimulatedDevice("neck2", faults=faults) as device:
            host = NmpHost(device.connect())
            sent = loop.time()
            request = asyncio.ensure_future(host.request(SetOutput(0b11, 2)))
            await asyncio.sleep(0.1)
            heard = device.commanded  # the command reached the device at once
            assert await request == Ack(MsgType.SET_OUTPUT)
            rtt = loop.time() - sent
            await host.close()
            return rtt, heard

    rtt, heard = virtual(scenario)
    assert heard == (2, 2)
    assert rtt == pytest.approx(2.0, abs=1e-3)


def test_jitter_varies_latency_but_keeps_byte_order() -> None:
    async def scenario() -> tuple[list[int], list[float]]:
        loop = asyncio.get_running_loop()
        faults = FaultConfig(delay_ms=10, jitter_ms=80, seed=1)
        async with SimulatedDevice("neck2", faults=faults) as device:
            host = NmpHost(device.connect())
            rtts = []
            for _ in range(20):
                sent = loop.time()
                await host.request(Keepalive())
                rtts.append(loop.time() - sent)
            # A quick burst: replies come back in the order sent.
            for _ in range(30):
                await host.link.write(encode(Keepalive(), host.next_seq()))
            await asyncio.sleep(1)
            await host.close()
            seqs = [seq for seq, _ in replies(host)]
            return seqs, rtts

    seqs, rtts = virtual(scenario)
    assert seqs == sorted(seqs) and len(seqs) == 50
    assert min(rtts) >= 0.020 and max(rtts) <= 0.180
    assert max(rtts) - min(rtts) > 0.030


def test_split_cuts_chunks_and_merge_joins_them_without_losing_frames() -> None:
    split = virtual(lambda: burst(FaultConfig(split=1.0, seed=2), count=50))
    # Writes close together (here: all at once) are what a link merges.
    merged = virtual(lambda: burst(FaultConfig(merge=0.7, seed=2), count=50, gap_s=0))
    for host in (split, merged):
        assert [seq for seq, _ in replies(host)] == list(range(1, 51))
        assert host.decoder.stats.crc_errors == 0
    assert len(split.chunks) > 50
    assert len(merged.chunks) < 50
    assert max(len(c) for c in merged.chunks) > len(encode(Keepalive(), 1)) + 1


def test_drop_after_ends_the_link_on_time_and_the_device_stops() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("heat4", faults=FaultConfig(drop_after_s=5)) as device:
            start = loop.time()
            host = NmpHost(device.connect())
            await host.request(SetOutput(0b11, 5))
            with pytest.raises(ConnectionResetError):
                while True:
                    await asyncio.sleep(1)
                    await host.request(Keepalive())
            assert await host.closed == pytest.approx(start + 5)
            assert not device.is_on and device.link_count == 0
            with pytest.raises(ConnectionResetError):
                await host.link.write(encode(Keepalive(), 1))
            # A new link works until its own drop time.
            again = NmpHost(device.connect())
            assert await again.request(Keepalive()) == Ack(MsgType.KEEPALIVE)
            await again.close()

    virtual(scenario)


def test_drop_links_drops_every_link_now() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            links = [device.connect() for _ in range(3)]
            hosts = [NmpHost(link) for link in links]
            await hosts[0].request(SetOutput(0b1, 2))
            device.drop_links()
            for host, link in zip(hosts, links, strict=True):
                await host.closed
                assert link.is_closed
            assert not device.is_on

    virtual(scenario)


def test_busy_nacks_about_the_configured_fraction_reproducibly() -> None:
    async def scenario(seed: int) -> list[bool]:
        async with SimulatedDevice("neck2", faults=FaultConfig(busy=0.25, seed=seed)) as device:
            host = NmpHost(device.connect())
            outcomes = []
            for i in range(400):
                before = device.commanded
                reply = await host.request(SetOutput(0b1, i % 5 + 1))
                busy = reply == Nack(MsgType.SET_OUTPUT, NackCode.BUSY)
                assert busy or reply == Ack(MsgType.SET_OUTPUT)
                if busy:
                    assert device.commanded == before
                outcomes.append(busy)
            await host.close()
            return outcomes

    first = virtual(lambda: scenario(5))
    assert first == virtual(lambda: scenario(5))
    assert first != virtual(lambda: scenario(6))
    assert 0.18 <= sum(first) / len(first) <= 0.32


def test_faults_can_change_while_a_link_is_open() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with SimulatedDevice("neck2") as device:
            host = NmpHost(device.connect())
            sent = loop.time()
            await host.request(Keepalive())
            assert loop.time() == sent
            device.faults = FaultConfig(delay_ms=50)
            sent = loop.time()
            await host.request(Keepalive())
            assert loop.time() - sent == pytest.approx(0.1)
            device.inject(delay_ms=0)
            sent = loop.time()
            await host.request(Keepalive())
            assert loop.time() == sent
            await host.close()

    virtual(scenario)


def test_fault_config_parses_command_line_items() -> None:
    config = FaultConfig.parse(
        ["corrupt=0.01", "delay_ms=30", "drop-after-s=12.5", "sensor=stuck", "stuck_c=31",
         "heater_stuck_on=yes", "busy=0.1", "drain=20", "seed=9"]
    )  # fmt: skip
    assert config == FaultConfig(
        corrupt=0.01, delay_ms=30, drop_after_s=12.5, sensor="stuck", stuck_c=31.0,
        heater_stuck_on=True, busy=0.1, drain=20.0, seed=9,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("nonsense=1", "expected NAME=VALUE with NAME one of seed, drop_after_s"),
        ("corrupt", "expected NAME=VALUE"),
        ("corrupt=lots", "corrupt='lots': expected a number"),
        ("corrupt=1.5", "corrupt=1.5 must be a fraction in 0..1"),
        ("seed=x", "expected an integer"),
        ("sensor=melted", "accepted: ok, stuck, open, short"),
        ("heater_stuck_on=maybe", "expected true or false"),
        ("drain=0", "must be a positive multiplier"),
        ("delay_ms=-5", "must be >= 0"),
    ],
)
def test_fault_config_rejects_bad_items_saying_what_is_accepted(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        FaultConfig.parse([item])
