"""``massager simulate --ble HCI`` across processes, with virtual controllers over TCP HCI.

bumble's controllers app links two virtual controllers and serves each as an
HCI transport on loopback; the simulator process opens one as its Bluetooth
controller, this process the other as bleak's adapter (bumble's host stack
under bleak). Everything between them is real HCI, link layer, ATT and GATT.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from bumble import hci
from bumble.device import Device
from bumble.transport import open_transport
from massager_simulator.bumble import (
    BumbleBleakClient,
    BumbleBleakScanner,
    register_central,
    unregister_central,
)
from massager_simulator.serve import main

import massager_sdk
from tests.client.rig import FAST_RAMP

#: Bound on every wait; a passing run takes a few seconds.
GUARD_S = 20.0


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def controllers() -> Iterator[tuple[str, str]]:
    """Two linked virtual controllers: the HCI transport names of each."""
    ports = free_ports(2)
    names = [f"tcp-server:127.0.0.1:{p}" for p in ports]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bumble.apps.controllers", *names],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for port in ports:
            wait_listening(port)
        yield f"tcp-client:127.0.0.1:{ports[0]}", f"tcp-client:127.0.0.1:{ports[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD_S)


def massager(*args: str) -> subprocess.Popen[str]:
    """The ``massager`` command line in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-c", "from massager_sdk.cli import entry_point; entry_point()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_simulate_ble_serves_a_peripheral_another_host_finds_and_drives(
    controllers: tuple[str, str],
) -> None:
    device_hci, host_hci = controllers
    sim = massager("simulate", "--ble", device_hci, "--model", "heat4")
    try:
        assert sim.stdout is not None
        url = sim.stdout.readline().strip()
        assert url.startswith("ble://"), sim.communicate(timeout=GUARD_S)[1]

        async def host() -> None:
            async with asyncio.timeout(GUARD_S), await open_transport(host_hci) as hci_link:
                radio = Device.with_hci(
                    "host", hci.Address("F0:F0:F0:F0:F0:02"), hci_link.source, hci_link.sink
                )
                await radio.power_on()
                register_central(radio)
                try:
                    found = await massager_sdk.scan(1.0, backend=BumbleBleakScanner)
                    heard = {d.address: d for d in found}
                    address = url.removeprefix("ble://")
                    assert heard[address].model == "NMP Heat 4"
                    assert heard[address].name == "NMP-H4-000001"
                    # Found by the name it advertises, as a user would.
                    async with massager_sdk.connect(
                        "ble://NMP-H4-000001",
                        client_backend=BumbleBleakClient,
                        scanner_backend=BumbleBleakScanner,
                        scan_timeout=5.0,
                        limits=FAST_RAMP,
                    ) as device:
                        assert device.info.model == "NMP Heat 4"
                        await device.set_intensity(3)
                        await device.flush()
                        # The soft start takes half a second; the device reports it.
                        levels: tuple[int, ...] = ()
                        for _ in range(100):
                            levels = (await device.status()).intensities
                            if levels == (3, 3, 3, 3):
                                break
                            await asyncio.sleep(0.1)
                        assert levels == (3, 3, 3, 3)
                finally:
                    unregister_central()

        asyncio.run(host())
        sim.send_signal(signal.SIGTERM)
        assert sim.wait(timeout=GUARD_S) == 0
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()


def test_a_malformed_hci_name_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ble", "no-such-transport:1"]) == 1
    err = capsys.readouterr().err
    assert "--ble 'no-such-transport:1'" in err
    assert "usb:0" in err
