"""The compiler: timelines within the device's limits, and command streams that fit the link."""

from __future__ import annotations

import itertools

import pytest
from massager_protocols.nmp import ZonePosition

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability
from massager_sdk.model import Waveform
from massager_sdk.programs import (
    SESSION_LIMIT_S,
    CompiledProgram,
    Emitter,
    Output,
    PlayPattern,
    SetHeat,
    SetIntensity,
    Stop,
    builtin_names,
    compile_program,
    load_program,
    parse_program,
)
from massager_sdk.programs.compiler import quantise
from massager_sdk.programs.techniques import Contour
from tests.programs.devices import (
    ALL_CAPS,
    HANDHELD_PLAIN,
    HEAT4,
    NECK2_PLAIN,
    WRAP6,
    make_caps,
    model_caps,
)

LEFT, RIGHT = ZonePosition.NECK_LEFT, ZonePosition.NECK_RIGHT


def one_step(step: str, *, heat: str = "") -> str:
    return f'{heat}\n[[stage]]\nname = "main"\n[[stage.step]]\n{step}\n'


def compiled_text(text: str, caps: DeviceCapabilities) -> CompiledProgram:
    return compile_program(parse_program(text, source="test.toml"), caps)


def replay(compiled: CompiledProgram, until: float) -> tuple[list[Output], float | None]:
    """The state the commands due by ``until`` leave the device in."""
    emitter = Emitter(len(compiled.caps.zones))
    for timed in compiled.commands:
        if timed.at > until:
            break
        emitter.record(timed.command, timed.at)
    return emitter.outputs, emitter.heat


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("device", sorted(ALL_CAPS))
def test_built_ins_compile_within_the_device_and_the_link(name: str, device: str) -> None:
    caps = ALL_CAPS[device]
    compiled = compile_program(load_program(name), caps)
    timeline = compiled.timeline
    assert timeline.duration_s == compiled.program.duration_s <= SESSION_LIMIT_S
    # Levels within the device's steps, heat within its presets and the policy's 42 C.
    for changes in timeline.outputs:
        assert changes[0] == (0.0, Output(0))
        assert all(0 <= out.level <= caps.intensity_steps for _, out in changes)
        assert changes[-1][1].level == 0
    for _, target in timeline.heat:
        if target is not None:
            assert caps.heat is not None
            assert target in caps.heat.targets_c and target <= 42
    # The stream: in time order, never closer than the link's minimum gap.
    times = [c.at for c in compiled.commands]
    assert times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= caps.min_gap_s - 1e-9
    # Only changes: every command changes every output it addresses.
    emitter = Emitter(len(caps.zones))
    for timed in compiled.commands[:-1]:
        command = timed.command
        before = list(emitter.outputs), emitter.heat
        emitter.record(command, timed.at)
        if isinstance(command, SetHeat):
            assert command.target_c != before[1]
        else:
            assert not isinstance(command, Stop)
            assert command.zones
            assert all(emitter.outputs[z] != before[0][z] for z in command.zones)
    # Patterns only where the device loops them, and small enough for it.
    for timed in compiled.commands:
        if isinstance(timed.command, PlayPattern):
            assert caps.supports_patterns
            assert len(timed.command.pattern.steps) <= caps.pattern_max_steps
            assert 0 <= timed.command.phase < 1
    # It ends with the device stopped, at the end of the program.
    assert compiled.commands[-1].command == Stop()
    assert compiled.commands[-1].at >= timeline.duration_s


@pytest.mark.parametrize("name", builtin_names())
def test_commands_reproduce_the_timeline_wherever_it_holds_still(name: str) -> None:
    compiled = compile_program(load_program(name), HEAT4)
    timeline = compiled.timeline
    changes = sorted(
        {t for zone in timeline.outputs for t, _ in zone} | {t for t, _ in timeline.heat}
    )
    checked = 0
    for k in range(400):
        t = timeline.duration_s * k / 400
        recent = [c for c in changes if t - 0.5 < c <= t]
        if recent:
            continue  # the link may still be catching up
        outputs, heat = replay(compiled, t)
        wanted, wanted_heat = timeline.state_at(t)
        assert outputs == wanted, t
        assert heat == wanted_heat, t
        checked += 1
    assert checked > 40


