"""Each technique's envelope has the shape and the figures of the source article."""

from __future__ import annotations

import itertools

import pytest

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.programs import TECHNIQUES, Envelope, parse_program
from massager_sdk.programs.techniques import GENTLE_LEVEL, StepContext
from tests.programs.devices import HANDHELD_PLAIN, HEAT4, NECK2_PLAIN, WRAP6

DT = 0.01


def envelope(technique: str, caps: DeviceCapabilities, step: str = "") -> Envelope:
    """The envelope of a one-step program (timing resolved by the loader) on every zone."""
    text = f'[[stage]]\nname = "s"\n[[stage.step]]\ntechnique = "{technique}"\n{step}\n'
    program = parse_program(text, source="test.toml")
    resolved = program.stages[0].steps[0]
    ctx = StepContext(
        caps.zones, resolved.duration_s, resolved.cycles, resolved.intensity, resolved.params
    )
    return resolved.kind.envelope(ctx)


def series(env: Envelope, zone: int) -> list[float]:
    steps = round(env.duration_s / DT)
    return [env.level(zone, k * DT) for k in range(steps + 1)]


def contour_series(env: Envelope, zone: int) -> list[float]:
    """The slow contour alone (without the fast rhythm)."""
    contour = env.zones[zone].contour
    return [contour.at(k * DT) for k in range(round(env.duration_s / DT) + 1)]


