"""Device URLs: the accepted forms, clear errors for the rest, and third-party schemes."""

from __future__ import annotations

import importlib.metadata
import urllib.parse
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk import BadURLError
from massager_sdk import transports as registry
from massager_sdk.transports import open_transport
from massager_sdk.transports.ble import BleTransport
from massager_sdk.transports.serialport import SerialTransport
from massager_sdk.transports.sim import SimTransport
from massager_sdk.transports.tcp import TcpTransport

FORMS = ("sim://[MODEL]", "serial:///dev/ttyUSB0?baud=115200", "tcp://HOST:PORT", "ble://")


def test_no_url_is_the_embedded_simulator() -> None:
    transport = open_transport(None)
    assert isinstance(transport, SimTransport)
    assert transport.model == "heat4"


@pytest.mark.parametrize(
    ("url", "kind", "fields"),
    [
        ("sim://", SimTransport, {"model": "heat4"}),
        ("sim://neck2", SimTransport, {"model": "neck2"}),
        (
            "serial:///dev/ttyUSB0?baud=115200",
            SerialTransport,
            {"port": "/dev/ttyUSB0", "baud": 115200},
        ),
        ("serial:///dev/ttyACM1", SerialTransport, {"port": "/dev/ttyACM1", "baud": 115200}),
        ("serial://COM3?baud=9600", SerialTransport, {"port": "COM3", "baud": 9600}),
        ("tcp://127.0.0.1:7000", TcpTransport, {"host": "127.0.0.1", "port": 7000}),
        ("tcp://[::1]:7000", TcpTransport, {"host": "::1", "port": 7000}),
        ("tcp://127.0.0.1:7000?speed=10", TcpTransport, {"port": 7000, "speed": 10.0}),
        ("TCP://massager.local:80", TcpTransport, {"host": "massager.local", "port": 80}),
        (
            "ble://AA:BB:CC:DD:EE:FF",
            BleTransport,
            {"target": "AA:BB:CC:DD:EE:FF", "by_address": True},
        ),
        ("ble://NMP-H4-000001", BleTransport, {"target": "NMP-H4-000001", "by_address": False}),
        ("ble://My%20Massager", BleTransport, {"target": "My Massager", "by_address": False}),
    ],
)
def test_accepted_urls(url: str, kind: type, fields: dict[str, Any]) -> None:
    transport = open_transport(url)
    assert isinstance(transport, kind)
    for name, value in fields.items():
        assert getattr(transport, name) == value


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "no scheme"),
        ("heat4", "no scheme"),
        ("/dev/ttyUSB0", "no scheme"),
        ("http://example.com", "no transport for the URL scheme 'http'"),
        ("sim://nosuchmodel", "no simulated model 'nosuchmodel'"),
        ("sim://heat4/extra", "only a model name"),
        ("serial://", "path is missing"),
        ("serial:///dev/ttyUSB0?baud=fast", "baud must be a positive integer"),
        ("serial:///dev/ttyUSB0?parity=E", "only baud= and speed= are accepted"),
        ("tcp://127.0.0.1", "port is missing"),
        ("tcp://127.0.0.1:99999", "port is not valid"),
        ("tcp://:7000", "host is missing"),
        ("tcp://host:7000/path", "no path"),
        ("tcp://host:7000?baud=9600", "only speed="),
        ("tcp://host:7000?speed=0", "speed= must be one finite number above 0"),
        ("tcp://host:7000?speed=fast", "speed= must be one finite number above 0"),
        ("ble://", "address or name is missing"),
        ("ble://AA:BB/x", "only an address or a name"),
    ],
)
def test_bad_urls_say_what_is_wrong_and_what_is_accepted(url: str, says: str) -> None:
    with pytest.raises(BadURLError) as caught:
        open_transport(url)
    message = str(caught.value)
    assert says in message
    assert repr(url) in message
    # Every message names the accepted forms (all of them, or those of its scheme).
    assert any(form in message for form in FORMS)
    assert isinstance(caught.value, ValueError)


def test_an_unknown_scheme_lists_every_accepted_form() -> None:
    with pytest.raises(BadURLError) as caught:
        open_transport("usb://1")
    for form in (*FORMS[:3], "ble://AA:BB:CC:DD:EE:FF", "ble://NAME"):
        assert form in str(caught.value)


def test_connect_rejects_a_bad_url_before_doing_anything() -> None:
    with pytest.raises(BadURLError):
        massager_sdk.connect("tcp://nowhere")


def test_an_option_a_transport_does_not_take_is_named() -> None:
    with pytest.raises(
        TypeError, match=r"unknown option.*baud.*accepts connect_timeout, min_gap_s"
    ):
        open_transport("tcp://127.0.0.1:7000", baud=9600)


class LoopbackSim(SimTransport):
    """A third-party transport: the simulator under another scheme."""

    scheme: ClassVar[str] = "labsim"
    url_forms: ClassVar[tuple[str, ...]] = ("labsim://",)

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> LoopbackSim:
        return cls("neck2", **options)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry._registry)
    saved_read = registry._entry_points_read
    yield
    registry._registry.clear()
    registry._registry.update(saved)
    registry._entry_points_read = saved_read


@pytest.mark.usefixtures("clean_registry")
def test_a_transport_registered_at_run_time_serves_its_scheme() -> None:
    registry.register_transport("labsim", LoopbackSim)

    async def scenario() -> None:
        async with massager_sdk.connect("labsim://") as device:
            assert device.info.model == "NMP Neck 2"

    run_virtual(scenario)


@pytest.mark.usefixtures("clean_registry")
def test_a_transport_is_found_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = importlib.metadata.EntryPoint(
        name="labsim", value=f"{__name__}:LoopbackSim", group=registry.ENTRY_POINT_GROUP
    )

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        return [entry] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._entry_points_read = False
    transport = open_transport("labsim://")
    assert isinstance(transport, LoopbackSim)
    # Listed among the accepted forms once installed.
    assert "labsim://" in registry.accepted_forms()


@pytest.mark.usefixtures("clean_registry")
def test_an_entry_point_that_is_not_a_transport_is_refused() -> None:
    registry.register_transport("broken", "massager_sdk.errors:MassagerError")
    with pytest.raises(TypeError, match="not a Transport subclass"):
        open_transport("broken://x")


def test_a_scheme_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="not a URL scheme"):
        registry.register_transport("no good", LoopbackSim)
