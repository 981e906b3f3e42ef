"""The thermal dose reproduces the burn-time figures it is built from."""

from __future__ import annotations

import pytest

from massager_sdk.safety.thermal import BURN_MINUTES, ThermalDose, dose_rate, minutes_to_burn


def test_44_c_burns_in_about_six_hours() -> None:
    assert minutes_to_burn(44.0) == pytest.approx(6 * 60)


@pytest.mark.parametrize("temp", [44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0])
def test_each_degree_up_to_51_c_halves_the_time(temp: float) -> None:
    assert minutes_to_burn(temp + 1) == pytest.approx(minutes_to_burn(temp) / 2)


def test_50_c_burns_within_minutes() -> None:
    assert 1 < minutes_to_burn(50.0) < 10


def test_below_44_c_the_dose_keeps_falling() -> None:
    assert dose_rate(43.0) == pytest.approx(0.25)
    assert dose_rate(42.0) == pytest.approx(1 / 16)
    # 20 minutes at the default 42 C ceiling: far from the 10 % stop.
    assert 20 * dose_rate(42.0) / BURN_MINUTES < 0.01


def test_dose_accumulates_and_decays() -> None:
    dose = ThermalDose(half_life_s=3600.0)
    dose.advance(60.0, 46.0)  # one minute at 46 C: 4 equivalent minutes
    assert dose.minutes == pytest.approx(4.0)
    assert dose.fraction == pytest.approx(4.0 / 360)
    dose.advance(3600.0, None)
    assert dose.minutes == pytest.approx(2.0)
    assert dose.seconds_until(0.01, 46.0) == pytest.approx((3.6 - 2.0) * 60 / 4)
    assert dose.seconds_to_decay(1.0 / 360) == pytest.approx(3600.0)


def test_very_high_readings_do_not_overflow() -> None:
    assert minutes_to_burn(1e6) > 0
