"""The runner plays programs on the simulator, on the virtual clock, through the real client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

from massager_sdk.client import Device, connect
from massager_sdk.programs import (
    CompiledProgram,
    ProgramError,
    ProgramRunner,
    Progress,
    builtin_names,
    compile_program,
    load_program,
    sleep_until,
)
from massager_sdk.safety import Contraindication, HealthProfile
from tests.programs.devices import NECK2_PLAIN

#: A level the timeline holds this long is what the device must show (rises ramp).
SETTLE_S = 4.0

Scenario = Callable[[Device, SimulatedDevice, ProgramRunner], Coroutine[Any, Any, Any]]


def settled(compiled: CompiledProgram, t: float) -> dict[str, Any]:
    """What the device must show at ``t``: each zone (and the heater) that held still."""
    timeline = compiled.timeline
    out: dict[str, Any] = {}
    for zone, changes in enumerate(timeline.outputs):
        if not any(t - SETTLE_S < c <= t for c, _ in changes):
            out[f"zone {zone}"] = timeline.level_at(zone, t)
    if not any(t - SETTLE_S < c <= t for c, _ in timeline.heat):
        out["heat"] = timeline.heat_at(t)
    return out


async def at_program_time(runner: ProgramRunner, t: float) -> None:
    """Wait until the running program reaches ``t`` seconds (it has started)."""
    assert runner.origin is not None
    await sleep_until(runner.origin + t)


def play(
    model: str,
    program: str,
    scenario: Scenario | None = None,
    **runner_options: Any,
) -> tuple[Progress, list[Progress], dict[str, Any]]:
    """Play ``program`` on a simulated ``model``; returns the last event, all events, extras."""
    extras: dict[str, Any] = {}
    events: list[Progress] = []

    async def main() -> Progress:
        sim = SimulatedDevice(model)
        async with connect("sim://", simulator=sim) as device:
            compiled = compile_program(load_program(program), device.info)
            runner = ProgramRunner(device, compiled, **runner_options)
            extras["compiled"] = compiled
            extras["sim"] = sim
            sides: list[asyncio.Task[Any]] = []

            def on_progress(event: Progress) -> None:
                events.append(event)
                if scenario is not None and not sides:  # started: runner.origin is set
                    sides.append(asyncio.create_task(scenario(device, sim, runner)))

            loop = asyncio.get_running_loop()
            start = loop.time()
            try:
                last = await runner.run(on_progress=on_progress)
            finally:
                extras["elapsed"] = loop.time() - start
                extras["after"] = (sim.commanded, sim.heat_target_c)
                for side in sides:
                    extras["side"] = await side
            return last

    return run_virtual(main), events, extras


@pytest.mark.parametrize("model", ["heat4", "neck2", "handheld"])
@pytest.mark.parametrize("program", builtin_names())
def test_built_ins_play_to_the_end_with_the_device_doing_what_the_timeline_says(
    model: str, program: str
) -> None:
    samples: list[dict[str, Any]] = []
    expected: list[dict[str, Any]] = []

    async def watch(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> None:
        compiled = runner.compiled
        for k in range(1, 100):
            t = compiled.duration_s * k / 100
            await at_program_time(runner, t)
            want = settled(compiled, t)
            device_now: dict[str, Any] = {
                f"zone {z}": level for z, level in enumerate(sim.commanded)
            }
            device_now["heat"] = sim.heat_target_c
            samples.append({key: device_now[key] for key in want})
            expected.append(want)

    last, events, extras = play(model, program, watch)
    compiled = extras["compiled"]
    assert last.state == "completed"
    assert last.elapsed_s == compiled.duration_s and last.remaining_s == 0
    # On the virtual clock the program takes its own length, to the millisecond.
    assert extras["elapsed"] == pytest.approx(compiled.duration_s, abs=0.05)
    assert samples == expected
    assert sum(len(e) for e in expected) >= 100  # enough settled instants were compared
    assert any(v for e in expected for v in e.values())  # some of them with the motors on
    # Left stopped.
    assert extras["after"] == ((0,) * len(compiled.caps.zones), None)
    # Progress: every step reported, in order, with the device's battery or mains.
    assert [e.step_index for e in events] == sorted(e.step_index for e in events)
    assert {e.step_index for e in events} == set(range(len(compiled.timeline.spans)))
    assert events[0].state == "running" and events[0].elapsed_s == 0


def test_evening_heat_heats_the_pad_then_turns_it_off() -> None:
    readings: list[tuple[float | None, float | None]] = []

    async def watch(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> None:
        final = next(s for s in runner.compiled.timeline.spans if s.stage == "final")
        await at_program_time(runner, final.start_s - 1)
        readings.append((sim.heat_target_c, sim.temperature_c))
        await at_program_time(runner, final.start_s + 5)
        readings.append((sim.heat_target_c, sim.temperature_c))

    last, events, _ = play("heat4", "evening-heat", watch)
    assert last.state == "completed"
    (hot_target, hot), (cool_target, _) = readings
    assert hot_target == 40.0
    assert hot is not None and 38.0 <= hot <= 41.0
    assert cool_target is None
    assert any(e.heat_target_c == 40.0 and e.temperature_c for e in events)


def test_pause_holds_the_program_and_stops_the_device_then_resume_goes_on() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        await at_program_time(runner, 100)
        runner.pause()
        await asyncio.sleep(1)
        during = sim.commanded, runner.progress()
        await asyncio.sleep(59)
        runner.resume()
        return during

    last, events, extras = play("heat4", "office-break", scenario)
    commanded, paused = extras["side"]
    assert commanded == (0, 0, 0, 0)
    assert paused.state == "paused"
    assert paused.elapsed_s == pytest.approx(100, abs=0.05)
    assert last.state == "completed"
    assert extras["elapsed"] == pytest.approx(300 + 60, abs=0.1)
    states = [e.state for e in events]
    assert states.index("paused") < len(states) - states[::-1].index("running") - 1


def test_resume_brings_the_device_back_to_where_the_program_was() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        # Vibration in office-break runs 255 s..300 s (45 s of flat patting).
        await at_program_time(runner, 260)
        runner.pause()
        await asyncio.sleep(10)
        runner.resume()
        await asyncio.sleep(SETTLE_S)
        return sim.commanded, runner.compiled.timeline.state_at(260 + SETTLE_S)[0]

    _, _, extras = play("heat4", "office-break", scenario)
    commanded, outputs = extras["side"]
    assert commanded == tuple(o.level for o in outputs)
    assert any(commanded)


def test_skip_jumps_to_the_next_step() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        await at_program_time(runner, 10)
        runner.skip()

    last, events, extras = play("heat4", "office-break", scenario)
    assert last.state == "completed"
    assert extras["elapsed"] == pytest.approx(300 - 50, abs=0.1)  # the first step is 60 s
    # (An event at 10 s itself may come just before the skip, in the same instant.)
    after = [e for e in events if e.elapsed_s > 10]
    assert after[0].step_index == 1 and after[0].elapsed_s == 60


def test_stop_ends_the_run_and_leaves_the_device_stopped() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        await at_program_time(runner, 70)
        runner.stop("enough")

    last, _, extras = play("heat4", "office-break", scenario)
    assert last.state == "stopped" and last.reason == "enough"
    assert last.elapsed_s == pytest.approx(70, abs=0.05)
    assert extras["after"] == ((0, 0, 0, 0), None)
    assert extras["elapsed"] == pytest.approx(70, abs=0.1)


def test_the_device_button_stops_the_program() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        await at_program_time(runner, 30)
        sim.press_button()

    last, _, extras = play("heat4", "office-break", scenario)
    assert last.state == "stopped"
    assert "button" in last.reason
    assert extras["after"] == ((0, 0, 0, 0), None)
    assert extras["elapsed"] < 31


def test_a_lost_link_pauses_the_program_until_the_client_restores_it() -> None:
    async def scenario(device: Device, sim: SimulatedDevice, runner: ProgramRunner) -> Any:
        await at_program_time(runner, 120)
        sim.drop_links()

    last, events, extras = play("heat4", "office-break", scenario)
    assert last.state == "completed"
    lost = [e for e in events if e.state == "paused"]
    assert lost and lost[0].reason == "link lost"
    assert lost[0].elapsed_s == pytest.approx(120, abs=0.5)
    later = events[events.index(lost[0]) + 1 :]
    assert later[0].state == "running"
    # The program clock stood still while the link was down, then went on from there.
    assert later[0].elapsed_s == pytest.approx(lost[0].elapsed_s, abs=0.01)
    assert extras["elapsed"] >= 300


def test_cancelling_the_run_stops_the_device() -> None:
    async def main() -> tuple[tuple[int, ...], Progress]:
        sim = SimulatedDevice("heat4")
        async with connect("sim://", simulator=sim) as device:
            runner = ProgramRunner(device, compile_program(load_program("classic"), device.info))
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(300)
            assert any(sim.commanded)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.5)
            return sim.commanded, runner.progress()

    commanded, progress = run_virtual(main)
    assert commanded == (0, 0, 0, 0)
    assert progress.state == "stopped" and progress.reason == "cancelled"
    assert progress.elapsed_s == pytest.approx(300, abs=0.05)


def test_progress_events_are_json() -> None:
    _, events, _ = play("neck2", "office-break", progress_interval_s=30.0)
    decoded = json.loads(json.dumps([e.to_dict() for e in events]))
    assert decoded[-1]["state"] == "completed"
    assert decoded[-1]["program"] == "office-break"
    assert set(decoded[0]) >= {
        "stage",
        "step",
        "technique",
        "elapsed_s",
        "remaining_s",
        "intensities",
        "heat_target_c",
        "temperature_c",
        "battery_pct",
    }
    assert any(e["battery_pct"] is not None for e in decoded)
    # Ticks every 30 s of program time, besides the step changes.
    ticks = [e for e in decoded if e["elapsed_s"] % 30 == 0 and 0 < e["elapsed_s"] < 300]
    assert len(ticks) >= 9


def test_a_program_compiled_for_another_device_is_refused() -> None:
    async def main() -> None:
        async with connect("sim://heat4") as device:
            compiled = compile_program(load_program("classic"), NECK2_PLAIN)
            with pytest.raises(ProgramError, match=r"compiled for plain neck 2.*2 zones, not 4"):
                ProgramRunner(device, compiled)

    run_virtual(main)


def test_sleep_until_lands_on_the_deadline_on_the_virtual_clock() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        out = []
        for k in range(1, 6):
            await sleep_until(start + k * 0.3)
            out.append(loop.time() - start)
        return out

    assert run_virtual(main) == pytest.approx([0.3, 0.6, 0.9, 1.2, 1.5], abs=1e-9)


def test_a_screening_profile_caps_the_program_and_keeps_the_heat_off() -> None:
    # Varicose veins: no heat, every zone at most half of the device's steps.
    profile = HealthProfile(frozenset({Contraindication.VARICOSE_VEINS}), acknowledged=True)
    seen: list[tuple[tuple[int, ...], float | None]] = []
    events: list[Progress] = []

    async def main() -> Progress:
        sim = SimulatedDevice("heat4")
        async with connect("sim://", simulator=sim, health_profile=profile) as device:
            compiled = compile_program(load_program("evening-heat"), device.info)
            runner = ProgramRunner(device, compiled)
            assert any("levels held to 5 of 10" in n for n in runner.compiled.notes)

            async def watch() -> None:
                while runner.state in ("ready", "running"):
                    seen.append((sim.commanded, sim.heat_target_c))
                    await asyncio.sleep(1)

            watcher = asyncio.create_task(watch())
            last = await runner.run(on_progress=events.append)
            await watcher
            return last

    last = run_virtual(main)
    assert last.state == "completed"
    assert len(seen) > 600
    assert all(max(levels) <= 5 and heat is None for levels, heat in seen)
    assert any(max(levels) == 5 for levels, _ in seen)
    assert any(e.reason.startswith("heat refused") for e in events)
    assert all(e.heat_target_c is None for e in events)
