"""The person's health profile under its own name; the old names still work, and warn."""

from __future__ import annotations

import logging
import subprocess
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
import massager_sdk.safety
import massager_sdk.safety.screening
from massager_sdk.errors import SafetyRefusal
from massager_sdk.mqtt.config import load_config
from massager_sdk.safety import Contraindication, HealthProfile, HealthProfileError
from massager_sdk.session.options import ConnectOptions
from tests.cli.conftest import env_without
from tests.cli.helpers import MASSAGER, massager


@pytest.mark.parametrize(
    ("old", "new"), [("UserProfile", HealthProfile), ("ProfileError", HealthProfileError)]
)
def test_the_old_class_names_warn_and_are_the_health_profile_ones(old: str, new: type) -> None:
    for module in (massager_sdk.safety, massager_sdk.safety.screening):
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: use {new.__name__}"):
            assert getattr(module, old) is new
    with pytest.raises(AttributeError):
        massager_sdk.safety.NoSuchName  # noqa: B018
    assert massager_sdk.HealthProfile is HealthProfile


def test_the_old_keyword_warns_and_sets_the_health_profile() -> None:
    person = HealthProfile(acknowledged=True)
    assert ConnectOptions(health_profile=person).health_profile is person
    with pytest.warns(DeprecationWarning, match="use health_profile="):
        assert ConnectOptions(profile=person).health_profile is person
    with pytest.warns(DeprecationWarning, match="use health_profile="):
        options, rest = ConnectOptions.split(None, {"profile": person, "baud": 9600})
    assert options.health_profile is person and rest == {"baud": 9600}
    with pytest.raises(TypeError, match="health_profile= only"):
        ConnectOptions.split(None, {"profile": person, "health_profile": person})
    # Reading the old attribute gives the health profile (never a silent None).
    with pytest.warns(DeprecationWarning, match="use health_profile"):
        assert getattr(ConnectOptions(health_profile=person), "profile") is person  # noqa: B009
    assert ConnectOptions().health_profile is None
    # A copy (dataclasses.replace under the hood) keeps the profile and says nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copy = ConnectOptions(health_profile=person).replace(timeout=2.0)
    assert copy.health_profile is person and copy.timeout == 2.0


def test_the_health_verb_and_flag_and_their_old_names(tmp_path: Path) -> None:
    path = tmp_path / "me.toml"
    path.write_text("acknowledged = true\n")
    new = massager("health", "check", "--health-profile", str(path))
    assert new.returncode == 0, new.stderr
    assert "ready" in new.stdout and "deprecated" not in new.stderr
    old = massager("profile", "check", "--profile", str(path))
    assert old.returncode == 0, old.stderr
    assert "ready" in old.stdout
    assert "`massager profile` is deprecated: use `massager health`" in old.stderr
    assert "--profile is deprecated: use --health-profile" in old.stderr
    helped = massager("--help").stdout
    assert "health" in helped and " profile " not in helped
    assert "--profile" not in massager("set", "--help").stdout


def test_the_old_name_in_the_process_environment_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "me.toml"
    path.write_text("acknowledged = true\n")
    old = subprocess.run(
        [str(MASSAGER), "health", "check"],
        capture_output=True,
        text=True,
        env={**env_without("MASSAGER_HEALTH_PROFILE"), "MASSAGER_PROFILE": str(path)},
        check=False,
    )
    assert str(path) in old.stdout and "ready" in old.stdout
    new = massager("health", "check", env={"MASSAGER_HEALTH_PROFILE": str(path)})
    assert str(path) in new.stdout and "ready" in new.stdout


def test_the_bridge_config_takes_health_profile_and_warns_of_profile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    person = tmp_path / "anna.toml"
    person.write_text("acknowledged = true\n")
    config = tmp_path / "bridge.toml"
    for key in ("health_profile", "profile"):
        config.write_text(
            textwrap.dedent(f"""\
                [broker]
                url = "mqtt://localhost"
                [[devices]]
                url = "sim://neck2"
                {key} = "{person}"
            """)
        )
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="massager_sdk.mqtt"):
            (device,) = load_config(config).devices
        assert device.health_profile is not None and device.health_profile.acknowledged
        assert device.connect_options()["health_profile"] is device.health_profile
        warned = "devices[1].profile is deprecated: name it health_profile" in caplog.text
        assert warned == (key == "profile")


@pytest.mark.parametrize("keyword", ["health_profile", "profile"])
def test_connect_screens_against_the_health_profile_under_either_keyword(keyword: str) -> None:
    person = HealthProfile(frozenset({Contraindication.THROMBOSIS}), acknowledged=True)
    sim = SimulatedDevice("heat4")

    given: dict[str, Any] = {keyword: person}

    async def main() -> str:
        async with massager_sdk.connect("sim://", simulator=sim, **given) as device:
            with pytest.raises(SafetyRefusal) as refused:
                await device.set_intensity(4)
            return refused.value.limit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_virtual(main) == "screening_sessions"
    renamed = [w for w in caught if "use health_profile=" in str(w.message)]
    if keyword == "profile":
        assert [w.category for w in renamed] == [DeprecationWarning]
        assert renamed[0].filename == __file__  # it points at the caller's line
    else:
        assert renamed == []
    assert sim.commanded == (0, 0, 0, 0)
