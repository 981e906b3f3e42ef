"""The person's health profile under its own name; the old names still work, and warn."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

import massager_sdk.safety
import massager_sdk.safety.screening
from massager_sdk.mqtt.config import load_config
from massager_sdk.safety import HealthProfile
from massager_sdk.session.options import ConnectOptions
from tests.cli.helpers import massager


def test_the_old_class_name_warns_and_is_the_health_profile() -> None:
    with pytest.warns(DeprecationWarning, match="use HealthProfile"):
        assert massager_sdk.safety.UserProfile is HealthProfile
    with pytest.warns(DeprecationWarning, match="use HealthProfile"):
        old = massager_sdk.safety.screening.UserProfile
    assert old is HealthProfile


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
    old = massager("health", "check", env={"MASSAGER_PROFILE": str(path)})
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
