"""The runner waits on the event loop's timer: nothing it does blocks the loop."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from massager_simulator import load_model

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import DeviceStatus, Pattern, Waveform
from massager_sdk.programs import (
    ProgramRunner,
    SetIntensity,
    Stop,
    TimedCommand,
    compile_program,
    parse_program,
    sleep_until,
)
from massager_sdk.protocols.nmp import capabilities_from_info

REST = '[[stage]]\nname = "s"\n[[stage.step]]\ntechnique = "rest"\nduration = 1\n'


class Recorder:
    """A device that notes the loop time each command reaches it."""

    def __init__(self, caps: DeviceCapabilities) -> None:
        self.info = caps
        self.last_status: DeviceStatus | None = None
        self.calls: list[float] = []

    async def set_intensity(
        self,
        level: int,
        zone: int | list[int] | None = None,
        *,
        waveform: Waveform = Waveform.CONSTANT,
        period: float = 0.0,
    ) -> None:
        self.calls.append(asyncio.get_running_loop().time())

    async def play_pattern(
        self, pattern: Pattern, zone: Any = None, *, intensity: int, phase: float = 0.0
    ) -> None:
        self.calls.append(asyncio.get_running_loop().time())

    async def set_heat(self, target_c: float | None) -> None:
        return None

    async def stop(self) -> None:
        return None


@pytest.fixture
def blocking_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``time.sleep`` made while the test runs (the loop must make none)."""
    calls: list[float] = []
    real = time.sleep

    def recorded(seconds: float) -> None:
        calls.append(seconds)
        real(seconds)

    monkeypatch.setattr(time, "sleep", recorded)
    return calls


def test_a_runner_on_the_real_clock_sends_on_time_without_blocking(
    blocking_sleeps: list[float],
) -> None:
    caps = capabilities_from_info(load_model("heat4").info())
    base = compile_program(parse_program(REST, source="test"), caps)
    commands = [TimedCommand(k * 0.02, SetIntensity(1 + k % 2, (0,))) for k in range(10)]
    commands.append(TimedCommand(0.25, Stop()))
    compiled = dataclasses.replace(base, commands=tuple(commands))

    async def main() -> tuple[Recorder, ProgramRunner]:
        device = Recorder(caps)
        runner = ProgramRunner(device, compiled, progress_interval_s=10.0)
        await runner.run()
        return device, runner

    device, runner = asyncio.run(main())
    assert runner.state == "completed" and runner.origin is not None
    assert len(device.calls) == 10
    # Never before its time (the lateness is a benchmark's matter, not a test's).
    sent = zip(device.calls, commands[:10], strict=True)
    assert all(t >= runner.origin + c.at - 1e-7 for t, c in sent)
    assert blocking_sleeps == []


def test_sleep_until_on_the_real_clock_never_blocks(blocking_sleeps: list[float]) -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        missed = []
        for k in range(1, 6):
            deadline = start + k * 0.01
            await sleep_until(deadline)
            missed.append(deadline - loop.time())
        return missed

    assert all(early <= 1e-7 for early in asyncio.run(main()))
    assert blocking_sleeps == []


def test_spin_s_is_deprecated_and_ignored() -> None:
    caps = capabilities_from_info(load_model("heat4").info())
    compiled = compile_program(parse_program(REST, source="test"), caps)
    with pytest.warns(DeprecationWarning, match="spin_s is ignored"):
        ProgramRunner(Recorder(caps), compiled, spin_s=0.001)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.warns(DeprecationWarning, match="spin_s is ignored"):
            await sleep_until(loop.time() + 0.001, spin_s=0.001)

    asyncio.run(main())
