"""A protocol plugs in from one file: a toy protocol, registered here alone, driven end to end.

The toy wire is ASCII lines. The host sends ``L<level>`` (every zone at that
level), ``S`` (stop), ``A<seconds>`` (auto-off) or ``Q`` (query); the device
answers every line, in order, with ``=<level>`` or ``!<reason>``, and reports
unprompted with ``~<level>``. Nothing in the SDK or the simulator names it:
this file registers the host side (adapter, default device profile, markers)
and the device side (a simulator personality), as ``docs/adding-a-protocol.md``
describes.

The toy may also run in a channel: ``toy+LINK://`` URLs put the user's PIN in front of
every line (``1234|L4``), and the device answers ``!LOCKED`` to a wrong one. Its
URL schemes come from the registration alone, over every link scheme.
"""

from __future__ import annotations

import collections
import dataclasses
import textwrap
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

import pytest
from massager_protocols.nmp import Event, NackCode, SetAutoOff, SetOutput, StopAll
from massager_protocols.nmp import Waveform as FirmwareWaveform
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.clock import run_virtual
from massager_simulator.link import Port
from massager_simulator.personalities import (
    GattProfile,
    Personality,
    known_protocols,
    registered_personality,
)

import massager_sdk
from massager_sdk.errors import BadURLError
from massager_sdk.model import DeviceStatus, Waveform
from massager_sdk.mqtt.config import check_device_url
from massager_sdk.profiles import DeviceProfile, get_profile
from massager_sdk.protocols import (
    AdapterStats,
    Channel,
    DeviceCommand,
    GetInfo,
    GetStatus,
    Incoming,
    Keepalive,
    Markers,
    MissingCredentials,
    ProtocolAdapter,
    ProtocolSpec,
    Reply,
    SetHeat,
    SetZones,
    UploadPattern,
    get_protocol,
    protocol_names,
    registered,
)
from massager_sdk.protocols import (
    SetAutoOff as HostSetAutoOff,
)
from massager_sdk.protocols import (
    StopAll as HostStopAll,
)
from massager_sdk.protocols.registry import open_channel_url
from massager_sdk.protocols.testing import MockLink
from massager_sdk.transports import Transport, accepted_forms, open_transport, url_schemes

COMPANY_ID = 0x7A7A  # made up for the toy
PIN = "1234"  # the simulated toy's
MARKER = b"toy"

# -- the host side -------------------------------------------------------------------


class ToyAdapter(ProtocolAdapter):
    """Commands as toy lines; answers matched to commands in order."""

    name = "toy"

    def __init__(self, profile: DeviceProfile) -> None:
        self.caps = profile.capabilities()
        self._buffer = b""
        self._pending: collections.deque[tuple[int, str, bool]] = collections.deque()
        self._stats = AdapterStats()

    def _line(self, command: DeviceCommand) -> tuple[str, str]:
        match command:
            case SetZones():
                if command.pattern_slot is not None or command.waveform != Waveform.CONSTANT:
                    raise ValueError("the toy only holds a steady level")
                if not 0 <= command.level <= self.caps.intensity_steps:
                    raise ValueError(f"level {command.level} is outside 0..10")
                return f"L{command.level}", "SET_LEVEL"
            case HostStopAll():
                return "S", "STOP"
            case HostSetAutoOff():
                return f"A{command.seconds}", "SET_AUTO_OFF"
            case SetHeat() if command.target_c is None:
                return "Q", "HEAT_OFF"
            case Keepalive() | GetStatus() | GetInfo():
                return "Q", type(command).__name__.upper()
            case SetHeat() | UploadPattern():
                raise ValueError("the toy has no heater and no pattern memory")
        raise TypeError(f"not a command: {command!r}")

    def encode(self, command: DeviceCommand, seq: int) -> bytes:
        line, name = self._line(command)
        self._pending.append((seq, name, isinstance(command, GetInfo)))
        return line.encode() + b"\n"

    def validate(self, command: DeviceCommand) -> None:
        self._line(command)

    def _status(self, level: int, now: float) -> DeviceStatus:
        return DeviceStatus(
            intensities=(level,) * len(self.caps.zones),
            heat_target_c=None,
            temperature_c=None,
            battery_pct=None,
            battery_mv=None,
            charging=False,
            auto_off_s=0,
            faults=frozenset(),
            time=now,
        )

    def feed(self, data: bytes, now: float) -> list[Incoming]:
        out: list[Incoming] = []
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for raw in lines:
            self._stats.frames += 1
            line = raw.decode("ascii", "replace")
            if line.startswith("~"):
                out.append(self._status(int(line[1:]), now))
            elif line[:1] in ("=", "!") and self._pending:
                seq, name, info = self._pending.popleft()
                if line.startswith("="):
                    status = self._status(int(line[1:]), now)
                    out.append(
                        Reply(seq, name, True, status=status, info=self.caps if info else None)
                    )
                else:
                    out.append(Reply(seq, name, False, reason=line[1:]))
            else:
                self._stats.undecodable += 1
        return out

    def reset(self) -> None:
        self._buffer = b""
        self._pending.clear()

    @property
    def stats(self) -> AdapterStats:
        return self._stats


