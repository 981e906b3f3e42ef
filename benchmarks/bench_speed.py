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
stopping and leaving: a lower bound). Start-up (about 0.2 s of interpreter and
imports) is left out of the ratio and shown beside it as the whole command's
wall time. Across processes the host must also keep the device's time: its
keepalive has to reach the device before the device's watchdog fires (the
models' 3 s of device time, and never less than 60 ms of real time on a served
device), so a run with a watchdog stop (or a link the host gave up on) is
counted; none may happen.

Targets: at least 0.9 of the requested speed up to 100x, at least 0.5 at 1000x.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Report, Target, fmt

SPEEDS = (10, 60, 100, 1000)
#: Wall seconds of play aimed for at each speed (device time = speed x this).
WALL_S = 4.0
#: The longest program or hold: under the session limit and the device's auto-off.
MAX_DEVICE_S = 600.0
#: Holds against a served device at each speed (its link meets real latency).
SERVED_RUNS = 5
#: The longest a measured command may take before it is killed (it should take seconds).
LIMIT_S = 120.0
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
        # A command that hangs (a bug) must not hang the benchmark.
        guard = threading.Timer(LIMIT_S, process.kill)
        guard.start()
        try:
            for line in process.stdout:
                if line.startswith("{"):
                    self.lines.append((time.perf_counter(), json.loads(line)))
            _, err = process.communicate()
        finally:
            guard.cancel()
        self.ended = time.perf_counter()
        self.wall_s = self.ended - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.stderr = err
        #: Whether the command succeeded with lines to measure; else why not.
        self.ok = process.returncode == 0 and len(self.lines) >= 2
        self.error = "" if self.ok else f"{' '.join(cmd)} failed ({process.returncode}): {err}"

    def check(self) -> _Timed:
        """Raise if the command failed (in-process cases, which must not)."""
        if not self.ok:
            raise RuntimeError(self.error)
        return self

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
    cmd = [MASSAGER, "run", str(program), "--speed", f"{speed:g}", "--json"]
    timed = _Timed(cmd, env).check()
    device_s = timed.lines[-1][1]["elapsed_s"] - timed.lines[0][1]["elapsed_s"]
    return {"device_s": device_s, "timed": timed, "effective": device_s / timed.span_s}


def _hold_s(speed: float) -> float:
    return min(MAX_DEVICE_S, speed * WALL_S)


def _measure_set(speed: float, env: dict[str, str]) -> dict[str, Any]:
    hold = _hold_s(speed)
    cmd = [MASSAGER, "set", "--intensity", "2", "--for", f"{hold:g}s", "--json"]
    timed = _Timed([*cmd, "--speed", f"{speed:g}"], env).check()
    # The first line comes as the hold begins; the command exits after it ends.
    return {"device_s": hold, "timed": timed, "effective": hold / timed.to_exit_s}


def _serve_and_hold(speed: float, env: dict[str, str], ledger: Path) -> dict[str, Any]:
    # A new simulated device each time: a safety ledger of its own, so that no run
    # carries on an earlier run's session (and stops at its auto-off).
    env = {**env, "MASSAGER_LEDGER": str(ledger)}
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
    stops = sum("watchdog" in data["faults"] for _, data in timed.lines)
    if not timed.ok:
        # A link given up (replies later than the device's clock allows) counts as a stop.
        return {"timed": timed, "effective": 0.0, "stops": 1}
    return {"timed": timed, "effective": hold / timed.to_exit_s, "stops": int(stops > 0)}


def _measure_served(speed: float, env: dict[str, str], directory: Path) -> dict[str, Any]:
    """``SERVED_RUNS`` holds against a served device: the median, and runs with a stop."""
    runs = [
        _serve_and_hold(speed, env, directory / f"ledger-{speed:g}x-{n}.sqlite3")
        for n in range(SERVED_RUNS)
    ]
    runs.sort(key=lambda r: r["effective"])
    middle = runs[len(runs) // 2]
    return {
        "device_s": _hold_s(speed),
        "timed": middle["timed"],
        "effective": middle["effective"],
        "watchdog": sum(r["stops"] for r in runs),
    }


def run() -> Report:
    """Each way at each speed once; the ratios to the requested speed are the figures."""
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rows: list[dict[str, str]] = []
    targets: list[Target] = []
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.toml"
        profile.write_text("acknowledged = true\n")
        env = {**os.environ, "MASSAGER_HEALTH_PROFILE": str(profile)}
        for speed in SPEEDS:
            bound = 0.9 if speed <= 100 else 0.5
            # Each command a ledger of its own: none carries on another's session.
            fresh = {**env, "MASSAGER_LEDGER": str(Path(tmp) / f"ledger-{speed:g}x-run.sqlite3")}
            alone = {**env, "MASSAGER_LEDGER": str(Path(tmp) / f"ledger-{speed:g}x-set.sqlite3")}
            cases = {
                "run (sim://)": _measure_run(speed, Path(tmp), fresh),
                "set --for (sim://)": _measure_set(speed, alone),
                "set --for -> simulate": _measure_served(speed, env, Path(tmp)),
            }
            for name, m in cases.items():
                timed: _Timed = m["timed"]
                ratio = m["effective"] / speed
                rows.append(
                    {
                        "how": name,
                        "requested": f"{speed:g}x",
                        "device time s": fmt(m["device_s"]),
                        "effective": f"{fmt(m['effective'])}x",
                        "ratio": fmt(ratio),
                        "runs with a watchdog stop": "-"
                        if "watchdog" not in m
                        else f"{m['watchdog']} of {SERVED_RUNS}",
                        "command wall s": fmt(timed.wall_s),
                        "CPU s": fmt(timed.cpu_s),
                    }
                )
                label = f"{name} at {speed:g}x"
                targets.append(Target(f"{label}, effective/requested", ratio, bound, ">="))
                if "watchdog" in m:
                    targets.append(
                        Target(f"{label}, runs with a watchdog stop", m["watchdog"], 0, "<=")
                    )
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
            "line to its exit (stopping and leaving included: a lower bound). The served "
            f"device is measured {SERVED_RUNS} times at each "
            "speed (the median shown), and a run counts as stopped when the device's watchdog "
            "stopped it or the host gave up on the link; each served run has a ledger of its "
            "own (a new device: no session carried over). A served device's watchdog is at "
            "least 60 ms of real time (6 s of device time at 100x, 60 s at 1000x, as its INFO "
            "says), since a host in another process may wait that long for a CPU; the models' "
            "3 s are 3 ms at 1000x. A ratio a little above 1 is the clock "
            "catching up on time owed from start-up work (at most 0.1 s of real time). Command "
            "wall and CPU time include the interpreter's start-up (about 0.2 s per process). "
            f"Load average before: {' '.join(load_before)}; "
            f"after: {' '.join(load_after)} (2 cores, shared)."
        ),
    )
