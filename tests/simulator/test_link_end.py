"""The in-process link: bounded byte streams with an optional MTU."""

from __future__ import annotations

import asyncio

import pytest
from massager_protocols.nmp import (
    Ack,
    GetInfo,
    Info,
    Keepalive,
    MsgType,
    SetOutput,
    StreamDecoder,
    encode,
)
from massager_simulator import SimulatedDevice
from massager_simulator.link import LINK_BUFFER

from tests.simulator.nmp_host import NmpHost, virtual


def test_an_mtu_limits_writes_and_cuts_what_the_device_sends() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            link = device.connect(mtu=20)
            assert link.mtu == 20
            with pytest.raises(ValueError, match="exceeds the link MTU of 20"):
                await link.write(bytes(21))
            host = NmpHost(link)
            info = await host.request(GetInfo())
            assert isinstance(info, Info)
            assert len(host.chunks) > 1 and max(len(c) for c in host.chunks) == 20
            await host.close()

    virtual(scenario)


def test_close_is_idempotent_and_both_directions_then_raise() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            link = device.connect()
            assert not link.is_closed and device.link_count == 1
            link.close()
            link.close()
            assert link.is_closed and device.link_count == 0
            with pytest.raises(ConnectionResetError):
                await link.write(encode(Keepalive(), 1))
            with pytest.raises(ConnectionResetError):
                await link.read()

    virtual(scenario)


def test_stopping_the_device_ends_its_links() -> None:
    async def scenario() -> None:
        device = SimulatedDevice("neck2")
        await device.start()
        link = device.connect()
        reader = asyncio.ensure_future(link.read())
        await asyncio.sleep(0)
        await device.stop()
        with pytest.raises(ConnectionResetError):
            await reader
        assert link.is_closed and not device.running

    virtual(scenario)


def test_one_reader_at_a_time() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("neck2") as device:
            link = device.connect()
            first = asyncio.ensure_future(link.read())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already reading"):
                await link.read()
            first.cancel()
            link.close()

    virtual(scenario)


def test_an_unread_link_drops_beyond_its_bound_instead_of_growing() -> None:
    async def scenario() -> None:
        async with SimulatedDevice("heat4") as device:
            link = device.connect()
            frame = encode(GetInfo(), 1)
            replies = LINK_BUFFER // 100 + 50  # INFO is about 100 bytes: well past the bound
            for _ in range(replies):
                await link.write(frame)
            assert link.dropped > 0
            # What was kept is whole frames, in order.
            decoder = StreamDecoder()
            kept = 0
            while True:
                try:
                    chunk = await asyncio.wait_for(link.read(), 0.01)
                except TimeoutError:
                    break
                kept += len(decoder.feed(chunk))
            assert 0 < kept < replies and decoder.stats.crc_errors == 0
            link.close()

    virtual(scenario)


def test_connect_outside_an_event_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="runs on an asyncio event loop"):
        SimulatedDevice("neck2").connect()


def test_connect_starts_a_device_that_was_not_started() -> None:
    async def scenario() -> None:
        device = SimulatedDevice("neck2")
        host = NmpHost(device.connect())
        assert device.running
        assert await host.request(SetOutput(0b1, 1)) == Ack(MsgType.SET_OUTPUT)
        await host.close()
        await device.stop()

    virtual(scenario)


def test_a_device_can_be_used_again_under_a_new_event_loop() -> None:
    device = SimulatedDevice("neck2")

    async def session() -> object:
        host = NmpHost(device.connect())
        reply = await host.request(SetOutput(0b1, 2))
        await asyncio.sleep(1)
        return reply

    # The first loop ends without stopping the device; the second one starts it afresh.
    assert virtual(session) == Ack(MsgType.SET_OUTPUT)
    assert virtual(session) == Ack(MsgType.SET_OUTPUT)
    assert device.link_count == 1
