"""The NMP/1 personality: the open protocol (see ``protocols/specs/nmp1.md``).

- host frames carry seq 1..255 and every reply echoes it; device-initiated
  frames (unprompted STATUS, EVENT) carry seq 0; a host frame with seq 0 is
  ignored;
- GET_INFO -> INFO, GET_STATUS -> STATUS, any other command -> ACK or NACK
  (the firmware's own answer, :meth:`SimulatedDevice.apply`); a frame that
  fails its CRC is answered NACK BAD_CRC when its header can be read;
- the frames of one link feed the watchdog only while that link controls
  the device (see :class:`~massager_simulator.device.SimulatedDevice`);
- every EVENT goes to every host at once; a STATUS goes out whenever the
  device reports (about once a second while anything is on) and once more
  when everything has gone off and the motors have wound down;
- with ``auth = true`` in the model's protocol options, the authenticated
  mode of spec section 10 (:mod:`massager_simulator.auth`): state changes
  must be signed, and only authenticated frames feed the watchdog;
- with ``test_mode = true`` (off by default, as in a production build), the
  test mode of spec section 12 (:mod:`massager_simulator.testmode`): INFO
  advertises it, and after the deliberate entry a host injects faults.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from massager_protocols.errors import MalformedPayload
from massager_protocols.nmp import (
    Ack,
    EnterTestMode,
    Event,
    Feature,
    Frame,
    MsgType,
    Nack,
    NackCode,
    Pair,
    StreamDecoder,
    TestInject,
    encode,
)
from massager_protocols.nmp import gatt as nmp_gatt
from massager_protocols.nmp.auth import SIGNED_TYPES

from massager_simulator import testmode
from massager_simulator.auth import DeviceAuth
from massager_simulator.personalities.base import GattProfile, Personality

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port

_HOST_TYPES = frozenset(t for t in MsgType if t < 0x80)
_TEST_TYPES = frozenset({MsgType.ENTER_TEST_MODE, MsgType.EXIT_TEST_MODE, MsgType.TEST_INJECT})


def nmp_gatt_profile(model: str, name: str) -> GattProfile:
    """The GATT face and advertisement of an NMP/1 device of ``model`` named ``name``."""
    return GattProfile(
        service_uuid=nmp_gatt.SERVICE_UUID,
        write_uuid=nmp_gatt.RX_CHAR_UUID,
        notify_uuid=nmp_gatt.TX_CHAR_UUID,
        manufacturer_data={
            nmp_gatt.COMPANY_ID: nmp_gatt.manufacturer_data(nmp_gatt.model_code(model))
        },
        service_data={},
        service_uuids=(nmp_gatt.SERVICE_UUID,),
        local_name=name,
    )


class NmpPersonality(Personality):
    """A device speaking NMP/1, the protocol of the firmware's own commands."""

    protocol = "nmp1"
    fallback = True
    reports_when_off = True

    def __init__(self, device: SimulatedDevice) -> None:
        super().__init__(device)
        self._last_broadcast: tuple[float, bytes] = (-1.0, b"")
        where = "protocol_options"
        try:
            #: The authenticated mode, or ``None`` (spec section 10).
            self.auth = DeviceAuth.from_options(
                self.options, device.serial, where, frozenset({testmode.OPTION})
            )
            offered = testmode.offered(self.options, where)
        except ValueError as exc:
            raise self.error(str(exc).removeprefix(f"{where}: ")) from None
        features = Feature(device.info.features)
        if self.auth is not None:
            features |= Feature.AUTH
        #: Test mode (spec section 12), or ``None`` when the build does not offer it.
        self.test_mode = testmode.TestMode(device) if offered else None
        if offered:
            features |= Feature.TEST_MODE
        device.info = dataclasses.replace(device.info, features=int(features))

    @property
    def gatt(self) -> GattProfile:
        """The NMP service, and manufacturer data naming the model."""
        return nmp_gatt_profile(self.device.model.model, f"NMP-{self.device.serial}")

    def decoder(self, port: Port) -> StreamDecoder:
        """The frame decoder of ``port`` (its statistics count what the device rejected)."""
        decoder: StreamDecoder = self.port_state(port, StreamDecoder)
        return decoder

    def port_bytes(self, port: Port, data: bytes) -> None:
        """Answer every whole frame; NACK BAD_CRC a host frame that arrived corrupted."""
        decoder = self.decoder(port)
        crc_errors = decoder.stats.crc_errors
        now = self.device._clock()
        frames = decoder.feed(data, now)
        if frames:
            for frame in frames:
                if frame.seq == 0:
                    continue  # seq 0 is the device's own numbering; no host sends it
                self.send(port, self._dispatch(port, frame, now))
        bad = decoder.stats.crc_errors - crc_errors
        if bad:
            for seq, msg_type in list(decoder.rejected)[-bad:]:
                if seq and msg_type in _HOST_TYPES:
                    self.send(port, encode(Nack(msg_type, NackCode.BAD_CRC), seq))

    def port_closed(self, port: Port) -> None:
        """A link closed: forget its decoder and its authentication session."""
        super().port_closed(port)
        if self.auth is not None:
            self.auth.port_closed(port)
        if self.test_mode is not None:
            self.test_mode.port_closed(port)

    def _dispatch(self, port: Port, frame: Frame, now: float) -> bytes:
        device = self.device
        if self.auth is None:
            device.heard(now, port)  # else only signed commands feed it, in apply()
        seq, msg_type = frame.seq, frame.msg_type
        if msg_type == MsgType.GET_STATUS:
            return encode(device._status(now), seq)
        auth = self.auth
        if msg_type == MsgType.GET_INFO:
            if self.test_mode is not None:
                self.test_mode.info_answered(port, now)
            if auth is not None:  # INFO, then the link's session (spec section 10.1)
                return encode(device.info, seq) + encode(auth.session(port, now), seq)
            return encode(device.info, seq)
        payload = frame.payload
        if self.test_mode is None and msg_type in _TEST_TYPES:
            # A build not for test knows none of them: an unknown type comes first (7.3).
            return encode(Nack(msg_type, NackCode.UNKNOWN_TYPE), seq)
        if auth is not None:
            if msg_type == MsgType.GET_SESSION:
                return encode(auth.session(port, now), seq)
            if msg_type == MsgType.PAIR:
                code = auth.pair(Pair.decode_payload(payload).key, now)
                return encode(Nack(msg_type, code) if code else Ack(msg_type), seq)
            if msg_type in SIGNED_TYPES:
                body = auth.check(port, seq, msg_type, payload, now)
                if body is None:
                    return encode(Nack(msg_type, NackCode.NOT_AUTHENTICATED), seq)
                payload = body
        if self.test_mode is not None and msg_type in _TEST_TYPES:
            return self._test_mode(port, seq, msg_type, payload, now)
        command = device.command_type(msg_type)
        if command is None:
            return encode(Nack(msg_type, NackCode.UNKNOWN_TYPE), seq)
        try:
            message = command.decode_payload(payload)
        except MalformedPayload:
            return encode(Nack(msg_type, NackCode.BAD_LENGTH), seq)
        code = device.apply(message, now, port)
        if code:
            return encode(Nack(msg_type, code), seq)
        return encode(Ack(msg_type), seq)

    def _test_mode(self, port: Port, seq: int, msg_type: int, payload: bytes, now: float) -> bytes:
        """ENTER_TEST_MODE, EXIT_TEST_MODE and TEST_INJECT (spec section 12)."""
        mode = self.test_mode
        assert mode is not None
        try:
            if msg_type == MsgType.ENTER_TEST_MODE:
                code = mode.enter(port, EnterTestMode.decode_payload(payload), now)
            elif msg_type == MsgType.TEST_INJECT:
                code = mode.inject(port, TestInject.decode_payload(payload))
            else:
                code = mode.exit(port, now)
        except MalformedPayload:
            if msg_type == MsgType.ENTER_TEST_MODE:
                mode.refused(port)  # a short entry is a wrong attempt too
            return encode(Nack(msg_type, NackCode.BAD_LENGTH), seq)
        return encode(Nack(msg_type, code) if code else Ack(msg_type), seq)

    def event(self, now: float, event: Event) -> None:
        """Every EVENT to every host, unprompted (seq 0)."""
        frame = encode(event, 0)
        for port in self.ports():
            self.send(port, frame)

    def status(self, now: float) -> None:
        """An unprompted STATUS to every host (one, when two reasons fall at one instant)."""
        frame = encode(self.device._status(now), 0)
        if (now, frame) == self._last_broadcast:
            return
        self._last_broadcast = (now, frame)
        for port in self.ports():
            self.send(port, frame)


#: Registers this personality under ``nmp1``.
PERSONALITY = NmpPersonality
