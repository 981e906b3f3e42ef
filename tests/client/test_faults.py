"""The client under the simulator's fault injection: bad bytes, lost links, a mute device."""

from __future__ import annotations

import pytest
from massager_simulator import FaultConfig, SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk import ConnectionFailed, DeviceTimeout
from massager_sdk.client import Device
from massager_sdk.model import DeviceEvent, EventKind
from tests.client.rig import PROTOCOL_MODELS, PROTOCOLS, wait_for, with_device

LEVELS = (1, 4, 2, 5, 3, 0, 2)


async def drive_levels(device: Device, sim: SimulatedDevice) -> None:
    """Set a run of levels; after each, the device must hold exactly that level."""
    for level in LEVELS:
        await device.set_intensity(level)
        await device.flush()
        assert sim.commanded == (level,) * 4
        status = await device.status()
        assert len(status.intensities) == 4


@pytest.mark.parametrize("kind", ["sim", "tcp"])
def test_corrupted_bytes_are_skipped_and_commands_retried(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await drive_levels(device, sim)
        assert device.wire_stats.crc_errors + device.wire_stats.bytes_skipped > 0
        assert device.stats.retries > 0

    with_device(kind, body, faults=FaultConfig(corrupt=0.004, seed=11), retries=6, timeout=0.3)


@pytest.mark.parametrize("kind", ["sim", "tcp"])
def test_split_and_merged_writes_are_reassembled(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await drive_levels(device, sim)
        assert device.wire_stats.crc_errors == 0
        assert device.stats.retries == 0

    with_device(kind, body, faults=FaultConfig(split=1.0, merge=0.5, seed=5))


def test_busy_refusals_are_retried() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await drive_levels(device, sim)
        assert device.stats.retries > 0

    with_device("sim", body, faults=FaultConfig(busy=0.3, seed=2), retries=8)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", ["sim", "tcp", "ble"])
def test_a_dropped_link_is_regained_and_outputs_restored(kind: str, protocol: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        zones = len(device.info.zones)
        heated = device.info.heat is not None
        await device.set_intensity(4)
        if heated:
            await device.set_heat(40.0)
        await device.flush()
        sim.drop_links()
        await wait_for(lambda: any(e.kind is EventKind.LINK_LOST for e in events), "LINK_LOST")
        await wait_for(
            lambda: any(e.kind is EventKind.LINK_RESTORED for e in events), "LINK_RESTORED"
        )
        assert device.connected
        await device.flush()
        assert sim.commanded == (4,) * zones
        assert sim.heat_target_c == (40.0 if heated else None)
        assert device.stats.reconnects == 1
        # Calls made after the restore work as before.
        await device.set_intensity(2)
        await device.flush()
        assert sim.commanded == (2,) * zones

    with_device(kind, body, model=PROTOCOL_MODELS[protocol])


def test_calls_made_while_the_link_is_down_take_effect_when_it_is_back() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        await device.set_intensity(2)
        await device.flush()
        sim.drop_links()
        await device.set_intensity(3)  # accepted and scheduled while reconnecting
        await device.flush()
        assert sim.commanded == (3, 3, 3, 3)

    with_device("sim", body)


@pytest.mark.parametrize("kind", ["sim", "pty"])
def test_a_link_not_regained_within_the_grace_period_ends_the_session(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(3)
        await device.flush()
        # Powered off (sim) or the line gone (pty): nothing to reconnect to.
        if kind == "sim":
            await sim.stop()
        else:
            sim.drop_links()
        await wait_for(
            lambda: any(e.kind is EventKind.LINK_LOST and e.active is None for e in events),
            "the session to give up",
        )
        assert not device.connected
        assert not sim.is_on
        with pytest.raises(ConnectionFailed, match=r"not regained within 0\.5 s"):
            await device.set_intensity(1)
        with pytest.raises(ConnectionFailed):
            await device.status()

    with_device(kind, body, reconnect_grace_s=0.5, timeout=0.2)


def test_a_device_that_stops_answering_times_out_and_is_left_stopped() -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        events: list[DeviceEvent] = []
        device.on_event(events.append)
        await device.set_intensity(4)
        await device.flush()
        assert sim.is_on
        sim.inject(delay_ms=600_000)  # frames still flow, ten minutes late
        with pytest.raises(DeviceTimeout, match="no reply"):
            await device.status()
        await wait_for(lambda: not sim.is_on, "the device to be stopped", within=5.0)
        # Reconnecting cannot help a device that does not answer: the session ends.
        await wait_for(
            lambda: any(e.kind is EventKind.LINK_LOST and e.active is None for e in events),
            "the session to give up",
        )
        with pytest.raises(ConnectionFailed):
            await device.set_intensity(1)

    with_device("sim", body, timeout=0.2, retries=1, reconnect_grace_s=1.0)


def test_a_mute_device_fails_the_connect_with_a_clear_error() -> None:
    async def scenario() -> None:
        sim = SimulatedDevice("heat4", faults=FaultConfig(delay_ms=600_000))
        await sim.start()
        with pytest.raises(ConnectionFailed, match="does not answer"):
            async with massager_sdk.connect("sim://", simulator=sim, timeout=0.1, retries=0):
                pass
        await sim.stop()

    run_virtual(scenario)
