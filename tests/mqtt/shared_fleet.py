"""Simulated devices on TCP that several bridge processes can reach, counting links.

    python -m tests.mqtt.shared_fleet COUNT

prints ``{"ports": [PORT, ...]}`` on its first line, serves until SIGTERM, then
prints ``{"most_links": [N, ...], "links": [N, ...]}``: for each device the most
links it ever had open at once (a host connecting takes control of a device, so
more than one means two hosts drove it) and how many it was opened in all.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from massager_simulator import Fleet, SimulatedDevice
from massager_simulator.link import Carrier, Port


def _count_links(device: SimulatedDevice, most: list[int], opened: list[int], i: int) -> None:
    open_port = device.open_port

    def counting(carrier: Carrier, name: str) -> Port:
        port = open_port(carrier, name)
        opened[i] += 1
        most[i] = max(most[i], device.link_count)
        return port

    device.open_port = counting  # type: ignore[method-assign]


async def main(count: int) -> None:
    """Serve ``count`` heat4 devices until SIGTERM, then report their links."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    most, opened = [0] * count, [0] * count
    async with Fleet(count) as fleet:
        for i, device in enumerate(fleet):
            _count_links(device, most, opened, i)
        ports = await fleet.serve_tcp()
        print(json.dumps({"ports": [ports[d.address or ""] for d in fleet]}), flush=True)
        await stop.wait()
    print(json.dumps({"most_links": most, "links": opened}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
