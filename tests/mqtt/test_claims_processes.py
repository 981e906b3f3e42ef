"""Several bridge processes on one broker, every device within reach of all of them.

The claims protocol must never let two bridges drive one device: the simulated
devices (served on TCP by another process) count the links open to each at
once, and a bridge that connects takes control of a device. The bridges start
at the same moment (the worst case); then the one holding devices is killed
(no clean stop: the broker publishes its last will) and the others must take
its devices over.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mqtt.broker import BrokerProcess
from tests.mqtt.helpers import Observer, observer, unique_prefix

MASSAGER = Path(sys.executable).with_name("massager")
DEVICES = 6
BRIDGES = ("b0", "b1", "b2")
#: A generous bound for functional waits (not a timing target).
WITHIN_S = 40.0


class SharedFleet:
    """The ``tests.mqtt.shared_fleet`` process."""

    def __init__(self, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.mqtt.shared_fleet", str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.ports: list[int] = json.loads(self.process.stdout.readline())["ports"]

    def report(self) -> dict[str, list[int]]:
        """Stop serving and return the link counts."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        result: dict[str, list[int]] = json.loads(out.strip().splitlines()[-1])
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def fleet() -> Iterator[SharedFleet]:
    served = SharedFleet(DEVICES)
    yield served
    served.kill()


def _config(tmp: Path, broker: BrokerProcess, prefix: str, bridge: str, ports: list[int]) -> Path:
    lines = [
        f'[broker]\nurl = "{broker.url}"\nclient_id = "{prefix}-{bridge}"\n',
        f'[bridge]\nid = "{bridge}"\nbase_topic = "{prefix}/massager"\n'
        f'discovery_prefix = "{prefix}/ha"\n',
    ]
    for i, port in enumerate(ports):
        lines.append(f'[[devices]]\nid = "d{i}"\nurl = "tcp://127.0.0.1:{port}"\n')
    path = tmp / f"{bridge}.toml"
    path.write_text("\n".join(lines))
    return path


async def _devices_of(obs: Observer, prefix: str, bridge: str) -> dict[str, str]:
    """A bridge's own view: the phase of each of its devices (``devices`` request)."""
    root = f"{prefix}/massager/bridge/{bridge}"
    for attempt in range(4):
        mark = obs.mark()
        await obs.send(f"{root}/request/devices", {"transaction": f"{bridge}-{attempt}"})
        try:
            answer = await obs.wait_json(f"{root}/response/devices", after=mark, within=10)
            break
        except AssertionError:
            print(f"no answer from {bridge} to request {attempt}")
    else:
        raise AssertionError(f"bridge {bridge} never answered its devices request")
    assert answer["status"] == "ok", answer
    return {d["id"]: d["phase"] for d in answer["data"]}


def _holders(obs: Observer, prefix: str) -> dict[str, str]:
    holders = {}
    for i in range(DEVICES):
        payload = obs.last.get(f"{prefix}/massager/d{i}/claim", b"")
        if payload:
            holders[f"d{i}"] = json.loads(payload)["owner"]
    return holders


async def _wait_all_held(obs: Observer, prefix: str, alive: set[str]) -> dict[str, str]:
    """Wait until every device is claimed by a live bridge and that bridge serves it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN_S
    while True:
        holders = _holders(obs, prefix)
        if len(holders) == DEVICES and set(holders.values()) <= alive:
            views = {b: await _devices_of(obs, prefix, b) for b in sorted(alive)}
            active = {d: [b for b in views if views[b].get(d) == "active"] for d in holders}
            if all(active[d] == [holders[d]] for d in holders):
                return holders
        if loop.time() > deadline:
            raise AssertionError(f"devices not all held by live bridges: {holders}")
        await asyncio.sleep(0.2)


def test_bridge_processes_never_drive_one_device_twice_and_take_over_from_a_dead_one(
    live_broker: BrokerProcess, fleet: SharedFleet, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    profile = tmp_path / "profile.toml"
    profile.write_text("acknowledged = true\n")
    configs = {b: _config(tmp_path, live_broker, prefix, b, fleet.ports) for b in BRIDGES}

    async def scenario() -> tuple[dict[str, str], str, dict[str, str]]:
        processes: dict[str, asyncio.subprocess.Process] = {}
        try:
            async with observer(
                live_broker,
                f"{prefix}/massager/+/claim",
                f"{prefix}/massager/bridge/+/state",
                f"{prefix}/massager/bridge/+/response/+",
            ) as obs:
                for bridge, config in configs.items():  # all at once: the worst case
                    processes[bridge] = await asyncio.create_subprocess_exec(
                        *(str(MASSAGER), "bridge", "--config", str(config)),
                        *("--health-profile", str(profile)),
                        stdout=subprocess.DEVNULL,
                        stderr=(tmp_path / f"{bridge}.log").open("wb"),
                    )
                before = await _wait_all_held(obs, prefix, set(BRIDGES))
                # Kill a bridge that holds devices: no clean stop, its last will says offline.
                victim = before["d0"]
                processes[victim].kill()
                await processes[victim].wait()
                after = await _wait_all_held(obs, prefix, set(BRIDGES) - {victim})
                return before, victim, after
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.terminate()
            for process in processes.values():
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()

    before, victim, after = asyncio.run(scenario())
    links: dict[str, Any] = fleet.report()
    # Never two links (two hosts in control) to one device at once.
    assert links["most_links"] == [1] * DEVICES, links
    # The dead bridge's devices went to live bridges, each over a new link.
    taken_over = [d for d, owner in before.items() if owner == victim]
    assert taken_over and all(after[d] != victim for d in taken_over)
    assert all(links["links"][int(d[1:])] >= 2 for d in taken_over), links
