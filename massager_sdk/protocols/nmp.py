"""The NMP/1 adapter: protocol-neutral commands to NMP/1 frames and back.

A device in authenticated mode (INFO's ``AUTH`` flag, spec section 10)
answers GET_INFO with INFO and then SESSION; the adapter holds the INFO
reply until the SESSION arrives and signs every state change from then on
with the key kept for the device's serial (:mod:`massager_sdk.keys`). With
no key, or a key the device does not hold, what a device allows without a
key still works (information, status, stop) and every state change raises
:class:`PairingRequired` saying how to pair: the adapter never sends a state
change unsigned to a device that requires signing. When a signed command is
refused NOT_AUTHENTICATED (the device restarted and lost the session), the
requester asks for the session again through :meth:`NmpAdapter.session_request`
and sends the command once more, signed anew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from massager_protocols import ProtocolError, nmp
from massager_protocols.nmp import auth as nmp_auth
from massager_protocols.nmp import gatt as nmp_gatt

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone, zone_position
from massager_sdk.errors import DeviceRefused
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind, Pattern, Waveform
from massager_sdk.protocols.base import (
    AdapterStats,
    DeviceCommand,
    GetInfo,
    GetStatus,
    Incoming,
    Keepalive,
    ProtocolAdapter,
    Reply,
    SetAutoOff,
    SetHeat,
    SetZones,
    StopAll,
    UploadPattern,
)
from massager_sdk.protocols.registry import Markers, ProtocolSpec

_WAVEFORMS = {
    Waveform.CONSTANT: nmp.Waveform.CONSTANT,
    Waveform.PULSE: nmp.Waveform.PULSE,
    Waveform.WAVE: nmp.Waveform.WAVE,
}
#: Refusals that say nothing about the command itself: sending it again may work.
_RETRYABLE = frozenset({nmp.NackCode.BAD_CRC, nmp.NackCode.BUSY})
#: Events whose value is a temperature in 0.1 C.
_TEMPERATURE_EVENTS = frozenset({nmp.EventCode.OVERHEAT, nmp.EventCode.SENSOR_FAULT})
_EVENT_STATE = {
    nmp.EventState.RAISED: True,
    nmp.EventState.CLEARED: False,
    nmp.EventState.MOMENTARY: None,
}
_MAX_MS = 0xFFFF
#: Why a device in authenticated mode was refused, and what to do.
PAIRING_REQUIRED = "this device requires pairing: hold its button for 5 s, then run `massager pair`"
KEY_MISMATCH = (
    "the key kept for this device is not the one it holds (it was reset, or paired with "
    "another host): hold its button for 5 s, then run `massager pair`"
)


class PairingRequired(DeviceRefused):
    """A state change for a device in authenticated mode whose key this host lacks."""

    def __init__(self, command: str, text: str) -> None:
        super().__init__(command, "NOT_AUTHENTICATED", text)
        #: What to do about it (:data:`PAIRING_REQUIRED` or :data:`KEY_MISMATCH`).
        self.text = text


def _ms(seconds: float, what: str, *, minimum: int = 0) -> int:
    ms = round(seconds * 1000)
    if not minimum <= ms <= _MAX_MS:
        raise ValueError(
            f"{what} of {seconds} s is outside {minimum / 1000:g}..{_MAX_MS / 1000:g} s"
        )
    return ms


def pattern_steps(pattern: Pattern) -> tuple[nmp.PatternStep, ...]:
    """A pattern as NMP/1 steps; a step longer than 65.535 s becomes several."""
    steps: list[nmp.PatternStep] = []
    for step in pattern.steps:
        pct = round(step.level * 100)
        remaining = max(1, round(step.duration_s * 1000))
        while remaining > 0:
            piece = min(remaining, _MAX_MS)
            steps.append(nmp.PatternStep(pct, piece))
            remaining -= piece
    return tuple(steps)


def status_from_nmp(message: nmp.Status, now: float) -> DeviceStatus:
    """A protocol-neutral status from an NMP/1 STATUS."""
    target = message.heat_target_dc
    temperature = message.temperature_dc
    battery = message.battery_pct
    faults = frozenset(
        flag.name.lower() for flag in nmp.Fault if flag.name and message.faults & flag
    )
    return DeviceStatus(
        intensities=tuple(message.intensities),
        heat_target_c=target / 10 if target else None,
        temperature_c=None if temperature is None else temperature / 10,
        battery_pct=battery,
        battery_mv=message.battery_mv if battery is not None else None,
        charging=message.charging,
        auto_off_s=message.auto_off_s,
        faults=faults,
        time=now,
    )


def event_from_nmp(message: nmp.Event, now: float) -> DeviceEvent:
    """A protocol-neutral event from an NMP/1 EVENT."""
    try:
        code: nmp.EventCode | None = nmp.EventCode(message.code)
    except ValueError:
        code = None
    kind = EventKind.UNKNOWN if code is None else EventKind(code.name.lower())
    try:
        active = _EVENT_STATE[nmp.EventState(message.state)]
    except ValueError:
        active = None
    value: float = message.value / 10 if code in _TEMPERATURE_EVENTS else float(message.value)
    return DeviceEvent(kind, active, value, detail=message.name, time=now)


def capabilities_from_info(info: nmp.Info) -> DeviceCapabilities:
    """Capabilities as an NMP/1 device reports them in INFO."""
    heat = None
    if info.has(nmp.Feature.HEAT) and info.heat_limit_dc:
        heat = HeatCapability(
            targets_c=tuple(t / 10 for t in info.heat_targets_dc),
            limit_c=info.heat_limit_dc / 10,
        )
    patterns = info.has(nmp.Feature.PATTERNS)
    return DeviceCapabilities(
        model=info.model,
        serial=info.serial,
        firmware=info.firmware_version,
        protocol=NmpAdapter.name,
        zones=tuple(Zone(i, z.name, zone_position(z.position)) for i, z in enumerate(info.zones)),
        intensity_steps=info.intensity_steps,
        heat=heat,
        battery_mah=info.battery_mah if info.has(nmp.Feature.BATTERY) else None,
        pattern_slots=info.pattern_slots if patterns else 0,
        pattern_max_steps=info.pattern_max_steps if patterns else 0,
        min_gap_s=info.min_gap_ms / 1000,
        watchdog_s=info.watchdog_ms / 1000,
        auto_off_default_s=info.auto_off_default_s,
        auto_off_max_s=info.auto_off_max_s,
        has_button=info.has(nmp.Feature.BUTTON),
        has_temperature_sensor=info.has(nmp.Feature.TEMPERATURE_SENSOR),
    )


def _type_name(msg_type: int) -> str:
    try:
        return nmp.MsgType(msg_type).name
    except ValueError:
        return f"TYPE_0x{msg_type:02X}"


class NmpAdapter(ProtocolAdapter):
    """NMP/1 over any byte stream (serial, TCP, BLE notifications, in-process)."""

    name: ClassVar[str] = "nmp1"

    def __init__(self, keys: Callable[[str, int], bytes | None] | None = None) -> None:
        self._decoder = nmp.StreamDecoder()
        self._undecodable = 0
        #: ``keys(serial, key_id)``: the key of a device in authenticated mode whose
        #: SESSION reports ``key_id``, or ``None``.
        self._keys = keys if keys is not None else _user_key
        self._signer: nmp_auth.Signer | None = None
        #: An INFO reply of a device in authenticated mode, waiting for its SESSION.
        self._held: tuple[int, DeviceCapabilities, str] | None = None
        #: Why state changes cannot be signed (no key, or the wrong one), if so.
        self._locked: str | None = None
        #: The device's serial (whose key signs) and the seq of a GET_SESSION renewing.
        self._serial = ""
        self._renewing: int | None = None

    @property
    def authenticated(self) -> bool:
        """Whether state changes are being signed (the device is in authenticated mode)."""
        return self._signer is not None

    def encode(self, command: DeviceCommand, seq: int) -> bytes:
        """NMP/1 frame bytes for ``command``, signed when the device requires it."""
        message = self._checked(command)
        if self._signer is not None:
            return self._signer.frame(message, seq)
        return nmp.encode(message, seq)

    def validate(self, command: DeviceCommand) -> None:
        """Raise ``ValueError`` if ``command`` cannot be expressed, :class:`PairingRequired`
        if it would need a key this host lacks (signs nothing)."""
        self._checked(command)

    def _checked(self, command: DeviceCommand) -> nmp.Message:
        message = self.message(command)
        if self._locked is not None and message.TYPE in nmp_auth.SIGNED_TYPES:
            raise PairingRequired(message.TYPE.name, self._locked)
        return message

    def message(self, command: DeviceCommand) -> nmp.Message:
        """The NMP/1 message expressing ``command``; ``ValueError`` if none can."""
        match command:
            case SetZones():
                mask = 0
                for zone in command.zones:
                    if not 0 <= zone < nmp.MAX_ZONES:
                        raise ValueError(f"zone {zone} is outside 0..{nmp.MAX_ZONES - 1}")
                    mask |= 1 << zone
                if not 0 <= command.level <= 0xFF:
                    raise ValueError(f"level {command.level} is outside 0..255")
                if command.pattern_slot is not None:
                    return nmp.SetOutput(
                        mask,
                        command.level,
                        nmp.Waveform.PATTERN,
                        command.pattern_slot,
                        _ms(command.phase_s, "pattern phase"),
                    )
                return nmp.SetOutput(
                    mask,
                    command.level,
                    _WAVEFORMS[command.waveform],
                    0,
                    _ms(command.period_s, "waveform period"),
                )
            case SetHeat():
                target = command.target_c
                if target is None:
                    return nmp.SetHeat(0)
                dc = round(target * 10)
                if not 1 <= dc <= 0xFFF:
                    raise ValueError(f"heat target {target} C is outside 0.1..409.5 C")
                return nmp.SetHeat(dc)
            case StopAll():
                return nmp.StopAll()
            case Keepalive():
                return nmp.Keepalive()
            case SetAutoOff():
                if not 0 <= command.seconds <= 0xFFFF:
                    raise ValueError(f"auto-off of {command.seconds} s is outside 0..65535 s")
                return nmp.SetAutoOff(command.seconds)
            case UploadPattern():
                steps = pattern_steps(command.pattern)
                if len(steps) > 0xFF:
                    raise ValueError(f"a pattern of {len(steps)} steps exceeds 255")
                return nmp.UploadPattern(command.slot, steps)
            case GetInfo():
                return nmp.GetInfo()
            case GetStatus():
                return nmp.GetStatus()
        raise TypeError(f"not a command: {command!r}")

    def pattern_length(self, pattern: Pattern) -> int:
        """Steps on the wire: a step longer than 65.535 s counts as several."""
        return len(pattern_steps(pattern))

    def feed(self, data: bytes, now: float) -> list[Incoming]:
        """Replies, statuses and events completed by ``data``."""
        out: list[Incoming] = []
        for frame in self._decoder.feed(data, now):
            try:
                message = frame.message()
            except ProtocolError:
                self._undecodable += 1
                continue
            seq = frame.seq
            match message:
                case nmp.Ack():
                    out.append(Reply(seq, _type_name(message.acked_type), True))
                case nmp.Nack():
                    out.append(
                        Reply(
                            seq,
                            _type_name(message.acked_type),
                            False,
                            reason=message.reason,
                            retryable=message.code in _RETRYABLE,
                        )
                    )
                case nmp.Status():
                    status = status_from_nmp(message, now)
                    out.append(Reply(seq, "GET_STATUS", True, status=status) if seq else status)
                case nmp.Event():
                    out.append(event_from_nmp(message, now))
                case nmp.Info() if seq:
                    out.extend(self._info(seq, message))
                case nmp.Session() if seq:
                    out.extend(self._session(seq, message))
                case _:  # a host message echoed back, or an unprompted INFO
                    self._undecodable += 1
        return out

    def _info(self, seq: int, message: nmp.Info) -> list[Incoming]:
        info = capabilities_from_info(message)
        self._signer = self._held = self._locked = None
        if not message.has(nmp.Feature.AUTH):
            return [Reply(seq, "GET_INFO", True, info=info)]
        self._held = (seq, info, message.serial)
        return []  # the SESSION right behind it completes the reply

    def session_request(self, seq: int) -> bytes | None:
        """A GET_SESSION renewing the signing session, numbered ``seq``, or ``None``
        when nothing is being signed (spec 10.2: a host refused NOT_AUTHENTICATED
        while it holds a session asks for it again, then signs the frame again)."""
        if self._signer is None:
            return None
        self._renewing = seq
        return nmp.encode(nmp.GetSession(), seq)

    def _renewed(self, seq: int, message: nmp.Session) -> list[Incoming]:
        self._renewing = None
        signer = self._signer
        if signer is not None and bytes(message.nonce) == signer.nonce:
            return [Reply(seq, "GET_SESSION", True)]  # the same session: the counter goes on
        key = self._keys(self._serial, message.key_id)
        self._signer = None
        try:
            if key is None:
                raise nmp_auth.KeyMismatch("no key")
            self._signer = nmp_auth.Signer(key, message)
        except nmp_auth.KeyMismatch:
            self._locked = KEY_MISMATCH  # the device was reset or paired elsewhere meanwhile
        except ValueError:
            self._undecodable += 1
            self._locked = PAIRING_REQUIRED
        return [Reply(seq, "GET_SESSION", True)]

    def _session(self, seq: int, message: nmp.Session) -> list[Incoming]:
        if self._held is None and seq == self._renewing:
            return self._renewed(seq, message)
        held, self._held = self._held, None
        if held is None or held[0] != seq:
            return []  # a stray
        _, info, serial = held
        self._serial = serial
        key = self._keys(serial, message.key_id)
        if key is None:
            self._locked = PAIRING_REQUIRED  # reading and stopping need no key
            return [Reply(seq, "GET_INFO", True, info=info)]
        try:
            self._signer = nmp_auth.Signer(key, message)
        except nmp_auth.KeyMismatch:
            self._locked = KEY_MISMATCH
        except ValueError:  # a nonce of the wrong size: nothing can be signed for it
            self._undecodable += 1
            self._locked = PAIRING_REQUIRED
        return [Reply(seq, "GET_INFO", True, info=info)]

    def reset(self) -> None:
        """Drop any partial frame and the authentication session (a new link has its own)."""
        self._decoder.reset()
        self._signer = self._held = self._locked = self._renewing = None

    @property
    def stats(self) -> AdapterStats:
        """Frames decoded, bytes skipped, CRC errors and frames not understood."""
        s = self._decoder.stats
        return AdapterStats(s.frames, s.bytes_skipped, s.crc_errors, self._undecodable)


def _user_key(serial: str, key_id: int) -> bytes | None:
    # imported here: the key store reads the user's configuration folder, which the
    # profile loader defines, and the loader imports the protocol registry
    from massager_sdk.keys import key_for

    return key_for(serial, key_id)


def _model_from_advertisement(manufacturer: Mapping[int, bytes]) -> str | None:
    data = manufacturer.get(nmp_gatt.COMPANY_ID)
    parsed = nmp_gatt.parse_manufacturer_data(bytes(data)) if data is not None else None
    return (parsed[1] or None) if parsed is not None else None


#: NMP/1's registration: the open protocol, assumed when nothing names another.
PROTOCOL = ProtocolSpec(
    name=NmpAdapter.name,
    manufacturer="NMP/1 compatible",
    adapter=lambda profile: NmpAdapter(),
    default_profile="nmp",
    contract="massager_protocols.nmp",
    markers=Markers(frozenset({nmp_gatt.COMPANY_ID}), frozenset({nmp_gatt.SERVICE_UUID})),
    model_from_advertisement=_model_from_advertisement,
    self_describing=True,
    fallback=True,
)
