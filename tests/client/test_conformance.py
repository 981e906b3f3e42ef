"""The NMP/1 conformance suite itself: required checks fail it, recommended ones warn."""

from __future__ import annotations

from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

from massager_sdk.conformance import CHECKS, CheckResult, run_conformance


class SilentWhenOff(SimulatedDevice):
    """Firmware that skips the STATUS the spec asks for when everything goes off."""

    def _report_off(self, now: float) -> None:
        pass


def conformance_of(device: type[SimulatedDevice]) -> list[CheckResult]:
    async def main() -> list[CheckResult]:
        async with device("heat4") as sim:
            return await run_conformance("sim://heat4", simulator=sim)

    return run_virtual(main)


def test_the_simulator_passes_every_check() -> None:
    results = conformance_of(SimulatedDevice)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    assert [r.name for r in results if not r.required] == [
        "STATUS about once a second while on, once more when off"
    ]


def test_a_missed_should_is_a_warning_that_says_what_was_expected() -> None:
    results = conformance_of(SilentWhenOff)
    telemetry = next(r for r in results if not r.required)
    assert not telemetry.passed
    assert "no unprompted STATUS showing everything off after STOP_ALL" in telemetry.detail
    assert telemetry.to_dict()["required"] is False
    assert all(r.passed for r in results if r.required)
