"""The serving entry point: ``python -m massager_simulator`` as a user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import serial_asyncio_fast
from massager_protocols.nmp import (
    Ack,
    Event,
    EventCode,
    GetInfo,
    Info,
    MsgType,
    SetOutput,
)
from massager_simulator.serve import check_loopback, main, parse_hostport

from tests.simulator.nmp_host import NmpHost, StreamLink

GUARD_S = 20.0


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the simulator; return the process and the URL from its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "massager_simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        proc.kill()
        raise AssertionError(f"no URL printed; stderr: {proc.communicate()[1]}")
    return proc, url


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[str], sig: int) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=GUARD_S)


def test_serve_tcp_prints_the_url_serves_and_exits_0_on_sigterm(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc, url = start("--tcp", "127.0.0.1:0", "--model", "neck2")
    procs.append(proc)
    assert url.startswith("tcp://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    assert port > 0

    async def talk() -> Info:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        host = NmpHost(StreamLink(reader, writer))
        info = await host.request(GetInfo())
        await host.close()
        assert isinstance(info, Info)
        return info

    info = asyncio.run(talk())
    assert info.model == "NMP Neck 2"
    assert stop(proc, signal.SIGTERM) == 0


def test_serve_serial_prints_a_pty_url_and_exits_0_on_sigint(
    procs: list[subprocess.Popen[str]],
) -> None:
    proc, url = start("--serial", "--model", "handheld", "--serial-number", "HH-424242")
    procs.append(proc)
    assert url.startswith("serial:///dev/pts/")
    path = url.removeprefix("serial://")
    assert os.path.exists(path)

    async def talk() -> Info:
        reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, baudrate=115200)
        host = NmpHost(StreamLink(reader, writer))
        info = await host.request(GetInfo())
        await host.close()
        assert isinstance(info, Info)
        return info

    info = asyncio.run(talk())
    assert info.model == "NMP Handheld" and info.serial == "HH-424242"
    assert stop(proc, signal.SIGINT) == 0


def test_serve_with_speed_and_faults(procs: list[subprocess.Popen[str]]) -> None:
    # At 50x, the 3 s watchdog trips 60 ms of wall time after the last frame.
    proc, url = start("--tcp", "127.0.0.1:0", "--speed", "50", "--fault", "busy=0", "--seed", "3")
    procs.append(proc)
    # The URL tells a host the device's speed.
    assert url.endswith("?speed=50")
    port = int(url.removesuffix("?speed=50").rsplit(":", 1)[1])

    async def talk() -> Event:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        host = NmpHost(StreamLink(reader, writer))
        assert await host.request(SetOutput(0b1, 3)) == Ack(MsgType.SET_OUTPUT)
        async with asyncio.timeout(GUARD_S):
            while not host.events():  # noqa: ASYNC110 - frames arrive in the host's reader
                await asyncio.sleep(0.01)
        await host.close()
        return host.events()[0]

    assert asyncio.run(talk()).code == EventCode.WATCHDOG_STOP
    assert stop(proc, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "one of the arguments --serial --tcp --ble is required"),
        (["--tcp", "localhost"], "expected HOST:PORT"),
        (["--tcp", "127.0.0.1:70000"], "expected HOST:PORT"),
        (["--serial", "--model", "heat9"], "unknown model 'heat9'; available models: handheld"),
        (["--serial", "--fault", "explode=1"], "bad fault 'explode=1'"),
        (["--serial", "--fault", "busy=2"], "busy=2.0 must be a fraction in 0..1"),
        (["--serial", "--speed", "0"], "--speed 0.0: expected a finite number above 0"),
        (["--serial", "--speed", "inf"], "expected a finite number above 0"),
        (["--serial", "--tcp", "127.0.0.1:0"], "not allowed with argument"),
        (["--tcp", "0.0.0.0:0"], "'0.0.0.0' is not a loopback address"),
        (["--tcp", "[::]:0"], "'::' is not a loopback address"),
        (["--tcp", "192.168.1.20:7000"], "or add --allow-remote"),
        (["--tcp", "lounge-pi:7000"], "'lounge-pi' is not a loopback address"),
    ],
)
def test_bad_arguments_are_clear_errors_with_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, prog="massager simulate") == 2
    err = capsys.readouterr().err
    assert "massager simulate" in err and message in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], prog="massager simulate") == 0
    out = capsys.readouterr().out
    assert "usage: massager simulate" in out and "--fault NAME=VALUE" in out


def test_a_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--tcp", f"127.0.0.1:{port}"], prog="simulate") == 1
    assert "simulate: error:" in capsys.readouterr().err


def test_parse_hostport_accepts_ipv6_in_brackets() -> None:
    assert parse_hostport("[::1]:8080") == ("::1", 8080)
    assert parse_hostport("0.0.0.0:0") == ("0.0.0.0", 0)


def test_loopback_addresses_need_no_permission() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost"):
        check_loopback(host)


def test_allow_remote_serves_on_every_interface(procs: list[subprocess.Popen[str]]) -> None:
    proc, url = start("--tcp", "0.0.0.0:0", "--allow-remote")
    procs.append(proc)
    assert url.startswith("tcp://0.0.0.0:")
    port = int(url.rsplit(":", 1)[1])

    async def talk() -> Info:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        host = NmpHost(StreamLink(reader, writer))
        info = await host.request(GetInfo())
        await host.close()
        assert isinstance(info, Info)
        return info

    assert asyncio.run(talk()).model == "NMP Heat 4"
    assert stop(proc, signal.SIGTERM) == 0
