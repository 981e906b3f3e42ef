"""A link whose replies arrive late: late acknowledgements count, and a link too slow
for the device's watchdog ends the session with the device stopped.

The device is the simulator, its replies delayed by its own link faults; what it
really runs is read from the simulator itself.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from massager_simulator import FaultConfig, SimulatedDevice, serve_tcp
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.errors import LinkTooSlow
from massager_sdk.model import Waveform
from massager_sdk.protocols import Reply, SetZones
from massager_sdk.protocols.nmp import NmpAdapter
from massager_sdk.safety import HealthProfile
from massager_sdk.session.requester import Requester, SessionStats
from massager_sdk.transports.sim import SimTransport

MASSAGER = Path(sys.executable).with_name("massager")
#: Every reply 1.5 s late, plus up to 0.5 s jitter each way: round trips of 1.5-2.5 s.
SLOW = FaultConfig(reply_delay_ms=1500, jitter_ms=500, seed=3)
PERSON = HealthProfile(acknowledged=True)


def is_off(sim: SimulatedDevice) -> bool:
    return not any(sim.commanded) and sim.heat_target_c is None


def test_an_answer_to_a_request_given_up_on_still_reaches_it() -> None:
    async def main() -> tuple[Reply | None, list[Reply], tuple[int, ...], int]:
        sim = SimulatedDevice("heat4", faults=FaultConfig(delay_ms=300))
        transport = SimTransport(simulator=sim)
        adapter = NmpAdapter()
        requester = Requester(transport, adapter, SessionStats(), timeout=0.1, retries=2)

        def on_data(data: bytes) -> None:
            for item in adapter.feed(data, asyncio.get_running_loop().time()):
                if isinstance(item, Reply):
                    requester.resolve(item)

        transport.set_receiver(on_data, lambda exc: None)
        await transport.connect()
        tries: list[int] = []
        late: list[Reply] = []

        def first_try_only() -> bool:  # as when the host stops trusting the device's state
            tries.append(1)
            return len(tries) == 1

        command = SetZones((0, 1), 2, Waveform.CONSTANT, 0.0, None, 0.0)
        reply = await requester.request(command, still_wanted=first_try_only, on_late=late.append)
        given_up = list(late)
        await asyncio.sleep(1.0)
        levels = sim.commanded
        await transport.close()
        await sim.stop()
        return reply, given_up + late, levels, len(requester.round_trips)

    reply, late, levels, trips = run_virtual(main)
    assert reply is None  # withdrawn before its second try
    assert len(late) == 1 and late[0].ok  # the first try's answer came after all
    assert levels[:2] == (2, 2)  # and the device does run it
    assert trips == 1  # its round trip was measured


def test_a_link_too_slow_for_the_watchdog_stops_the_device_and_says_so() -> None:
    async def main() -> tuple[str, bool, bool]:
        sim = SimulatedDevice("heat4", faults=SLOW)
        async with massager_sdk.connect("sim://", simulator=sim, health_profile=PERSON) as device:
            await device.set_intensity(3)
            await device.set_heat(40)
            with pytest.raises(LinkTooSlow) as caught:
                async with asyncio.timeout(60):  # only a broken build hangs
                    await device.flush()
            await asyncio.sleep(3.0)  # anything still in flight has landed
            off = is_off(sim)
            with pytest.raises(LinkTooSlow):
                await device.set_intensity(1)
        return str(caught.value), off, is_off(sim)

    message, off, still_off = run_virtual(main)
    assert "too slow" in message and "round trip" in message
    assert "after 3 s without a frame" in message  # heat4's watchdog
    assert off and still_off


async def run_set(port: int, profile: Path, duration: str) -> tuple[int, str, float]:
    """``massager set`` in its own process: exit code, stderr and how long it took."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        str(MASSAGER),
        "set",
        "-d",
        f"tcp://127.0.0.1:{port}",
        "--intensity",
        "3",
        "--heat",
        "40",
        "--for",
        duration,
        "--health-profile",
        str(profile),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):  # only a broken build hangs
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode(), time.monotonic() - started


@pytest.mark.parametrize("duration", ["4s", "60s"])
async def test_set_on_a_slow_link_ends_in_time_with_the_device_stopped(
    tmp_path: Path, duration: str
) -> None:
    sim = SimulatedDevice("heat4", faults=SLOW)
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    profile = tmp_path / "profile.toml"
    profile.write_text("acknowledged = true\n")
    try:
        code, err, took = await run_set(port, profile, duration)
        await asyncio.sleep(3.0)  # a command still on its way has landed
        assert is_off(sim), err
        if duration == "4s":
            # Waiting for the confirmation is bounded by --for: over before the link is judged.
            assert code == 0, err
            assert took < 20
        else:
            # Judged too slow well before --for ends: said so, device stopped.
            assert code == 3, err
            assert "too slow for the device's watchdog" in err and "round trip" in err
            assert took < 45
    finally:
        server.close()
        await sim.stop()
