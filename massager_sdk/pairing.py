"""Pairing with an NMP/1 device in authenticated mode (spec section 10.5).

Two ways to a key: the device's pairing window (hold its button for 5 s, then
:func:`pair` draws a fresh secret and gives it to the device), or the secret
printed on its label (:func:`pair` with ``label_secret``, checked against the
key id the device reports, nothing sent). Either way the key is kept for the
device's serial in the user's key store (:mod:`massager_sdk.keys`).

This talks to the device below the session: a session needs the key that
pairing is about to give it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

from massager_protocols import nmp
from massager_protocols.nmp import auth as nmp_auth

from massager_sdk.errors import ConnectionFailed, DeviceTimeout, MassagerError
from massager_sdk.keys import forget_key, store_key
from massager_sdk.transports import open_transport


class PairingError(MassagerError):
    """Pairing did not happen; the message says why and what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class Paired:
    """A device whose key is now kept."""

    model: str
    serial: str
    how: str  #: ``"button"`` (a new secret given to the device) or ``"label"``
    path: Path  #: the key store


class _Exchange:
    """Frames to and from one link, matched by seq."""

    def __init__(self, transport: Any, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self.decoder = nmp.StreamDecoder()
        self.frames: list[nmp.Frame] = []
        self.arrived = asyncio.Event()
        transport.set_receiver(self._data, self._lost)

    def _data(self, data: bytes) -> None:
        self.frames.extend(self.decoder.feed(data))
        self.arrived.set()

    def _lost(self, exc: BaseException | None) -> None:
        self.arrived.set()

    async def ask(self, message: nmp.Message, seq: int, count: int = 1) -> list[nmp.Message]:
        """Send ``message``; the first ``count`` replies with its seq."""
        await self.transport.write(nmp.encode(message, seq))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            replies = [f.message() for f in self.frames if f.seq == seq]
            if len(replies) >= count:
                return replies[:count]
            if not self.transport.connected:
                raise ConnectionFailed(f"lost {self.transport.description} while pairing")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeviceTimeout(
                    f"no reply to {message.TYPE.name} from {self.transport.description} "
                    f"in {self.timeout:g} s"
                )
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue


async def _session(exchange: _Exchange) -> tuple[nmp.Info, nmp.Session]:
    (info,) = await exchange.ask(nmp.GetInfo(), 1)
    if not isinstance(info, nmp.Info):
        raise PairingError(f"{exchange.transport.description} answered GET_INFO with {info!r}")
    if not info.has(nmp.Feature.AUTH):
        raise PairingError(
            f"{info.model} {info.serial} does not use authenticated mode: it needs no pairing"
        )
    (session,) = await exchange.ask(nmp.GetSession(), 2)
    if not isinstance(session, nmp.Session):
        raise PairingError(f"{info.model} {info.serial} answered GET_SESSION with {session!r}")
    return info, session


async def pair(
    url: str | None = None,
    *,
    label_secret: str | None = None,
    reply_timeout_s: float = 2.0,
    **options: Any,
) -> Paired:
    """Pair with the device at ``url`` and keep its key; :class:`PairingError` if not.

    Without ``label_secret`` the device's pairing window must be open (its
    button held for 5 s, at most 30 s ago). ``options`` go to the transport
    (``simulator=`` for ``sim://``).
    """
    try:
        label_key = nmp_auth.parse_key(label_secret) if label_secret is not None else None
    except nmp_auth.KeyFormatError as exc:
        raise PairingError(f"the label's secret: {exc}") from None
    transport = open_transport(url, **options)
    exchange = _Exchange(transport, reply_timeout_s)
    try:
        await transport.connect()
        info, session = await _session(exchange)
        if label_key is not None:
            if nmp_auth.key_id(label_key) != session.key_id:
                hint = (
                    "it was paired since: hold its button for 15 s to return to the label's "
                    "secret, or for 5 s to pair anew"
                    if not session.flags & nmp.SessionFlag.LABEL_KEY
                    else "check the digits"
                )
                raise PairingError(
                    f"that secret is not the key of {info.model} {info.serial} ({hint})"
                )
            return Paired(info.model, info.serial, "label", store_key(info.serial, label_key))
        if not session.flags & nmp.SessionFlag.PAIRING_OPEN:
            raise PairingError(
                f"the pairing window of {info.model} {info.serial} is not open: hold its "
                "button for 5 s, then run `massager pair` within 30 s (or give the secret "
                "printed on its label)"
            )
        key = os.urandom(nmp_auth.KEY_SIZE)
        (reply,) = await exchange.ask(nmp.Pair(tuple(key)), 3)
        if not isinstance(reply, nmp.Ack):
            raise PairingError(
                f"{info.model} {info.serial} refused the key ({reply!r}): its pairing window "
                "closed; hold its button for 5 s and try again"
            )
        return Paired(info.model, info.serial, "button", store_key(info.serial, key))
    finally:
        await transport.close()


async def unpair(
    url: str | None = None, *, reply_timeout_s: float = 2.0, **options: Any
) -> tuple[str, bool]:
    """Forget the key of the device at ``url``: its serial, and whether a key was kept."""
    transport = open_transport(url, **options)
    exchange = _Exchange(transport, reply_timeout_s)
    try:
        await transport.connect()
        (info,) = await exchange.ask(nmp.GetInfo(), 1)
        if not isinstance(info, nmp.Info):
            raise PairingError(f"{transport.description} answered GET_INFO with {info!r}")
    finally:
        await transport.close()
    return info.serial, forget_key(info.serial)
