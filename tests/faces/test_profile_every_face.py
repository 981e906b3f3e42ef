"""The person's profile applies on every face: the Python API, the sync facade and a
bridge's device all fall back on the default profile (``$MASSAGER_HEALTH_PROFILE``) and
refuse what it refuses; without an acknowledged one nothing is driven.

What the device really runs is read from the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
import massager_sdk.sync
from massager_sdk.errors import SafetyRefusal
from massager_sdk.programs import ProgramRunner, compile_program, load_program
from massager_sdk.safety import Contraindication, HealthProfile
from massager_sdk.safety.profile import HEALTH_PROFILE_ENV


@pytest.fixture
def thrombosis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default profile lists thrombosis, which refuses sessions."""
    path = tmp_path / "profile.toml"
    path.write_text('acknowledged = true\ncontraindications = ["thrombosis"]\n')
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(path))
    return path


def drive(sim: SimulatedDevice, **options: Any) -> SafetyRefusal | None:
    """Connect with the Python API, ask for level 4 and heat; the refusal met, if any."""

    async def main() -> SafetyRefusal | None:
        async with massager_sdk.connect("sim://", simulator=sim, **options) as device:
            try:
                await device.set_intensity(4)
                await device.set_heat(40)
                await device.flush()
            except SafetyRefusal as exc:
                return exc
            return None

    return run_virtual(main)


def test_the_python_api_applies_the_default_profile(thrombosis: Path) -> None:
    sim = SimulatedDevice("heat4")
    refusal = drive(sim)
    assert refusal is not None and refusal.limit == "screening_sessions"
    assert "thrombosis" in str(refusal)
    assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None


def test_a_profile_passed_explicitly_is_the_scripts_word(thrombosis: Path) -> None:
    sim = SimulatedDevice("heat4")
    assert drive(sim, health_profile=HealthProfile(acknowledged=True)) is None
    # The session was driven; leaving stopped the device again.
    assert sim.commanded == (0, 0, 0, 0)
    refused = drive(
        SimulatedDevice("heat4"),
        health_profile=HealthProfile(frozenset({Contraindication.THROMBOSIS}), acknowledged=True),
    )
    assert refused is not None and refused.limit == "screening_sessions"


@pytest.mark.parametrize("content", [None, "acknowledged = false\n", "acknowledged = 3\n"])
def test_without_an_acknowledged_default_profile_nothing_is_driven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None
) -> None:
    path = tmp_path / "profile.toml"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(path))
    sim = SimulatedDevice("heat4")
    refusal = drive(sim)
    assert refusal is not None and refusal.limit == "profile_acknowledged"
    assert str(path) in str(refusal)
    assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None


def test_a_monitor_needs_no_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(tmp_path / "none.toml"))
    sim = SimulatedDevice("heat4")

    async def main() -> tuple[int, ...]:
        async with massager_sdk.connect("sim://", simulator=sim, control=False) as device:
            status = await device.status()
            return tuple(status.intensities)

    assert run_virtual(main) == (0, 0, 0, 0)


def test_the_sync_facade_applies_the_default_profile(thrombosis: Path) -> None:
    sim = SimulatedDevice("heat4")
    with massager_sdk.sync.connect("sim://", simulator=sim) as device:
        with pytest.raises(SafetyRefusal) as caught:
            device.set_intensity(4)
        assert caught.value.limit == "screening_sessions"
        with pytest.raises(SafetyRefusal):
            device.set_heat(40)
    assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None


def test_a_program_applies_the_default_profile(thrombosis: Path) -> None:
    sim = SimulatedDevice("heat4")

    async def main() -> SafetyRefusal:
        async with massager_sdk.connect("sim://", simulator=sim) as device:
            runner = ProgramRunner(
                device, compile_program(load_program("office-break"), device.info)
            )
            with pytest.raises(SafetyRefusal) as caught:
                await runner.run()
            return caught.value

    refusal = run_virtual(main)
    assert refusal.limit == "screening_sessions"
    assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None
