"""The invariant monitor itself catches each kind of breach (so the property test can fail)."""

from __future__ import annotations

import pytest

from massager_sdk.model import EventKind
from massager_sdk.safety import SafetyLimits
from tests.safety.devices import heat_device
from tests.safety.invariants import SafetyMonitor

OFF = [0, 0, 0, 0]


def monitor(**limits: object) -> SafetyMonitor:
    mon = SafetyMonitor(heat_device(sensor=False), SafetyLimits(**limits))  # type: ignore[arg-type]
    mon.tick(0.0)
    return mon


def test_a_jump_is_caught() -> None:
    mon = monitor()
    mon.device([1, 0, 0, 0], None, 0.0)
    with pytest.raises(AssertionError, match="jumped 1 -> 5"):
        mon.device([5, 0, 0, 0], None, 0.5)


def test_a_start_above_the_lowest_level_is_caught() -> None:
    with pytest.raises(AssertionError, match="no soft start"):
        monitor().device([3, 0, 0, 0], None, 0.0)


def test_a_loud_throat_zone_is_caught() -> None:
    mon = monitor()
    for t, level in enumerate([1, 2, 3, 4]):
        if level == 4:
            with pytest.raises(AssertionError, match="above its maximum 3"):
                mon.device([0, 0, level, 0], None, float(t))
        else:
            mon.device([0, 0, level, 0], None, float(t))


def test_heat_above_the_ceiling_is_caught() -> None:
    with pytest.raises(AssertionError, match=r"heat 42.5 C above 42.0 C"):
        monitor().device(OFF, 42.5, 0.0)


def test_a_session_that_runs_too_long_is_caught() -> None:
    mon = monitor()
    mon.device([1, 0, 0, 0], None, 0.0)
    mon.tick(900.0)
    with pytest.raises(AssertionError, match="passed its 900 s"):
        mon.tick(900.5)


def test_output_during_the_rest_is_caught() -> None:
    mon = monitor()
    mon.device([1, 0, 0, 0], None, 0.0)
    mon.device(OFF, None, 900.0)
    with pytest.raises(AssertionError, match="rest"):
        mon.device([1, 0, 0, 0], None, 1000.0)


def test_something_left_on_after_a_stop_is_caught() -> None:
    mon = monitor()
    mon.device([1, 0, 0, 0], None, 0.0)
    mon.event(EventKind.BUTTON, None, 1.0)
    with pytest.raises(AssertionError, match="past a stop's deadline"):
        mon.tick(1.1)


def test_with_the_link_down_the_device_watchdog_has_its_time() -> None:
    mon = monitor()
    mon.device([1, 0, 0, 0], None, 0.0)
    mon.link(False, 1.0)
    mon.event(EventKind.LINK_LOST, True, 1.0)
    mon.tick(4.0)  # the 3 s watchdog may take until here
    with pytest.raises(AssertionError, match="past a stop's deadline"):
        mon.tick(4.1)


def test_heat_after_a_fault_is_caught() -> None:
    mon = monitor()
    mon.fault("overheat", True, 0.0)
    with pytest.raises(AssertionError, match="after a heat fault"):
        mon.device(OFF, 40.0, 1.0)


def test_heating_blind_is_caught() -> None:
    mon = SafetyMonitor(heat_device(sensor=True))
    mon.tick(0.0)
    mon.device(OFF, 40.0, 0.0)
    mon.reading(40.0, 3.0)
    mon.tick(8.0)
    with pytest.raises(AssertionError, match="without a temperature reading"):
        mon.tick(8.1)


def test_too_much_dose_is_caught() -> None:
    mon = monitor(heat_max_c=45.0, dose_limit_fraction=0.01, overrides=frozenset({"heat_max_c"}))
    mon.device(OFF, 45.0, 0.0)
    mon.tick(108.0)
    with pytest.raises(AssertionError, match="thermal dose"):
        mon.tick(109.0)
