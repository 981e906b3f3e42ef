"""An eight-zone NMP/1 device (the simulator's wrap8): STATUS packs two zone
levels to a byte, and host and conformance suite read each zone right."""

from __future__ import annotations

import pytest
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.clock import run_virtual
from massager_simulator.testmode import offering

from massager_sdk.client import Device
from massager_sdk.conformance import CHECKS, CheckResult, run_conformance, run_failed
from tests.client.rig import TRANSPORTS, wait_for, with_device

#: A different level on every zone, so a zone read from its neighbour's bits shows.
LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_the_host_reads_each_of_eight_zones_levels(kind: str) -> None:
    async def body(device: Device, sim: SimulatedDevice) -> None:
        assert len(device.info.zones) == 8
        for zone, level in enumerate(LEVELS):
            await device.set_intensity(level, zone)
        await device.flush()
        assert sim.commanded == LEVELS
        await wait_for(lambda: sim.intensities == LEVELS, "the motors to reach their levels")
        assert (await device.status()).intensities == LEVELS
        # the unprompted telemetry reads the same
        await wait_for(
            lambda: device.last_status is not None and device.last_status.intensities == LEVELS,
            "telemetry with every zone's level",
        )

    with_device(kind, body, model="wrap8")


def test_wrap8_passes_conformance() -> None:
    async def main() -> list[CheckResult]:
        # Built for test, so the checks of 7.4 to 7.6 and 12 run over the link too.
        async with SimulatedDevice(offering(load_model("wrap8"))) as sim:
            return await run_conformance("sim://wrap8", simulator=sim)

    results = run_virtual(main)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    auth = [r for r in results if r.section.startswith("10")]  # wrap8 has no AUTH mode
    assert auth and all(not r.tested and "does not advertise AUTH" in r.detail for r in auth)
    others = [r for r in results if r not in auth]
    assert all(r.passed and r.tested for r in others), [r for r in others if not r.passed]
    assert not run_failed(results, strict=True)
    (levels,) = [r for r in results if r.name == "STATUS reports each zone's own level"]
    assert levels.detail == f"levels {list(LEVELS)}"
    (status,) = [r for r in results if r.name.startswith("GET_STATUS returns STATUS")]
    assert "20-byte frame" in status.detail
