"""What users expect of the command line: keys, traces, doctor, completion, names."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Served
from tests.cli.helpers import MASSAGER, Terminal, massager

# -- keys during run ---------------------------------------------------------------------


def test_keys_pause_resume_skip_and_stop_a_run(profile_env: dict[str, str]) -> None:
    term = Terminal("run", "office-break", "--speed", "5", env=profile_env)
    term.expect("p pause/resume  s skip step  q stop")
    term.expect("left neck")  # zone names in the live view
    term.send(b"p")
    term.expect("PAUSED")
    term.expect("(paused: p resumes)")
    term.send(b"p")
    term.send(b"s")
    term.expect("step 2/")
    term.send(b"q")
    code = term.finish()
    assert code == 0, term.screen
    assert "office-break: stopped" in term.screen
    assert "device stopped" in term.screen


def test_set_live_view_names_the_zones(profile_env: dict[str, str]) -> None:
    term = Terminal("set", "--intensity", "3", "--for", "2s", env=profile_env)
    term.expect("0: left neck")
    term.expect("3: right shoulder")
    assert term.finish() == 0, term.screen


def test_no_keys_when_stdin_is_not_a_terminal(profile_env: dict[str, str]) -> None:
    result = massager("run", "office-break", "--speed", "1000", env=profile_env, stdin="q\n")
    assert result.returncode == 0, result.stderr
    assert "office-break: completed" in result.stdout, "a q on a pipe is not a key press"


# -- wire traces ----------------------------------------------------------------------------


def test_trace_file_records_frames_and_decode_reads_it_back(
    tmp_path: Path, profile_env: dict[str, str]
) -> None:
    trace = tmp_path / "session.trace"
    result = massager("--trace", str(trace), "set", "--heat", "40", "--for", "1s", env=profile_env)
    assert result.returncode == 0, result.stderr
    lines = trace.read_text().splitlines()
    sent = [line for line in lines if " TX sim://" in line]
    assert any(line.endswith("SET_HEAT target_c=40.0") for line in sent), lines
    assert any(" RX sim://" in line and "ACK" in line for line in lines)
    decoded = massager("protocol", "decode", "--file", str(trace), "--json")
    assert decoded.returncode == 0, decoded.stderr
    frames = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert {f["direction"] for f in frames} == {"TX", "RX"}
    assert any("SET_HEAT target_c=40.0" in f["frame"] for f in frames)


def test_vv_traces_on_stderr_and_decode_takes_that_too(tmp_path: Path) -> None:
    result = massager("info", "-vv")
    assert result.returncode == 0
    assert " TX sim://heat4 | " in result.stderr and "GET_INFO" in result.stderr
    log = tmp_path / "stderr.log"
    log.write_text(result.stderr)
    decoded = massager("protocol", "decode", "--file", str(log))
    assert decoded.returncode == 0, decoded.stderr
    assert "INFO" in decoded.stdout and "frame(s) in" in decoded.stdout


def test_decode_file_without_trace_lines_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "nothing.txt"
    empty.write_text("hello\n")
    result = massager("protocol", "decode", "--file", str(empty))
    assert result.returncode == 2 and "holds no trace lines" in result.stderr


# -- doctor -------------------------------------------------------------------------------


def test_doctor_checks_each_thing_and_lists_serial_ports(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        result = massager("doctor", "--json", "--broker", f"mqtt://127.0.0.1:{port}")
    finally:
        listener.close()
    checks = json.loads(result.stdout)
    names = {c["name"] for c in checks}
    assert {"python", "device file", "health profile", "broker"} <= names
    assert names & {"serial port", "serial ports"}
    assert any(n in names for n in ("bluetooth", "d-bus"))
    broker = next(c for c in checks if c["name"] == "broker")
    assert broker["level"] == "ok" and "accepts connections" in broker["detail"]
    failed = any(c["level"] == "FAIL" for c in checks)
    assert result.returncode == (1 if failed else 0)


def test_doctor_fails_on_an_invalid_profile_and_an_unreachable_broker(tmp_path: Path) -> None:
    bad = tmp_path / "profile.toml"
    bad.write_text("acknowledged = 'maybe'\n")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = massager(
        "doctor", "--broker", f"mqtt://127.0.0.1:{port}", env={"MASSAGER_HEALTH_PROFILE": str(bad)}
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL  health profile") for line in lines), result.stdout
    assert any(line.startswith("FAIL  broker") and "cannot be reached" in line for line in lines)


# -- completion, device names ---------------------------------------------------------------


def _complete(line: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[str]:
    """What argcomplete offers for ``line``, as bash would ask for it."""
    answer = tmp_path / "completion.out"
    completion_env = {
        **os.environ,
        **(env or {}),
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),  # instead of the shell's fd 8
    }
    subprocess.run(
        [str(MASSAGER)],
        env=completion_env,
        capture_output=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return [w.strip() for w in answer.read_text().split("\n") if w.strip()]


def _devices_file(tmp_path: Path) -> dict[str, str]:
    devices = tmp_path / "devices.toml"
    devices.write_text(
        '[devices."sim://neck2"]\nname = "Bedroom massager"\n'
        '[devices."C0:FF:EE:*"]\nmax_intensity = 5\n'
    )
    return {"MASSAGER_DEVICES": str(devices)}


def test_completion_offers_programs_and_device_names(tmp_path: Path) -> None:
    import massager_sdk.cli.completion_cmd as completion

    env = _devices_file(tmp_path)
    os.environ["MASSAGER_DEVICES"] = env["MASSAGER_DEVICES"]
    try:
        assert "classic" in completion.program_names()
        names = completion.device_names()
    finally:
        del os.environ["MASSAGER_DEVICES"]
    assert "Bedroom massager" in names and "sim://heat4" in names
    assert not any("*" in n for n in names), "a wildcard pattern is not a device to name"
    assert _complete("massager run cl", tmp_path, env) == ["classic"]
    offered = _complete("massager info --device ", tmp_path, env)
    assert "Bedroom massager" in offered or "Bedroom\\ massager" in offered, offered


def test_device_name_from_the_device_file(tmp_path: Path) -> None:
    env = _devices_file(tmp_path)
    result = massager("info", "--device", "bedroom massager", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["name"], info["model"]) == ("Bedroom massager", "NMP Neck 2")
    via_env = massager("info", "--json", env={**env, "MASSAGER_DEVICE": "Bedroom massager"})
    assert json.loads(via_env.stdout)["model"] == "NMP Neck 2"


# -- did you mean --------------------------------------------------------------------------


def test_did_you_mean_for_verbs_and_options() -> None:
    verb = massager("staus")
    assert verb.returncode == 2 and "did you mean 'status'?" in verb.stderr
    option = massager("info", "--jsn")
    assert option.returncode == 2 and "did you mean --json?" in option.stderr
    sub = massager("program", "lst")
    assert "did you mean 'list'?" in sub.stderr


# -- program validate --json ---------------------------------------------------------------


def test_validate_json_lists_the_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\n[[stages]]\nname = "one"\n[[stages.steps]]\n'
        'technique = "stroking"\nduration_s = 10\nintensity = 7.5\n'
    )
    result = massager("program", "validate", str(bad), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["problems"]
    problem = report["problems"][0]
    assert set(problem) == {"message", "file", "line", "column", "field", "allowed"}
    assert problem["file"] == str(bad)
    good = json.loads(massager("program", "validate", "classic", "--json").stdout)
    assert good["valid"] is True and good["problems"] == []


# -- installing, python -m, dir(), LICENSE ---------------------------------------------------


def test_python_m_massager_sdk_is_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "massager_sdk", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("massager ")


def test_dir_shows_the_lazy_names() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import massager_sdk; print(dir(massager_sdk))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "'connect'" in result.stdout and "'Device'" in result.stdout


def test_license_is_mit() -> None:
    text = Path("LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the massager-sdk authors" in text


def test_readme_says_how_to_install_with_pip() -> None:
    readme = Path("README.md").read_text()
    assert "pip install ./protocols ./simulator ." in readme
    assert "python -m massager_sdk" in readme


def test_status_watch_plain_lines_are_timed(served: Served) -> None:
    result = massager("status", "--watch", "--for", "1s", "-d", served.url)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first[2] == ":" and first[5] == ":" and "levels" in first
