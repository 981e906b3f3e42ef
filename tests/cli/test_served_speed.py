"""A host and a simulated device served in another process at ``--speed`` keep one time.

``massager simulate --speed X`` prints a URL ending in ``?speed=X``; host verbs
given that URL run their own clock at X, so their keepalive reaches the device
before its watchdog (which counts device time) fires.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from massager_simulator.clock import run

from massager_sdk import connect
from massager_sdk.errors import ConnectionFailed
from massager_sdk.safety import HealthProfile
from tests.cli.conftest import Served
from tests.cli.helpers import massager


@pytest.fixture
def served_at_10x() -> Iterator[Served]:
    device = Served("--speed", "10")
    yield device
    device.stop()


def test_simulate_at_a_speed_says_it_in_the_url(served_at_10x: Served) -> None:
    assert served_at_10x.url.endswith("?speed=10")


def test_set_with_heat_holds_without_a_watchdog_stop_at_10x(
    served_at_10x: Served, profile_env: dict[str, str]
) -> None:
    # 30 s of device time: the watchdog (3 s of device time) would stop a host
    # that kept real time ten times over.
    result = massager(
        "set",
        "--intensity",
        "3",
        "--heat",
        "40",
        "--for",
        "30s",
        "--json",
        "--device",
        served_at_10x.url,
        env=profile_env,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, result.stdout
    assert all("watchdog" not in line["faults"] for line in lines), lines
    assert lines[-1]["intensities"] == [3, 3, 3, 3]
    assert lines[-1]["heat_target_c"] == 40
    assert "watchdog" not in result.stderr
    # And it left the device stopped.
    after = massager("status", "--json", "--device", served_at_10x.url, env=profile_env)
    assert after.returncode == 0, after.stderr
    state = json.loads(after.stdout.splitlines()[-1])
    assert state["intensities"] == [0, 0, 0, 0] and state["faults"] == []


def test_a_speed_that_contradicts_the_url_is_a_usage_error(
    served_at_10x: Served, profile_env: dict[str, str]
) -> None:
    result = massager(
        "set",
        "--intensity",
        "3",
        "--for",
        "5s",
        "--speed",
        "20",
        "--device",
        served_at_10x.url,
        env=profile_env,
    )
    assert result.returncode == 2
    assert "contradicts the device URL" in result.stderr and "10x" in result.stderr


def test_a_host_on_another_clock_is_refused_before_anything_is_switched_on(
    served_at_10x: Served,
) -> None:
    async def main() -> None:
        async with connect(served_at_10x.url):
            pass

    with pytest.raises(ConnectionFailed, match=r"runs 10x faster .* host's clock runs at 1x"):
        asyncio.run(main())
    with pytest.raises(ConnectionFailed, match=r"host's clock runs at 20x"):
        run(main(), speed=20)
    run(main(), speed=10)  # the device's own speed connects


def test_the_python_api_at_the_device_speed_holds_heat_without_a_watchdog_stop(
    served_at_10x: Served,
) -> None:
    async def main() -> list[str]:
        profile = HealthProfile(acknowledged=True)
        async with connect(served_at_10x.url, health_profile=profile) as device:
            await device.set_intensity(2)
            await device.set_heat(40)
            await device.flush()
            await asyncio.sleep(20)  # 20 s of device time, 2 s of real time
            status = await device.status()
            return [*status.faults, *(f"on={v}" for v in status.intensities)]

    seen = run(main(), speed=10)
    assert "watchdog" not in seen and "on=2" in seen


def test_set_for_counts_the_simulators_time_at_its_speed(profile_env: dict[str, str]) -> None:
    # 20 s of device time: a status line for each second of it, then the device stopped.
    result = massager(
        "set", "--intensity", "2", "--for", "20s", "--speed", "50", "--json", env=profile_env
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert 10 <= len(lines) <= 21, len(lines)
    assert lines[-1]["intensities"] == [2, 2, 2, 2]
    assert all("watchdog" not in line["faults"] for line in lines)


@pytest.mark.parametrize("speed", ["0", "-3", "inf"])
def test_a_speed_that_is_not_a_finite_positive_number_is_a_usage_error(
    speed: str, profile_env: dict[str, str]
) -> None:
    result = massager("set", "--intensity", "2", "--for", "5s", "--speed", speed, env=profile_env)
    assert result.returncode == 2
    assert "--speed must be a finite number above 0" in result.stderr
