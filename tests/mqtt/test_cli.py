"""``massager bridge`` as a process: its options, its last will, and its clean exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.cli.helpers import MASSAGER
from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import observer, unique_prefix


def acknowledged_env() -> dict[str, str]:
    """The environment with an acknowledged health profile (a service cannot ask)."""
    folder = Path(tempfile.mkdtemp(prefix="massager-profile-"))
    path = folder / "profile.toml"
    path.write_text("acknowledged = true\n")
    return {**os.environ, "MASSAGER_HEALTH_PROFILE": str(path)}


@contextmanager
def bridge_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [str(MASSAGER), "bridge", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=acknowledged_env(),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def options(broker: BrokerProcess, prefix: str) -> list[str]:
    return [
        "--broker",
        broker.url,
        "--device",
        "sim://neck2",
        "--base-topic",
        f"{prefix}/massager",
        "--discovery-prefix",
        f"{prefix}/ha",
        "--bridge-id",
        "cli",
        "--id-prefix",
        "desk_",
    ]


async def test_a_killed_bridge_is_reported_offline_by_its_last_will(
    live_broker: BrokerProcess,
) -> None:
    prefix = unique_prefix()
    state_topic = f"{prefix}/massager/bridge/cli/state"
    device = f"{prefix}/massager/desk_n2_000001"
    async with observer(live_broker, f"{prefix}/#") as obs:
        with bridge_process(*options(live_broker, prefix)) as proc:
            await obs.wait(state_topic, lambda p: p == b"online", within=30)
            # The id comes from the serial, with the prefix.
            await obs.wait(f"{device}/availability", lambda p: p == b"online", within=30)
            config = await obs.wait_json(f"{prefix}/ha/device/massager_desk_n2_000001/config")
            assert config["availability"][1]["topic"] == state_topic
            m = obs.mark()
            await obs.publish(f"{device}/set/intensity", "1")
            await obs.wait_json(device, lambda d: d["intensity"] == 1, after=m)
            proc.kill()  # no goodbye: the broker publishes the will
            await obs.wait(state_topic, lambda p: p == b"offline", after=m)


async def test_sigterm_stops_the_devices_and_says_offline(live_broker: BrokerProcess) -> None:
    prefix = unique_prefix()
    state_topic = f"{prefix}/massager/bridge/cli/state"
    device = f"{prefix}/massager/desk_n2_000001"
    async with observer(live_broker, f"{prefix}/#") as obs:
        with bridge_process(*options(live_broker, prefix)) as proc:
            await obs.wait(f"{device}/availability", lambda p: p == b"online", within=30)
            m = obs.mark()
            proc.send_signal(signal.SIGTERM)
            await obs.wait(f"{device}/availability", lambda p: p == b"offline", after=m)
            await obs.wait(state_topic, lambda p: p == b"offline", after=m)
            code = await asyncio.to_thread(proc.wait, 20)
            assert code == 143  # 128 + SIGTERM, as docs/cli.md and docs/home-assistant.md say
            assert proc.stderr is not None
            assert f"state topic {state_topic}" in proc.stderr.read()


def test_bad_options_exit_with_a_usage_error() -> None:
    for args, says in [
        (["--broker", "http://x"], "mqtt or mqtts"),
        (["--device", "sim://"], "--broker URL"),
        (["--broker", "mqtt://x", "--bridge-id", "No Way"], "--bridge-id"),
        (["--broker", "mqtt://x", "--ca-file", "ca.pem"], "mqtts"),
    ]:
        done = subprocess.run(
            [str(MASSAGER), "bridge", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=acknowledged_env(),
        )
        assert done.returncode == 2, done.stderr
        assert says in done.stderr
        assert done.stderr.startswith("massager: ")


def test_the_bridge_needs_an_acknowledged_profile(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(MASSAGER), "bridge", "--broker", "mqtt://127.0.0.1:1", "--device", "sim://"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "MASSAGER_HEALTH_PROFILE": str(tmp_path / "none.toml")},
    )
    assert done.returncode == 4, done.stderr
    assert "massager health acknowledge" in done.stderr
