"""``--speed``: the speed asked for against the speed delivered, through the real CLI.

Three ways a user runs faster than real time, each at 10x, 60x, 100x and 1000x:

- ``massager run PROGRAM --speed X`` (the embedded simulator, one process);
- ``massager set --intensity 2 --for D --speed X`` (the same);
- ``massager simulate --tcp 127.0.0.1:0 --speed X`` in one process and
  ``massager set ... --for D --device tcp://...?speed=X`` in another.

Effective speed is device time over wall time while the device plays, measured
in one run as a ratio to the requested speed (the baseline is the speed asked
for): for ``run``, the program's own elapsed time between its first and last
progress lines; for ``set``, the ``--for`` duration over the wall time from
its first status line (as the hold begins) to the command's exit (which adds
stopping and leaving: a lower bound), and for the served device also its own
clock, read from the auto-off countdown it reports. Start-up (about 0.2 s of interpreter and
imports) is left out of the ratio and shown beside it as the whole command's
wall time. The wait for a watchdog stop across processes is checked too: none
may happen.

Targets: at least 0.9 of the requested speed up to 100x, at least 0.5 at 1000x.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Report, Target, fmt

SPEEDS = (10, 60, 100, 1000)
#: Wall seconds of play aimed for at each speed (device time = speed x this).
WALL_S = 4.0
#: The longest program or hold: under the session limit and the device's auto-off.
MAX_DEVICE_S = 600.0
MASSAGER = str(Path(sys.executable).with_name("massager"))


def _program(directory: Path, device_s: float) -> Path:
    """A program of kneading in 60 s steps, about ``device_s`` long."""
    steps = max(1, round(device_s / 60))
    body = 'name = "bench-speed"\n\n[[stage]]\nname = "main"\n'
    body += '\n[[stage.step]]\ntechnique = "kneading"\nduration = 60\n' * steps
    path = directory / f"bench-speed-{steps}.toml"
    path.write_text(body)
    return path


class _Timed:
    """A command's JSON lines, each with the wall time it arrived."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        assert process.stdout is not None
        self.lines: list[tuple[float, dict[str, Any]]] = []
        for line in process.stdout:
            if line.startswith("{"):
                self.lines.append((time.perf_counter(), json.loads(line)))
        _, err = process.communicate()
        self.ended = time.perf_counter()
        self.wall_s = self.ended - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if process.returncode != 0 or len(self.lines) < 2:
            raise RuntimeError(f"{' '.join(cmd)} failed ({process.returncode}): {err}")
        self.stderr = err

    @property
    def span_s(self) -> float:
        """Wall time between the first and the last line."""
        return self.lines[-1][0] - self.lines[0][0]

    @property
    def to_exit_s(self) -> float:
        """Wall time from the first line to the command's exit."""
        return self.ended - self.lines[0][0]


def _measure_run(speed: float, directory: Path, env: dict[str, str]) -> dict[str, Any]:
    program = _program(directory, min(MAX_DEVICE_S * 2, speed * WALL_S))
    timed = _Timed([MASSAGER, "run", str(program), "--speed", f"{speed:g}", "--json"], env)
    device_s = timed.lines[-1][1]["elapsed_s"] - timed.lines[0][1]["elapsed_s"]
    return {"device_s": device_s, "timed": timed, "effective": device_s / timed.span_s}


def _hold_s(speed: float) -> float:
    return min(MAX_DEVICE_S, speed * WALL_S)


def _measure_set(speed: float, env: dict[str, str]) -> dict[str, Any]:
    hold = _hold_s(speed)
    cmd = [MASSAGER, "set", "--intensity", "2", "--for", f"{hold:g}s", "--json"]
    timed = _Timed([*cmd, "--speed", f"{speed:g}"], env)
    # The first line comes as the hold begins; the command exits after it ends.
    return {"device_s": hold, "timed": timed, "effective": hold / timed.to_exit_s}


def _measure_served(speed: float, env: dict[str, str]) -> dict[str, Any]:
    server = subprocess.Popen(
        [MASSAGER, "simulate", "--tcp", "127.0.0.1:0", "--speed", f"{speed:g}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        hold = _hold_s(speed)
        cmd = [MASSAGER, "set", "--intensity", "2", "--for", f"{hold:g}s", "--json", "-d", url]
        timed = _Timed(cmd, env)
    finally:
        server.terminate()
        server.wait(10)
    host_s = hold
    # The device's own clock: its auto-off countdown (whole seconds).
    first, last = timed.lines[0][1], timed.lines[-1][1]
    device_s = float(first["auto_off_s"] - last["auto_off_s"])
    stops = sum("watchdog" in data["faults"] for _, data in timed.lines)
    return {
        "device_s": host_s,
        "timed": timed,
        "effective": host_s / timed.to_exit_s,
        "device_effective": device_s / timed.span_s,
        "watchdog": stops,
        "url": url,
    }


def run() -> Report:
    """Each way at each speed once; the ratios to the requested speed are the figures."""
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rows: list[dict[str, str]] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.toml"
        profile.write_text("acknowledged = true\n")
        env = {**os.environ, "MASSAGER_PROFILE": str(profile)}
        for speed in SPEEDS:
            bound = 0.9 if speed <= 100 else 0.5
            cases = {
                "run (sim://)": _measure_run(speed, Path(tmp), env),
                "set --for (sim://)": _measure_set(speed, env),
                "set --for -> simulate": _measure_served(speed, env),
            }
            for name, m in cases.items():
                timed: _Timed = m["timed"]
                ratio = m["effective"] / speed
                device_ratio = m.get("device_effective")
                rows.append(
                    {
                        "how": name,
                        "requested": f"{speed:g}x",
                        "device time s": fmt(m["device_s"]),
                        "effective": f"{fmt(m['effective'])}x",
                        "ratio": fmt(ratio),
                        "device clock (served)": "-"
                        if device_ratio is None
                        else f"{fmt(device_ratio)}x",
                        "watchdog stops": str(m.get("watchdog", 0)),
                        "command wall s": fmt(timed.wall_s),
                        "CPU s": fmt(timed.cpu_s),
                    }
                )
                label = f"{name} at {speed:g}x"
                targets.append(Target(f"{label}, effective/requested", ratio, bound, ">="))
                if "watchdog" in m:
                    targets.append(Target(f"{label}, watchdog stops", m["watchdog"], 0, "<="))
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    return Report(
        title="Speed asked for against speed delivered (--speed)",
        command="python -m benchmarks speed",
        table=rows,
        targets=targets,
        notes=(
            "Effective speed is device time over wall time while the device plays; the ratio "
            "divides it by the speed asked for (the baseline). `run` reads the program's own "
            "elapsed time; `set --for` divides the hold by the wall time from its first status "
            "line to its exit (stopping and leaving included: a lower bound); for the served "
            "device, the device clock column is its own, from the auto-off countdown it "
            "reports (whole seconds). A ratio a little above 1 is the clock catching up on "
            "time owed from start-up work (at most 0.1 s of real time). Command wall and CPU "
            "time include the interpreter's start-up (about 0.2 s per process). Load average "
            f"before: {' '.join(load_before)}; after: {' '.join(load_after)} (2 cores, shared)."
        ),
    )
