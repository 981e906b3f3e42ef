"""The MQTT bridge with 100 simulated devices: command-to-state latency, CPU and memory.

The bridge runs in its own process (``python -m benchmarks.bench_bridge serve``)
with a fleet of 100 simulated heat4 massagers in that process, all switched on
so that each reports its status every second. This process is Home Assistant's
side: it publishes ``set`` commands and waits for the state topic to show them.
The bridge's CPU time and memory are read from /proc. The baseline is the
broker's own round trip (publish, receive) measured in the same run.

Targets: command-to-state p99 at most 50 ms, under half a core, under 150 MB resident.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import aiomqtt

from benchmarks.harness import Report, Target, fmt, percentile

DEVICES = 100
SAMPLES = 300
IDLE_WINDOW_S = 10.0
PREFIX = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the bridge process -------------------------------------------------------------


def serve(broker_url: str, count: int) -> None:
    """Run one bridge with ``count`` simulated devices until SIGTERM."""
    from massager_simulator import Fleet

    from massager_sdk.mqtt import Bridge, DeviceConfig, load_config

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        config = load_config(
            broker=broker_url,
            base_topic=f"{PREFIX}/massager",
            discovery_prefix=f"{PREFIX}/ha",
            client_id=f"{PREFIX}-bridge",
        )
        async with Fleet(count) as fleet, Bridge(config) as bridge:
            for i, sim in enumerate(fleet):
                await bridge.add_device(DeviceConfig("sim://heat4", id=f"d{i:03d}"), simulator=sim)
            await stop.wait()

    asyncio.run(main())


# -- measuring ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class Watcher:
    """Home Assistant's side: the latest state of every device, and waiters."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.states: dict[str, dict[str, object]] = {}
        self.online: set[str] = set()
        self.state_messages = 0
        self._waiters: dict[str, tuple[int, asyncio.Future[float]]] = {}

    async def read(self) -> None:
        base = f"{PREFIX}/massager/"
        async for message in self.client.messages:
            now = time.perf_counter()
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            rest = topic[len(base) :]
            if rest == "_ping":
                waiter = self._waiters.get("_ping")
                if waiter and not waiter[1].done():
                    waiter[1].set_result(now)
            elif rest.endswith("/availability"):
                device = rest.split("/")[0]
                if payload == b"online":
                    self.online.add(device)
                else:
                    self.online.discard(device)
            elif "/" not in rest and payload:
                state = json.loads(payload)
                self.states[rest] = state
                self.state_messages += 1
                waiter = self._waiters.get(rest)
                zones = state.get("zones", {})
                if waiter and not waiter[1].done() and all(v == waiter[0] for v in zones.values()):
                    waiter[1].set_result(now)

    def expect(self, device: str, level: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[device] = (level, future)
        return future


async def measure(broker_url: str, host: str, port: int) -> dict[str, float]:
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    async with aiomqtt.Client(
        host, port, identifier=f"{PREFIX}-ha", socket_options=nodelay
    ) as client:
        watcher = Watcher(client)
        reader = asyncio.create_task(watcher.read())
        await client.subscribe(
            [(f"{PREFIX}/massager/+", 1), (f"{PREFIX}/massager/+/availability", 1)]
        )

        # Baseline: the broker's own round trip.
        base: list[float] = []
        for _ in range(SAMPLES):
            future = watcher.expect("_ping", 0)
            start = time.perf_counter()
            await client.publish(f"{PREFIX}/massager/_ping", b"x", qos=1)
            base.append(await asyncio.wait_for(future, 5) - start)

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.bench_bridge",
            "serve",
            broker_url,
            str(DEVICES),
            stderr=subprocess.DEVNULL,
        )
        try:
            started = time.perf_counter()
            while len(watcher.online) < DEVICES or len(watcher.states) < DEVICES:
                if proc.returncode is not None:
                    raise RuntimeError(f"the bridge exited with {proc.returncode}")
                if time.perf_counter() - started > 120:
                    raise RuntimeError(f"only {len(watcher.online)} devices came online")
                await asyncio.sleep(0.1)
            startup_s = time.perf_counter() - started
            devices = sorted(watcher.states)

            # Everything on, reporting status every second.
            futures = [watcher.expect(d, 1) for d in devices]
            for d in devices:
                await client.publish(f"{PREFIX}/massager/{d}/set", b'{"intensity": 1}', qos=1)
            await asyncio.wait_for(asyncio.gather(*futures), 60)
            await asyncio.sleep(2.0)

            cpu0, t0, n0 = cpu_seconds(proc.pid), time.perf_counter(), watcher.state_messages
            await asyncio.sleep(IDLE_WINDOW_S)
            elapsed = time.perf_counter() - t0
            idle_cpu = (cpu_seconds(proc.pid) - cpu0) / elapsed
            idle_rate = (watcher.state_messages - n0) / elapsed

            # Command to state through the broker, one command at a time.
            rng = random.Random(1)
            level = dict.fromkeys(devices, 1)
            latencies: list[float] = []
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            for i in range(SAMPLES):
                device = devices[(i * 37 + rng.randrange(3)) % len(devices)]
                level[device] = 2 if level[device] == 1 else 1
                future = watcher.expect(device, level[device])
                start = time.perf_counter()
                await client.publish(
                    f"{PREFIX}/massager/{device}/set/intensity", str(level[device]), qos=1
                )
                latencies.append(await asyncio.wait_for(future, 10) - start)
                await asyncio.sleep(0.02)
            busy_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t0)
            rss, peak = memory_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader
    return {
        "startup_s": startup_s,
        "base_p50": percentile(base, 50),
        "base_p99": percentile(base, 99),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "median": median(latencies),
        "idle_cpu": idle_cpu,
        "idle_rate": idle_rate,
        "busy_cpu": busy_cpu,
        "rss": rss,
        "peak": peak,
    }