class ToyChannel(Transport):
    """The toy's channel: every line goes out as ``PIN|line``; answers pass as they are."""

    scheme: ClassVar[str] = "toy"
    url_forms: ClassVar[tuple[str, ...]] = ("toy+LINK://...",)

    def __init__(self, inner: Transport, pin: str) -> None:
        super().__init__(min_gap_s=inner.min_gap_s)
        self.inner = inner
        self.pin = pin
        self._partial = b""

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> Transport:
        return open_channel_url(text, **options)

    @property
    def description(self) -> str:
        return f"toy+{self.inner.description}"

    async def _open(self) -> None:
        self.inner.set_receiver(self._deliver, self._lost)
        self._partial = b""
        await self.inner.connect()

    async def _close(self) -> None:
        await self.inner.disconnect()

    async def close(self) -> None:
        await self.disconnect()
        await self.inner.close()

    async def _write_chunk(self, chunk: bytes) -> None:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            await self.inner.write(self.pin.encode() + b"|" + line + b"\n")


def wrap_toy(link: Transport, settings: Any, where: str) -> Transport:
    return ToyChannel(link, str(settings["pin"]))


def unwrap_toy(transport: Transport) -> Transport | None:
    return transport.inner if isinstance(transport, ToyChannel) else None


def toy_spec(profiles: Path, *, channel: bool = False) -> ProtocolSpec:
    """The toy's registration; with ``channel``, it runs in the PIN channel."""
    if not channel:
        return dataclasses.replace(toy_spec(profiles, channel=True), credentials=(), channel=None)
    return ProtocolSpec(
        name="toy",
        manufacturer="Toy Works",
        adapter=ToyAdapter,
        default_profile="toy-one",
        markers=Markers(frozenset({COMPANY_ID})),
        credentials=("pin",),
        credentials_help="the PIN is printed under the toy's battery lid",
        channel=Channel("toy", wrap_toy, unwrap_toy),
        profiles=(profiles,),
    )


PROFILE = """\
    name = "Toy massager"
    protocol = "toy"

    [[match]]
    manufacturer = [{ company_id = 0x7A7A, prefix = "746f79" }]

    [device]
    model = "Toy One"
    intensity_steps = 10
    watchdog_s = 5.0
    auto_off_default_s = 600
    auto_off_max_s = 3600
    zones = [{ name = "neck", position = "NAPE" }]
    modes = [{ value = 0, name = "steady", waveform = "constant" }]
"""

# -- the device side -------------------------------------------------------------------