def runs(values: list[float], above: float) -> list[tuple[float, float]]:
    """(start, end) times of the stretches where values >= above."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    for k, v in enumerate(values):
        if v >= above and start is None:
            start = k * DT
        elif v < above and start is not None:
            out.append((start, k * DT))
            start = None
    if start is not None:
        out.append((start, len(values) * DT))
    return out


def peaks(values: list[float], floor: float = 0.05) -> list[float]:
    """Times of the local maxima (plateaus count once, at their start)."""
    out = []
    for k in range(1, len(values) - 1):
        if values[k] > floor and values[k] > values[k - 1] and values[k] >= values[k + 1]:
            out.append(k * DT)
    return out


def zone_index(caps: DeviceCapabilities, name: str) -> int:
    return caps.zone(name).index


@pytest.mark.parametrize("technique", sorted(set(TECHNIQUES) - {"rest"}))
@pytest.mark.parametrize("caps", [HEAT4, NECK2_PLAIN, HANDHELD_PLAIN, WRAP6], ids=lambda c: c.model)
def test_every_step_starts_and_ends_at_rest(technique: str, caps: DeviceCapabilities) -> None:
    env = envelope(technique, caps)
    assert env.zones, "the technique plays on some zone"
    for zone in env.zones:
        assert env.level(zone, 0.0) == 0.0
        assert env.level(zone, env.duration_s) == 0.0
        values = series(env, zone)
        assert max(values) <= 1.0
        assert min(values) >= 0.0


def test_stroking_sweeps_top_to_bottom_gently_six_times() -> None:
    env = envelope("stroking", HEAT4)
    neck = series(env, zone_index(HEAT4, "left neck"))
    shoulder = series(env, zone_index(HEAT4, "left shoulder"))
    neck_peaks, shoulder_peaks = peaks(neck), peaks(shoulder)
    # 5-7 repetitions: the default is 6 sweeps, each reaching the neck, then the shoulders.
    assert len(neck_peaks) == len(shoulder_peaks) == 6
    for top, bottom in zip(neck_peaks, shoulder_peaks, strict=True):
        assert top < bottom < top + 15
    assert max(neck) <= 0.35 + 1e-9  # "intensity is gentle"
    assert env.duration_s <= 120  # a warm-up of at most 2 minutes


def test_stroking_on_three_rows_reaches_each_row_in_order() -> None:
    env = envelope("stroking", WRAP6, "repetitions = 1")
    order = [peaks(series(env, zone_index(WRAP6, n)))[0] for n in ("left neck", "left shoulder")]
    back = peaks(series(env, zone_index(WRAP6, "upper back")))[0]
    assert order[0] < order[1] < back


def test_stroking_on_one_row_becomes_a_swell_and_says_so() -> None:
    env = envelope("stroking", NECK2_PLAIN, "repetitions = 5")
    left, right = series(env, 0), series(env, 1)
    assert left == right
    assert len(peaks(left)) == 5
    assert any("swell" in note for note in env.notes)


def test_stroking_alternating_hands_takes_turns() -> None:
    env = envelope("stroking", NECK2_PLAIN, 'repetitions = 4\nparams = { hands = "alternate" }')
    assert len(peaks(series(env, 0))) == 2
    assert len(peaks(series(env, 1))) == 2
    assert peaks(series(env, 0))[0] < peaks(series(env, 1))[0]


def test_stroking_is_gentle_on_the_front_of_the_neck() -> None:
    env = envelope("stroking", WRAP6, "intensity = 0.8")
    front = series(env, zone_index(WRAP6, "front"))
    assert max(front) == pytest.approx(GENTLE_LEVEL, abs=1e-6)
    assert max(series(env, zone_index(WRAP6, "left neck"))) == pytest.approx(0.8, abs=1e-6)


def test_acupressure_is_about_fifteen_presses_of_four_to_five_seconds() -> None:
    env = envelope("acupressure", HANDHELD_PLAIN)
    values = series(env, 0)
    presses = runs(values, 0.01)
    holds = runs(values, 0.75 - 1e-6)
    assert len(presses) == len(holds) == 15  # "about 15"
    for start, end in presses:
        assert 4.0 <= end - start <= 5.0 + DT  # "no more than 4-5 seconds"
    for (_, end), (start, _) in itertools.pairwise(presses):
        assert start - end >= 2.9  # a rest between presses


def test_acupressure_rotates_over_the_zones_and_never_presses_longer() -> None:
    # 15 presses stretched over 5 minutes: the rests grow, the presses do not.
    env = envelope("acupressure", HEAT4, "duration = 300\nrepetitions = 15")
    presses = sorted(
        (start, end, zone) for zone in env.zones for start, end in runs(series(env, zone), 0.01)
    )
    assert len(presses) == 15
    assert [z for _, _, z in presses[:5]] == [0, 1, 2, 3, 0]
    assert all(end - start <= 5.0 + DT for start, end, _ in presses)


def test_rubbing_runs_left_and_right_out_of_phase_at_about_one_hertz() -> None:
    env = envelope("rubbing", NECK2_PLAIN)
    left, right = env.zones[0], env.zones[1]
    assert left.carrier is not None and right.carrier is not None
    assert left.carrier.pattern.loop_s == pytest.approx(1.0, abs=0.01)  # ~1 Hz
    assert (right.carrier.phase - left.carrier.phase) % 1.0 == pytest.approx(0.5)
    # Sampled over ten seconds mid-step, one side is high while the other is low.
    times = [20 + k * 0.0625 for k in range(160)]
    lefts = [env.level(0, t) for t in times]
    rights = [env.level(1, t) for t in times]
    mean_l, mean_r = sum(lefts) / len(lefts), sum(rights) / len(rights)
    covariance = sum((a - mean_l) * (b - mean_r) for a, b in zip(lefts, rights, strict=True))
    assert covariance < 0
    rises = [t for t, a, b in zip(times, lefts, lefts[1:], strict=False) if a < mean_l <= b]
    gaps = [b - a for a, b in itertools.pairwise(rises)]
    assert gaps and all(abs(g - 1.0) < 0.1 for g in gaps)


def test_rubbing_is_three_to_four_passes_down_the_neck() -> None:
    env = envelope("rubbing", HEAT4)
    assert env.duration_s == pytest.approx(4 * 30)  # 3-4 repetitions of 30 s passes
    neck = env.zones[zone_index(HEAT4, "left neck")].contour
    shoulder = env.zones[zone_index(HEAT4, "left shoulder")].contour
    # Early in each pass the neck is worked harder, late in it the shoulders.
    for k in range(4):
        assert neck.at(k * 30 + 7.5) > shoulder.at(k * 30 + 7.5)
        assert shoulder.at(k * 30 + 22.5) > neck.at(k * 30 + 22.5)


@pytest.mark.parametrize(
    ("variant", "opposed"),
    [("circular", True), ("sawing", True), ("comb", True), ("straight", False)],
)
def test_rubbing_variants_choose_the_phase_of_the_sides(variant: str, opposed: bool) -> None:
    env = envelope("rubbing", NECK2_PLAIN, f'params = {{ variant = "{variant}" }}')
    left, right = env.zones[0].carrier, env.zones[1].carrier
    assert left is not None and right is not None
    assert (right.phase - left.phase) % 1.0 == pytest.approx(0.5 if opposed else 0.0)


def test_rubbing_on_one_zone_says_it_cannot_oppose_sides() -> None:
    env = envelope("rubbing", HANDHELD_PLAIN)
    assert any("out of phase" in note for note in env.notes)


def test_kneading_is_slow_deep_swells_alternating_sides() -> None:
    env = envelope("kneading", HEAT4)
    assert 180 <= env.duration_s <= 240  # "3-4 minutes"
    left = series(env, zone_index(HEAT4, "left shoulder"))
    right = series(env, zone_index(HEAT4, "right shoulder"))
    assert max(left) == pytest.approx(0.85)  # the strongest technique
    left_swells = runs(left, 0.85 - 1e-6)
    right_swells = runs(right, 0.85 - 1e-6)
    assert abs(len(left_swells) - len(right_swells)) <= 1
    # Swells of a few seconds (about 4 s), the sides in turn: one side swells every ~8 s.
    starts = [s for s, _ in left_swells]
    gaps = [b - a for a, b in itertools.pairwise(starts[1:])]
    assert all(abs(g - 2 * 210 / 52) < 0.05 for g in gaps)
    assert left_swells[1][0] < right_swells[1][0] < left_swells[2][0]
    # Slow: rising from the floor to the peak takes well over a second.
    rise = next(k for k, v in enumerate(left[200:], 200) if v >= 0.85 - 1e-6) * DT
    floor_time = max(k for k, v in enumerate(left[:2000]) if k * DT < rise and v <= 0.26) * DT
    assert rise - floor_time >= 1.5
    # The grasp never lets go completely between swells (once faded in).
    assert min(left[200:-200]) >= 0.25


def test_vibration_pats_several_times_a_second_in_bursts() -> None:
    env = envelope("vibration", NECK2_PLAIN)
    left, right = env.zones[0], env.zones[1]
    assert left.carrier is not None and right.carrier is not None
    loop = left.carrier.pattern
    pats = sum(1 for s in loop.steps if s.level > 0)
    assert pats / loop.loop_s >= 2  # several per second
    assert 180 <= env.duration_s <= 240  # "3-4 minutes"
    # Bursts: each side pats for half of each loop, the sides in turn.
    assert (right.carrier.phase - left.carrier.phase) % 1.0 == pytest.approx(0.5)
    on_left = [env.level(0, 60 + k * 0.01) > 0 for k in range(200)]
    on_right = [env.level(1, 60 + k * 0.01) > 0 for k in range(200)]
    assert any(on_left) and any(on_right)
    assert not any(a and b for a, b in zip(on_left, on_right, strict=True))


def test_tapping_staggers_the_zones_like_fingers() -> None:
    env = envelope("vibration", HEAT4, 'params = { variant = "tapping" }')
    phases = sorted(z.carrier.phase for z in env.zones.values() if z.carrier is not None)
    assert len(set(phases)) == 4


def test_pinching_travels_up_then_down() -> None:
    env = envelope("pinching", WRAP6, "repetitions = 1\nduration = 8")
    firsts = {
        name: runs(contour_series(env, zone_index(WRAP6, name)), 0.01)
        for name in ("upper back", "left shoulder", "left neck")
    }
    # One pass on three rows: back, shoulders, neck, shoulders again.
    assert firsts["upper back"][0][0] < firsts["left shoulder"][0][0] < firsts["left neck"][0][0]
    assert len(firsts["left shoulder"]) == 2
    assert firsts["left shoulder"][1][0] > firsts["left neck"][0][0]
    pulses = env.zones[zone_index(WRAP6, "left neck")].carrier
    assert pulses is not None and pulses.pattern.loop_s < 1.0  # short sharp pulses


def test_squeezing_pulses_travel_top_down_five_times() -> None:
    env = envelope("squeezing", HEAT4)
    neck = peaks(series(env, zone_index(HEAT4, "left neck")))
    shoulder = peaks(series(env, zone_index(HEAT4, "left shoulder")))
    assert len(neck) == len(shoulder) == 5  # "repeated 5 times from the top down"
    assert all(n < s for n, s in zip(neck, shoulder, strict=True))