def run() -> Report:
    """Start a broker, the bridge with 100 devices, and measure."""
    from tests.mqtt.broker import BrokerProcess

    with tempfile.TemporaryDirectory() as tmp:
        broker = BrokerProcess(Path(tmp))
        broker.start()
        try:
            r = asyncio.run(measure(broker.url, broker.host, broker.port))
        finally:
            broker.stop()
    ms = 1000
    tuned = (
        " (with `set_tcp_nodelay true`, as tests/mqtt/broker.py configures it)"
        if broker.kind == "mosquitto"
        else ""
    )
    rows = [
        {
            "measure": "broker round trip (baseline)",
            "p50": f"{fmt(r['base_p50'] * ms)} ms",
            "p99": f"{fmt(r['base_p99'] * ms)} ms",
        },
        {
            "measure": "command to state, through the bridge",
            "p50": f"{fmt(r['p50'] * ms)} ms",
            "p99": f"{fmt(r['p99'] * ms)} ms",
        },
    ]
    return Report(
        title=f"MQTT bridge, {DEVICES} simulated devices",
        command="python -m benchmarks bridge",
        table=rows,
        targets=[
            Target("command to state, p99", r["p99"] * ms, 50, "<=", " ms"),
            Target("bridge CPU, devices reporting", r["idle_cpu"], 0.5, "<=", " cores"),
            Target("bridge CPU, while commanded", r["busy_cpu"], 0.5, "<=", " cores"),
            Target("bridge resident memory (peak)", r["peak"], 150, "<=", " MB"),
        ],
        notes=(
            f"One bridge process serving {DEVICES} in-process simulated heat4 massagers, all "
            f"on and reporting status every second, on {broker.kind} on 127.0.0.1{tuned}. "
            f"{SAMPLES} `set/intensity` commands, one at a time, each timed until the "
            "retained state shows every zone at the new level (the device has acknowledged "
            f"it). Command to state is {fmt(r['p50'] / r['base_p50'])}x the broker's own "
            f"round trip at p50; slowest {fmt(r['max'] * ms)} ms. All devices online and "
            f"published {fmt(r['startup_s'])} s after start. CPU: "
            f"{fmt(r['idle_cpu'] * 100)} % of a core with the devices reporting "
            f"({fmt(r['idle_rate'])} state messages/s published meanwhile), "
            f"{fmt(r['busy_cpu'] * 100)} % while commanded; resident memory "
            f"{fmt(r['rss'])} MB (peak {fmt(r['peak'])} MB), from /proc."
        ),
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        print("usage: python -m benchmarks.bench_bridge serve BROKER_URL COUNT", file=sys.stderr)
        sys.exit(2)