class ToyPersonality(Personality):
    """The simulated firmware speaking toy lines."""

    protocol = "toy"

    @property
    def gatt(self) -> GattProfile:
        return GattProfile(
            service_uuid="7a7a0001-0000-1000-8000-00805f9b34fb",
            write_uuid="7a7a0002-0000-1000-8000-00805f9b34fb",
            notify_uuid="7a7a0003-0000-1000-8000-00805f9b34fb",
            manufacturer_data={COMPANY_ID: MARKER},
            service_data={},
            service_uuids=(),
            local_name=f"TOY-{self.device.serial}",
        )

    def _level(self) -> int:
        return max(self.device.commanded, default=0)

    def port_bytes(self, port: Port, data: bytes) -> None:
        buffer: bytearray = self.port_state(port, bytearray)
        buffer += data
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            self.send(port, self._answer(line.decode(), self.device._clock()).encode() + b"\n")

    def _answer(self, line: str, now: float) -> str:
        device = self.device
        if "|" in line:  # through the channel
            pin, _, line = line.partition("|")
            if pin != PIN:
                return "!LOCKED"
        kind, argument = line[:1], line[1:]
        everything = (1 << len(device.model.zones)) - 1
        message: Any
        if kind == "L" and argument.isdigit():
            message = SetOutput(everything, int(argument), FirmwareWaveform.CONSTANT, 0, 0)
        elif kind == "S":
            message = StopAll()
        elif kind == "A" and argument.isdigit():
            message = SetAutoOff(int(argument))
        elif kind == "Q":
            device.heard(now)
            return f"={self._level()}"
        else:
            return "!UNKNOWN"
        code = device.apply(message, now)
        return f"!{NackCode(code).name}" if code else f"={self._level()}"

    def event(self, now: float, event: Event) -> None:
        self.status(now)

    def status(self, now: float) -> None:
        for port in self.ports():
            self.send(port, f"~{self._level()}\n".encode())


MODEL = """\
    protocol = "toy"
    model = "Toy One"
    serial = "TOY-000001"
    firmware = "1.0.0"
    intensity_steps = 10
    watchdog_ms = 5000
    auto_off_default_s = 600
    auto_off_max_s = 3600
    min_gap_ms = 0
    pattern_slots = 0
    pattern_max_steps = 0
    button = false
    ramp_ms = 0

    [[zones]]
    position = "NAPE"
    name = "neck"
"""

# -- the test ------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "toy-one.toml").write_text(textwrap.dedent(PROFILE))
    model = tmp_path / "toy.toml"
    model.write_text(textwrap.dedent(MODEL))
    return profiles, model


def test_a_toy_protocol_registered_here_alone_is_driven_end_to_end(
    files: tuple[Path, Path],
) -> None:
    profiles, model_file = files

    async def main() -> None:
        sim = SimulatedDevice(load_model(model_file))
        async with massager_sdk.connect("sim://", simulator=sim) as device:
            assert device.info.protocol == "toy"
            assert device.info.model == "Toy One"
            assert device.device_profile.id == "toy-one"  # recognised by its advertisement
            await device.set_intensity(4)
            await device.flush()
            assert sim.commanded == (4,)
            status = await device.status()
            assert status.intensities == (4,)
            await device.stop()
            assert sim.commanded == (0,)
            await device.set_intensity(7)
            await device.flush()
            assert sim.is_on
        assert not sim.is_on  # leaving stops the device

    with registered(toy_spec(profiles)), registered_personality(ToyPersonality):
        assert "toy" in protocol_names() and "toy" in known_protocols()
        assert get_profile("toy-one").protocol == "toy"
        run_virtual(main)
    assert "toy" not in protocol_names() and "toy" not in known_protocols()


def test_the_toy_is_refused_by_name_once_unregistered(files: tuple[Path, Path]) -> None:
    profiles, model_file = files
    with pytest.raises(ValueError, match="unknown protocol 'toy'; accepted: "):
        get_protocol("toy")
    with pytest.raises(ValueError, match="protocol = 'toy'; accepted"):
        load_model(model_file)
    with registered(toy_spec(profiles)), pytest.raises(ValueError, match="registered already"):
        massager_sdk.protocols.register_protocol(dataclasses.replace(toy_spec(profiles)))


