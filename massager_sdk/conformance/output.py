"""Checks of what the outputs do: heat targets, patterns, waveforms (6.2 to 6.4)."""

from __future__ import annotations

import asyncio

from massager_protocols.nmp import (
    Feature,
    Keepalive,
    NackCode,
    PatternStep,
    SetHeat,
    SetOutput,
    StopAll,
    UploadPattern,
    Waveform,
)

from massager_sdk.conformance.core import (
    SOFT_START_S,
    CheckFailed,
    Checks,
    NotTestable,
    Probe,
    has_heat,
    lowest_heat,
    require_info,
)

#: The checks of this module, in the order they run.
CHECKS = Checks()
check = CHECKS.check


@check("heat targets: the lowest preset is accepted, above the limit refused", "6.4, 7.3, 7.4")
async def _heat_limit(probe: Probe) -> str:
    info = require_info(probe)
    if not has_heat(info):
        await probe.expect_nack(SetHeat(400), NackCode.OUT_OF_RANGE)
        return "no heater: SET_HEAT refused"
    await probe.expect_nack(SetHeat(info.heat_limit_dc + 1), NackCode.OUT_OF_RANGE)
    lowest = lowest_heat(info)
    await probe.expect_ack(SetHeat(lowest))
    status = await probe.status()
    if status.heat_target_dc != lowest:
        raise CheckFailed(f"SET_HEAT {lowest} acknowledged but STATUS target is {status}")
    if status.temperature_dc is not None and status.temperature_dc > info.heat_limit_dc:
        raise CheckFailed(f"temperature {status.temperature_dc} above the limit")
    await probe.expect_ack(SetHeat(0))
    return f"limit {info.heat_limit_dc / 10:.1f} C enforced"


async def _levels_over(probe: Probe, seconds: float) -> list[int]:
    """Zone 0's level in STATUS, sampled every 50 ms for ``seconds``; a KEEPALIVE every
    250 ms (in authenticated mode reading STATUS does not feed the watchdog, 10.2)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    levels: list[int] = []
    while loop.time() < end:
        if len(levels) % 5 == 0:
            await probe.expect_ack(Keepalive())
        levels.append((await probe.status()).intensities[0])
        await asyncio.sleep(0.05)
    return levels


def _plays(levels: list[int], high: int) -> bool:
    """Whether the samples go high and back to 0 at least twice."""
    changes, up = 0, False
    for level in levels:
        if not up and level >= high:
            up, changes = True, changes + 1
        elif up and level == 0:
            up, changes = False, changes + 1
    return changes >= 3


@check("uploaded patterns play over time", "6.2, 6.3")
async def _patterns(probe: Probe) -> str:
    info = require_info(probe)
    if not info.has(Feature.PATTERNS) or not info.pattern_slots:
        raise NotTestable("the device advertises no patterns")
    await probe.expect_nack(UploadPattern(0, ()), NackCode.OUT_OF_RANGE)
    steps = (PatternStep(100, 400), PatternStep(0, 400))
    await probe.expect_ack(UploadPattern(0, steps))
    top = info.intensity_steps
    await probe.expect_ack(SetOutput(0b1, top, Waveform.PATTERN, 0, 0))
    await asyncio.sleep(SOFT_START_S)
    levels = await _levels_over(probe, 2.4)
    await probe.expect_ack(StopAll())
    if not _plays(levels, (top + 1) // 2):
        raise CheckFailed(f"a 400 ms on / 400 ms off pattern did not play: levels {levels}")
    return f"levels 0..{max(levels)} alternate"


@check("pulse and wave play over time", "6.2")
async def _waveforms(probe: Probe) -> str:
    info = require_info(probe)
    top = info.intensity_steps
    for waveform in (Waveform.PULSE, Waveform.WAVE):
        await probe.expect_ack(SetOutput(0b1, top, waveform, 0, 800))
        await asyncio.sleep(SOFT_START_S)
        levels = await _levels_over(probe, 2.4)
        await probe.expect_ack(StopAll())
        if not _plays(levels, (top + 1) // 2):
            raise CheckFailed(f"{waveform.name} with an 800 ms period did not play: {levels}")
    return "both swing between 0 and the intensity"
