"""Tuya BLE on the host: a secure-channel transport and the data point adapter.

Tuya's protocol has two layers, and so has this module:

- :class:`TuyaTransport` is the secure channel (like TLS under HTTP): it wraps
  the link to the device (``ble://``, ``sim://``, ``tcp://``, ``serial://``),
  runs the key exchange and pairing when it connects, encrypts and fragments
  every message, reassembles and decrypts the device's, and acknowledges its
  data point reports. URLs: ``tuya+ble://AA:BB:CC:DD:EE:FF``,
  ``tuya+sim://tuya-neck``, ``tuya+tcp://HOST:PORT``, ``tuya+serial:///dev/...``
  (every link scheme, from the channel in :data:`PROTOCOL`).
  It needs the device's local key, device id and uuid (options, or the user's
  device file); without them it says how to obtain them.
- :class:`TuyaAdapter` turns the client's commands into data point writes and
  the device's reports into statuses, with capabilities from the device
  profile (default ``tuya-neck``).

    async with massager_sdk.connect(
        "tuya+ble://AA:BB:CC:DD:EE:FF", protocol="tuya_ble",
        local_key="...", device_id="...", uuid="...",
    ) as device: ...

:data:`PROTOCOL` registers both, with the channel under the URL prefix ``tuya+``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from massager_protocols import ProtocolError
from massager_protocols.tuya import (
    Code,
    Credentials,
    DataPoint,
    DpType,
    HostChannel,
    Message,
    MessageStream,
    PairResult,
    Reassembler,
    decode_datapoints,
    encode_datapoints,
)
from massager_protocols.tuya import gatt as tuya_gatt

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import ConnectionFailed
from massager_sdk.model import DeviceEvent, DeviceStatus, EventKind
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
from massager_sdk.protocols.registry import Channel, Markers, ProtocolSpec
from massager_sdk.protocols.registry import MissingCredentials as MissingCredentials
from massager_sdk.transports import Transport
from massager_sdk.transports.base import bad_url

if TYPE_CHECKING:
    from massager_sdk.profiles.model import DeviceProfile

_log = logging.getLogger("massager_sdk")

#: The profile used when none is given.
DEFAULT_PROFILE = "tuya-neck"
#: How to get a device's credentials, for error messages.
HOW_TO_GET_KEYS = (
    "a Tuya device only talks after pairing with its local key, device id and uuid. "
    "Get them from the Tuya IoT platform (iot.tuya.com: create a cloud project, link "
    "your Smart Life / Tuya Smart app account, open the device: 'local key', 'device id' "
    "and 'uuid'), or with tinytuya's wizard (python -m tinytuya wizard), then pass "
    "local_key=, device_id= and uuid= to connect() or put them under "
    '[devices."ADDRESS"] in the device file (massager_sdk.profiles.overrides)'
)


#: What a Tuya device needs before it talks.
CREDENTIALS = ("local_key", "device_id", "uuid")
_CHANNEL_OPTIONS = ("handshake_timeout",)


# -----------------------------------------------------------------------------
# The secure channel
# -----------------------------------------------------------------------------


class TuyaTransport(Transport):
    """Tuya's secure channel over another transport.

    Above it, bytes are plaintext Tuya messages (header, data, CRC) numbered by
    the layer above; below it, encrypted fragments of at most 20 bytes, each
    written on its own. Replies are renumbered back to the number the message
    they answer had above. Once paired it hands up one message of its own,
    DEVICE_INFO with ``seq`` and ``response_to`` 0 and the device's uuid as
    data, so that the layer above can name the device by it.
    """

    #: The channel's URL prefix; ``tuya+LINK://`` URLs come from :data:`PROTOCOL`'s channel.
    scheme: ClassVar[str] = "tuya"
    url_forms: ClassVar[tuple[str, ...]] = ("tuya+LINK://...",)

    def __init__(
        self,
        inner: Transport,
        credentials: Credentials,
        *,
        handshake_timeout: float = 5.0,
        min_gap_s: float | None = None,
    ) -> None:
        super().__init__(min_gap_s=inner.min_gap_s if min_gap_s is None else min_gap_s)
        self.inner = inner
        self.credentials = credentials
        self.handshake_timeout = handshake_timeout
        self._channel = HostChannel(credentials)
        self._reassembler = Reassembler()
        self._numbers: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._paired: asyncio.Future[int] | None = None
        self._lock = asyncio.Lock()
        self._acks: set[asyncio.Task[None]] = set()
        #: Messages that could not be decrypted or checked.
        self.undecodable = 0

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> TuyaTransport:
        """``tuya+LINK://...``: opened as the registry opens every channel URL
        (:func:`massager_sdk.protocols.registry.open_channel_url`)."""
        from massager_sdk.protocols.registry import open_channel_url

        channel = open_channel_url(text, **options)
        if not isinstance(channel, cls):
            raise bad_url(text, "it is not a Tuya channel URL", cls.url_forms)
        return channel

    @property
    def description(self) -> str:
        """``tuya+`` and the link's description."""
        return f"tuya+{self.inner.description}"

    @property
    def mtu(self) -> int:
        """Plaintext messages pass whole; the channel fragments them."""
        return 4096

    async def _open(self) -> None:
        self.inner.set_receiver(self._inner_data, self._inner_lost)
        self._reassembler.reset()
        self._numbers.clear()
        await self.inner.connect()
        loop = asyncio.get_running_loop()
        self._paired = loop.create_future()
        try:
            await self._send_fragments(self._channel.start())
            async with asyncio.timeout(self.handshake_timeout):
                result = await self._paired
        except TimeoutError:
            await self.inner.disconnect()
            raise ConnectionFailed(
                f"{self.description}: no answer to the Tuya key exchange within "
                f"{self.handshake_timeout:g} s: a device ignores a key exchange under the wrong "
                "local key, so check the key, and that it is a Tuya device in range"
            ) from None
        except BaseException:
            await self.inner.disconnect()
            raise
        finally:
            self._paired = None
        if result not in (PairResult.OK, PairResult.ALREADY_PAIRED):
            await self.inner.disconnect()
            raise ConnectionFailed(
                f"{self.description} refused pairing (result {result}): the uuid does not "
                f"match this device; {HOW_TO_GET_KEYS}"
            )
        identity = Message(0, 0, Code.DEVICE_INFO, self.credentials.uuid.encode("ascii"))
        self._deliver(identity.plaintext())

    async def _close(self) -> None:
        for task in list(self._acks):
            task.cancel()
        await self.inner.disconnect()

    async def close(self) -> None:
        """Close the channel and the link under it."""
        await self.disconnect()
        await self.inner.close()

    async def _send_fragments(self, fragments: list[bytes]) -> None:
        async with self._lock:  # the fragments of two messages never interleave
            for piece in fragments:
                await self.inner.write(piece)

    async def _write_chunk(self, chunk: bytes) -> None:
        stream = MessageStream()
        for message in stream.feed(chunk):
            seq, fragments = self._channel.seal(message.code, message.data, message.response_to)
            self._numbers[seq] = message.seq
            while len(self._numbers) > 256:
                self._numbers.popitem(last=False)
            await self._send_fragments(fragments)

    def _inner_data(self, data: bytes) -> None:
        for envelope in self._reassembler.feed(data):
            try:
                out = self._channel.receive(envelope)
            except ProtocolError as exc:
                self.undecodable += 1
                _log.debug("%s: dropped a message: %s", self.description, exc)
                continue
            if out.writes:
                task = asyncio.get_running_loop().create_task(self._send_fragments(out.writes))
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)
            if out.paired is not None and self._paired is not None and not self._paired.done():
                self._paired.set_result(out.pair_result or 0)
            for message in out.messages:
                above = self._numbers.get(message.response_to, 0) if message.response_to else 0
                self._deliver(dataclasses.replace(message, response_to=above).plaintext())

    def _inner_lost(self, exc: BaseException | None) -> None:
        if self._paired is not None and not self._paired.done():
            self._paired.set_exception(ConnectionFailed(f"{self.description} dropped the link"))
        self._lost(exc)


