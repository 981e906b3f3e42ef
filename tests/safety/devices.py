"""Device capabilities the safety tests run against (shaped like the simulator's models)."""

from __future__ import annotations

from massager_protocols.nmp import ZonePosition

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone


def heat_device(
    *, sensor: bool = True, steps: int = 10, min_gap_s: float = 0.02
) -> DeviceCapabilities:
    """Four zones, one of them over the front of the neck, a heater limited to 45 C."""
    return DeviceCapabilities(
        model="Test Heat 4",
        serial="T4-1",
        firmware="1.0",
        protocol="nmp1",
        zones=(
            Zone(0, "left neck", ZonePosition.NECK_LEFT),
            Zone(1, "right neck", ZonePosition.NECK_RIGHT),
            Zone(2, "throat", ZonePosition.FRONT_NECK),
            Zone(3, "shoulders", ZonePosition.UPPER_BACK),
        ),
        intensity_steps=steps,
        heat=HeatCapability(targets_c=(38.0, 40.0, 42.0), limit_c=45.0),
        battery_mah=2400,
        pattern_slots=8,
        pattern_max_steps=32,
        min_gap_s=min_gap_s,
        watchdog_s=3.0,
        auto_off_default_s=900,
        auto_off_max_s=1200,
        has_button=True,
        has_temperature_sensor=sensor,
    )


def plain_device(steps: int = 5) -> DeviceCapabilities:
    """Two zones, no heater."""
    return DeviceCapabilities(
        model="Test Neck 2",
        serial="N2-1",
        firmware="1.0",
        protocol="nmp1",
        zones=(
            Zone(0, "left", ZonePosition.NECK_LEFT),
            Zone(1, "right", ZonePosition.NECK_RIGHT),
        ),
        intensity_steps=steps,
        heat=None,
        battery_mah=1200,
        pattern_slots=0,
        pattern_max_steps=0,
        min_gap_s=0.02,
        watchdog_s=3.0,
        auto_off_default_s=900,
        auto_off_max_s=1200,
        has_button=True,
    )
