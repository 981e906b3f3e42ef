"""Wire protocols by name: the protocol layer is a registry, not a hard-wired NMP/1.

Each :class:`WireProtocol` names its spec page and golden vectors and gives
its streaming entry points: a factory for a stream decoder (bytes in, frames
or encrypted messages out) and a function that decodes one frame. Tools such
as ``massager protocol decode`` and the conformance tests look protocols up
here; a new protocol registers itself with :func:`register`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol


class StreamDecoder(Protocol):
    """Bytes cut anywhere in, whole units (frames, messages) out."""

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]: ...

    def reset(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class WireProtocol:
    """One wire protocol and its streaming codec."""

    name: str  #: identifier used by profiles and adapters: ``nmp1``, ``yh``, ``tuya_ble``
    title: str
    spec: str  #: file name under ``protocols/specs``
    vectors: str  #: name for :func:`massager_protocols.vectors.load`
    stream_decoder: Callable[[], StreamDecoder]
    decode: Callable[[bytes], Any]  #: one frame (or one encrypted message) in, parsed out
    encrypted: bool = False  #: whether a session key is needed to read messages


_REGISTRY: dict[str, WireProtocol] = {}


def register(protocol: WireProtocol) -> None:
    """Add (or replace) a protocol."""
    _REGISTRY[protocol.name] = protocol


def get(name: str) -> WireProtocol:
    """The protocol called ``name``; ``KeyError`` naming the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown wire protocol {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    """Every registered protocol, sorted."""
    return sorted(_REGISTRY)


def _builtins() -> None:
    from massager_protocols import nmp, tuya, yh

    register(
        WireProtocol(
            name="nmp1",
            title="NMP/1, the open neck-massager protocol",
            spec="nmp1.md",
            vectors="nmp1",
            stream_decoder=nmp.StreamDecoder,
            decode=nmp.decode_frame,
        )
    )
    register(
        WireProtocol(
            name="yh",
            title='The "yh" frame of JL6328 EMS and heating massagers',
            spec="yh.md",
            vectors="yh",
            stream_decoder=yh.StreamDecoder,
            decode=yh.decode_frame,
        )
    )
    register(
        WireProtocol(
            name="tuya_ble",
            title="Tuya BLE (fragments, AES-CBC session, data points)",
            spec="tuya_ble.md",
            vectors="tuya_ble",
            stream_decoder=tuya.Reassembler,
            decode=tuya.open_envelope,
            encrypted=True,
        )
    )


_builtins()
