"""Device.acknowledged: what the device confirmed, read-only, through the simulator."""

from __future__ import annotations

import dataclasses

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.model import Waveform
from massager_sdk.session.plan import OFF, ZoneOutput
from tests.client.rig import FAST_RAMP


def test_acknowledged_follows_what_the_device_confirmed() -> None:
    async def main() -> None:
        async with (
            SimulatedDevice("heat4") as sim,
            massager_sdk.connect("sim://heat4", simulator=sim, limits=FAST_RAMP) as device,
        ):
            assert device.acknowledged.zones == (OFF,) * 4
            assert not device.acknowledged.running
            await device.set_intensity(3, 0, waveform=Waveform.PULSE, period=0.5)
            await device.set_heat(40.0)
            assert device.acknowledged.levels == (0, 0, 0, 0)  # asked, not confirmed
            await device.flush()
            told = device.acknowledged
            assert told.levels == sim.commanded == (3, 0, 0, 0)
            assert told.zones[0] == ZoneOutput(3, Waveform.PULSE, 0.5)
            assert told.heat_c == sim.heat_target_c == 40.0 and told.running
            with pytest.raises(dataclasses.FrozenInstanceError):
                told.heat_c = None  # type: ignore[misc]
            await device.stop()
            assert device.acknowledged.levels == (0, 0, 0, 0)
            assert device.acknowledged.heat_c is None

    run_virtual(main)
