"""The output plan decides without I/O: plain calls, no event loop, time as a number."""

from __future__ import annotations

import math

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import Pattern, PatternStep, Waveform
from massager_sdk.session.plan import (
    OFF,
    OutputPlan,
    SendHeat,
    SendZones,
    Upload,
    Wait,
    ZoneOutput,
)
from massager_sdk.session.slots import PatternSlots

WAVE = Pattern((PatternStep(1.0, 0.5), PatternStep(0.0, 0.5)))


class StepRamp:
    """Rises ``step`` levels per ``interval``; refuses zones listed in ``refuse``."""

    def __init__(self, step: int = 2, interval: float = 0.1) -> None:
        self.step = step
        self.interval = interval
        self.refuse: set[int] = set()

    @property
    def ramp_interval_s(self) -> float:
        return self.interval

    def ramp_level(self, zone: int, current: int, target: int, now: float) -> int:
        if zone in self.refuse:
            raise SafetyRefusal("lock", target, None, f"zone {zone} is locked")
        return min(current + self.step, target)


def plan_of(zones: int = 4, *, gap_s: float = 0.0, slots: int = 2) -> OutputPlan:
    return OutputPlan(zones, PatternSlots(slots), gap_s=gap_s)


def test_nothing_wanted_means_wait_until_woken() -> None:
    plan = plan_of()
    assert plan.next(0.0, StepRamp()) == Wait(math.inf)
    assert plan.pending == 0 and not plan.running


def test_falling_is_immediate_and_zones_with_one_output_share_a_command() -> None:
    plan = plan_of()
    plan.showed((5, 5, 5, 0), None, follow=False)
    assert plan.acknowledged.levels == (5, 5, 5, 0) and plan.running
    plan.wish((0, 1), ZoneOutput(2))
    plan.wish((2,), ZoneOutput(1))
    first = plan.next(0.0, StepRamp())
    assert isinstance(first, SendZones)
    assert first.zones == (0, 1) and first.output == ZoneOutput(2) and first.slot is None
    plan.acknowledged_zones(first, 0.0, StepRamp())
    second = plan.next(0.0, StepRamp())
    assert isinstance(second, SendZones) and second.zones == (2,)
    plan.acknowledged_zones(second, 0.0, StepRamp())
    assert plan.acknowledged.levels == (2, 2, 1, 0)
    assert plan.pending == 0 and plan.next(0.0, StepRamp()) == Wait(math.inf)


def test_output_commands_keep_the_minimum_gap() -> None:
    plan = plan_of(gap_s=0.05)
    plan.showed((4, 4, 4, 4), None, follow=False)
    plan.wish((0,), ZoneOutput(1))
    sent = plan.next(1.0, StepRamp())
    assert isinstance(sent, SendZones)
    plan.acknowledged_zones(sent, 1.0, StepRamp())
    plan.wish((1,), ZoneOutput(1))
    waiting = plan.next(1.01, StepRamp())
    assert isinstance(waiting, Wait) and waiting.at == pytest.approx(1.05)
    assert isinstance(plan.next(1.05, StepRamp()), SendZones)


def test_a_rising_zone_steps_once_per_ramp_interval_from_its_acknowledgement() -> None:
    plan, ramp = plan_of(), StepRamp(step=2, interval=0.1)
    plan.wish((0,), ZoneOutput(5))
    levels = []
    now = 0.0
    while True:
        decision = plan.next(now, ramp)
        if isinstance(decision, Wait):
            if decision.at == math.inf:
                break
            assert decision.at > now
            now = decision.at
            continue
        assert isinstance(decision, SendZones)
        levels.append((round(now, 6), decision.output.level))
        plan.acknowledged_zones(decision, now, ramp)
    assert levels == [(0.0, 2), (0.1, 4), (0.2, 5)]
    assert plan.acknowledged.levels == (5, 0, 0, 0)


def test_heater_and_zones_take_turns() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    plan.wish_heat(40.0)
    plan.wish((0, 1, 2, 3), ZoneOutput(3))
    kinds = []
    for _ in range(2):
        decision = plan.next(0.0, ramp)
        kinds.append(type(decision))
        if isinstance(decision, SendHeat):
            plan.acknowledged_heat(decision)
        else:
            assert isinstance(decision, SendZones)
            plan.acknowledged_zones(decision, 0.0, ramp)
    assert set(kinds) == {SendHeat, SendZones}
    assert plan.acknowledged.heat_c == 40.0 and plan.acknowledged.levels == (3, 3, 3, 3)


def test_the_heater_does_not_wait_for_a_zone_s_ramp() -> None:
    plan, ramp = plan_of(), StepRamp(step=1, interval=0.5)
    plan.wish((0,), ZoneOutput(3))
    step = plan.next(0.0, ramp)
    assert isinstance(step, SendZones)
    plan.acknowledged_zones(step, 0.0, ramp)
    plan.wish_heat(38.0)
    # Whichever turn it is, the zone must wait for its ramp, so the heater goes.
    assert plan.next(0.1, ramp) == SendHeat(38.0, epoch=0)


