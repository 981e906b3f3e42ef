"""Every script in examples/ runs against the default simulator and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: Per example, lines (or line starts) its output must contain, in order.
EXPECTED: dict[str, list[str]] = {
    "connect.py": [
        "connected to NMP Heat 4 (serial H4-000001, firmware 1.3.0)",
        "protocol nmp1, levels 0..10",
        "zone 0: left neck (neck_left)",
        "zone 3: right shoulder (shoulder_right)",
        "heater: presets (38.0, 40.0, 42.0) C, limit 45.0 C",
        "battery: 100 %",
    ],
    "set_intensity.py": [
        "all zones: (3, 3, 3, 3)",
        "left neck swells between 0 and 5:",
        "stopped: (0, 0, 0, 0)",
    ],
    "heat.py": [
        "refused: safety limit",
        "target 40.0 C, pad at",
        "heater off: True",
    ],
    "telemetry.py": [
        "status: levels",
        "status: levels",
        "status: levels (2, 2, 2, 2)",
    ],
    "watch.py": [
        "watching NMP Heat 4 on sim://heat4; in control: False",
        "status: levels (2, 2, 2, 2)",
        "status: levels (0, 0, 0, 0)",  # the other host left: the device's last report
        "the device went off; the monitor left it as it was",
    ],
    "sync_script.py": [
        "connected to NMP Heat 4",
        "levels: (2, 2, 2, 2)",
        "left the block: the device is stopped",
    ],
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    env = {**os.environ, "MASSAGER_SPEED": "20"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    position = 0
    for expected in EXPECTED[name]:
        while position < len(lines) and not lines[position].startswith(expected):
            position += 1
        assert position < len(lines), f"{expected!r} missing from:\n{done.stdout}"
        position += 1


def test_the_heat_example_sees_the_pad_warm_up() -> None:
    env = {**os.environ, "MASSAGER_SPEED": "20"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "heat.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    temperatures = [
        float(line.split("pad at ")[1].split(" C")[0])
        for line in done.stdout.splitlines()
        if "pad at" in line
    ]
    assert len(temperatures) == 4
    assert temperatures[-1] > temperatures[0]