def test_compiling_is_deterministic() -> None:
    program = load_program("classic")
    first = compile_program(program, HEAT4)
    second = compile_program(load_program("classic"), HEAT4)
    assert first.timeline == second.timeline
    assert first.commands == second.commands
    assert first.notes == second.notes


def test_fast_rhythms_become_patterns_where_the_device_loops_them() -> None:
    compiled = compile_program(load_program("classic"), model_caps("heat4"))
    timeline = compiled.timeline
    vibration = next(s for s in timeline.spans if s.technique == "vibration")
    during = [c.command for c in compiled.commands if vibration.start_s <= c.at < vibration.end_s]
    patterns = [c for c in during if isinstance(c, PlayPattern)]
    assert patterns, "vibration is played as a looping pattern"
    # Three minutes of 5 Hz patting take a handful of commands, not one per pat.
    assert len(during) < 40
    loop = patterns[0].pattern
    assert sum(1 for s in loop.steps if s.level > 0) / loop.loop_s >= 2
    assert len(compiled.patterns) <= compiled.caps.pattern_slots


def test_without_patterns_a_rhythm_is_streamed_with_the_sides_opposed() -> None:
    compiled = compiled_text(one_step('technique = "rubbing"\nduration = 60'), NECK2_PLAIN)
    assert not compiled.patterns
    assert any("streams" in n and "4 steps per loop" in n for n in compiled.notes)
    timeline = compiled.timeline
    # Mid-step, one side is up while the other is down, about once a second.
    samples = [(timeline.level_at(0, t / 8), timeline.level_at(1, t / 8)) for t in range(160, 240)]
    assert any(left > right for left, right in samples)
    assert any(right > left for left, right in samples)
    assert sum(1 for left, right in samples if left == right) < len(samples) / 4


def test_a_rhythm_too_fast_to_stream_uses_the_devices_own_waveform() -> None:
    slow_link = make_caps("slow", [("a", LEFT), ("b", RIGHT)], steps=5, min_gap_s=0.2)
    compiled = compiled_text(one_step('technique = "pinching"\nduration = 30'), slow_link)
    waveforms = {
        c.command.waveform for c in compiled.commands if isinstance(c.command, SetIntensity)
    }
    assert Waveform.PULSE in waveforms
    assert any("own pulse/wave waveform" in n for n in compiled.notes)


def test_heat_is_held_to_the_device_presets() -> None:
    caps = make_caps(
        "hot",
        [("a", LEFT)],
        heat=HeatCapability((38.0, 40.0, 42.0, 44.0), 45.0),
    )
    compiled = compiled_text(one_step('technique = "rest"\nduration = 30', heat="heat = 41"), caps)
    assert compiled.timeline.heat == ((0.0, 40.0), (30.0, None))
    assert any("41 C is held to 40 C" in n for n in compiled.notes)
    assert [c.command for c in compiled.commands] == [SetHeat(40.0), Stop()]


def test_heat_is_left_out_on_a_device_without_a_heater() -> None:
    compiled = compile_program(load_program("evening-heat"), NECK2_PLAIN)
    assert not any(isinstance(c.command, SetHeat) for c in compiled.commands)
    assert any("no heater" in n for n in compiled.notes)


def test_evening_heat_heats_through_the_main_stage_then_turns_it_off() -> None:
    compiled = compile_program(load_program("evening-heat"), model_caps("heat4"))
    timeline = compiled.timeline
    final = next(s for s in timeline.spans if s.stage == "final")
    assert timeline.heat_at(1.0) == 40.0
    assert timeline.heat_at(final.start_s - 1) == 40.0
    assert timeline.heat_at(final.start_s + 1) is None
    heats = [c.command for c in compiled.commands if isinstance(c.command, SetHeat)]
    assert heats == [SetHeat(40.0), SetHeat(None)]


