"""Device.emergency_stop (and the sync facade's): everything off, refused until resume()."""

from __future__ import annotations

import pytest

import massager_sdk.sync
from massager_sdk import SafetyRefusal
from tests.client.rig import FAST_RAMP
from tests.client.test_sync import simulator_of


def test_an_emergency_stop_holds_until_resume() -> None:
    with massager_sdk.sync.connect(limits=FAST_RAMP, speed=20) as device:
        sim = simulator_of(device)
        device.set_intensity(3)
        device.set_heat(38.0)
        device.flush(timeout=30)
        assert sim.is_on
        device.emergency_stop("test")
        assert not sim.is_on
        assert not device.acknowledged.running
        with pytest.raises(SafetyRefusal):
            device.set_intensity(1)
        device.resume()
        device.set_intensity(1)
        device.flush(timeout=30)
        assert sim.commanded == (1, 1, 1, 1)
