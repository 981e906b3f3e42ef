"""The reference models of the NMP/1 spec (section 11) are the simulator's models."""

from __future__ import annotations

from massager_protocols.nmp.spec import SPEC_PATH
from massager_simulator.model import load_model

REFERENCE_MODELS = ("neck2", "heat4", "handheld", "wrap8")


def spec_row(name: str) -> str:
    """The spec's table row for simulator model ``name``."""
    m = load_model(name)
    heat = (
        "-"
        if m.heat is None
        else f"{', '.join(f'{t:.1f}' for t in m.heat.targets_c)} / {m.heat.limit_c:.1f}"
    )
    battery = (
        "mains"
        if m.battery is None
        else f"{m.battery.capacity_mah} mAh, {m.battery.low_pct} % / {m.battery.shutdown_pct} %"
    )
    zones = ", ".join(z.position.name for z in m.zones)
    return (
        f"| `{name}` | {m.model} | {zones} | {m.intensity_steps} | {m.watchdog_ms} "
        f"| {m.auto_off_default_s} / {m.auto_off_max_s} | {m.min_gap_ms} "
        f"| {m.pattern_slots} x {m.pattern_max_steps} | {m.ramp_ms} | {heat} | {battery} "
        f"| {'yes' if m.button else 'no'} |"
    )


def test_the_spec_states_every_reference_model_as_the_simulator_runs_it() -> None:
    text = SPEC_PATH.read_text(encoding="utf-8")
    section = text[text.index("## 11. Reference models") :]
    section = section.split("\n## ", 1)[0]  # up to the next section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [spec_row(name) for name in REFERENCE_MODELS]