def test_kneading_goes_to_the_shoulders_and_never_to_the_front_of_the_neck() -> None:
    compiled = compiled_text(one_step('technique = "kneading"\nduration = 60'), WRAP6)
    used = {
        z for z, changes in enumerate(compiled.timeline.outputs) if any(o.level for _, o in changes)
    }
    assert used == {WRAP6.zone("left shoulder").index, WRAP6.zone("right shoulder").index}
    everywhere = compiled_text(
        one_step('technique = "kneading"\nduration = 60\nzones = ["all"]'), WRAP6
    )
    front = WRAP6.zone("front").index
    assert all(o.level == 0 for _, o in everywhere.timeline.outputs[front])
    assert any("front of the neck" in n for n in everywhere.notes)


def test_a_zone_the_device_lacks_is_noted_and_all_zones_play() -> None:
    compiled = compiled_text(
        one_step('technique = "stroking"\nrepetitions = 3\nzones = ["back"]'), NECK2_PLAIN
    )
    assert any("no zone 'back'" in n for n in compiled.notes)
    assert all(any(o.level for _, o in changes) for changes in compiled.timeline.outputs)


def test_degradation_on_one_zone_is_explained() -> None:
    compiled = compile_program(load_program("classic"), HANDHELD_PLAIN)
    notes = " ".join(compiled.notes)
    assert "swell" in notes  # the stroking sweep
    assert "out of phase" in notes  # the circular rub
    assert "cannot travel" in notes  # squeezing and pinching


def test_spans_mark_every_step_and_stage() -> None:
    program = load_program("classic")
    timeline = compile_program(program, HEAT4).timeline
    assert [s.name for s in timeline.spans] == [step.name for _, step in program.steps()]
    assert timeline.spans[0].start_s == 0.0
    for a, b in zip(timeline.spans, timeline.spans[1:], strict=False):
        assert a.end_s == pytest.approx(b.start_s)
    assert timeline.spans[-1].end_s == pytest.approx(timeline.duration_s)
    assert timeline.span_at(130.0).technique == "squeezing"


def test_quantise_changes_exactly_at_the_midpoints() -> None:
    ramp = Contour((0.0, 10.0, 20.0), (0.0, 1.0, 0.0))
    changes = quantise(ramp, 4, offset=100.0)
    assert changes[0] == (100.0, 0)
    up = [(round(t, 6), level) for t, level in changes[1:5]]
    assert up == [(101.25, 1), (103.75, 2), (106.25, 3), (108.75, 4)]
    down = [(round(t, 6), level) for t, level in changes[5:]]
    assert down == [(111.25, 3), (113.75, 2), (116.25, 1), (118.75, 0)]


def test_changes_closer_than_the_gap_are_coalesced_latest_wins() -> None:
    # A fast ramp on a slow link: the device gets fewer, later values, ending right.
    slow = make_caps("slow", [("a", LEFT)], steps=20, min_gap_s=0.5)
    compiled = compiled_text(
        one_step('technique = "squeezing"\nrepetitions = 1\nparams = { pass_s = 4 }'), slow
    )
    changes = len(compiled.timeline.outputs[0]) - 1
    sets = [c for c in compiled.commands if isinstance(c.command, SetIntensity)]
    assert 0 < len(sets) < changes
    assert isinstance(sets[-1].command, SetIntensity) and sets[-1].command.level == 0


def test_levels_are_held_to_the_zone_maxima_given() -> None:
    program = load_program("classic")
    free = compile_program(program, HEAT4)
    held = compile_program(program, HEAT4, zone_max=(10, 10, 4, 4))
    for zone, ceiling in enumerate((10, 10, 4, 4)):
        assert max(o.level for _, o in held.timeline.outputs[zone]) <= ceiling
    assert max(o.level for _, o in free.timeline.outputs[2]) > 4
    assert any("'left shoulder': levels held to 4 of 10" in n for n in held.notes)
    with pytest.raises(ValueError, match="zone_max has 2 values for 4 zones"):
        compile_program(program, HEAT4, zone_max=(1, 2))
