"""A link that signs a probe's state changes for one session (NMP/1 section 10).

The checks of authenticated mode (:mod:`massager_sdk.conformance.auth`) put it
between the probe and the device once they have the device's key, so that the
rest of the suite runs on a device that refuses unsigned state changes.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from typing import Any

from massager_protocols.errors import ProtocolError
from massager_protocols.nmp import auth as nmp_auth
from massager_protocols.nmp import decode_frame
from massager_protocols.nmp.framing import payload_bound

from massager_sdk.transports import Transport


class SigningTransport(Transport):
    """A link whose outgoing state changes are signed for one session.

    A write that is one whole frame of a type that must be signed is sent
    signed with the next counter (same seq, same payload, the trailer added);
    a frame written a byte at a time is gathered and sent, signed, a byte at a
    time. Bytes beyond the room a signed frame of its type has (its bound of
    section 2.1 less the 7-byte trailer) are left out: a signed SET_OUTPUT
    fills its 13 bytes, so it carries nothing beyond its layout. Everything
    else (reads, stops, noise, frames with a bad CRC) goes out as written, and
    so does everything written inside :meth:`as_written`.
    """

    scheme = "signed"
    url_forms = ()

    def __init__(self, inner: Transport, signer: nmp_auth.Signer) -> None:
        super().__init__(min_gap_s=inner.min_gap_s)
        self.inner = inner
        self.signer = signer
        self._plain = False
        self._gathering = bytearray()

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> Transport:
        """Not built from a URL: it wraps a link that was."""
        raise TypeError("a signing link wraps an open transport; it has no URL")

    @property
    def description(self) -> str:
        """The wrapped link's name."""
        return self.inner.description

    @property
    def mtu(self) -> int:
        """The wrapped link's largest write."""
        return self.inner.mtu

    @property
    def connected(self) -> bool:
        """Whether the wrapped link is open."""
        return self.inner.connected

    async def _open(self) -> None:
        await self.inner.connect()

    async def _close(self) -> None:
        await self.inner.close()

    async def _write_chunk(self, chunk: bytes) -> None:
        await self.inner.write(chunk)

    async def close(self) -> None:
        """Close the wrapped link."""
        await self.inner.close()

    @contextlib.contextmanager
    def as_written(self) -> Iterator[None]:
        """Within it, frames go out exactly as written (unsigned, replayed, forged)."""
        self._plain = True
        try:
            yield
        finally:
            self._plain = False

    async def write(self, data: bytes) -> None:
        """Write ``data``, signing it when it is a state change (class docstring)."""
        if self._plain:
            await self.inner.write(data)
        elif self._gathering or data == b"\xa5":
            await self._gather(data)
        else:
            await self.inner.write(self._signed(data) or data)

    def _signed(self, data: bytes) -> bytes | None:
        """``data`` signed, if it is one whole frame of a type that must be signed."""
        try:
            frame = decode_frame(data)
        except ProtocolError:
            return None
        if frame.msg_type not in nmp_auth.SIGNED_TYPES or frame.seq == 0:
            return None
        room = payload_bound(frame.msg_type) - nmp_auth.TRAILER_SIZE
        return self.signer.sign(frame.seq, frame.msg_type, bytes(frame.payload[:room]))

    async def _gather(self, data: bytes) -> None:
        self._gathering += data
        held = bytes(self._gathering)
        if len(held) < 3 and held == b"\xa5\x01"[: len(held)]:
            return  # the start of a frame, written a byte at a time
        if held[:2] == b"\xa5\x01" and len(held) < 7 + held[2]:
            return
        self._gathering.clear()
        for byte in self._signed(held) or held:
            await self.inner.write(bytes([byte]))
