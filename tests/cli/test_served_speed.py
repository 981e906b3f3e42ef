"""A host and a simulated device served in another process at ``--speed`` keep one time.

``massager simulate --speed X`` prints a URL ending in ``?speed=X``, on TCP and
on a pseudo-terminal alike; host verbs and ``massager_sdk.sync.connect`` given
that URL run their own clock at X, so their keepalive reaches the device before
its watchdog (which counts device time) fires. A served device's watchdog is
never shorter than a host process may wait for a CPU in real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator

import pytest
from massager_simulator.clock import run
from massager_simulator.model import load_model
from massager_simulator.serve import SERVED_WATCHDOG_REAL_S, WATCHDOG_MAX_MS, served_model

import massager_sdk.sync
from massager_sdk import BadURLError, connect
from massager_sdk.errors import ConnectionFailed
from massager_sdk.safety import HealthProfile
from massager_sdk.transports import open_transport
from massager_sdk.transports.serialport import SerialTransport
from tests.cli.conftest import Served
from tests.cli.helpers import massager


class ServedOnPty(Served):
    """A ``massager simulate --serial`` process (a real pseudo-terminal) and its URL."""

    LINK = ("--serial",)
    URL_START = "serial:///dev/"


@pytest.fixture
def served_at_10x() -> Iterator[Served]:
    device = Served("--speed", "10")
    yield device
    device.stop()


@pytest.fixture
def pty_at_10x() -> Iterator[ServedOnPty]:
    device = ServedOnPty("--speed", "10")
    yield device
    device.stop()


def test_simulate_at_a_speed_says_it_in_the_url(served_at_10x: Served) -> None:
    assert served_at_10x.url.endswith("?speed=10")


def test_simulate_on_a_pty_at_a_speed_says_it_in_the_url(pty_at_10x: ServedOnPty) -> None:
    assert pty_at_10x.url.endswith("?speed=10")
    transport = open_transport(pty_at_10x.url)
    assert isinstance(transport, SerialTransport) and transport.speed == 10
    assert transport.description == pty_at_10x.url


def test_a_pty_at_real_time_has_no_speed_in_its_url() -> None:
    device = ServedOnPty()
    try:
        assert "?" not in device.url
    finally:
        device.stop()


def test_set_over_a_pty_at_10x_holds_without_a_watchdog_stop(
    pty_at_10x: ServedOnPty, profile_env: dict[str, str]
) -> None:
    # 30 s of device time over a real pty: the host learns the speed from the URL.
    result = massager(
        "set", "--intensity", "3", "--for", "30s", "--json", "-d", pty_at_10x.url, env=profile_env
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all("watchdog" not in line["faults"] for line in lines), lines
    assert lines[-1]["intensities"] == [3, 3, 3, 3]


def test_a_host_on_another_clock_than_a_pty_device_is_refused(pty_at_10x: ServedOnPty) -> None:
    async def main() -> None:
        async with connect(pty_at_10x.url):
            pass

    with pytest.raises(ConnectionFailed, match=r"runs 10x faster .* host's clock runs at 1x"):
        asyncio.run(main())
    run(main(), speed=10)


@pytest.mark.parametrize(
    ("url", "port", "baud", "speed"),
    [
        ("serial:///dev/ttyUSB0?speed=10", "/dev/ttyUSB0", 115200, 10.0),
        ("serial:///dev/ttyUSB0?baud=9600&speed=2.5", "/dev/ttyUSB0", 9600, 2.5),
        ("serial://COM3?speed=60&baud=9600", "COM3", 9600, 60.0),
        ("serial://COM3", "COM3", 115200, 1.0),
    ],
)
def test_every_serial_url_form_takes_a_speed(url: str, port: str, baud: int, speed: float) -> None:
    transport = open_transport(url)
    assert isinstance(transport, SerialTransport)
    assert (transport.port, transport.baud, transport.speed) == (port, baud, speed)


@pytest.mark.parametrize(
    "url",
    [
        "serial:///dev/ttyUSB0?speed=0",
        "serial://COM3?speed=fast",
        "serial:///dev/ttyUSB0?speed=1&speed=2",
        "tcp://127.0.0.1:7000?speed=inf",
    ],
)
def test_a_bad_speed_is_refused_the_same_way_on_every_url(url: str) -> None:
    with pytest.raises(BadURLError, match=r"speed= must be one finite number above 0"):
        open_transport(url)
    with pytest.raises(BadURLError, match=r"speed= must be one finite number above 0"):
        massager_sdk.sync.connect(url)


def test_sync_connect_runs_at_the_speed_in_the_url(served_at_10x: Served) -> None:
    profile = HealthProfile(acknowledged=True)
    with massager_sdk.sync.connect(served_at_10x.url, health_profile=profile) as device:
        device.set_intensity(2)
        device.flush()
        device.sleep(20)  # 20 s of device time: the watchdog (3 s) needs the host in step
        status = device.status()
        # A served device's replies get real-time room, as the CLI gives them.
        assert device.options.timeout == 1.0
    assert "watchdog" not in status.faults
    assert status.intensities == (2, 2, 2, 2)


def test_sync_connect_over_a_pty_runs_at_the_speed_in_its_url(pty_at_10x: ServedOnPty) -> None:
    with massager_sdk.sync.connect(pty_at_10x.url) as device:
        assert not device.status().faults


def test_sync_connect_refuses_a_speed_that_contradicts_the_url(served_at_10x: Served) -> None:
    with pytest.raises(ValueError, match=r"speed=20 contradicts the device URL.* 10x"):
        massager_sdk.sync.connect(served_at_10x.url, speed=20)
    with massager_sdk.sync.connect(served_at_10x.url, speed=10) as device:
        assert device.connected


@pytest.mark.parametrize("speed", [1, 10, 60, 1000, 100_000])
def test_a_served_watchdog_is_never_shorter_than_a_host_may_wait_for_a_cpu(speed: float) -> None:
    model = load_model("heat4")
    served = served_model(model, speed)
    # Never shorter than the model's own, in device time.
    assert served.watchdog_ms >= model.watchdog_ms
    # In real time at least SERVED_WATCHDOG_REAL_S, unless INFO cannot carry that much.
    real_s = served.watchdog_ms / 1000 / speed
    assert real_s >= SERVED_WATCHDOG_REAL_S or served.watchdog_ms == WATCHDOG_MAX_MS
    assert served.watchdog_ms <= WATCHDOG_MAX_MS
    # Only the watchdog changes.
    assert dataclasses.replace(served, watchdog_ms=model.watchdog_ms) == model


def test_a_device_served_at_1000x_tells_the_host_its_real_time_watchdog() -> None:
    # The cause of watchdog stops across processes at 1000x: a 3 s watchdog is 3 ms of real
    # time, less than a loaded machine may keep the host from running. The served device's
    # INFO carries the longer watchdog, so the host's keepalive (a third of it) follows.
    served = Served("--speed", "1000")
    try:
        with massager_sdk.sync.connect(served.url) as device:
            watchdog_s = device.info.watchdog_s
            keepalive_s = device.safety.keepalive_interval_s
    finally:
        served.stop()
    assert watchdog_s / 1000 >= SERVED_WATCHDOG_REAL_S
    assert keepalive_s == pytest.approx(watchdog_s / 3)


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
