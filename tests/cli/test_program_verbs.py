"""``massager run`` and ``massager program ...`` as the real console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.cli.conftest import Served
from tests.cli.helpers import MASSAGER, massager
from tests.cli.test_device_verbs import levels, run_in_terminal

SHORT = """\
name = "short"
title = "A short test program"

[[stage]]
name = "main"

[[stage.step]]
technique = "kneading"
duration = 30
"""


def test_program_list() -> None:
    result = massager("program", "list", "--json")
    assert result.returncode == 0, result.stderr
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"classic", "office-break", "evening-heat", "acupressure"} <= names


def test_program_show_classic() -> None:
    result = massager("program", "show", "classic", "--json")
    program = json.loads(result.stdout)
    assert [s["name"] for s in program["stages"]] == ["preparatory", "main", "final"]
    assert program["duration_s"] <= 20 * 60
    plain = massager("program", "show", "classic")
    assert "kneading" in plain.stdout and "preparatory" in plain.stdout


def test_program_validate(tmp_path: Path) -> None:
    good = tmp_path / "short.toml"
    good.write_text(SHORT)
    assert massager("program", "validate", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(SHORT.replace('"kneading"', '"tickling"'))
    result = massager("program", "validate", str(bad))
    assert result.returncode == 1
    assert "bad.toml:8:" in result.stderr, "file and line of the offending key"
    assert "technique" in result.stderr and "tickling" in result.stderr
    assert "kneading" in result.stderr, "the error lists the accepted techniques"


def test_program_plot(tmp_path: Path) -> None:
    out = tmp_path / "classic.png"
    result = massager("program", "plot", "classic", "-o", str(out), "--model", "neck2")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_json_on_the_embedded_simulator(profile_env: dict[str, str]) -> None:
    result = massager("run", "office-break", "--speed", "400", "--json", env=profile_env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["state"] == "completed"
    assert abs(events[-1]["elapsed_s"] - 300) < 1
    assert max(max(e["intensities"]) for e in events) > 0
    assert {e["technique"] for e in events} >= {"stroking", "kneading", "rubbing", "vibration"}


def test_run_plain_output(profile_env: dict[str, str]) -> None:
    result = massager("run", "office-break", "--speed", "400", env=profile_env)
    assert result.returncode == 0, result.stderr
    assert "main / kneading" in result.stdout
    assert result.stdout.rstrip().endswith("office-break: completed; device stopped")
    assert "\x1b[" not in result.stdout


def test_run_unknown_program_is_a_usage_error(profile_env: dict[str, str]) -> None:
    result = massager("run", "massage-of-doom", env=profile_env)
    assert result.returncode == 2
    assert "classic" in result.stderr, "the error names the built-in programs"


def test_speed_is_only_for_the_simulator(served: Served, profile_env: dict[str, str]) -> None:
    result = massager("run", "classic", "--device", served.url, "--speed", "10", env=profile_env)
    assert result.returncode == 2
    assert "--speed only applies to the simulator" in result.stderr


def test_ctrl_c_during_run_stops_the_device(
    served: Served, profile_env: dict[str, str], tmp_path: Path
) -> None:
    program = tmp_path / "short.toml"
    program.write_text(SHORT)
    process = subprocess.Popen(
        [str(MASSAGER), "run", str(program), "--device", served.url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **profile_env},
    )
    assert process.stdout is not None
    # Wait until the program drives the device (kneading swells rise over seconds).
    for line in process.stdout:
        if any(json.loads(line)["intensities"]):
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted: device stopped" in err
    assert levels(served.url) == [0, 0, 0, 0]


def test_run_progress_bar_on_a_terminal(profile_env: dict[str, str]) -> None:
    code, screen = run_in_terminal(["run", "office-break", "--speed", "200"], profile_env)
    assert code == 0, screen
    assert "Five-minute office break" in screen
    assert "%" in screen and "\x1b[" in screen
    assert "office-break: completed; device stopped" in screen
