"""The docs' fenced commands and snippets, run as written (against the simulator).

Every ``massager ...`` line of a ``sh`` block in docs/cli.md and README.md runs
in a shell; those that need hardware or a service are skipped by the table below,
each with its reason, and long-running ones are shortened by :data:`ADJUST`
(stated too). A command that stopped working fails here, with its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Served
from tests.cli.helpers import MASSAGER

DOCS = (
    Path("docs/cli.md"),
    Path("README.md"),
    Path("docs/devices.md"),
    Path("docs/home-assistant.md"),
)

#: Commands not run here, and why.
SKIP: dict[str, str] = {
    r"ble://": "needs a Bluetooth LE device",
    r"serial:///dev/tty": "needs a serial device",
    r"^massager scan(?!.*--simulate)": "listens to the Bluetooth radio",
    r"^massager bridge": "needs an MQTT broker; tests/mqtt runs the bridge against a real one",
    r"^massager simulate": "serves until a signal; tests/cli/conftest.py's Served runs it",
    r"~/": "writes into the home directory",
    r"\?protocol=yh": (
        "the served test device speaks NMP/1, not yh; "
        "tests/profiles/test_selection.py checks the ?protocol= form"
    ),
    # Tests reach loopback only: a documented host on a network is never contacted.
    r"(tcp|mqtts?)://(?!127\.0\.0\.1|localhost|\[::1\])": "names a host on a network",
}
#: How commands are shortened to run here (program time, holding time).
ADJUST: tuple[tuple[str, str, str], ...] = (
    (r"--for \S+", "--for 1s", "hold for a second, not minutes"),
    (r"--speed \S+", "--speed 1000", "a whole program in about a second"),
    (r"history show \d+", "history show 1", "the session recorded just before"),
)
#: Commands whose exit code reports on this machine rather than on the command.
MACHINE_DEPENDENT = (r"^massager doctor",)


def shell_commands(path: Path) -> list[str]:
    """The ``massager`` lines of the ``sh`` blocks of ``path``."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", path.read_text(), re.M | re.S):
        out += [line for line in block.splitlines() if line.startswith("massager ")]
    return out


def python_blocks(path: Path, heading: str) -> list[str]:
    """The ``python`` blocks of the section of ``path`` that starts at ``heading``."""
    text = path.read_text()
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    section = text[start : following if following >= 0 else len(text)]
    return re.findall(r"^```python\n(.*?)^```", section, re.M | re.S)


def _runnable(command: str, url: str) -> str:
    command = re.sub(r"\s+#.*$", "", command)  # the line's comment
    command = command.replace("tcp://127.0.0.1:7000", url)
    for pattern, replacement, _ in ADJUST:
        command = re.sub(pattern, replacement, command)
    verb = command.split()[1]
    if (verb == "set" or "--watch" in command) and "--for" not in command:
        command += " --for 1s"  # it holds until Ctrl-C otherwise
    if verb == "run" and "--speed" not in command:
        command += " --speed 1000"
    return command


COMMANDS = [(str(path), command) for path in DOCS for command in shell_commands(path)]


def test_the_docs_have_commands_for_every_verb() -> None:
    from massager_sdk.cli.parser import OLD_VERBS, build_parser

    verbs = {c.split()[1] for _, c in COMMANDS}
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    listed = set(sub.choices) - set(OLD_VERBS)  # type: ignore[arg-type]
    assert listed - verbs == set(), "a verb without an example in the docs"


@pytest.mark.parametrize(("doc", "command"), COMMANDS)
def test_documented_command_runs(
    doc: str, command: str, served: Served, tmp_path: Path, profile_env: dict[str, str]
) -> None:
    for pattern, reason in SKIP.items():
        if re.search(pattern, command):
            pytest.skip(reason)
    runnable = _runnable(command, served.url)
    # Commands that read what another command leaves: a trace, the session ledger.
    writer = _TRACE_WRITER if "decode --file" in runnable else None
    if runnable.startswith("massager history show"):
        writer = _SESSION_WRITER
    if writer is not None:
        subprocess.run(
            ["bash", "-c", writer],
            cwd=tmp_path,
            env=_env(profile_env),
            check=True,
            capture_output=True,
            timeout=60,
        )
    result = subprocess.run(
        ["bash", "-c", runnable],
        cwd=tmp_path,
        env=_env(profile_env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    detail = f"{doc}: {runnable}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, detail
    if any(re.search(p, command) for p in MACHINE_DEPENDENT):
        assert result.returncode in (0, 1), detail
    else:
        assert result.returncode == 0, detail


_TRACE_WRITER = "massager --trace session.trace set --intensity 2 --for 2s"
_SESSION_WRITER = "massager set --intensity 2 --for 1s"


def _env(extra: dict[str, str]) -> dict[str, str]:
    path = f"{MASSAGER.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, **extra, "PATH": path, "COLUMNS": "120"}


def test_the_python_api_first_snippet_runs(tmp_path: Path) -> None:
    [snippet, *_] = re.findall(
        r"^```python\n(.*?)^```", Path("docs/python-api.md").read_text(), re.M | re.S
    )
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "NMP Heat 4" in result.stdout and "DeviceStatus(" in result.stdout


def _run_snippet(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_python_api_sync_and_control_snippets_run(tmp_path: Path) -> None:
    # The other complete snippets: the sync facade as written, and the control layer's
    # inside an async main (the page shows the body of one).
    blocks = re.findall(
        r"^```python\n(.*?)^```", Path("docs/python-api.md").read_text(), re.M | re.S
    )
    [sync] = [b for b in blocks if b.startswith("import massager_sdk.sync")]
    result = _run_snippet(tmp_path, sync)
    assert result.returncode == 0, result.stderr
    assert "DeviceStatus(" in result.stdout
    [control] = [b for b in blocks if "from massager_sdk.control import" in b]
    body = "\n".join("    " + line for line in control.splitlines())
    result = _run_snippet(
        tmp_path,
        f"import asyncio\nimport massager_sdk\n\nasync def main():\n{body}\n\n"
        "asyncio.run(main())\n",
    )
    assert result.returncode == 0, result.stderr
    assert "'program': 'classic'" in result.stdout, result.stdout
