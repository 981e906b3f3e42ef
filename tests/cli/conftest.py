"""A simulated device served by the real ``massager simulate`` command."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import MASSAGER


class Served:
    """A ``massager simulate --tcp`` process and the URL it printed."""

    #: How the device is served, and how the URL it prints starts.
    LINK: tuple[str, ...] = ("--tcp", "127.0.0.1:0")
    URL_START = "tcp://127.0.0.1:"

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(MASSAGER), "simulate", *self.LINK, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith(self.URL_START), self.url

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def served() -> Iterator[Served]:
    """A fresh simulated heat4 device on TCP."""
    device = Served()
    yield device
    device.stop()


@pytest.fixture
def profile_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose health profile is acknowledged (no contraindications)."""
    path = tmp_path / "profile.toml"
    path.write_text("acknowledged = true\n")
    return {"MASSAGER_HEALTH_PROFILE": str(path)}


@pytest.fixture
def no_profile_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no health profile at all."""
    return {"MASSAGER_HEALTH_PROFILE": str(tmp_path / "none" / "profile.toml")}


def env_without(*names: str) -> dict[str, str]:
    """The current environment less some variables."""
    return {k: v for k, v in os.environ.items() if k not in names}
