"""The simulated firmware's NMP/1 test mode (spec section 12), driven with raw frames.

Off unless the model says so; entered only by the deliberate sequence of 12.1;
left with EXIT_TEST_MODE or the loss of its link, the injections lifted and the
device stopped; injections checked as 12.3 says.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from massager_protocols.nmp import (
    TEST_ENTRY_WINDOW_S,
    Ack,
    EnterTestMode,
    EventCode,
    EventState,
    ExitTestMode,
    Fault,
    Feature,
    GetInfo,
    Info,
    MsgType,
    Nack,
    NackCode,
    SetHeat,
    SetOutput,
    Status,
    TestFault,
    TestInject,
)
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.model import ModelError
from massager_simulator.testmode import offering

from massager_sdk.transports import open_transport
from tests.simulator.nmp_host import NmpHost, virtual

REFUSED = NackCode.TEST_MODE_REFUSED


def built_for_test(name: str = "heat4") -> SimulatedDevice:
    return SimulatedDevice(offering(load_model(name)))


async def entered(host: NmpHost) -> Info:
    """GET_INFO, then the right ENTER_TEST_MODE (it must be ACKed)."""
    info = await host.request(GetInfo())
    assert isinstance(info, Info)
    assert await host.request(EnterTestMode.for_serial(info.serial)) == Ack(0x12)
    return info


def nack(msg_type: MsgType, code: NackCode) -> Nack:
    return Nack(int(msg_type), int(code))


def test_a_production_build_neither_offers_nor_knows_test_mode() -> None:
    async def main() -> list[object]:
        async with SimulatedDevice("heat4") as sim:
            host = NmpHost(sim.connect())
            info = await host.request(GetInfo())
            assert isinstance(info, Info) and not info.has(Feature.TEST_MODE)
            replies: list[object] = [
                await host.request(m)
                for m in (
                    EnterTestMode.for_serial(info.serial),
                    ExitTestMode(),
                    TestInject(TestFault.BUTTON),
                )
            ]
            await host.close()
            return replies

    assert virtual(main) == [
        nack(MsgType.ENTER_TEST_MODE, NackCode.UNKNOWN_TYPE),
        nack(MsgType.EXIT_TEST_MODE, NackCode.UNKNOWN_TYPE),
        nack(MsgType.TEST_INJECT, NackCode.UNKNOWN_TYPE),
    ]


def test_the_model_option_offers_it_and_is_checked() -> None:
    assert built_for_test().info.has(Feature.TEST_MODE)
    model = load_model("heat4")
    with pytest.raises(ModelError, match="test_mode = 'yes'; accepted: true or false"):
        SimulatedDevice(dataclasses.replace(model, protocol_options={"test_mode": "yes"}))
    with pytest.raises(ModelError, match=r"accepted: .*'test_mode'"):
        SimulatedDevice(dataclasses.replace(model, protocol_options={"tset_mode": True}))


def test_the_sim_url_builds_the_device_for_test_only_when_asked() -> None:
    async def main() -> tuple[bool, bool]:
        flags = []
        for url in ("sim://heat4", "sim://heat4?test_mode=true"):
            transport = open_transport(url)
            await transport.connect()
            sim = getattr(transport, "simulator", None)
            assert isinstance(sim, SimulatedDevice)
            flags.append(sim.info.has(Feature.TEST_MODE))
            await transport.close()
        return flags[0], flags[1]

    assert virtual(main) == (False, True)
    with pytest.raises(ValueError, match="test_mode"):
        open_transport("sim://heat4?test_mode=maybe")
    with pytest.raises(ValueError, match="does not offer test mode"):
        open_transport("sim://heat4?test_mode=true", simulator=SimulatedDevice("heat4"))


def test_entry_needs_the_magic_the_serial_a_fresh_info_and_everything_off() -> None:
    async def main() -> list[object]:
        async with built_for_test() as sim:
            host = NmpHost(sim.connect())
            info = await host.request(GetInfo())
            assert isinstance(info, Info)
            right = EnterTestMode.for_serial(info.serial)
            replies: list[object] = [
                await host.request(dataclasses.replace(right, magic=0x54534555)),
                await host.request(right),  # the wrong attempt closed the window
                await host.request(GetInfo()) and await host.request(right),  # reopened
                await host.request(ExitTestMode()),
            ]
            # Something on: refused, and the output stays on.
            await host.request(GetInfo())
            await host.request(SetOutput(0b1, 2))
            replies.append(await host.request(right))
            replies.append(sim.commanded[0])
            await host.request(SetOutput(0b1, 0))
            # Too long after INFO.
            await host.request(GetInfo())
            await asyncio.sleep(TEST_ENTRY_WINDOW_S + 0.1)
            replies.append(await host.request(right))
            # Another device's serial; a short payload (both wrong attempts).
            await host.request(GetInfo())
            replies.append(await host.request(EnterTestMode.for_serial("H4-999999")))
            await host.request(GetInfo())
            replies.append(await host.send_raw(0x12, right.encode_payload()[:5]))
            replies.append(await host.request(right))
            await host.close()
            return replies

    ack, refused = Ack(0x12), nack(MsgType.ENTER_TEST_MODE, REFUSED)
    assert virtual(main) == [
        refused,
        refused,
        ack,
        Ack(0x13),
        refused,
        2,
        refused,
        refused,
        nack(MsgType.ENTER_TEST_MODE, NackCode.BAD_LENGTH),
        refused,
    ]


def test_test_mode_belongs_to_one_link_and_ends_with_it() -> None:
    """The second link is refused; when the test link goes, the injections are lifted
    (the sensor reads again: SENSOR clears) and the device stops."""

    async def main() -> tuple[list[object], list[tuple[int, int]], Status]:
        async with built_for_test() as sim:
            first, second = NmpHost(sim.connect()), NmpHost(sim.connect())
            await entered(first)
            info = await second.request(GetInfo())
            assert isinstance(info, Info)
            replies: list[object] = [
                await second.request(EnterTestMode.for_serial(info.serial)),
                await second.request(TestInject(TestFault.BUTTON)),
                await second.request(ExitTestMode()),
                await first.request(SetOutput(0b1, 3)),
                await first.request(TestInject(TestFault.SENSOR_OPEN)),
            ]
            await asyncio.sleep(1.0)
            await first.close()
            await asyncio.sleep(2.0)
            replies.append(await entered(second) is not None)  # the lost link's mode is gone
            assert await second.request(ExitTestMode()) == Ack(0x13)
            status = sim.status()
            events = [(e.code, e.state) for e in second.events() if e.code == 2]
            await second.close()
            return replies, events, status

    replies, events, status = virtual(main)
    assert replies == [
        nack(MsgType.ENTER_TEST_MODE, REFUSED),
        nack(MsgType.TEST_INJECT, REFUSED),
        nack(MsgType.EXIT_TEST_MODE, REFUSED),
        Ack(0x03),
        Ack(0x14),
        True,
    ]
    assert events == [
        (EventCode.SENSOR_FAULT, EventState.RAISED),
        (EventCode.SENSOR_FAULT, EventState.CLEARED),
    ]
    assert not any(status.intensities) and not status.faults & Fault.SENSOR


def test_exit_restores_the_battery_and_stops_everything() -> None:
    async def main() -> tuple[list[object], float, float, tuple[int, ...]]:
        async with built_for_test() as sim:
            host = NmpHost(sim.connect())
            await entered(host)
            before = sim.battery_pct
            assert before is not None
            replies: list[object] = [
                await host.request(TestInject(TestFault.BATTERY_LEVEL, 7)),
                await host.request(SetOutput(0b1, 3)),
            ]
            await asyncio.sleep(1.5)
            replies.append(await host.request(SetHeat(380)))  # low battery: no heat
            low = sim.battery_pct
            assert low is not None
            replies.append(await host.request(ExitTestMode()))
            await asyncio.sleep(1.5)
            after = sim.battery_pct
            assert after is not None
            await host.close()
            return replies, low, after - before, sim.commanded

    replies, low, change, commanded = virtual(main)
    no_heat = nack(MsgType.SET_HEAT, NackCode.LOW_BATTERY)
    assert replies == [Ack(0x14), Ack(0x03), no_heat, Ack(0x13)]
    assert low == pytest.approx(7, abs=0.1)
    assert abs(change) < 0.1  # the cell is back where it was
    assert commanded == (0, 0, 0, 0)


def test_injections_are_checked_against_the_table_and_the_hardware() -> None:
    async def main() -> list[object]:
        async with built_for_test("neck2") as sim:
            host = NmpHost(sim.connect())
            await entered(host)
            replies: list[object] = [
                await host.request(TestInject(0x7F)),
                await host.request(TestInject(TestFault.SENSOR_OPEN)),  # no heater
                await host.request(TestInject(TestFault.BATTERY_LEVEL, 101)),
                await host.request(TestInject(TestFault.CHARGER, 2)),
                await host.request(TestInject(TestFault.BUTTON, 1)),
                await host.send_raw(0x14, b"\x08\x00"),
                await host.request(TestInject(TestFault.CHARGER, 1)),
            ]
            replies.append(sim.charging)
            await host.close()
            return replies

    out_of_range = nack(MsgType.TEST_INJECT, NackCode.OUT_OF_RANGE)
    assert virtual(main) == [
        *[out_of_range] * 5,
        nack(MsgType.TEST_INJECT, NackCode.BAD_LENGTH),
        Ack(0x14),
        True,
    ]


def test_in_authenticated_mode_entry_must_be_signed_and_unknown_comes_first() -> None:
    """A production build answers UNKNOWN_TYPE before asking for a signature (7.3's
    order); one built for test refuses an unsigned entry NOT_AUTHENTICATED."""

    async def main() -> list[object]:
        replies: list[object] = []
        auth = load_model("heat4-auth")
        for model in (auth, offering(auth)):
            async with SimulatedDevice(model) as sim:
                host = NmpHost(sim.connect())
                info = await host.request(GetInfo())
                assert isinstance(info, Info)
                replies.append(await host.request(EnterTestMode.for_serial(info.serial)))
                replies.append(await host.request(ExitTestMode()))
                await host.close()
        return replies

    assert virtual(main) == [
        nack(MsgType.ENTER_TEST_MODE, NackCode.UNKNOWN_TYPE),
        nack(MsgType.EXIT_TEST_MODE, NackCode.UNKNOWN_TYPE),
        nack(MsgType.ENTER_TEST_MODE, NackCode.NOT_AUTHENTICATED),
        nack(MsgType.EXIT_TEST_MODE, REFUSED),
    ]
