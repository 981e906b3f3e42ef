"""The simulated "yh" device: its answers, its heartbeat, and its GATT service."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from bleak import BleakClient, BleakScanner
from massager_protocols import yh
from massager_protocols.vectors import load
from massager_protocols.yh import gatt
from massager_simulator import SimulatedDevice
from massager_simulator.ble import BLE_REGISTRY, SimulatedBleakClient, SimulatedBleakScanner
from massager_simulator.clock import run_virtual
from massager_simulator.link import LinkEnd
from massager_simulator.model import load_model

from massager_sdk.profiles.loader import get_profile
from massager_sdk.protocols.base import SetZones
from massager_sdk.protocols.yh import YhAdapter

HOST = yh.Direction.HOST


async def replies(link: LinkEnd, decoder: yh.StreamDecoder, wait: float = 0.05) -> list[yh.Message]:
    """Every message the device sends within ``wait`` seconds."""
    out: list[yh.Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(left):
                chunk = await link.read()
        except TimeoutError:
            break
        out += [f.message() for f in decoder.feed(chunk)]
    return out


@pytest.mark.parametrize("exchange", load("yh")["exchanges"], ids=lambda e: e["name"])
def test_the_device_answers_as_the_vectors_say(exchange: dict[str, object]) -> None:
    async def main() -> None:
        device = SimulatedDevice(str(exchange["model"]))
        async with device:
            link = device.connect()
            await link.write(bytes.fromhex(str(exchange["request_hex"])))
            (answer,) = await replies(link, yh.StreamDecoder())
            reply = exchange["reply"]
            assert isinstance(reply, dict)
            command = yh.Command[reply["command"]]
            if isinstance(answer, yh.Status):
                assert command is yh.Command.HEARTBEAT
                for key, value in reply["fields"].items():
                    assert getattr(answer, key) == value, key
            else:
                assert isinstance(answer, yh.Setting)
                assert answer.direction == yh.Direction.DEVICE
                assert answer.command == command
                assert answer.value == reply["fields"]["value"]

    run_virtual(main)


def test_level_drives_the_motor_in_the_programs_rhythm_and_zero_stops_it() -> None:
    async def main() -> None:
        device = SimulatedDevice("yh-ems")
        async with device:
            link = device.connect()
            decoder = yh.StreamDecoder()
            await link.write(yh.Setting(HOST, yh.Command.MODE, 6).encode())
            await link.write(yh.Setting(HOST, yh.Command.LEVEL, 9).encode())
            answers = await replies(link, decoder)
            assert [(a.command, a.value) for a in answers if isinstance(a, yh.Setting)] == [
                (yh.Command.MODE, 6),
                (yh.Command.LEVEL, 9),
            ]
            assert device.commanded == (9,)
            assert device.is_on
            # "activate" is a 250 ms pulse: the output is off half of each period.
            samples = []
            for _ in range(8):
                await asyncio.sleep(0.0625)
                samples.append(device.levels[0])
            assert min(samples) == 0.0 and max(samples) > 0.0
            await link.write(yh.Setting(HOST, yh.Command.LEVEL, 0).encode())
            await replies(link, decoder)
            assert device.commanded == (0,) and not device.is_on

    run_virtual(main)


def test_a_heartbeat_goes_out_every_five_seconds_while_running() -> None:
    async def main() -> None:
        device = SimulatedDevice("yh-ems")
        async with device:
            link = device.connect()
            decoder = yh.StreamDecoder()
            await link.write(yh.Setting(HOST, yh.Command.LEVEL, 3).encode())
            for _ in range(4):  # keep the watchdog fed
                await link.write(yh.Setting(HOST, yh.Command.BUZZER, 1).encode())
                await asyncio.sleep(5.0)
            heartbeats = [m for m in await replies(link, decoder, 0.1) if isinstance(m, yh.Status)]
            assert 3 <= len(heartbeats) <= 6
            assert all(h.running and h.level == 3 for h in heartbeats)

    run_virtual(main)


def test_the_timer_switches_the_device_off() -> None:
    async def main() -> None:
        device = SimulatedDevice("yh-ems")
        async with device:
            link = device.connect()
            decoder = yh.StreamDecoder()
            await link.write(yh.Setting(HOST, yh.Command.TIMER, 1).encode())
            await link.write(yh.Setting(HOST, yh.Command.LEVEL, 5).encode())
            for _ in range(8):
                await link.write(yh.HeartbeatRequest().encode())
                await asyncio.sleep(10)
            assert not device.is_on
            heartbeats = [m for m in await replies(link, decoder) if isinstance(m, yh.Status)]
            assert heartbeats[-1].running == 0

    run_virtual(main)


def test_a_corrupted_frame_gets_no_answer_and_changes_nothing() -> None:
    async def main() -> None:
        device = SimulatedDevice("yh-ems")
        async with device:
            link = device.connect()
            frame = bytearray(yh.Setting(HOST, yh.Command.LEVEL, 5).encode())
            frame[6] = 7
            await link.write(bytes(frame))
            assert await replies(link, yh.StreamDecoder()) == []
            assert device.commanded == (0,)

    run_virtual(main)


def test_over_ble_it_advertises_yh_and_serves_ffe0() -> None:
    async def main() -> None:
        device = SimulatedDevice("yh-ems")
        await device.start()
        entry = BLE_REGISTRY.add(device, address="C0:FF:EE:77:00:01", mtu=gatt.PREFERRED_ATT_MTU)
        try:
            found = await BleakScanner.find_device_by_address(
                entry.address, timeout=2.0, backend=SimulatedBleakScanner
            )
            assert found is not None
            adv = entry.advertisement()
            assert adv.manufacturer_data == {gatt.COMPANY_ID: bytes([gatt.PRODUCT_EMS, 3])}
            assert gatt.SERVICE_UUID in adv.service_uuids
            got: list[bytes] = []
            async with BleakClient(found, backend=SimulatedBleakClient) as client:
                await client.start_notify(gatt.NOTIFY_CHAR_UUID, lambda _c, d: got.append(bytes(d)))
                await client.write_gatt_char(
                    gatt.WRITE_CHAR_UUID,
                    yh.Setting(HOST, yh.Command.LEVEL, 2).encode() + yh.HeartbeatRequest().encode(),
                    response=False,
                )
                await asyncio.sleep(0.05)
            decoded = [f.message() for f in yh.StreamDecoder().feed(b"".join(got))]
            assert decoded[0] == yh.Setting(yh.Direction.DEVICE, yh.Command.LEVEL, 2)
            assert isinstance(decoded[1], yh.Status) and decoded[1].level == 2
            # The central went away: the device is never left running.
            assert not device.is_on
        finally:
            BLE_REGISTRY.remove(entry.address)
            await device.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("revision", "crc_order", "request_hex", "reply_hex"),
    [
        # The vendor app's level frame, answered with the level in force, CRC big-endian.
        ("v0.1.3", "big", "68 79 00 0b 01 02 04 22 00 0d 0a", "68 79 00 0b 02 02 04 7b 50 0d 0a"),
        # A new board: the same CRC sent little-endian (the app accepts both since 89ca371).
        (
            "v0.1.3",
            "little",
            "68 79 00 0b 01 02 04 22 00 0d 0a",
            "68 79 00 0b 02 02 04 50 7b 0d 0a",
        ),
        # Revision v0.1.2 of the document: 79 68 and a little-endian length.
        ("v0.1.2", "big", "79 68 0b 00 01 02 04 00 de 0d 0a", "79 68 0b 00 02 02 04 59 8e 0d 0a"),
    ],
    ids=["v0.1.3", "v0.1.3-crc-le", "v0.1.2"],
)
def test_the_device_speaks_its_revision(
    revision: str, crc_order: str, request_hex: str, reply_hex: str
) -> None:
    async def main() -> None:
        model = load_model("yh-ems")
        options = {**model.protocol_options, "revision": revision, "crc_order": crc_order}
        device = SimulatedDevice(dataclasses.replace(model, protocol_options=options))
        async with device:
            link = device.connect()
            await link.write(bytes.fromhex(request_hex))
            await asyncio.sleep(0.05)
            assert (await link.read()).hex(" ") == reply_hex
            # The host's adapter of that revision reads the answer.
            profile = get_profile("yh-ems")
            adapter = YhAdapter(
                dataclasses.replace(profile, options={**profile.options, "revision": revision})
            )
            assert adapter.encode(SetZones((0,), 4), 1).endswith(bytes.fromhex(request_hex))
            # The answer confirms the level (the mode and zone answers are still due).
            (status,) = adapter.feed(bytes.fromhex(reply_hex), 0.0)
            assert getattr(status, "intensities", None) == (4,)

    run_virtual(main)


def test_an_unknown_revision_is_refused_with_the_known_ones() -> None:
    profile = get_profile("yh-ems")
    with pytest.raises(ValueError, match=r"revision 'v9' is not one of v0\.1\.2, v0\.1\.3"):
        YhAdapter(dataclasses.replace(profile, options={"revision": "v9"}))
