"""The device on TCP: each accepted connection is one link to the firmware."""

from __future__ import annotations

import asyncio

from massager_simulator.device import SimulatedDevice
from massager_simulator.link import LINK_BUFFER, Port


class _TcpLink(asyncio.Protocol):
    """One TCP connection, carrying a port's bytes."""

    def __init__(self, device: SimulatedDevice) -> None:
        self._device = device
        self._transport: asyncio.Transport | None = None
        self._port: Port | None = None
        #: Bytes dropped because the host was not reading.
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        try:
            self._port = self._device.open_port(self, f"tcp {peer}")
        except ConnectionRefusedError:
            transport.abort()  # the device is off: nothing answers

    def data_received(self, data: bytes) -> None:
        if self._port is not None:
            self._port.receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._port is not None:
            self._port.lost()

    # The port's transport.

    def send(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() + len(data) > LINK_BUFFER:
            self.dropped += len(data)  # the host is not reading: a full buffer drops
            return
        transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def serve_tcp(
    device: SimulatedDevice, host: str = "127.0.0.1", port: int = 0
) -> tuple[asyncio.Server, int]:
    """Serve ``device`` on TCP; returns the server and the port it listens on.

    ``port=0`` picks a free port. Each connection is a link; closing it tells
    the device its host went away. Close the server to stop accepting.
    """
    await device.start()
    server = await asyncio.get_running_loop().create_server(lambda: _TcpLink(device), host, port)
    bound = server.sockets[0].getsockname()[1]
    return server, int(bound)
