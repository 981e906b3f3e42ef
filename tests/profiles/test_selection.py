"""Choosing the protocol and device profile of a connection, and the user's device file.

The order is: ``protocol=`` (or ``device_profile=``) > the URL's ``protocol=``
> the device file's ``profile`` > what the link knows > ``nmp1``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from massager_simulator import SimulatedDevice, serve_tcp
from massager_simulator.ble import BLE_REGISTRY
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk import BadURLError, ConnectionFailed, NotSupported
from massager_sdk.client import Device
from massager_sdk.profiles import GattEndpoints, ProfileError, get_profile
from massager_sdk.profiles.selection import DeviceNotAllowed, select, split_url
from massager_sdk.transports import LinkIdentity
from tests.profiles.suite import BLE_OPTIONS, FAST_RAMP, TUYA_CREDENTIALS, next_ble_address

BUILTIN = Path(__file__).resolve().parents[2] / "massager_sdk" / "profiles" / "builtin"
YH_LINK = LinkIdentity(protocol="yh", profile=get_profile("yh-ems"))


@pytest.fixture
def device_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty device file the test may write; an empty one is no file at all."""
    path = tmp_path / "devices.toml"
    monkeypatch.setenv("MASSAGER_DEVICES", str(path))
    yield path


# -- the one resolution function -------------------------------------------------------


def test_each_word_beats_the_ones_below_it() -> None:
    tuya = get_profile("tuya-neck")
    assert select().protocol == "nmp1"
    assert select().profile.id == "nmp"
    chosen = select(link=YH_LINK)
    assert (chosen.protocol, chosen.profile.id) == ("yh", "yh-ems")
    chosen = select(user_profile=tuya, link=YH_LINK)
    assert (chosen.protocol, chosen.profile.id) == ("tuya_ble", "tuya-neck")
    chosen = select(url_protocol="nmp1", user_profile=tuya, link=YH_LINK)
    assert (chosen.protocol, chosen.profile.id) == ("nmp1", "nmp")
    chosen = select(protocol="yh", url_protocol="nmp1", user_profile=tuya, link=YH_LINK)
    assert (chosen.protocol, chosen.profile.id) == ("yh", "yh-ems")
    chosen = select(device_profile=tuya, url_protocol="yh", link=YH_LINK)
    assert (chosen.protocol, chosen.profile.id) == ("tuya_ble", "tuya-neck")


