"""A stop this host did not make ends its program: checked through real CLI processes.

``massager run`` plays a program on a served simulator; ``massager stop`` from
another process stops the device. The program must end and never switch the
device on again; the device's own reports (read by a third process) show it off.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from tests.cli.conftest import Served
from tests.cli.helpers import MASSAGER, massager


def device_state(url: str) -> tuple[list[int], float | None]:
    """Levels and heat target as the device itself reports them."""
    result = massager("status", "--device", url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return list(data["intensities"]), data["heat_target_c"]


def test_a_stop_from_another_process_ends_a_running_program(
    served: Served, profile_env: dict[str, str]
) -> None:
    process = subprocess.Popen(
        [str(MASSAGER), "run", "office-break", "--device", served.url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **profile_env},
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            progress = json.loads(line)
            if any(progress["intensities"]) and progress["elapsed_s"] >= 2:
                break  # the program drives the device
        stopped = massager("stop", "--device", served.url, env=profile_env)
        assert stopped.returncode == 0, stopped.stderr
        # The program ends of its own accord, without switching anything on again.
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    last = json.loads(out.strip().splitlines()[-1])
    assert last["state"] == "stopped", last
    assert "another host" in last["reason"], last
    # Seen from the device for a few seconds more: everything stays off.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert device_state(served.url) == ([0, 0, 0, 0], None)
        time.sleep(0.5)
