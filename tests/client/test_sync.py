"""The synchronous facade: the same client on a background loop."""

from __future__ import annotations

import threading

import pytest
from massager_simulator import SimulatedDevice

import massager_sdk.sync
from massager_sdk import NotInControl, SafetyRefusal
from massager_sdk.model import DeviceStatus
from massager_sdk.transports.sim import SimTransport
from tests.client.rig import FAST_RAMP


def simulator_of(device: massager_sdk.sync.SyncDevice) -> SimulatedDevice:
    transport = device.device.transport
    assert isinstance(transport, SimTransport) and transport.simulator is not None
    return transport.simulator


def test_blocking_calls_drive_the_device_and_leaving_stops_it() -> None:
    with massager_sdk.sync.connect(limits=FAST_RAMP, speed=20) as device:
        sim = simulator_of(device)
        assert device.info.model == "NMP Heat 4"
        device.set_intensity(3, "left neck")
        device.set_heat(38.0)
        device.flush(timeout=30)
        assert sim.commanded == (3, 0, 0, 0)
        assert sim.heat_target_c == 38.0
        assert device.acknowledged.levels == (3, 0, 0, 0)
        assert device.acknowledged.heat_c == 38.0
        assert device.options.limits is FAST_RAMP
        status = device.status()
        assert status.heat_target_c == 38.0
        assert device.connected
    assert not sim.is_on
    assert not any(t.name == "massager-sync" for t in threading.enumerate())


def test_errors_reach_the_calling_thread_unchanged() -> None:
    with massager_sdk.sync.connect(limits=FAST_RAMP) as device:
        with pytest.raises(SafetyRefusal) as refused:
            device.set_heat(44.0)
        assert refused.value.limit == "heat_max"
        with pytest.raises(ValueError, match=r"level 11 is outside 0\.\.10"):
            device.set_intensity(11)


def test_a_monitor_says_so_and_refuses_outputs_in_the_calling_thread() -> None:
    with massager_sdk.sync.connect(control=False) as device:
        assert not device.in_control
        with pytest.raises(NotInControl):
            device.set_intensity(1)
        assert device.status().intensities == (0, 0, 0, 0)


def test_telemetry_iterates_statuses() -> None:
    with massager_sdk.sync.connect(limits=FAST_RAMP, speed=20) as device:
        device.set_intensity(2)
        device.flush(timeout=30)
        statuses = []
        for item in device.telemetry(timeout=30):
            if isinstance(item, DeviceStatus):
                statuses.append(item)
            if len(statuses) == 2:
                break
        assert statuses[-1].intensities == (2, 2, 2, 2)


def test_an_interrupt_inside_the_block_still_stops_the_device() -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        massager_sdk.sync.connect(limits=FAST_RAMP, speed=20) as device,
    ):
        sim = simulator_of(device)
        device.set_intensity(4)
        device.flush(timeout=30)
        assert sim.is_on
        raise KeyboardInterrupt
    assert not sim.is_on


def test_a_closed_device_says_so() -> None:
    device = massager_sdk.sync.connect()
    device.close()
    device.close()
    with pytest.raises(RuntimeError, match="closed"):
        device.set_intensity(1)