def test_a_newer_wish_or_a_clear_makes_a_decision_stale() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    plan.wish((0,), ZoneOutput(3))
    decision = plan.next(0.0, ramp)
    assert isinstance(decision, SendZones) and plan.still_wanted(decision)
    plan.wish((0,), ZoneOutput(4))
    assert not plan.still_wanted(decision)
    plan.wish_heat(40.0)
    heat = plan.next(1.0, ramp)
    if not isinstance(heat, SendHeat):
        heat = plan.next(2.0, ramp)
    assert isinstance(heat, SendHeat) and plan.still_wanted(heat)
    plan.clear()
    assert not plan.still_wanted(heat)
    assert plan.wanted.levels == (0, 0, 0, 0) and plan.wanted.heat_c is None
    # A stale command the device acknowledged anyway is recorded as what it runs.
    plan.acknowledged_heat(heat)
    assert plan.acknowledged.heat_c == 40.0 and plan.pending == 1


def test_a_device_refusal_keeps_what_the_device_runs() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    plan.showed((2, 2, 2, 2), 35.0, follow=False)
    plan.wish((0, 1, 2, 3), ZoneOutput(6))
    plan.wish_heat(42.0)
    for _ in range(2):
        decision = plan.next(0.0, ramp)
        if isinstance(decision, SendHeat):
            plan.refused_heat()
        else:
            assert isinstance(decision, SendZones)
            plan.refused_zones(decision)
    assert plan.pending == 0
    assert plan.wanted == plan.acknowledged
    assert plan.acknowledged.levels == (2, 2, 2, 2) and plan.acknowledged.heat_c == 35.0


def test_a_ramp_refusal_drops_that_wish_and_is_reported() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    ramp.refuse.add(1)
    plan.wish((0, 1), ZoneOutput(3))
    decision = plan.next(0.0, ramp)
    assert isinstance(decision, SendZones) and decision.zones == (0,)
    refusals = plan.take_refusals()
    assert [r.detail for r in refusals] == ["zone 1 is locked"]
    assert plan.take_refusals() == []
    assert plan.wanted.levels == (3, 0, 0, 0)


def test_a_pattern_is_uploaded_before_a_zone_plays_it_and_again_on_a_new_link() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    slot, evict = plan.slots.choose(WAVE, plan.busy_patterns())
    assert (slot, evict) == (0, None)
    plan.slots.assign(WAVE, slot, evict)
    playing = ZoneOutput(4, Waveform.CONSTANT, 0.0, WAVE, 0.5)
    plan.wish((2,), playing)
    upload = plan.next(0.0, ramp)
    assert upload == Upload(0, WAVE, epoch=0)
    plan.uploaded(upload)
    send = plan.next(0.0, ramp)
    assert isinstance(send, SendZones) and send.slot == 0 and send.output == playing
    plan.acknowledged_zones(send, 0.0, ramp)
    plan.slots.link_renewed()
    plan.wish((3,), playing)
    assert isinstance(plan.next(1.0, ramp), Upload)


def test_a_refused_upload_withdraws_the_wishes_that_needed_it() -> None:
    plan, ramp = plan_of(), StepRamp(step=10)
    plan.slots.assign(WAVE, 1, None)
    plan.wish((0, 1), ZoneOutput(4, pattern=WAVE))
    plan.wish((2,), ZoneOutput(1))
    upload = plan.next(0.0, ramp)
    assert isinstance(upload, Upload)
    plan.refused_upload(upload)
    assert plan.wanted.levels == (0, 0, 1, 0)


def test_a_monitor_follows_what_the_device_shows() -> None:
    plan = plan_of(zones=3)
    plan.showed((1, 2), 39.5, follow=True)  # a short status: the rest is off
    assert plan.acknowledged.levels == (1, 2, 0)
    assert plan.wanted == plan.acknowledged and plan.pending == 0
    plan.stopped()
    assert plan.acknowledged.zones == (OFF, OFF, OFF) and plan.acknowledged.heat_c is None


def test_slots_evict_the_least_recently_used_pattern_that_is_not_playing() -> None:
    patterns = [Pattern((PatternStep(0.5, 0.1 * (n + 1)),)) for n in range(3)]
    slots = PatternSlots(2)
    for pattern in patterns[:2]:
        slot, evict = slots.choose(pattern, [])
        slots.assign(pattern, slot, evict)
        slots.mark_loaded(slot)
    slots.assign(patterns[0], 0, None)  # used again: now the most recent
    assert slots.choose(patterns[2], []) == (1, patterns[1])
    assert slots.choose(patterns[2], [patterns[1]]) == (0, patterns[0])
    slots.assign(patterns[2], 1, patterns[1])
    assert slots.slot_of(patterns[1]) is None and not slots.loaded(1)
    assert slots.loaded(0)
    with pytest.raises(ValueError, match="all 2 pattern slots"):
        slots.choose(patterns[1], patterns)
