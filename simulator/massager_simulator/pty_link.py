"""The device on a pseudo-terminal: a real serial line for pyserial.

The host opens the slave side (``/dev/pts/N``) as it would open
``/dev/ttyUSB0``; the firmware reads and writes the master side through the
event loop. As on a UART, the device cannot see the host close the port: the
watchdog is what stops it then.
"""

from __future__ import annotations

import asyncio
import os

from massager_simulator.device import SimulatedDevice
from massager_simulator.link import Port


class PtyLink:
    """A pseudo-terminal pair carrying one port's bytes."""

    def __init__(self, device: SimulatedDevice, loop: asyncio.AbstractEventLoop) -> None:
        import tty  # POSIX only: imported here so the package imports everywhere

        self._loop = loop
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing, no newline translation; bytes pass as they are.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        #: The path the host opens, ``/dev/pts/N``.
        self.path = os.ttyname(self._slave)
        #: Bytes dropped because the host was not reading.
        self.dropped = 0
        self._closed = False
        self._port: Port = device.open_port(self, f"pty {self.path}")
        loop.add_reader(self._master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            # The slave side is held open here, so this means the pty is gone.
            self._port.lost()
            self.close()
            return
        if data:
            self._port.receive(data)

    def send(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            written = os.write(self._master, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:
            written = 0
        self.dropped += len(data) - written  # a full line buffer drops, as a UART's does

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)


def open_pty(device: SimulatedDevice) -> str:
    """Serve ``device`` on a new pseudo-terminal; returns its path (``/dev/pts/N``).

    Call it from async code; it powers the device on if it is off. The pty
    lives until the device stops.
    """
    loop = device._ensure_started()
    return PtyLink(device, loop).path
