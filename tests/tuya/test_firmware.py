"""The simulated Tuya neck massager behaves as Tuya's demo firmware and BLE SDK do.

Each test drives the simulator with a host channel and reads the device's
messages back, decrypted, byte for byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from massager_protocols import MalformedPayload, tuya
from massager_protocols.tuya import gatt
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual
from massager_simulator.link import LinkEnd
from massager_simulator.model import load_model
from massager_simulator.personalities.tuya import TuyaPersonality

from massager_sdk.profiles.loader import get_profile
from massager_sdk.protocols import adapter_for
from massager_sdk.protocols.base import GetStatus, Reply, SetZones
from massager_sdk.protocols.tuya import TuyaAdapter
from tests.profiles.suite import TUYA_CREDENTIALS

CREDENTIALS = tuya.Credentials(**TUYA_CREDENTIALS)
#: The demo's switch + mode + gear in one write: ON (0), hammering (2), gear 6.
THREE_POINTS = bytes.fromhex("69 01 01 00 68 04 01 02 67 04 01 06")


def sim(**options: Any) -> SimulatedDevice:
    """The tuya-neck model with ``options`` over its protocol options."""
    model = load_model("tuya-neck")
    merged = {**model.protocol_options, **options}
    return SimulatedDevice(dataclasses.replace(model, protocol_options=merged))


class Host:
    """A host channel over a simulator link, recording every message both ways."""

    def __init__(self, link: LinkEnd, credentials: tuya.Credentials = CREDENTIALS) -> None:
        self.link = link
        self.channel = tuya.HostChannel(credentials, clock=lambda: 1_700_000_000.0)
        self.reassembler = tuya.Reassembler()
        self.first_bytes: list[int] = []  # each device message's version byte

    async def send(self, fragments: list[bytes]) -> None:
        for piece in fragments:
            await self.link.write(piece)

    async def heard(self, wait: float = 0.2) -> list[tuya.Message]:
        """Every message the device sends within ``wait`` s (answers already sent)."""
        out: list[tuya.Message] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while (left := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(left):
                    chunk = await self.link.read()
            except TimeoutError:
                break
            for envelope in self.reassembler.feed(chunk):
                self.first_bytes.append(
                    (self.reassembler.version or 0) << 4 | (self.reassembler.frame_seq or 0)
                )
                message = self.channel.open(envelope)
                received = self.channel.receive(envelope)
                await self.send(received.writes)
                out.append(message)
        return out

    async def pair(self) -> list[tuya.Message]:
        await self.send(self.channel.start())
        info, *rest = await self.heard()  # the host answers each as it comes
        assert info.code == tuya.Code.DEVICE_INFO
        return rest

    async def request(self, code: int, data: bytes = b"") -> list[tuya.Message]:
        _, fragments = self.channel.seal(code, data)
        await self.send(fragments)
        return await self.heard()


def trace(messages: list[tuya.Message]) -> list[tuple[str, str]]:
    """``(code, data hex)`` of each message."""
    return [(tuya.Code(m.code).name, m.data.hex(" ")) for m in messages]


def test_pairing_compares_the_uuid_and_the_device_then_asks_the_time() -> None:
    async def main() -> None:
        device = sim(bound=False)
        async with device:
            host = Host(device.connect())
            # Unbound: 0, then TIME1_REQ (no data), which the host answered.
            assert trace(await host.pair()) == [("PAIR", "00"), ("TIME1_REQ", "")]
            # Bound now: another host with another device id gets 2, not a refusal.
            other = tuya.Credentials(
                CREDENTIALS.local_key, "bf0someone0else0000001", CREDENTIALS.uuid
            )
            second = Host(device.connect(), other)
            assert trace(await second.pair()) == [("PAIR", "02"), ("TIME1_REQ", "")]
            wrong = tuya.Credentials(
                CREDENTIALS.local_key, CREDENTIALS.device_id, "tuya0someone0els"
            )
            assert trace(await Host(device.connect(), wrong).pair()) == [("PAIR", "01")]

    run_virtual(main)


def test_the_demo_applies_the_first_data_point_and_echoes_the_whole_write() -> None:
    async def main() -> None:
        device = sim()
        async with device:
            host = Host(device.connect())
            await host.pair()
            heard = await host.request(tuya.Code.DPS, THREE_POINTS)
            assert trace(heard) == [("DPS", "00"), ("RECEIVE_DP", THREE_POINTS.hex(" "))]
            personality = device.personality
            assert isinstance(personality, TuyaPersonality)
            # Switched on (value 0 is ON); mode and gear untouched despite the echo.
            assert (personality.power, personality.mode, personality.gear) == (True, 0, 0)

    run_virtual(main)


def test_the_variant_that_applies_every_data_point() -> None:
    async def main() -> None:
        device = sim(multi_dp_writes=True)
        async with device:
            host = Host(device.connect())
            await host.pair()
            heard = await host.request(tuya.Code.DPS, THREE_POINTS)
            assert trace(heard) == [("DPS", "00"), ("RECEIVE_DP", THREE_POINTS.hex(" "))]
            personality = device.personality
            assert isinstance(personality, TuyaPersonality)
            assert (personality.power, personality.mode, personality.gear) == (True, 2, 6)

    run_virtual(main)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (False, [("DEVICE_STATUS", "00")]),
        (
            True,
            [
                ("DEVICE_STATUS", "00"),
                ("RECEIVE_DP", "69 01 01 01 67 04 01 00 68 04 01 00 66 04 01 01 65 01 01 00"),
            ],
        ),
    ],
    ids=["demo", "report_after_query"],
)
def test_a_status_query_gets_the_result_byte(report: bool, expected: list[Any]) -> None:
    async def main() -> None:
        device = sim(report_after_query=report)
        async with device:
            host = Host(device.connect())
            await host.pair()
            assert trace(await host.request(tuya.Code.DEVICE_STATUS)) == expected

    run_virtual(main)


def test_the_frame_sequence_nibble_counts_to_15_then_stays_0() -> None:
    async def main() -> None:
        device = sim()
        async with device:
            host = Host(device.connect())
            await host.pair()
            for _ in range(16):
                await host.request(tuya.Code.DEVICE_STATUS)
            # DEVICE_INFO, PAIR, TIME1_REQ, then 16 answers: 0x30..0x3F, then 0x30 on.
            assert host.first_bytes == [0x30 + n for n in range(16)] + [0x30] * 3

    run_virtual(main)


def test_the_host_writes_one_data_point_a_write_switch_first() -> None:
    adapter = adapter_for("tuya_ble")
    assert isinstance(adapter, TuyaAdapter)
    plain = adapter.encode(SetZones((0,), 7), 5)
    messages = tuya.MessageStream().feed(plain)
    assert [(m.seq, m.code, m.data.hex(" ")) for m in messages] == [
        (5, tuya.Code.DPS, "69 01 01 00"),  # switch ON (0 on the demo)
        (5, tuya.Code.DPS, "68 04 01 00"),  # mode: relieve (constant)
        (5, tuya.Code.DPS, "67 04 01 06"),  # gear 6 = level 7
    ]


def test_the_host_answers_a_status_query_without_a_report() -> None:
    adapter = adapter_for("tuya_ble")
    query = tuya.MessageStream().feed(adapter.encode(GetStatus(), 9))
    assert [(m.code, m.data) for m in query] == [(tuya.Code.DEVICE_STATUS, b"")]
    answer = tuya.Message(40, 9, tuya.Code.DEVICE_STATUS, b"\x00").plaintext()
    (reply,) = adapter.feed(answer, 0.0)
    assert getattr(reply, "ok", False) and getattr(reply, "status", None) is not None


def test_enums_are_one_byte() -> None:
    assert tuya.DataPoint(104, tuya.DpType.ENUM, 255).encode().hex(" ") == "68 04 01 ff"
    with pytest.raises(MalformedPayload, match="one byte"):
        tuya.DataPoint(104, tuya.DpType.ENUM, 256).encode()


def test_a_bound_device_advertises_its_product_id_encrypted() -> None:
    personality = sim().personality
    assert isinstance(personality, TuyaPersonality)
    profile = personality.gatt
    assert profile.service_uuid == gatt.COMMAND_SERVICE_UUID  # 1910 serves the characteristics
    assert profile.service_uuids == (gatt.SERVICE_UUID,)  # A201 is only advertised
    service = profile.service_data[gatt.SERVICE_UUID]
    manufacturer = profile.manufacturer_data[gatt.COMPANY_ID]
    expected_id = gatt.bound_id(CREDENTIALS.uuid, CREDENTIALS.local_key, 8)
    assert service == b"\x00" + expected_id and expected_id != b"gfi4tm2u"
    assert manufacturer[:6] == bytes.fromhex("80 03 01 00 00 00")
    found = gatt.parse_advertisement(
        manufacturer, service, local_key=CREDENTIALS.local_key, uuid=CREDENTIALS.uuid
    )
    assert found["bound"] is True and "product_id" not in found
    assert found["uuid"] == CREDENTIALS.uuid and found["ours"] is True
    assert (
        gatt.parse_advertisement(manufacturer, service, local_key="000000", uuid="x")["ours"]
        is False
    )
    unbound = sim(bound=False).personality.gatt
    plain = gatt.parse_advertisement(
        unbound.manufacturer_data[gatt.COMPANY_ID], unbound.service_data[gatt.SERVICE_UUID]
    )
    assert plain["product_id"] == "gfi4tm2u" and plain["uuid"] == CREDENTIALS.uuid


@given(st.binary(max_size=40), st.binary(max_size=30))
def test_binary_advertisements_never_raise(manufacturer: bytes, service: bytes) -> None:
    found = gatt.parse_advertisement(manufacturer, b"\x00" + service, local_key="abcdef", uuid="u")
    assert all(isinstance(k, str) for k in found)


def _adapter(**options: Any) -> TuyaAdapter:
    profile = get_profile("tuya-neck")
    return TuyaAdapter(dataclasses.replace(profile, options={**profile.options, **options}))


def _device(seq: int, response_to: int, code: int, data: str) -> bytes:
    return tuya.Message(seq, response_to, code, bytes.fromhex(data)).plaintext()


def test_where_a_query_reports_the_query_not_the_echo_confirms_a_write() -> None:
    adapter = _adapter(one_dp_per_write=False, report_after_query=True)
    sent = tuya.MessageStream().feed(adapter.encode(SetZones((0,), 7), 3))
    assert [(m.code, m.data.hex(" ")) for m in sent] == [
        (tuya.Code.DPS, "69 01 01 00 68 04 01 00 67 04 01 06"),
        (tuya.Code.DEVICE_STATUS, ""),
    ]
    # The echo claims all three; the query's report shows the mode and gear not applied.
    assert adapter.feed(_device(10, 3, tuya.Code.DPS, "00"), 0.0) == []
    echo = adapter.feed(
        _device(11, 0, tuya.Code.RECEIVE_DP, "69 01 01 00 68 04 01 00 67 04 01 06"), 0
    )
    assert [type(i).__name__ for i in echo] == ["DeviceStatus"]
    assert adapter.feed(_device(12, 3, tuya.Code.DEVICE_STATUS, "00"), 0.0) == []
    report = "69 01 01 00 67 04 01 00 68 04 01 00 66 04 01 01 65 01 01 00"
    (reply,) = adapter.feed(_device(13, 0, tuya.Code.RECEIVE_DP, report), 0.0)
    assert isinstance(reply, Reply) and not reply.ok and reply.reason == "NOT_APPLIED"


def test_one_data_point_a_write_is_confirmed_by_the_reports_of_each() -> None:
    adapter = _adapter()
    adapter.encode(SetZones((0,), 7), 4)
    trace = [
        (_device(20, 4, tuya.Code.DPS, "00"), []),
        (_device(21, 0, tuya.Code.RECEIVE_DP, "69 01 01 00"), ["DeviceStatus"]),
        (_device(22, 4, tuya.Code.DPS, "00"), []),
        (_device(23, 0, tuya.Code.RECEIVE_DP, "68 04 01 00"), ["DeviceStatus"]),
        (_device(24, 4, tuya.Code.DPS, "00"), []),  # the gear not reported yet: waits
        (_device(25, 0, tuya.Code.RECEIVE_DP, "67 04 01 06"), ["Reply"]),
    ]
    for data, expected in trace:
        out = adapter.feed(data, 0.0)
        assert [type(i).__name__ for i in out] == expected
    assert isinstance(out[0], Reply) and out[0].ok
    assert out[0].status is not None and out[0].status.intensities == (7,)
