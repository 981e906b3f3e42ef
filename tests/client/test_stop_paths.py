"""Every way out of a session leaves the device stopped, STOP_ALL first.

Each case keeps a second link open to the simulator, so the device does not
stop merely because the client's link closes: what stops it is the client.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from massager_simulator import SimulatedDevice, serve_tcp
from massager_simulator.clock import run_virtual

import massager_sdk
from tests.client.rig import FAST_RAMP, PROTOCOL_MODELS, PROTOCOLS

ROOT = Path(__file__).resolve().parents[2]


class Boom(Exception):
    pass


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_exception_in_the_block_stops_the_device(protocol: str) -> None:
    async def scenario() -> None:
        sim = SimulatedDevice(PROTOCOL_MODELS[protocol])
        observer = sim.connect()
        url = f"sim://{sim.model.name}"
        with pytest.raises(Boom):
            async with massager_sdk.connect(url, simulator=sim, limits=FAST_RAMP) as device:
                await device.set_intensity(3)
                if device.info.heat is not None:
                    await device.set_heat(40.0)
                await device.flush()
                assert sim.is_on
                raise Boom
        assert not sim.is_on
        assert sim.commanded == (0,) * len(sim.model.zones)
        assert sim.heat_target_c is None
        observer.close()
        await sim.stop()

    run_virtual(scenario)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("cancels", [1, 3])
def test_cancelling_the_task_stops_the_device(cancels: int, protocol: str) -> None:
    async def scenario() -> None:
        sim = SimulatedDevice(PROTOCOL_MODELS[protocol])
        observer = sim.connect()
        running = asyncio.Event()
        url = f"sim://{sim.model.name}"

        async def session() -> None:
            async with massager_sdk.connect(url, simulator=sim, limits=FAST_RAMP) as device:
                await device.set_intensity(4)
                await device.flush()
                running.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(session())
        await running.wait()
        assert sim.is_on
        for _ in range(cancels):  # cancelled again while it is stopping: it still stops
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sim.is_on
        assert sim.commanded == (0,) * len(sim.model.zones)
        observer.close()
        await sim.stop()

    run_virtual(scenario)


def test_closing_twice_and_using_a_closed_device_are_clear() -> None:
    async def scenario() -> None:
        device = massager_sdk.connect()
        async with device:
            await device.set_intensity(1)
        await device.close()
        with pytest.raises(massager_sdk.ConnectionFailed, match="closed"):
            await device.set_intensity(1)
        with pytest.raises(RuntimeError, match="connect"):
            await device.open()

    run_virtual(scenario)


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import massager_sdk
    from massager_sdk.safety import SafetyLimits

    async def main(url: str) -> None:
        limits = SafetyLimits(ramp_s=0.5, ramp_interval_s=0.05, overrides=frozenset({"ramp_s"}))
        async with massager_sdk.connect(url, limits=limits, install_signal_handlers=True) as dev:
            await dev.set_intensity(3)
            await dev.set_heat(40.0)
            await dev.flush()
            print("running", flush=True)
            await asyncio.sleep(60)
        print("not reached", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_device_in_another_process(signum: signal.Signals) -> None:
    sim = SimulatedDevice("heat4")
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    observer = sim.connect()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        f"tcp://127.0.0.1:{port}",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(30):
            line = await child.stdout.readline()
        assert line == b"running\n", line
        assert sim.commanded == (3, 3, 3, 3)
        assert sim.heat_target_c == 40.0
        child.send_signal(signum)
        async with asyncio.timeout(30):
            out, err = await child.communicate()
        assert b"not reached" not in out
        if signum == signal.SIGTERM:
            assert child.returncode == 128 + signal.SIGTERM, err.decode()
        else:
            assert child.returncode != 0
            assert b"KeyboardInterrupt" in err or child.returncode == -signal.SIGINT
        assert sim.commanded == (0, 0, 0, 0)
        assert sim.heat_target_c is None
        assert not sim.is_on
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        observer.close()
        server.close()
        await sim.stop()


def test_closing_ends_even_when_the_session_task_loses_a_cancellation() -> None:
    # On Python 3.11 a timeout that expires as the cancellation arrives swallows it; the
    # session task then carries on, and closing used to wait for it for ever.
    async def scenario() -> None:
        sim = SimulatedDevice("heat4")
        observer = sim.connect()
        device = massager_sdk.connect("sim://heat4", simulator=sim, limits=FAST_RAMP)
        await device.open()
        await device.set_intensity(3)
        await device.flush()
        engine = device._task
        assert engine is not None
        cancels: list[int] = []

        async def loses_the_first() -> None:
            while True:
                try:
                    await asyncio.shield(engine)
                    return
                except asyncio.CancelledError:
                    cancels.append(1)
                    if len(cancels) > 1:
                        engine.cancel()
                        raise

        device._task = asyncio.get_running_loop().create_task(loses_the_first())
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.wait_for(device.close(), 10)
        # Cancelled again half a second later (virtual time), not left waiting.
        assert loop.time() - start < 1.0
        assert len(cancels) == 2 and device._task is None
        assert sim.commanded == (0, 0, 0, 0)
        observer.close()
        await sim.stop()

    run_virtual(scenario)
