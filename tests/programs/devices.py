"""Device capabilities for program tests: the simulator's models and a few made by hand."""

from __future__ import annotations

from massager_protocols.nmp import ZonePosition
from massager_simulator import list_models, load_model

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone
from massager_sdk.protocols.nmp import capabilities_from_info


def make_caps(
    model: str,
    zones: list[tuple[str, ZonePosition]],
    *,
    steps: int = 10,
    heat: HeatCapability | None = None,
    pattern_slots: int = 0,
    pattern_max_steps: int = 0,
    min_gap_s: float = 0.02,
) -> DeviceCapabilities:
    """Capabilities of a device that exists only in a test."""
    return DeviceCapabilities(
        model=model,
        serial="T-1",
        firmware="1.0.0",
        protocol="test",
        zones=tuple(Zone(i, name, pos) for i, (name, pos) in enumerate(zones)),
        intensity_steps=steps,
        heat=heat,
        battery_mah=1000,
        pattern_slots=pattern_slots,
        pattern_max_steps=pattern_max_steps,
        min_gap_s=min_gap_s,
        watchdog_s=3.0,
        auto_off_default_s=900,
        auto_off_max_s=1200,
    )


def model_caps(name: str) -> DeviceCapabilities:
    """The capabilities a simulator model reports in INFO."""
    return capabilities_from_info(load_model(name).info())


SIM_MODELS = list_models()

#: Two zones, no heat, no patterns, a slow link (a cheap BLE massager).
NECK2_PLAIN = make_caps(
    "plain neck 2",
    [("left", ZonePosition.NECK_LEFT), ("right", ZonePosition.NECK_RIGHT)],
    steps=5,
    min_gap_s=0.05,
)
#: Four zones on two rows, heat presets 38/40/42 C, patterns.
HEAT4 = make_caps(
    "heat 4",
    [
        ("left neck", ZonePosition.NECK_LEFT),
        ("right neck", ZonePosition.NECK_RIGHT),
        ("left shoulder", ZonePosition.SHOULDER_LEFT),
        ("right shoulder", ZonePosition.SHOULDER_RIGHT),
    ],
    heat=HeatCapability((38.0, 40.0, 42.0), 45.0),
    pattern_slots=8,
    pattern_max_steps=32,
)
#: One handheld head, no patterns.
HANDHELD_PLAIN = make_caps(
    "plain handheld", [("head", ZonePosition.HANDHELD)], steps=3, min_gap_s=0.05
)
#: Three rows, a centre nape and a front-of-neck zone.
WRAP6 = make_caps(
    "wrap 6",
    [
        ("front", ZonePosition.FRONT_NECK),
        ("left neck", ZonePosition.NECK_LEFT),
        ("right neck", ZonePosition.NECK_RIGHT),
        ("left shoulder", ZonePosition.SHOULDER_LEFT),
        ("right shoulder", ZonePosition.SHOULDER_RIGHT),
        ("upper back", ZonePosition.UPPER_BACK),
    ],
    steps=20,
    pattern_slots=4,
    pattern_max_steps=16,
)

#: Every device a built-in program must compile for.
ALL_CAPS: dict[str, DeviceCapabilities] = {
    **{f"sim:{name}": model_caps(name) for name in SIM_MODELS},
    "neck2-plain": NECK2_PLAIN,
    "heat4": HEAT4,
    "handheld-plain": HANDHELD_PLAIN,
    "wrap6": WRAP6,
}