# -----------------------------------------------------------------------------
# The data point adapter
# -----------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Pending:
    seq: int
    name: str
    wanted: dict[int, Any]  #: data point values a DPS write asks for
    report: bool  #: the reply waits for a data point report that shows ``wanted``
    info: bool = False
    results: int = 1  #: result bytes still to come (one per message sent)


class TuyaAdapter(ProtocolAdapter):
    """Client commands as Tuya data points (the neck-massager demo's by default).

    ========================= ====================================================
    SetZones level n > 0      DPS switch on, mode (nearest the waveform), gear n-1
                              (and the heat held while the massage was off)
    SetZones level 0, StopAll DPS switch off (the heat goes off with it)
    SetHeat                   DPS heat on/off while the massage runs; held until
                              the next switch-on otherwise (the firmware ignores
                              heat while switched off)
    GetInfo, GetStatus,       DEVICE_STATUS; the device answers with a result
    Keepalive, SetAutoOff     byte (and, where the profile says so, a report)
    ========================= ====================================================

    The device profile's options say how the device behaves:

    - ``one_dp_per_write`` (default true): each data point goes in its own DPS
      write, the switch first, as the demo firmware applies only the first data
      point of a write. A write is confirmed by the device's reports showing every
      value asked for: the demo echoes each write, so one data point per write
      makes its echo the value it applied.
    - ``report_after_query`` (default false): the device reports every data point
      after a status query. Then a DPS write is followed by a query, and its
      report, not the echo, confirms the write; GetStatus waits for the report.
      Otherwise GetStatus is answered from the data points last reported.
    - ``switch_on`` (default 1): the switch value that means on (0 on the demo).

    The demo firmware has no timer data point: SetAutoOff is answered but only
    the host's safety clock (and the simulated firmware's default) switch off.
    """

    name: ClassVar[str] = "tuya_ble"

    def __init__(self, profile: DeviceProfile) -> None:
        """An adapter for devices of ``profile`` (``adapter_for`` picks the default one)."""
        resolved = profile
        if resolved.protocol != self.name or resolved.device is None:
            raise ValueError(f"profile {resolved.id!r} is not a tuya_ble profile with capabilities")
        self.profile = resolved
        self.device = resolved.device
        self.caps: DeviceCapabilities = resolved.capabilities()
        options = resolved.options
        self.dp = {
            name: int(options.get(f"dp_{name}", default))
            for name, default in (
                ("low_battery", 101), ("heat", 102), ("gear", 103), ("mode", 104), ("switch", 105)
            )
        }  # fmt: skip
        self.heat_off = int(options.get("heat_off", 1))
        self.switch_on = bool(int(options.get("switch_on", 1)))
        self.one_dp_per_write = bool(options.get("one_dp_per_write", True))
        self.report_after_query = bool(options.get("report_after_query", False))
        self._stream = MessageStream()
        self._pending: collections.deque[_Pending] = collections.deque(maxlen=32)
        self._values: dict[int, Any] = {}
        self._heat_wanted: int | None = None  # heat level value held for the next switch-on
        self._messages = 0
        self._undecodable = 0
        #: The device's uuid, once the channel named it: its serial in ``info``.
        self.uuid = ""

    # -- commands ---------------------------------------------------------------------

    def encode(self, command: DeviceCommand, seq: int) -> bytes:
        """The plaintext Tuya messages of ``command`` (:class:`TuyaTransport` encrypts
        them), all numbered ``seq``: their answers come back under it."""
        pending, messages = self._plan(command, seq)
        pending.results = len(messages)
        self._pending.append(pending)
        return b"".join(Message(seq, 0, code, data).plaintext() for code, data in messages)

    def validate(self, command: DeviceCommand) -> None:
        """Raise ``ValueError`` if ``command`` cannot be expressed; nothing is queued."""
        self._plan(command, 1, dry=True)

    def _is_on(self, values: Mapping[int, Any]) -> bool:
        switch = values.get(self.dp["switch"])
        return switch is not None and bool(switch) == self.switch_on

    def _writes(self, wanted: dict[int, Any]) -> list[tuple[int, bytes]]:
        """DPS messages for ``wanted`` (in its order), then a query where it confirms."""
        switch = self.dp["switch"]
        points = [
            DataPoint(i, DpType.BOOL if i == switch else DpType.ENUM, v) for i, v in wanted.items()
        ]
        groups = [[p] for p in points] if self.one_dp_per_write else [points]
        out = [(int(Code.DPS), encode_datapoints(g)) for g in groups]
        if self.report_after_query:
            out.append((int(Code.DEVICE_STATUS), b""))
        return out

    def _plan(
        self, command: DeviceCommand, seq: int, dry: bool = False
    ) -> tuple[_Pending, list[tuple[int, bytes]]]:
        dp = self.dp
        on = self._is_on(self._values)
        query = [(int(Code.DEVICE_STATUS), b"")]
        match command:
            case SetZones():
                if command.pattern_slot is not None:
                    raise ValueError(f"{self.caps.model} cannot play uploaded patterns")
                if set(command.zones) != {z.index for z in self.caps.zones}:
                    raise ValueError(
                        f"{self.caps.model} has one zone; got zones {list(command.zones)}"
                    )
                if not 0 <= command.level <= self.caps.intensity_steps:
                    raise ValueError(
                        f"level {command.level} is outside 0..{self.caps.intensity_steps}"
                    )
                if not command.level:
                    wanted: dict[int, Any] = {dp["switch"]: not self.switch_on}
                else:
                    mode = self.device.mode_for(command.waveform, command.period_s).value
                    # The switch first: the demo ignores mode and gear while switched off.
                    wanted = {
                        dp["switch"]: self.switch_on,
                        dp["mode"]: mode,
                        dp["gear"]: command.level - 1,
                    }
                    if self._heat_wanted is not None:
                        wanted[dp["heat"]] = self._heat_wanted
                return _Pending(seq, "DPS", wanted, True), self._writes(wanted)
            case StopAll():
                if not dry:
                    self._heat_wanted = None
                wanted = {dp["switch"]: not self.switch_on}
                return _Pending(seq, "STOP", wanted, True), self._writes(wanted)
            case SetHeat():
                if command.target_c is None:
                    value = self.heat_off
                else:
                    level = self.device.heat_level_for(command.target_c)
                    if level is None:
                        lowest = min(h.temperature_c for h in self.device.heat_levels)
                        raise ValueError(
                            f"{self.caps.model} heats to {lowest:g} C at least; "
                            f"{command.target_c:g} C is below it"
                        )
                    value = level.value
                if not dry:
                    self._heat_wanted = None if value == self.heat_off else value
                if on:
                    wanted = {dp["heat"]: value}
                    return _Pending(seq, "DPS", wanted, True), self._writes(wanted)
                return _Pending(seq, "HEAT_HELD", {}, False), query
            case UploadPattern():
                raise ValueError(f"{self.caps.model} cannot store patterns")
            case GetStatus():
                return _Pending(seq, "GET_STATUS", {}, self.report_after_query), query
            case GetInfo():
                return _Pending(seq, "GET_INFO", {}, False, info=True), query
            case Keepalive() | SetAutoOff():
                return _Pending(seq, type(command).__name__.upper(), {}, False), query
        raise TypeError(f"not a command: {command!r}")

    # -- what the device sends -------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> list[Incoming]:
        """Replies, statuses and events in plaintext messages from the channel."""
        out: list[Incoming] = []
        for message in self._stream.feed(data):
            self._messages += 1
            if message.response_to:
                out.extend(self._result(message, now))
            elif message.code == Code.DEVICE_INFO and not message.seq:
                self.uuid = message.data.decode("ascii", errors="replace")  # from the channel
            elif message.code in (Code.RECEIVE_DP, Code.RECEIVE_SIGN_DP):
                out.extend(self._datapoints(message, now))
            else:
                self._undecodable += 1
        return out

    def _shows(self, pending: _Pending) -> bool:
        return all(self._values.get(i) == v for i, v in pending.wanted.items())

    def _result(self, message: Message, now: float) -> list[Incoming]:
        pending = next((p for p in self._pending if p.seq == message.response_to), None)
        if pending is None or not pending.results:
            return []
        result = message.data[0] if message.data else 1
        if result != 0:
            self._pending.remove(pending)
            return [Reply(pending.seq, pending.name, False, reason=f"RESULT_{result}")]
        pending.results -= 1
        if pending.results:
            return []
        if pending.report and (self.report_after_query or not self._shows(pending)):
            return []  # a report still to come says what is in force
        self._pending.remove(pending)
        info = None
        if pending.info:
            info = dataclasses.replace(self.caps, serial=self.uuid) if self.uuid else self.caps
        status = self._status(now) if pending.report or pending.name == "GET_STATUS" else None
        return [Reply(pending.seq, pending.name, True, info=info, status=status)]

    def _datapoints(self, message: Message, now: float) -> list[Incoming]:
        data = message.data[3:] if message.code == Code.RECEIVE_SIGN_DP else message.data
        try:
            points = decode_datapoints(data)
        except ProtocolError:
            self._undecodable += 1
            return []
        before = dict(self._values)
        for point in points:
            self._values[point.id] = point.value
        out: list[Incoming] = []
        dp = self.dp
        # Off while a write of the switch is in flight: its answer, not a shutdown.
        expected_stop = any(dp["switch"] in p.wanted for p in self._pending)
        if self._is_on(before) and not self._is_on(self._values) and not expected_stop:
            out.append(
                DeviceEvent(EventKind.SHUTDOWN, None, detail="switched off by the device", time=now)
            )
        low = self._values.get(dp["low_battery"])
        if low is not None and bool(low) != bool(before.get(dp["low_battery"], False)):
            out.append(DeviceEvent(EventKind.LOW_BATTERY, bool(low), time=now))
        status = self._status(now)
        waiting = next((p for p in self._pending if not p.results and p.report), None)
        if waiting is None:
            out.append(status)
            return out
        self._pending.remove(waiting)
        ok = self._shows(waiting)
        reason = "" if ok else "NOT_APPLIED"
        out.append(Reply(waiting.seq, waiting.name, ok, reason=reason, status=status))
        return out

    def _status(self, now: float) -> DeviceStatus:
        dp, values = self.dp, self._values
        on = self._is_on(values)
        gear = values.get(dp["gear"], 0)
        heat = values.get(dp["heat"], self.heat_off)
        level = next((h for h in self.device.heat_levels if h.value == heat), None)
        low = bool(values.get(dp["low_battery"], False))
        return DeviceStatus(
            intensities=(gear + 1 if on else 0,),
            heat_target_c=level.temperature_c if on and level is not None else None,
            temperature_c=None,
            battery_pct=None,
            battery_mv=None,
            charging=False,
            auto_off_s=0,
            faults=frozenset({"low_battery"}) if low else frozenset(),
            time=now,
        )

    def reset(self) -> None:
        """Forget partial messages, commands in flight and the data points last reported.

        A device found switched off after a reconnect switched off because its host
        was gone, not on its own: its first report must not read as a shutdown.
        """
        self._stream.reset()
        self._pending.clear()
        self._values.clear()

    @property
    def stats(self) -> AdapterStats:
        """Messages decoded and those not understood."""
        return AdapterStats(self._messages, self._stream.skipped, 0, self._undecodable)


