"""The host side of NMP/1 authenticated mode, through massager_sdk.connect() against
the simulator in that mode: paired works, unpaired and wrongly keyed are refused
with a message that says how to pair, and the key store keeps keys private."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from massager_simulator import SimulatedDevice
from massager_simulator.auth import device_auth, hold_button, label_secret
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.keys import forget_key, key_for, keys_path, load_keys, remember, store_key
from massager_sdk.pairing import PairingError, pair, unpair
from massager_sdk.protocols.nmp import KEY_MISMATCH, PAIRING_REQUIRED, PairingRequired

SERIAL = "H4A-000001"
LABEL = label_secret(SERIAL)
URL = "sim://heat4-auth"


def test_a_paired_host_drives_the_device() -> None:
    store_key(SERIAL, LABEL)

    async def main() -> None:
        async with SimulatedDevice("heat4-auth") as sim:
            async with massager_sdk.connect(URL, simulator=sim) as device:
                await device.set_intensity(4)
                await device.set_heat(40.0)
                await device.flush()
                assert sim.commanded == (4, 4, 4, 4) and sim.heat_target_c == 40.0
            assert sim.commanded == (0, 0, 0, 0)  # stopped when the host left

    run_virtual(main)


def test_an_unpaired_host_is_refused_with_how_to_pair_and_changes_nothing() -> None:
    async def main() -> None:
        async with (
            SimulatedDevice("heat4-auth") as sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            assert device.info.serial == SERIAL  # reading needs no key
            with pytest.raises(PairingRequired) as refused:
                await device.set_intensity(4)
            assert PAIRING_REQUIRED in str(refused.value)
            assert "hold its button for 5 s, then run `massager pair`" in str(refused.value)
            with pytest.raises(PairingRequired):
                await device.set_heat(40.0)
            await device.stop()  # stopping needs no key
            assert sim.commanded == (0, 0, 0, 0) and sim.heat_target_c is None

    run_virtual(main)


def test_a_wrong_key_is_refused_before_anything_is_sent() -> None:
    store_key(SERIAL, bytes(range(32)))

    async def main() -> None:
        async with (
            SimulatedDevice("heat4-auth") as sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            with pytest.raises(PairingRequired) as refused:
                await device.set_intensity(2)
            assert KEY_MISMATCH in str(refused.value)
            assert sim.commanded == (0, 0, 0, 0)

    run_virtual(main)


def test_a_device_without_the_mode_is_driven_unsigned_even_with_no_keys() -> None:
    async def main() -> None:
        async with (
            SimulatedDevice("heat4") as sim,
            massager_sdk.connect("sim://heat4", simulator=sim) as device,
        ):
            await device.set_intensity(2)
            await device.flush()
            assert sim.commanded == (2, 2, 2, 2)

    run_virtual(main)


def test_pairing_with_the_button_gives_a_new_key_that_then_drives_the_device() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4-auth") as sim:
            with pytest.raises(PairingError, match=r"pairing window .* is not open: hold its"):
                await pair(URL, simulator=sim)
            hold_button(sim, 5.0)
            paired = await pair(URL, simulator=sim)
            assert (paired.serial, paired.how) == (SERIAL, "button")
            key = key_for(SERIAL)
            assert key is not None and key == device_auth(sim).key != LABEL
            async with massager_sdk.connect(URL, simulator=sim) as device:
                await device.set_intensity(3)
                await device.flush()
                assert sim.commanded == (3, 3, 3, 3)
            # a key reset on the device: the stored key is now the wrong one
            hold_button(sim, 15.0)
            async with massager_sdk.connect(URL, simulator=sim) as device:
                with pytest.raises(PairingRequired, match="it was reset"):
                    await device.set_intensity(3)

    run_virtual(main)


def test_pairing_with_the_label_secret_checks_it_against_the_device() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4-auth") as sim:
            with pytest.raises(PairingError, match="not the key of NMP Heat 4 H4A-000001"):
                await pair(URL, simulator=sim, label_secret="00" * 32)
            with pytest.raises(PairingError, match="64 hexadecimal digits"):
                await pair(URL, simulator=sim, label_secret="label")
            assert load_keys() == {}
            paired = await pair(URL, simulator=sim, label_secret=LABEL.hex())
            assert paired.how == "label" and key_for(SERIAL) == LABEL
            serial, had = await unpair(URL, simulator=sim)
            assert (serial, had) == (SERIAL, True) and key_for(SERIAL) is None

    run_virtual(main)


def test_pairing_a_device_without_the_mode_says_it_needs_none() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            with pytest.raises(PairingError, match="does not use authenticated mode"):
                await pair("sim://heat4", simulator=sim)

    run_virtual(main)


def test_the_key_file_is_private_and_its_keys_never_reach_the_log(
    caplog: pytest.LogCaptureFixture, _private_keys: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    path = store_key(SERIAL, LABEL)
    assert path == keys_path() == _private_keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    async def main() -> None:
        async with (
            SimulatedDevice("heat4-auth") as sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            await device.set_intensity(1)
            await device.flush()
            assert "key" not in repr(device) or LABEL.hex() not in repr(device)

    run_virtual(main)
    assert caplog.records  # the session did log, at debug level
    assert LABEL.hex() not in caplog.text and LABEL.hex().upper() not in caplog.text


def test_keys_remembered_in_memory_come_first_and_are_forgotten() -> None:
    store_key(SERIAL, bytes(32))
    remember(LABEL, SERIAL)
    assert key_for(SERIAL) == LABEL
    assert forget_key(SERIAL) and key_for(SERIAL) is None
    assert not forget_key(SERIAL)


def test_a_bad_key_file_is_a_clear_error() -> None:
    keys_path().write_text('[keys]\n"H4A-000001" = "12"\n', encoding="utf-8")
    from massager_sdk.keys import KeyStoreError

    with pytest.raises(KeyStoreError, match="key of H4A-000001: a device secret is 32 bytes"):
        load_keys()


def test_a_key_for_no_serial_serves_the_device_whose_key_id_it_matches() -> None:
    store_key(SERIAL, bytes(32))  # a stale key in the user's file
    remember(bytes(range(32)))  # someone else's device
    remember(LABEL)  # as a bridge's device entry gives it: no serial

    async def main() -> None:
        async with (
            SimulatedDevice("heat4-auth") as sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            await device.set_intensity(2)
            await device.flush()
            assert sim.commanded == (2, 2, 2, 2)

    run_virtual(main)
