"""The NMP/1 conformance suite itself: required checks fail it, recommended ones warn
(or fail it when strict), and what cannot be tested is reported as such."""

from __future__ import annotations

from massager_simulator import SimulatedDevice, load_model
from massager_simulator.clock import run_virtual
from massager_simulator.testmode import offering

from massager_sdk.conformance import (
    CHECKS,
    CheckResult,
    NotTestable,
    probe_session,
    run_conformance,
    run_failed,
)


class ChattyWhenIdle(SimulatedDevice):
    """Firmware that keeps sending STATUS with nothing on (a SHOULD NOT)."""

    def _next_wake(self, now: float) -> float:
        return min(super()._next_wake(now), now + 0.5)

    def _tick(self, now: float) -> None:
        super()._tick(now)
        if not self.is_on:
            self.reports.broadcast(now)


def conformance_of(device: type[SimulatedDevice]) -> list[CheckResult]:
    """The suite on a Heat 4 built for test (every check can be carried out)."""

    async def main() -> list[CheckResult]:
        async with device(offering(load_model("heat4"))) as sim:
            return await run_conformance("sim://heat4", simulator=sim)

    return run_virtual(main)


def test_the_simulator_passes_every_check_and_each_names_its_section() -> None:
    results = conformance_of(SimulatedDevice)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    auth = [r for r in results if r.section.startswith("10")]  # the model has no AUTH mode
    assert auth and all(not r.tested and "does not advertise AUTH" in r.detail for r in auth)
    others = [r for r in results if r not in auth]
    assert all(r.passed and r.tested for r in others), [r for r in others if not r.passed]
    assert all(r.section for r in results)
    assert [r.name for r in results if not r.required] == ["no telemetry while idle"]


def test_a_missed_should_is_a_warning_unless_strict() -> None:
    results = conformance_of(ChattyWhenIdle)
    idle = next(r for r in results if not r.required)
    assert not idle.passed
    assert "unprompted STATUS while idle; none expected" in idle.detail
    assert idle.to_dict()["required"] is False
    assert all(r.passed for r in results if r.required and r.tested)
    assert not run_failed(results)
    assert run_failed(results, strict=True)


def test_what_needs_test_mode_or_a_second_link_is_reported_not_testable() -> None:
    """A production device reached as over serial: no test mode, no bench, one link only."""
    needs = {
        "7.6": "test mode (INFO does not offer it: not built for test) or a test bench",
        "6.4, 7.3, 7.4": "test mode",
        "7.4": "test mode",
        "7.3, 7.5": "test mode",
        "7.7": "cannot be opened twice",
    }

    async def main() -> tuple[dict[str, str], str]:
        reasons = {}
        sim = SimulatedDevice("heat4")
        async with sim, probe_session("sim://heat4", simulator=sim) as probe:
            probe.bench, probe.open_second = None, None
            await next(c for c in CHECKS if c.section == "4.2 INFO").run(probe)
            entry = next(c for c in CHECKS if c.section == "12.1")
            entered = await entry.run(probe)
            for registered in CHECKS:
                if registered.section in needs:
                    try:
                        await registered.run(probe)
                    except NotTestable as exc:
                        reasons[registered.section] = str(exc)
        return reasons, entered

    reasons, entered = run_virtual(main)
    assert "not offered" in entered
    assert set(reasons) == set(needs)
    assert all(needs[section] in reasons[section] for section in needs), reasons