def secure_channel(link: Transport, settings: Mapping[str, Any], where: str) -> TuyaTransport:
    """Tuya's channel over ``link``, with the credentials (and ``handshake_timeout``)
    in ``settings``; ``MissingCredentials`` when they are malformed."""
    try:
        credentials = Credentials(
            str(settings["local_key"]), str(settings["device_id"]), str(settings["uuid"])
        )
    except ProtocolError as exc:
        raise MissingCredentials(f"{where}: {exc}: {HOW_TO_GET_KEYS}") from None
    timeout = float(settings.get("handshake_timeout", 5.0))
    return TuyaTransport(link, credentials, handshake_timeout=timeout)


def _unwrap(transport: Transport) -> Transport | None:
    return transport.inner if isinstance(transport, TuyaTransport) else None


#: The Tuya BLE registration: data point adapter, credentials, and the secure channel.
PROTOCOL = ProtocolSpec(
    name=TuyaAdapter.name,
    manufacturer="Tuya",
    adapter=TuyaAdapter,
    default_profile=DEFAULT_PROFILE,
    contract="massager_protocols.tuya",
    markers=Markers(frozenset({tuya_gatt.COMPANY_ID}), frozenset({tuya_gatt.SERVICE_UUID})),
    credentials=CREDENTIALS,
    credentials_help=HOW_TO_GET_KEYS,
    channel=Channel("tuya", secure_channel, _unwrap, _CHANNEL_OPTIONS),
)
