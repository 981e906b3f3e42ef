"""The host side of a device protocol, behind one small interface.

The client speaks in protocol-neutral commands (set these zones to this level,
heat to this target, stop...). A :class:`ProtocolAdapter` turns each command
into bytes and turns the device's byte stream back into :class:`Reply`,
:class:`~massager_sdk.model.DeviceStatus` and
:class:`~massager_sdk.model.DeviceEvent` values. Each wire protocol is one
adapter, registered with the rest of what the SDK knows of it
(:mod:`massager_sdk.protocols.registry`), and the client does not change.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import DeviceEvent, DeviceStatus, Pattern, Waveform

# -- commands the client sends -------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class SetZones:
    """Drive ``zones`` (indices) at ``level``, steadily, with a waveform, or a pattern.

    With ``pattern_slot`` set the zones loop that uploaded pattern scaled to
    ``level``, starting ``phase_s`` into its loop; ``waveform`` is then ignored.
    """

    zones: tuple[int, ...]
    level: int
    waveform: Waveform = Waveform.CONSTANT
    period_s: float = 0.0
    pattern_slot: int | None = None
    phase_s: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class SetHeat:
    """Heat to ``target_c`` degrees Celsius, or turn the heater off (``None``)."""

    target_c: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class StopAll:
    """Stop every motor and the heater."""


@dataclasses.dataclass(frozen=True, slots=True)
class Keepalive:
    """Feed the device watchdog."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetAutoOff:
    """Switch outputs off after ``seconds`` (0: the device default)."""

    seconds: int


@dataclasses.dataclass(frozen=True, slots=True)
class UploadPattern:
    """Store ``pattern`` in the device's pattern ``slot``."""

    slot: int
    pattern: Pattern


@dataclasses.dataclass(frozen=True, slots=True)
class GetInfo:
    """Ask what the device is and can do (the reply carries capabilities)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask for a status report now."""


#: A protocol-neutral command to a device, as an adapter encodes it.
DeviceCommand = (
    SetZones | SetHeat | StopAll | Keepalive | SetAutoOff | UploadPattern | GetInfo | GetStatus
)
#: Deprecated name of :data:`DeviceCommand` (programs and MQTT have commands of their own).
Command = DeviceCommand


# -- what the device sends back --------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """The answer to the command sent with sequence number ``seq``."""

    seq: int
    command: str  #: the answered command's name on the wire, e.g. ``SET_OUTPUT``
    ok: bool
    reason: str = ""  #: why the device refused (``OUT_OF_RANGE``...), when not ``ok``
    retryable: bool = False  #: a refusal worth repeating (corrupted in transit, busy)
    status: DeviceStatus | None = None  #: for a status request
    info: DeviceCapabilities | None = None  #: for an info request


Incoming = Reply | DeviceStatus | DeviceEvent


@dataclasses.dataclass(slots=True)
class AdapterStats:
    """What an adapter's decoder saw on the wire."""

    frames: int = 0
    bytes_skipped: int = 0
    crc_errors: int = 0
    undecodable: int = 0  #: valid frames whose message could not be understood


class ProtocolAdapter(abc.ABC):
    """Encodes commands and decodes the device's byte stream for one wire protocol.

    An adapter is sans-I/O and keeps only decoder state. Replies carry the
    sequence number of the command they answer (1..255; an adapter for a
    protocol without sequence numbers matches replies to commands in order).
    """

    #: The protocol's identifier, as in :attr:`DeviceCapabilities.protocol`.
    name: ClassVar[str]

    @abc.abstractmethod
    def encode(self, command: DeviceCommand, seq: int) -> bytes:
        """The bytes of ``command`` sent with ``seq``; ``ValueError`` if it cannot be expressed."""

    @abc.abstractmethod
    def feed(self, data: bytes, now: float) -> list[Incoming]:
        """Decode a received chunk (cut anywhere); ``now`` stamps statuses and events."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget any partial frame (after a reconnect)."""

    @property
    @abc.abstractmethod
    def stats(self) -> AdapterStats:
        """Counters of what was decoded and skipped."""

    def pattern_length(self, pattern: Pattern) -> int:
        """How many device pattern steps ``pattern`` takes in this protocol."""
        return len(pattern.steps)

    def validate(self, command: DeviceCommand) -> None:
        """Raise ``ValueError`` if ``command`` cannot be expressed in this protocol."""
        self.encode(command, 1)