def test_a_profile_the_link_matched_is_used_when_its_protocol_is_chosen(tmp_path: Path) -> None:
    text = (BUILTIN / "yh-ems.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(text.replace('"YH EMS Neck"', '"My EMS"'))
    mine = get_profile(tmp_path / "mine.toml")
    link = LinkIdentity(protocol="yh", profile=mine)
    assert select(link=link).profile is mine
    assert select(url_protocol="yh", link=link).profile is mine
    # Another protocol was asked for: the link's profile does not apply.
    assert select(protocol="tuya_ble", link=link).profile.id == "tuya-neck"


def test_bad_names_and_contradictions_are_clear() -> None:
    with pytest.raises(
        ValueError, match=r"unknown protocol 'modbus'; accepted: nmp1, tuya_ble, yh"
    ):
        select(protocol="modbus")
    with pytest.raises(ValueError, match=r"protocol in the URL 'ftp'; accepted: nmp1"):
        select(url_protocol="ftp")
    with pytest.raises(ValueError, match=r"protocol='nmp1' contradicts device profile 'yh-ems'"):
        select(protocol="nmp1", device_profile=get_profile("yh-ems"))
    with pytest.raises(ValueError, match="accepted: nmp1, tuya_ble, yh"):
        massager_sdk.connect("sim://", protocol="nmp2")
    with pytest.raises(ProfileError, match=r"unknown device profile 'nope'; known: nmp, tuya-neck"):
        massager_sdk.connect("sim://", device_profile="nope")
    with pytest.raises(ValueError, match="accepted: nmp1, tuya_ble, yh"):
        massager_sdk.connect("tcp://127.0.0.1:7000?protocol=ftp")
    with pytest.raises(ValueError, match="cannot run over it"):
        massager_sdk.connect("tuya+sim://tuya-neck", protocol="yh")


@pytest.mark.parametrize(
    ("url", "link", "protocol"),
    [
        ("serial:///dev/ttyUSB0?baud=9600&protocol=yh", "serial:///dev/ttyUSB0?baud=9600", "yh"),
        ("serial:///dev/ttyUSB0?protocol=yh&baud=9600", "serial:///dev/ttyUSB0?baud=9600", "yh"),
        ("tcp://host:7000?protocol=tuya_ble", "tcp://host:7000", "tuya_ble"),
        ("serial://COM3?baud=9600", "serial://COM3?baud=9600", None),
        ("tuya+ble://AA:BB:CC:DD:EE:FF", "ble://AA:BB:CC:DD:EE:FF", "tuya_ble"),
        ("sim://yh-ems", "sim://yh-ems", None),
    ],
)
def test_the_url_names_the_protocol_and_the_rest_goes_to_the_transport(
    url: str, link: str, protocol: str | None
) -> None:
    assert split_url(url)[:2] == (link, protocol)


def test_a_url_naming_two_protocols_is_refused() -> None:
    with pytest.raises(BadURLError, match="protocol= once"):
        split_url("tcp://host:1?protocol=yh&protocol=nmp1")
    with pytest.raises(BadURLError, match="tuya_ble, not protocol=yh"):
        split_url("tuya+tcp://host:1?protocol=yh")


# -- what the link says -------------------------------------------------------------------


def run_on_tcp(
    model: str, url_suffix: str, body: Callable[[Device], Awaitable[None]], **kw: Any
) -> None:
    """Serve ``model`` on loopback TCP and connect with ``url_suffix`` and ``kw``."""

    async def main() -> None:
        sim = SimulatedDevice(model)
        await sim.start()
        server, port = await serve_tcp(sim, "127.0.0.1", 0)
        try:
            async with massager_sdk.connect(
                f"tcp://127.0.0.1:{port}{url_suffix}", limits=FAST_RAMP, **kw
            ) as device:
                await body(device)
        finally:
            server.close()
            await sim.stop()

    asyncio.run(main())


def test_the_simulated_model_tells_the_protocol(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        for model, protocol, profile in (
            ("heat4", "nmp1", "nmp"),
            ("yh-ems", "yh", "yh-ems"),
            ("tuya-neck", "tuya_ble", "tuya-neck"),
        ):
            async with massager_sdk.connect(f"sim://{model}") as device:
                assert (device.protocol, device.device_profile.id) == (protocol, profile)
                assert device.info.protocol == protocol

    run_virtual(main)
    # The simulated device's advertisement matches its profile, as a scan would: no
    # warning that the capabilities are a guess.
    assert "matches no device profile" not in caplog.text


def test_a_device_profile_selects_protocol_and_capabilities(tmp_path: Path) -> None:
    text = (BUILTIN / "yh-ems.toml").read_text(encoding="utf-8")
    custom = tmp_path / "little-ems.toml"
    custom.write_text(text.replace('"YH EMS Neck"', '"Little EMS"').replace("= 19", "= 12"))

    async def body(device: Device) -> None:
        assert device.protocol == "yh" and device.device_profile.id == "little-ems"
        assert (device.info.model, device.info.intensity_steps) == ("Little EMS", 12)
        await device.set_intensity(3)
        await device.flush()
        assert (await device.status()).intensities == (3,)

    # A TCP link knows nothing of its device: the profile says it all.
    run_on_tcp("yh-ems", "", body, device_profile=str(custom))


def test_ble_recognises_the_device_and_takes_the_profiles_endpoints() -> None:
    async def main() -> None:
        sim = SimulatedDevice("yh-ems")
        await sim.start()
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        try:
            async with massager_sdk.connect(f"ble://{address}", **BLE_OPTIONS) as device:
                assert device.protocol == "yh" and device.device_profile.id == "yh-ems"
                assert device.transport.gatt == get_profile("yh-ems").gatt  # type: ignore[attr-defined]
                assert await device.transport.read_battery() is None  # type: ignore[attr-defined]
                await device.set_intensity(2)
                await device.flush()
                assert sim.commanded == (2,)
        finally:
            BLE_REGISTRY.remove(address)
            await sim.stop()

    asyncio.run(main())


def test_the_nmp_battery_characteristic_is_read_over_ble() -> None:
    async def main() -> None:
        sim = SimulatedDevice("neck2", battery_pct=64.0)
        await sim.start()
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        try:
            async with massager_sdk.connect(f"ble://{address}", **BLE_OPTIONS) as device:
                assert device.protocol == "nmp1"
                level = await device.transport.read_battery()  # type: ignore[attr-defined]
                assert level == (await device.status()).battery_pct == 64
        finally:
            BLE_REGISTRY.remove(address)
            await sim.stop()

    asyncio.run(main())


def test_endpoints_the_device_lacks_fail_the_connect_clearly() -> None:
    async def main() -> None:
        sim = SimulatedDevice("yh-ems")
        await sim.start()
        address = next_ble_address()
        BLE_REGISTRY.add(sim, address=address)
        wrong = GattEndpoints(
            service="0000fff0-0000-1000-8000-00805f9b34fb",
            write="0000fff1-0000-1000-8000-00805f9b34fb",
            notify="0000fff2-0000-1000-8000-00805f9b34fb",
        )
        try:
            with pytest.raises(ConnectionFailed, match=r"has no service 0000fff0.*write 0000fff1"):
                async with massager_sdk.connect(f"ble://{address}", gatt=wrong, **BLE_OPTIONS):
                    pass
            with pytest.raises(
                TypeError, match=r"gatt must be a massager_sdk\.profiles\.GattEndpoints"
            ):
                massager_sdk.connect(f"ble://{address}", gatt="ffe0", **BLE_OPTIONS)
        finally:
            BLE_REGISTRY.remove(address)
            await sim.stop()

    asyncio.run(main())


def test_tuya_keys_for_a_device_of_another_protocol_are_refused() -> None:
    async def main() -> None:
        keys: dict[str, Any] = dict(TUYA_CREDENTIALS)
        device = massager_sdk.connect("sim://yh-ems", **keys)
        with pytest.raises(
            ValueError, match=r"only apply to tuya_ble devices; sim://yh-ems speaks yh"
        ):
            await device.open()

    run_virtual(main)


# -- the user's device file ---------------------------------------------------------------


def test_the_deny_list_refuses_to_connect(device_file: Path) -> None:
    device_file.write_text('deny = ["sim://yh-*"]\n')

    async def main() -> None:
        with pytest.raises(
            DeviceNotAllowed, match=r"sim://yh-ems is on the deny list of .*devices\.toml"
        ):
            async with massager_sdk.connect("sim://yh-ems"):
                pass
        async with massager_sdk.connect("sim://tuya-neck") as device:  # not denied
            assert device.connected

    run_virtual(main)


def test_an_allow_list_admits_only_its_devices(device_file: Path) -> None:
    device_file.write_text('allow = ["H4-*"]\n')  # heat4 serial numbers

    async def main() -> None:
        async with massager_sdk.connect("sim://heat4") as device:
            assert device.info.serial.startswith("H4-")
        with pytest.raises(DeviceNotAllowed, match="is not on the allow list"):
            async with massager_sdk.connect("sim://yh-ems"):
                pass

    run_virtual(main)


def test_overrides_reach_the_capabilities_the_policy_and_the_caller_see(device_file: Path) -> None:
    device_file.write_text(
        '[devices."sim://tuya-neck"]\nname = "Bedroom massager"\nmax_intensity = 6\nheat = false\n'
    )

    async def main() -> None:
        async with massager_sdk.connect("sim://tuya-neck", limits=FAST_RAMP) as device:
            assert device.name == "Bedroom massager"
            assert device.describe() == "Bedroom massager on tuya+sim://tuya-neck"
            assert device.info.intensity_steps == 6 and device.info.heat is None
            assert device.safety.caps.intensity_steps == 6
            with pytest.raises(ValueError, match=r"level 7 is outside 0\.\.6"):
                await device.set_intensity(7)
            with pytest.raises(NotSupported, match="has no heater"):
                await device.set_heat(40.0)
            await device.set_intensity(6)
            await device.flush()
            assert (await device.status()).intensities == (6,)

    run_virtual(main)


def test_an_override_asking_for_more_is_refused_at_connect(device_file: Path) -> None:
    device_file.write_text('[devices."sim://yh-ems"]\nmax_intensity = 40\n')

    async def main() -> None:
        with pytest.raises(ProfileError, match="only lower it"):
            async with massager_sdk.connect("sim://yh-ems"):
                pass

    run_virtual(main)


def test_the_device_files_profile_names_an_unrecognisable_device(device_file: Path) -> None:
    device_file.write_text('[devices."127.0.0.1:*"]\nprofile = "yh-ems"\nmax_intensity = 10\n')

    async def body(device: Device) -> None:
        assert device.protocol == "yh" and device.device_profile.id == "yh-ems"
        assert device.info.intensity_steps == 10
        with pytest.raises(ValueError, match=r"level 11 is outside 0\.\.10"):
            await device.set_intensity(11)
        await device.set_intensity(10)
        await device.flush()
        assert (await device.status()).intensities == (10,)

    # Nothing in a TCP URL says "yh": the device file does.
    run_on_tcp("yh-ems", "", body)


def test_a_tuya_device_file_entry_gives_the_credentials(device_file: Path) -> None:
    keys = "\n".join(f'{k} = "{v}"' for k, v in TUYA_CREDENTIALS.items())
    device_file.write_text(f'[devices."127.0.0.1:*"]\nprofile = "tuya-neck"\n{keys}\n')

    async def body(device: Device) -> None:
        assert device.protocol == "tuya_ble"
        assert device.transport.description.startswith("tuya+tcp://127.0.0.1:")
        await device.set_intensity(2)
        await device.flush()
        assert (await device.status()).intensities == (2,)

    run_on_tcp("tuya-neck", "", body)
