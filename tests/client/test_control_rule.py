"""NMP/1 7.7 on the simulator: one link controls; a monitor never keeps a device alive.

The controlling host is a raw NMP/1 link (it can fall silent as a frozen
process does); the other host is the SDK's own ``control=False`` monitor or a
second raw link. The device's true state is read from the simulator.
"""

from __future__ import annotations

import asyncio

from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    Fault,
    Message,
    Nack,
    NackCode,
    SetHeat,
    SetOutput,
    StopAll,
    StreamDecoder,
    encode,
)
from massager_simulator import LinkEnd, SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.model import EventKind


class RawHost:
    """A host speaking raw NMP/1 over an in-process link."""

    def __init__(self, sim: SimulatedDevice) -> None:
        self.link: LinkEnd = sim.connect()
        self.decoder = StreamDecoder()
        self.seq = 0
        self.received: list[Message] = []

    async def request(self, message: Message) -> Message:
        self.seq += 1
        await self.link.write(encode(message, self.seq))
        while True:
            for frame in self.decoder.feed(await self.link.read()):
                reply = frame.message()
                self.received.append(reply)
                if frame.seq == self.seq:
                    return reply

    async def drain(self) -> None:
        """Take in what the device sent so far."""
        while True:
            try:
                chunk = await asyncio.wait_for(self.link.read(), 0.05)
            except TimeoutError:
                return
            self.received.extend(f.message() for f in self.decoder.feed(chunk))

    def events(self) -> list[int]:
        return [m.code for m in self.received if isinstance(m, Event)]


def test_a_monitor_polling_status_does_not_keep_a_silent_hosts_device_on() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host = RawHost(sim)
            assert await host.request(SetOutput(0b1111, 4, 0, 0, 0)) == Ack(SetOutput.TYPE)
            assert await host.request(SetHeat(400)) == Ack(SetHeat.TYPE)
            # The host freezes; a monitor polls STATUS twice a second.
            async with massager_sdk.connect("sim://heat4", simulator=sim, control=False) as mon:
                for _ in range(10):
                    await mon.status()
                    await asyncio.sleep(0.5)
                assert not sim.is_on and sim.heat_target_c is None
                assert sim.fault_flags & Fault.WATCHDOG
                assert EventCode.WATCHDOG_STOP in [e.code for _, e in sim.event_log]
            host.link.close()

    run_virtual(main)


def test_a_second_link_is_refused_control_and_its_stop_reaches_the_controlling_one() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            first, second = RawHost(sim), RawHost(sim)
            assert await first.request(SetOutput(0b1, 3, 0, 0, 0)) == Ack(SetOutput.TYPE)
            refused = await second.request(SetOutput(0b1, 9, 0, 0, 0))
            assert refused == Nack(SetOutput.TYPE, NackCode.BUSY)
            assert sim.commanded == (3, 0, 0, 0)
            assert await second.request(StopAll()) == Ack(StopAll.TYPE)
            assert not sim.is_on
            await first.drain()
            assert EventCode.LINK_STOP in first.events()
            # With everything off, control is free: the second link may take it.
            assert await second.request(SetOutput(0b1, 2, 0, 0, 0)) == Ack(SetOutput.TYPE)
            assert await first.request(SetHeat(400)) == Nack(SetHeat.TYPE, NackCode.BUSY)
            first.link.close()
            second.link.close()

    run_virtual(main)


def test_another_hosts_stop_reaches_the_sdk_host_which_does_not_switch_back_on() -> None:
    async def main() -> None:
        sim = SimulatedDevice("heat4")
        async with sim, massager_sdk.connect("sim://heat4", simulator=sim) as device:
            kinds: list[EventKind] = []
            device.on_event(lambda event: kinds.append(event.kind))
            await device.set_intensity(3)
            await device.flush()
            assert sim.commanded == (3, 3, 3, 3)
            other = RawHost(sim)
            assert await other.request(StopAll()) == Ack(StopAll.TYPE)
            await asyncio.sleep(5.0)  # several keepalive and resync rounds
            assert EventKind.LINK_STOP in kinds
            assert sim.commanded == (0, 0, 0, 0)
            # Nor after the link drops and is regained (outputs are restored then).
            sim.drop_links()
            await asyncio.sleep(5.0)
            assert device.connected
            assert sim.commanded == (0, 0, 0, 0)

    run_virtual(main)


def test_losing_the_controlling_link_stops_the_device_though_a_monitor_stays() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            host, watcher = RawHost(sim), RawHost(sim)
            assert await host.request(SetOutput(0b1, 3, 0, 0, 0)) == Ack(SetOutput.TYPE)
            host.link.close()
            await asyncio.sleep(0)
            assert not sim.is_on
            assert not sim.fault_flags & Fault.WATCHDOG  # stopped at once, not by the watchdog
            watcher.link.close()

    run_virtual(main)
