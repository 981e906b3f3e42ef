"""Limits: defaults, safer-only changes, explicit overrides (logged and visible)."""

from __future__ import annotations

import dataclasses

import pytest

from massager_sdk.safety import SPECS, SafetyLimits, SafetyPolicy
from tests.safety.devices import heat_device


def test_defaults_are_the_documented_figures() -> None:
    limits = SafetyLimits()
    assert limits.auto_off_s == 15 * 60
    assert limits.session_max_s == 20 * 60
    assert limits.rest_s == 30 * 60
    assert limits.heat_max_c == 42.0
    assert limits.gentle_fraction == 0.3
    assert limits.overridden() == {}


def test_every_field_has_a_spec() -> None:
    fields = {f.name for f in dataclasses.fields(SafetyLimits)} - {"overrides"}
    assert fields == set(SPECS)


@pytest.mark.parametrize(
    "change",
    [
        {"auto_off_s": 600},
        {"session_max_s": 900, "auto_off_s": 900},
        {"rest_s": 2400},
        {"heat_max_c": 40.0},
        {"dose_limit_fraction": 0.05},
        {"dose_half_life_s": 10000.0},
        {"temperature_timeout_s": 2.0},
        {"gentle_fraction": 0.2},
        {"capped_fraction": 0.4},
        {"max_fraction": 0.8},
        {"ramp_s": 6.0},
        {"ramp_interval_s": 1.0},
        {"ramp_interval_s": 0.1},  # pacing: either way
    ],
)
def test_safer_changes_need_no_override(change: dict[str, float]) -> None:
    limits = SafetyLimits(**change)  # type: ignore[arg-type]
    assert limits.overridden() == {}


@pytest.mark.parametrize(
    "change",
    [
        {"auto_off_s": 1200},
        {"session_max_s": 1500},
        {"rest_s": 1200},
        {"heat_max_c": 43.0},
        {"overtemp_margin_c": 2.0},
        {"temperature_timeout_s": 10.0},
        {"dose_limit_fraction": 0.2},
        {"dose_half_life_s": 3600.0},
        {"gentle_fraction": 0.4},
        {"capped_fraction": 0.6},
        {"ramp_s": 1.0},
    ],
)
def test_less_safe_changes_need_an_explicit_override(change: dict[str, float]) -> None:
    (name,) = change
    with pytest.raises(ValueError, match=f"{name}=.* is less safe than the default"):
        SafetyLimits(**change)  # type: ignore[arg-type]
    limits = SafetyLimits(**change, overrides=frozenset({name}))  # type: ignore[arg-type]
    assert limits.overridden() == change


def test_overrides_are_logged_and_visible(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="massager_sdk.safety")
    limits = SafetyLimits(
        heat_max_c=43.0, rest_s=1200, overrides=frozenset({"heat_max_c", "rest_s"})
    )
    policy = SafetyPolicy(heat_device(), limits)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "safety override: heat_max_c=43.0 is less safe than its default (42.0)" in warnings
    assert "safety override: rest_s=1200 is less safe than its default (1800)" in warnings
    assert policy.snapshot(0.0).to_dict()["overrides"] == {"heat_max_c": 43.0, "rest_s": 1200}


def test_no_override_passes_the_hard_bounds() -> None:
    with pytest.raises(ValueError, match=r"outside its hard bounds 30.0..45.0 C"):
        SafetyLimits(heat_max_c=46.0, overrides=frozenset({"heat_max_c"}))
    with pytest.raises(ValueError, match="outside its hard bounds"):
        SafetyLimits(session_max_s=7200, overrides=frozenset({"session_max_s"}))


def test_unknown_override_names_the_limits() -> None:
    with pytest.raises(
        ValueError, match="cannot override heat: not a limit; limits are auto_off_s"
    ):
        SafetyLimits(overrides=frozenset({"heat"}))


def test_auto_off_may_not_pass_the_hard_maximum() -> None:
    with pytest.raises(ValueError, match="auto_off_s=900 is above session_max_s=600"):
        SafetyLimits(session_max_s=600)


def test_wrong_types_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        SafetyLimits(rest_s=1800.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a number"):
        SafetyLimits(heat_max_c="40")  # type: ignore[arg-type]


def test_safest_takes_the_safer_side_of_each_field() -> None:
    a = SafetyLimits(heat_max_c=40.0, rest_s=2400)
    b = SafetyLimits(heat_max_c=39.0, auto_off_s=600, ramp_interval_s=1.0)
    both = a.safest(b)
    assert (both.heat_max_c, both.rest_s, both.auto_off_s) == (39.0, 2400, 600)
    assert both.ramp_interval_s == a.ramp_interval_s  # pacing comes from the first


def test_an_override_survives_only_where_it_still_loosens() -> None:
    loose = SafetyLimits(heat_max_c=44.0, overrides=frozenset({"heat_max_c"}))
    assert loose.safest(SafetyLimits(heat_max_c=41.0)).overrides == frozenset()
    assert loose.safest(SafetyLimits()).overridden() == {"heat_max_c": 44.0}  # nothing set


def test_a_profile_that_changes_one_limit_leaves_an_override_of_another() -> None:
    loose = SafetyLimits(heat_max_c=43.0, overrides=frozenset({"heat_max_c"}))
    both = loose.safest(SafetyLimits(auto_off_s=600))
    assert (both.heat_max_c, both.auto_off_s) == (43.0, 600)
    assert both.overridden() == {"heat_max_c": 43.0}
