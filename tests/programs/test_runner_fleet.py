"""Many runners in one event loop (a bridge): commands first, progress after.

Runners whose deadlines fall together wake together; each issues its command
before any of them reports the step it entered (and the state a bridge then
publishes), so a runner's command never waits for the others' bookkeeping.
"""

from __future__ import annotations

import asyncio
from typing import Any

from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

from massager_sdk.client import Device, connect
from massager_sdk.programs import ProgramRunner, Progress, compile_program, load_program


class Logged:
    """A device client that notes each command in a shared log before passing it on."""

    def __init__(self, device: Device, name: str, log: list[tuple[float, str, str]]) -> None:
        self._device = device
        self._name = name
        self._log = log

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._device, attribute)

    def _note(self) -> None:
        self._log.append((asyncio.get_running_loop().time(), self._name, "command"))

    async def set_intensity(self, *args: Any, **kwargs: Any) -> None:
        self._note()
        await self._device.set_intensity(*args, **kwargs)

    async def play_pattern(self, *args: Any, **kwargs: Any) -> None:
        self._note()
        await self._device.play_pattern(*args, **kwargs)

    async def set_heat(self, target_c: float | None) -> None:
        self._note()
        await self._device.set_heat(target_c)


def test_runners_due_together_issue_their_commands_before_reporting_the_new_step() -> None:
    log: list[tuple[float, str, str]] = []
    origins: list[float | None] = []

    async def main() -> None:
        async with (
            connect("sim://", simulator=SimulatedDevice("heat4")) as a,
            connect("sim://", simulator=SimulatedDevice("heat4")) as b,
        ):
            compiled = compile_program(load_program("classic"), a.info)
            runners = [
                ProgramRunner(Logged(device, name, log), compiled)
                for device, name in ((a, "a"), (b, "b"))
            ]

            def reporter(name: str) -> Any:
                def on_progress(event: Progress) -> None:
                    now = asyncio.get_running_loop().time()
                    log.append((now, name, f"step {event.step_index}"))

                return on_progress

            plays = [
                asyncio.ensure_future(runner.run(on_progress=reporter(name)))
                for runner, name in zip(runners, "ab", strict=True)
            ]
            await asyncio.sleep(compiled.timeline.spans[2].start_s + 1)
            origins.extend(runner.origin for runner in runners)
            for runner in runners:
                runner.stop()
            await asyncio.gather(*plays)

    run_virtual(main)
    assert origins[0] == origins[1]  # both programs play on the same deadlines
    # At every instant, each runner's command comes before any report of a step entered.
    instants: dict[float, list[tuple[str, str]]] = {}
    for t, who, what in log:
        instants.setdefault(t, []).append((who, what))
    together = 0
    for entries in instants.values():
        commands = [i for i, (_, what) in enumerate(entries) if what == "command"]
        steps = [i for i, (_, what) in enumerate(entries) if what.startswith("step")]
        if commands and steps:
            assert max(commands) < min(steps), entries
            if {entries[i][0] for i in commands} == {"a", "b"}:
                together += 1
    assert together > 0, "no instant where both runners issued a command and reported a step"
