"""What a new user ran into, each run as the real ``massager`` process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from massager_protocols.nmp import SetHeat, encode

from tests.cli.conftest import Served
from tests.cli.helpers import MASSAGER, Terminal, massager

# -- protocol decode ---------------------------------------------------------------


def test_the_documented_example_frame_decodes() -> None:
    from massager_sdk.cli.parser import EXAMPLE_FRAME

    assert bytes.fromhex(EXAMPLE_FRAME.replace(" ", "")) == encode(SetHeat(400), 8)
    result = massager("protocol", "decode", EXAMPLE_FRAME)
    assert result.returncode == 0, result.stderr
    assert "seq   8  SET_HEAT  target_c=40.0" in result.stdout
    for args in (["protocol", "--help"], ["protocol", "decode", "--help"]):
        shown = massager(*args).stdout
        assert EXAMPLE_FRAME in shown, args
    assert EXAMPLE_FRAME in Path("docs/cli.md").read_text()
    assert "decode 'a5 01 02 08 04 90 01 5c 0c'" not in Path("docs/cli.md").read_text()


def test_a_crc_failure_shows_expected_and_received() -> None:
    result = massager("protocol", "decode", "a5 01 02 08 04 90 01 5c 0c")
    assert result.returncode == 0
    assert "CRC failure at byte 0 (seq 8, type 0x04): received 5c 0c, expected fa 5e" in (
        result.stdout
    )
    report = json.loads(massager("protocol", "decode", "--json", "00a50102080490015c0c").stdout)
    assert report["crc_failures"] == [
        {"offset": 1, "seq": 8, "type": "0x04", "received": "5c 0c", "expected": "fa 5e"}
    ]


# -- set --heat --------------------------------------------------------------------


def test_heat_outside_the_devices_range_is_a_usage_error_before_sending(
    served: Served, profile_env: dict[str, str]
) -> None:
    for target in ("30", "50"):
        result = massager("set", "-d", served.url, "--heat", target, "--for", "1s", env=profile_env)
        assert result.returncode == 2, result.stderr
        assert f"--heat {target} is outside what NMP Heat 4 accepts: 38..45 C" in result.stderr
        assert "presets: 38, 40, 42 C" in result.stderr
        assert "device error" not in result.stderr
    status = json.loads(massager("status", "-d", served.url, "--json").stdout)
    assert status["heat_target_c"] is None


def test_heat_disabled_in_the_device_file_is_said_on_the_host(
    tmp_path: Path, profile_env: dict[str, str]
) -> None:
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices."sim://heat4"]\nname = "Bedroom massager"\nheat = false\n')
    env = {**profile_env, "MASSAGER_DEVICES": str(devices)}
    result = massager("set", "-d", "sim://heat4", "--heat", "40", "--for", "1s", env=env)
    assert result.returncode == 2, result.stderr
    assert "Bedroom massager cannot heat: its heater is disabled in your device file" in (
        result.stderr
    )
    info = massager("info", "-d", "sim://heat4", env=env)
    assert "Bedroom massager: NMP Heat 4" in info.stdout
    assert json.loads(massager("info", "--json", "-d", "sim://heat4", env=env).stdout)["name"] == (
        "Bedroom massager"
    )


# -- the first-use prompt ----------------------------------------------------------------


def test_ctrl_d_at_the_prompt_refuses_without_a_traceback(no_profile_env: dict[str, str]) -> None:
    term = Terminal("set", "--intensity", "2", "--for", "1s", env=no_profile_env)
    term.expect("Type 'yes'")
    term.send(b"\x04")  # Ctrl-D at the start of a line: end of input
    code = term.finish()
    assert code == 4, term.screen
    assert "Traceback" not in term.screen and "EOFError" not in term.screen
    assert "massager health acknowledge" in term.screen


def test_ctrl_c_at_the_prompt_ends_at_once_without_claiming_a_stop(
    no_profile_env: dict[str, str],
) -> None:
    term = Terminal("set", "--intensity", "2", "--for", "1s", env=no_profile_env)
    term.expect("Type 'yes'")
    term.process.send_signal(signal.SIGINT)  # what the terminal sends for Ctrl-C
    code = term.finish()
    assert code == 130, term.screen
    assert "nothing was switched on" in term.screen
    assert "device stopped" not in term.screen and "Traceback" not in term.screen


# -- status --watch -------------------------------------------------------------------


def test_watch_lines_are_timestamped_without_the_watchers_safety(served: Served) -> None:
    result = massager("status", "--watch", "--for", "1s", "--json", "-d", served.url)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines
    for line in lines:
        assert "safety" not in line
        assert line["time"].endswith("+00:00") and line["time"][10] == "T"


def test_ctrl_c_on_a_watcher_logs_no_stopping(served: Served) -> None:
    process = subprocess.Popen(
        [str(MASSAGER), "status", "--watch", "-d", served.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # watching
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "stopping" not in err and "device stopped" not in err and "Traceback" not in err


# -- docs/transports.md: the plug-in example -----------------------------------------------


def test_the_transport_plugin_example_runs(tmp_path: Path) -> None:
    from tests.cli.test_docs_commands import python_blocks

    blocks = python_blocks(Path("docs/transports.md"), "## Adding a transport")
    script = tmp_path / "plugin.py"
    script.write_text("\n\n".join(blocks))
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "NMP Neck 2 on loop", result.stdout


# -- program / protocol alone, validate, plot ----------------------------------------------


def test_a_group_verb_alone_prints_its_own_help() -> None:
    for group, verbs in (("program", "list"), ("protocol", "decode")):
        result = massager(group)
        assert result.returncode == 2
        assert result.stdout.startswith(f"usage: massager {group}"), result.stdout
        assert verbs in result.stdout


def test_validate_takes_built_in_names_like_show() -> None:
    result = massager("program", "validate", "classic")
    assert result.returncode == 0, result.stderr
    assert "classic: valid" in result.stdout


def test_plot_model_takes_a_sim_url(tmp_path: Path) -> None:
    out = tmp_path / "neck2.svg"
    result = massager("program", "plot", "office-break", "-o", str(out), "--model", "sim://neck2")
    assert result.returncode == 0, result.stderr
    assert out.is_file() and "sim://sim://" not in result.stderr


# -- run | head, SIGTERM, peaks ---------------------------------------------------------


def test_run_json_into_head_exits_quietly(profile_env: dict[str, str]) -> None:
    result = subprocess.run(
        f"'{MASSAGER}' run office-break --speed 100 --json | head -3; "
        'echo "exit=${PIPESTATUS[0]}" >&2',
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **profile_env},
        check=False,
    )
    assert len(result.stdout.splitlines()) == 3
    assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr
    assert "exit=141" in result.stderr


def test_sigterm_says_the_device_stopped(served: Served, profile_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [str(MASSAGER), "set", "-d", served.url, "--intensity", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, **profile_env},
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143
    assert "terminated: device stopped" in err


def test_run_summary_reports_the_programs_true_peak(profile_env: dict[str, str]) -> None:
    from massager_simulator.clock import run_virtual

    import massager_sdk
    from massager_sdk.programs import compile_program, load_program

    async def caps() -> object:
        async with massager_sdk.connect("sim://heat4") as device:
            return device.info

    compiled = compile_program(load_program("office-break"), run_virtual(caps))  # type: ignore[arg-type]
    peaks = [max(o.level for _, o in changes) for changes in compiled.timeline.outputs]
    result = massager("run", "office-break", "--speed", "200", env=profile_env, timeout=120)
    assert result.returncode == 0, result.stderr
    *_, summary, end = result.stdout.splitlines()
    names = compiled.timeline.zone_names
    expected = ", ".join(f"{n} {p}" for n, p in zip(names, peaks, strict=True))
    assert summary == f"peak levels: {expected}", summary
    assert end == "office-break: completed; device stopped"


# -- conformance, info ----------------------------------------------------------------------


def test_conformance_on_a_non_nmp_device_says_so_at_once() -> None:
    result = massager("conformance", "-d", "sim://yh-ems", timeout=30)
    assert result.returncode == 2
    assert "sim://yh-ems speaks yh, not NMP/1" in result.stderr
    assert "FAIL" not in result.stdout


def test_info_shows_unknown_for_what_the_device_does_not_say() -> None:
    result = massager("info", "-d", "sim://yh-ems")  # YH devices report no serial or firmware
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.count("│") == 3
    }
    assert rows["serial"] == "unknown" and rows["firmware"] == "unknown"


def test_info_strips_terminal_escapes_from_device_strings(tmp_path: Path) -> None:
    model = tmp_path / "evil.toml"
    text = Path("simulator/massager_simulator/models/heat4.toml").read_text()
    # The device reports a model name that would retitle the window and turn text red.
    evil = 'model = "NMP \\u001b]0;pwned\\u0007Heat \\u001b[31m4"'
    model.write_text(text.replace('model = "NMP Heat 4"', evil))
    served = Served("--model", str(model))
    trace = tmp_path / "info.trace"
    try:
        result = massager("--trace", str(trace), "info", "-d", served.url)
        as_json = json.loads(massager("info", "--json", "-d", served.url).stdout)
    finally:
        served.stop()
    assert result.returncode == 0, result.stderr
    assert "\x1b" in as_json["model"], "the device really sent the escapes"
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "NMP Heat 4" in result.stdout
    recorded = trace.read_text()
    assert "\x1b" not in recorded and "model=NMP \\x1b]0;pwned\\x07Heat" in recorded


def test_version_goes_to_stdout() -> None:
    result = massager("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("massager ") and result.stderr == ""


# -- devices and verbose ---------------------------------------------------------------


def test_a_bad_massager_device_names_the_variable() -> None:
    result = massager("info", env={"MASSAGER_DEVICE": "foo"})
    assert result.returncode == 2
    assert "$MASSAGER_DEVICE 'foo' is neither a device URL nor a device named in" in (result.stderr)
    flag = massager("info", "--device", "foo")
    assert "--device 'foo'" in flag.stderr


def test_verbose_after_the_verb() -> None:
    result = massager("info", "-v", "--json")
    assert result.returncode == 0, result.stderr
    assert "INFO massager_sdk" in result.stderr
