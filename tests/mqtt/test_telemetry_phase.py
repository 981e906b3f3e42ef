"""Each device refreshes its slow fields at its own phase of the telemetry period.

A fleet switched on together publishes its first states in the same instant;
were every slow refresh due one period after the last publication, all the
devices would refresh together for as long as they run. These tests take the
moments the nodes' own schedule gives (no clock is read) and check that they
cover the period.
"""

from __future__ import annotations

import itertools
import math

import pytest

from massager_sdk.mqtt import Bridge, DeviceConfig, load_config
from massager_sdk.mqtt.node import DeviceNode
from massager_sdk.mqtt.node_publish import refresh_phase, slow_refresh_at

INTERVAL = 5.0
SWITCHED_ON_AT = 1234.567  # a loop time: every node's last full publication
BINS = 20


def fleet(ids: list[str]) -> list[DeviceNode]:
    config = load_config(broker="mqtt://127.0.0.1:1883", base_topic="t/massager")
    bridge = Bridge(config)
    assert bridge.config.telemetry_interval_s == INTERVAL
    return [DeviceNode(bridge, DeviceConfig("sim://heat4", id=device_id), {}) for device_id in ids]


ID_SHAPES = {
    "numbered": [f"dev{i:04d}" for i in range(1000)],
    "ble addresses": [f"aabbccdd{i:04x}" for i in range(1000)],
}


@pytest.mark.parametrize("shape", ID_SHAPES)
def test_a_fleet_switched_on_together_spreads_its_slow_refreshes_over_the_period(
    shape: str,
) -> None:
    nodes = fleet(ID_SHAPES[shape])
    due = sorted(node.publisher.slow_refresh_at(SWITCHED_ON_AT) for node in nodes)
    # Each is due within half a period of one period after the common publication...
    assert due[0] >= SWITCHED_ON_AT + INTERVAL / 2
    assert due[-1] <= SWITCHED_ON_AT + 1.5 * INTERVAL
    # ...and together they cover the whole period: every twentieth of it has its share
    # (50 expected) and there is no long quiet stretch between two refreshes.
    counts = [0] * BINS
    for moment in due:
        counts[int((moment % INTERVAL) / INTERVAL * BINS) % BINS] += 1
    assert min(counts) >= 25, counts
    assert max(counts) <= 75, counts
    gaps = [b - a for a, b in itertools.pairwise(due)]
    gaps.append(due[0] + INTERVAL - due[-1])  # round the period's end to its start
    assert max(gaps) < INTERVAL / BINS, max(gaps)
    assert len({round(moment, 6) for moment in due}) > 990  # not bunched on a few instants


def on_phase(moment: float, device_id: str) -> bool:
    periods = moment / INTERVAL - refresh_phase(device_id)
    return abs(periods - round(periods)) < 1e-9


def test_a_steady_device_refreshes_once_a_period_at_its_own_phase() -> None:
    (node,) = fleet(["desk"])
    first = node.publisher.slow_refresh_at(SWITCHED_ON_AT)
    assert on_phase(first, "desk")
    # A refresh published a little late does not push the next one a period away.
    assert node.publisher.slow_refresh_at(first + 0.04) == pytest.approx(first + INTERVAL)
    # A fast change published off the phase: the next slow refresh is back on it, no
    # sooner than half a period after.
    off = first + 0.3 * INTERVAL
    after = node.publisher.slow_refresh_at(off)
    assert after == pytest.approx(first + INTERVAL)
    assert on_phase(after, "desk")
    assert after - off >= INTERVAL / 2


def test_the_phase_is_the_same_on_every_run_and_within_the_period() -> None:
    phases = [refresh_phase(f"dev{i:04d}") for i in range(100)]
    assert phases == [refresh_phase(f"dev{i:04d}") for i in range(100)]
    assert all(0.0 <= phase < 1.0 for phase in phases)
    assert slow_refresh_at(0.0, 2.0, 0.25) == 2.5
    assert slow_refresh_at(10.0, 2.0, 0.0) == 12.0
    assert slow_refresh_at(-math.inf, 2.0, 0.5) == -math.inf  # never published: due now
