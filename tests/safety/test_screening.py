"""Screening: every contraindication's action, and the profile file."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety import (
    HEALTH_PROFILE_ENV,
    PROFILE_ENV,
    SCREENING,
    Contraindication,
    HealthProfile,
    HealthProfileError,
    Limit,
    SafetyLimits,
    SafetyPolicy,
    ScreeningAction,
    acknowledge,
    default_profile_path,
    load_profile,
    profile_status,
    save_profile,
)
from massager_sdk.safety.screening import ELECTRICAL_SCREENING
from tests.safety.devices import heat_device

EXAMPLE = Path(__file__).parents[2] / "massager_sdk" / "safety" / "profile.example.toml"


def policy_for(*names: Contraindication) -> SafetyPolicy:
    return SafetyPolicy(heat_device(steps=10), health_profile=HealthProfile(frozenset(names)))


def test_every_contraindication_of_the_brief_has_a_rule() -> None:
    assert set(SCREENING) == set(Contraindication)
    assert len(Contraindication) == 26 + 2  # the article's, and two for electrical devices
    for name, rule in SCREENING.items():
        assert rule.article and rule.why
        # Only an entry the electrical table refuses may do nothing on a motor massager.
        assert rule.actions or name in ELECTRICAL_SCREENING


@pytest.mark.parametrize("name", list(Contraindication))
def test_each_contraindication_does_what_the_table_says(name: Contraindication) -> None:
    actions = SCREENING[name].actions
    policy = policy_for(name)
    refuses_sessions = ScreeningAction.REFUSE_SESSIONS in actions
    # Sessions
    if refuses_sessions:
        with pytest.raises(SafetyRefusal) as err:
            policy.check_output(0, 1, now=0.0)
        assert err.value.limit == Limit.SCREENING_SESSIONS
        assert name.value in str(err.value)
    else:
        policy.check_output(0, 1, now=0.0)
    # Heat
    if refuses_sessions or ScreeningAction.REFUSE_HEAT in actions:
        with pytest.raises(SafetyRefusal) as err:
            policy.check_heat(38.0, now=0.0)
        expected = Limit.SCREENING_SESSIONS if refuses_sessions else Limit.SCREENING_HEAT
        assert err.value.limit == expected
        assert (err.value.requested, err.value.allowed) == (38.0, None)
        assert not policy.snapshot(0.0).heat_allowed
    else:
        assert policy.check_heat(38.0, now=0.0) == 38.0
    # Intensity
    if not refuses_sessions:
        if ScreeningAction.CAP_INTENSITY in actions:
            assert policy.zone_max(0) == 5  # 50 % of 10 steps
            with pytest.raises(SafetyRefusal) as err:
                policy.check_output(0, 6, now=0.0)
            assert (err.value.limit, err.value.allowed) == (Limit.SCREENING_INTENSITY, 5)
        else:
            policy.check_output(0, 10, now=0.0)
    assert policy.snapshot(0.0).screening == (name.value,)


def test_all_three_actions_are_used() -> None:
    used = set().union(*(rule.actions for rule in SCREENING.values()))
    assert used == set(ScreeningAction)


def test_gentle_zone_under_an_intensity_cap_keeps_the_tighter_limit() -> None:
    policy = policy_for(Contraindication.SEVERE_OVERWORK)
    with pytest.raises(SafetyRefusal) as err:
        policy.check_output(2, 4, now=0.0)  # the throat zone: 3 at most
    assert (err.value.limit, err.value.allowed) == (Limit.FRONT_NECK_GENTLE, 3)


def test_unknown_contraindication_names_the_accepted_ones() -> None:
    with pytest.raises(HealthProfileError) as err:
        HealthProfile.from_mapping({"contraindications": ["headache"]})
    message = str(err.value)
    assert "'headache'" in message
    assert "acute_exacerbation" in message and "after_exercise" in message


def test_names_are_forgiving_about_case_spaces_and_hyphens() -> None:
    profile = HealthProfile.from_mapping(
        {"contraindications": ["High blood pressure", "spine-or-neck-injury"]}
    )
    assert profile.contraindications == {
        Contraindication.HIGH_BLOOD_PRESSURE,
        Contraindication.SPINE_OR_NECK_INJURY,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"contraindication": []}, "unknown key contraindication; accepted keys are"),
        ({"acknowledged": "yes"}, "acknowledged must be true or false"),
        ({"contraindications": "fever"}, "must be a list of names"),
        ({"limits": {"heat_max_c": 44.0}}, "less safe than the default"),
        ({"limits": {"heat_max": 40.0}}, "unknown limit 'heat_max'; accepted limits are"),
        ({"limits": {"rest_s": 1800.5}}, "whole number of seconds"),
        ({"limits": 3}, "must be a table"),
    ],
)
def test_bad_profiles_say_what_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(HealthProfileError, match=message):
        HealthProfile.from_mapping(data)


def test_profile_limits_only_tighten_the_policy() -> None:
    profile = HealthProfile(limits=SafetyLimits(heat_max_c=40.0))
    policy = SafetyPolicy(heat_device(), SafetyLimits(heat_max_c=41.0), profile)
    assert policy.limits.heat_max_c == 40.0
    profile = HealthProfile(limits=SafetyLimits(heat_max_c=41.0))
    assert (
        SafetyPolicy(heat_device(), SafetyLimits(heat_max_c=39.0), profile).limits.heat_max_c
        == 39.0
    )


def test_the_example_profile_loads() -> None:
    profile = load_profile(EXAMPLE)
    assert profile.acknowledged
    assert profile.contraindications == {Contraindication.HIGH_BLOOD_PRESSURE}
    assert profile.limits is not None and profile.limits.heat_max_c == 40.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    profile = HealthProfile(
        frozenset({Contraindication.PREGNANCY, Contraindication.FEVER}),
        acknowledged=True,
        limits=SafetyLimits(session_max_s=900, auto_off_s=600, heat_max_c=39.5),
    )
    path = save_profile(profile, tmp_path / "deep" / "profile.toml")
    assert load_profile(path) == profile


def test_missing_profile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no health profile at"):
        load_profile(tmp_path / "nothing.toml")


def test_invalid_toml_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text("contraindications = [", encoding="utf-8")
    with pytest.raises(HealthProfileError, match="not valid TOML"):
        load_profile(path)


def test_default_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(HEALTH_PROFILE_ENV, raising=False)
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_profile_path() == tmp_path / "config" / "massager" / "profile.toml"
    monkeypatch.setenv(PROFILE_ENV, str(tmp_path / "old.toml"))  # the old name still works
    assert default_profile_path() == tmp_path / "old.toml"
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(tmp_path / "mine.toml"))  # and the new one wins
    assert default_profile_path() == tmp_path / "mine.toml"


def test_first_use_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "profile.toml"
    monkeypatch.setenv(HEALTH_PROFILE_ENV, str(path))
    status = profile_status()
    assert (status.state, status.needs_prompt, status.path) == ("missing", True, path)
    profile = acknowledge()
    assert profile.acknowledged and not profile.contraindications
    status = profile_status()
    assert (status.state, status.needs_prompt) == ("ready", False)
    assert status.profile == profile


def test_acknowledge_keeps_the_rest_of_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text('contraindications = ["varicose_veins"]\n', encoding="utf-8")
    assert profile_status(path).state == "unacknowledged"
    acknowledge(path)
    profile = load_profile(path)
    assert profile.acknowledged
    assert profile.contraindications == {Contraindication.VARICOSE_VEINS}


def test_acknowledge_leaves_an_invalid_profile_alone(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text('contraindications = ["nonsense"]\n', encoding="utf-8")
    status = profile_status(path)
    assert status.state == "invalid" and "nonsense" in (status.error or "")
    with pytest.raises(HealthProfileError):
        acknowledge(path)
    assert path.read_text(encoding="utf-8") == 'contraindications = ["nonsense"]\n'
    assert [p.name for p in tmp_path.iterdir()] == ["profile.toml"]  # no temporary left


@pytest.mark.parametrize(
    ("limits", "found", "presets", "top"),
    [
        (SafetyLimits(), set(), (38.0, 40.0, 42.0), 3),  # the throat zone is gentle: 3 of 10
        (SafetyLimits(heat_max_c=40.0), set(), (38.0, 40.0), 3),
        (SafetyLimits(), {Contraindication.PREGNANCY}, (), 3),
        (SafetyLimits(), {Contraindication.SEVERE_OVERWORK}, (38.0, 40.0, 42.0), 3),
        (
            SafetyLimits(gentle_fraction=0.2),
            {Contraindication.SEVERE_OVERWORK},
            (38.0, 40.0, 42.0),
            2,
        ),
        (SafetyLimits(), {Contraindication.FEVER}, (), 0),
    ],
)
def test_what_a_session_may_ever_use(
    limits: SafetyLimits,
    found: set[Contraindication],
    presets: tuple[float, ...],
    top: int,
) -> None:
    """What a control panel offers: heat presets the policy accepts, one level for all zones."""
    policy = SafetyPolicy(heat_device(), limits, HealthProfile(frozenset(found)))
    assert policy.heat_presets() == presets
    assert policy.intensity_max() == top
    assert policy.intensity_max() == min(policy.zone_max(z) for z in range(4))


def test_the_policy_s_old_profile_keyword_still_works_and_warns() -> None:
    person = HealthProfile(frozenset({Contraindication.ANEURYSM}))
    with pytest.warns(DeprecationWarning, match="health_profile"):
        policy = SafetyPolicy(heat_device(), profile=person)
    assert policy.health_profile is person
    with pytest.warns(DeprecationWarning, match="health_profile"):
        assert policy.profile is person
    with pytest.raises(TypeError, match="health_profile= only"):
        SafetyPolicy(heat_device(), health_profile=HealthProfile(), profile=person)