def test_the_toy_adapter_runs_a_session_against_a_function_before_any_simulator(
    files: tuple[Path, Path],
) -> None:
    profiles, _ = files
    level = 0

    def firmware(data: bytes) -> bytes:
        nonlocal level
        line = data.decode().strip()
        if line.startswith("L"):
            level = int(line[1:])
        elif line == "S":
            level = 0
        return f"={level}\n".encode()

    async def main() -> list[bytes]:
        async with massager_sdk.connect("mock://", handler=firmware, protocol="toy") as device:
            assert device.info.model == "Toy One"
            await device.set_intensity(5)
            await device.flush()
            assert level == 5
            assert (await device.status()).intensities == (5,)
            link = device.transport
            assert isinstance(link, MockLink)
            link.push(b"~2\n")  # the device reports on its own
            assert device.last_status is not None
            assert device.last_status.intensities == (2,)
            await device.stop()
            assert level == 0
            return list(link.written)

    with registered(toy_spec(profiles)):
        written = run_virtual(main)
    assert b"L5\n" in written and written[-1] == b"S\n"


def test_the_toy_channel_url_schemes_come_from_its_registration_alone(
    files: tuple[Path, Path],
) -> None:
    profiles, _ = files
    links = [s for s in url_schemes() if "+" not in s]
    assert not any(s.startswith("toy+") for s in url_schemes())
    with pytest.raises(ValueError, match="bad device URL 'toy\\+sim://'"):
        check_device_url("toy+sim://")
    with registered(toy_spec(profiles, channel=True)):
        # Every link scheme, in the one list that URL parsing, the bridge's
        # configuration and error messages use.
        assert {f"toy+{link}" for link in links} <= set(url_schemes())
        assert "toy+sim://[MODEL]" in accepted_forms()
        assert check_device_url("toy+tcp://127.0.0.1:9") == "toy+tcp://127.0.0.1:9"
        with pytest.raises(MissingCredentials, match="missing pin: the PIN is printed"):
            open_transport("toy+tcp://127.0.0.1:9")
        channel = open_transport("toy+tcp://127.0.0.1:9", pin=PIN)
        assert isinstance(channel, ToyChannel) and channel.inner.description == "tcp://127.0.0.1:9"
        with pytest.raises(BadURLError, match="URL scheme 'toy\\+nowhere'; accepted forms: "):
            open_transport("toy+nowhere://x", pin=PIN)
    assert "toy+sim" not in url_schemes()


@pytest.mark.parametrize(("pin", "works"), [(PIN, True), ("9999", False)])
def test_a_toy_channel_url_drives_the_toy_through_its_channel(
    files: tuple[Path, Path], pin: str, works: bool
) -> None:
    profiles, model_file = files
    heard: list[bytes] = []

    async def main() -> None:
        sim = SimulatedDevice(load_model(model_file))
        async with massager_sdk.connect("toy+sim://", simulator=sim, pin=pin) as device:
            assert isinstance(device.transport, ToyChannel)
            assert device.info.protocol == "toy"
            original = device.transport.inner.write

            async def spy(data: bytes) -> None:
                heard.append(data)
                await original(data)

            device.transport.inner.write = spy  # type: ignore[method-assign]
            await device.set_intensity(4)
            await device.flush()
            assert sim.commanded == ((4,) if works else (0,))

    with registered(toy_spec(profiles, channel=True)), registered_personality(ToyPersonality):
        if works:
            run_virtual(main)
            assert f"{PIN}|L4\n".encode() in heard  # reached (after the safety ramp's steps)
            assert all(line.startswith(f"{PIN}|".encode()) for line in heard)
        else:
            with pytest.raises(massager_sdk.MassagerError, match="LOCKED"):
                run_virtual(main)
