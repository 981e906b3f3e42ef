"""A device that stops on its own ends ``massager set`` and ``massager run`` at once,
with exit code 5 and one line saying why.

The CLI runs in its own process against a simulator served over TCP from this
one; the device's button is pressed on the simulator itself.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from massager_simulator import FaultConfig, SimulatedDevice, serve_tcp

MASSAGER = Path(sys.executable).with_name("massager")
STOPPED = 5  #: docs/cli.md: the device stopped on its own


async def until(predicate: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Wait in real time; the bound only keeps a broken case from hanging."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


VERBS = {
    "set": ["set", "--intensity", "2", "--for", "10m"],
    "run": ["run", "office-break"],
}


@pytest.mark.parametrize("verb", sorted(VERBS))
async def test_the_device_button_ends_the_verb_at_once_and_non_zero(
    tmp_path: Path, verb: str
) -> None:
    sim = SimulatedDevice("heat4")
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    profile = tmp_path / "profile.toml"
    profile.write_text("acknowledged = true\n")
    process = await asyncio.create_subprocess_exec(
        str(MASSAGER),
        *VERBS[verb],
        "-d",
        f"tcp://127.0.0.1:{port}",
        "--health-profile",
        str(profile),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await until(lambda: any(sim.commanded), "the first level on the device")
        sim.press_button()
        async with asyncio.timeout(15):  # at once, not when --for or the program ends
            out, err = await process.communicate()
        assert process.returncode == STOPPED, err.decode()
        lines = [line for line in err.decode().splitlines() if line.startswith("massager:")]
        assert lines == ["massager: NMP Heat 4 stopped on its own: button (BUTTON)"], err
        assert not any(sim.commanded) and sim.heat_target_c is None
        assert "device stopped" not in out.decode().splitlines()[-1:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        server.close()
        await sim.stop()


async def test_a_battery_shutdown_ends_set_non_zero(tmp_path: Path) -> None:
    sim = SimulatedDevice("heat4", faults=FaultConfig(drain=50000))
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    profile = tmp_path / "profile.toml"
    profile.write_text("acknowledged = true\n")
    process = await asyncio.create_subprocess_exec(
        str(MASSAGER),
        *VERBS["set"],
        "-d",
        f"tcp://127.0.0.1:{port}",
        "--health-profile",
        str(profile),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            _, err = await process.communicate()
        assert process.returncode == STOPPED, err.decode()
        assert "stopped on its own: shutdown" in err.decode()
        assert not any(sim.commanded)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        server.close()
        await sim.stop()
