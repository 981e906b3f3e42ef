"""The C device skeleton (protocols/c/examples) passes the conformance suite.

The POSIX harness is compiled with the system C compiler and started as a
subprocess serving a pseudo-terminal or TCP on loopback; ``massager
conformance`` then runs against it exactly as it would against a board.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    GetStatus,
    Message,
    SetOutput,
    Status,
    StreamDecoder,
    encode,
)

from tests.c.cbuild import C_DIR, EXAMPLES, HARNESS, STRICT, compiler, run
from tests.cli.helpers import massager
from tests.protocols.embedded import embedded_upload

#: Guards against a hang; a passing run takes about 12 s.
CONFORMANCE_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The POSIX harness, built under the strict flags."""
    cc = compiler()
    out = tmp_path_factory.mktemp("device") / "nmp1_posix"
    run([cc, *STRICT, "-O2", f"-I{C_DIR}", f"-I{EXAMPLES}", *HARNESS, "-o", out])
    return out


class Served:
    """The harness running as a subprocess; ``url`` is what it printed first."""

    def __init__(self, harness: Path, *args: str) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [str(harness), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            self.process.kill()
            _, err = self.process.communicate(timeout=5)
            pytest.fail(f"the harness printed no URL: {err}")

    def stop(self) -> int:
        """SIGTERM, as a service manager would; the harness's exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture(params=[["--pty"], ["--tcp", "127.0.0.1:0"]], ids=["pty", "tcp"])
def served(request: pytest.FixtureRequest, harness: Path) -> Iterator[Served]:
    device = Served(harness, *request.param)
    try:
        yield device
    finally:
        device.stop()


def test_the_skeleton_passes_conformance(served: Served) -> None:
    scheme = "serial:///dev/" if "--pty" in served.args else "tcp://127.0.0.1:"
    assert served.url.startswith(scheme)
    result = massager("conformance", "--device", served.url, timeout=CONFORMANCE_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "checks passed" in result.stdout
    assert served.stop() == 0


async def _talk(url: str, script: bytes, *, settle_s: float = 0.3) -> list[tuple[int, Message]]:
    """Send ``script`` over TCP, one byte per write; every message that comes back."""
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    for byte in script:
        writer.write(bytes([byte]))
        await writer.drain()
    decoder = StreamDecoder()
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle_s
    while (left := deadline - loop.time()) > 0:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except TimeoutError:
            break
        frames += decoder.feed(chunk)
    writer.close()
    return [(f.seq, f.message()) for f in frames]


def test_the_skeleton_acknowledges_an_upload_not_the_keepalive_inside_it(harness: Path) -> None:
    device = Served(harness, "--tcp", "127.0.0.1:0")
    try:
        case = embedded_upload(upload_seq=9, slot=1)
        replies = asyncio.run(_talk(device.url, case.frame))
    finally:
        device.stop()
    assert replies == [(9, Ack(case.upload.TYPE))]


def test_the_button_stops_everything_and_says_so(harness: Path) -> None:
    device = Served(harness, "--tcp", "127.0.0.1:0")

    async def scenario() -> list[tuple[int, Message]]:
        host, port = device.url.removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        decoder = StreamDecoder()
        writer.write(encode(SetOutput(0b11, 5), 1))
        await asyncio.sleep(0.4)
        device.process.send_signal(signal.SIGUSR1)
        await asyncio.sleep(0.2)
        writer.write(encode(GetStatus(), 2))
        messages: list[tuple[int, Message]] = []
        while not any(seq == 2 for seq, _ in messages):
            chunk = await asyncio.wait_for(reader.read(4096), 5)
            messages += [(f.seq, f.message()) for f in decoder.feed(chunk)]
        writer.close()
        return messages

    try:
        messages = asyncio.run(scenario())
    finally:
        device.stop()
    assert (1, Ack(SetOutput.TYPE)) in messages
    events = [m for _, m in messages if isinstance(m, Event)]
    assert [e.code for e in events] == [EventCode.BUTTON]
    (status,) = [m for seq, m in messages if seq == 2]
    assert isinstance(status, Status) and not any(status.intensities)
