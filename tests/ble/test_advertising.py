"""Every simulated model's advertisement fits legacy advertising and says who it is.

The layout (protocols/specs/nmp1.md §3.1) is built by the simulator and read
back by bumble's own AD parser, by the simulator's parser and by the host's
profile matching, from the advertising data alone (what a passive scanner
hears) and with the scan response (an active scanner).
"""

from __future__ import annotations

import pytest
from bumble.core import UUID, AdvertisingData
from massager_protocols.nmp import gatt as nmp_gatt
from massager_simulator import SimulatedDevice
from massager_simulator.ble import advertisement_data as parse_packets
from massager_simulator.ble import (
    device_gatt_profile,
    legacy_advertisement,
    nmp_gatt_profile,
)
from massager_simulator.model import list_models, load_model

from massager_sdk.profiles.matching import identify_advertisement

MODELS = list_models()


def test_every_model_is_covered() -> None:
    assert {"neck2", "heat4", "handheld", "tuya-neck", "yh-ems"} <= set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_the_advertisement_fits_31_plus_31_bytes_and_round_trips(model: str) -> None:
    sim = SimulatedDevice(model)
    gatt = device_gatt_profile(sim)
    packets = legacy_advertisement(gatt)
    assert len(packets.advertising_data) <= 31
    assert len(packets.scan_response) <= 31
    # bumble's parser reads back every structure the device meant to send.
    merged = AdvertisingData.from_bytes(packets.advertising_data + packets.scan_response)
    assert merged.get(AdvertisingData.Type.FLAGS) == 0x06
    assert merged.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) == gatt.local_name
    heard_mfr = dict(
        (company, bytes(data))
        for company, data in merged.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA)
    )
    assert heard_mfr == gatt.manufacturer_data
    uuids = [
        u.to_bytes(force_128=True)
        for t in (
            AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        )
        for group in merged.get_all(t)
        for u in group
    ]
    assert sorted(uuids) == sorted(UUID(u).to_bytes(force_128=True) for u in gatt.service_uuids)
    # The simulator's own parser gives bleak's AdvertisementData back whole.
    adv = parse_packets([packets.advertising_data, packets.scan_response], -50)
    assert adv.local_name == gatt.local_name
    assert adv.manufacturer_data == gatt.manufacturer_data
    assert adv.service_data == gatt.service_data
    assert sorted(adv.service_uuids) == sorted(gatt.service_uuids)


@pytest.mark.parametrize("model", MODELS)
def test_a_passive_scanner_recognises_protocol_model_and_name(model: str) -> None:
    sim = SimulatedDevice(model)
    gatt = device_gatt_profile(sim)
    packets = legacy_advertisement(gatt)
    passive = parse_packets([packets.advertising_data], -50)
    match = identify_advertisement(passive)
    assert match.protocol == sim.model.protocol
    if sim.model.protocol == "nmp1":
        assert passive.local_name == gatt.local_name  # so ble://NAME finds it
        assert match.model == sim.model.model
    active = identify_advertisement(
        parse_packets([packets.advertising_data, packets.scan_response], -50)
    )
    assert active.protocol == match.protocol
    # A bound Tuya device's product id is encrypted: without the scan response's name
    # and flags a passive scanner knows the protocol only.
    assert match.model in (active.model, None)
    assert active.model == sim.model.model or sim.model.protocol != "tuya_ble"


def test_the_nmp_layout_is_the_specs_example() -> None:
    packets = legacy_advertisement(nmp_gatt_profile("NMP Heat 4", "NMP-H4-000001"))
    assert packets.advertising_data == bytes.fromhex(
        "020106 09FFFFFF4E4D50010200 0E094E4D502D48342D303030303031"
    )
    assert packets.scan_response == bytes.fromhex("11 07 67617373616D 5A8F 3170 6D6E 0100E1A5")


def test_every_nmp_model_has_a_model_code() -> None:
    for name in MODELS:
        model = load_model(name)
        if model.protocol == "nmp1":
            assert nmp_gatt.MODEL_CODES[nmp_gatt.model_code(model.model)] == model.model


def test_a_name_of_16_bytes_is_complete_a_longer_one_shortened() -> None:
    fits = legacy_advertisement(nmp_gatt_profile("NMP Neck 2", "N" * 16))
    assert len(fits.advertising_data) == 31
    assert parse_packets([fits.advertising_data], -50).local_name == "N" * 16
    long = legacy_advertisement(nmp_gatt_profile("NMP Neck 2", "L" * 20))
    assert len(long.advertising_data) == 31
    structures = AdvertisingData.from_bytes(long.advertising_data)
    assert structures.get(AdvertisingData.Type.SHORTENED_LOCAL_NAME) == "L" * 16
    assert structures.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) is None


def test_manufacturer_data_codes_and_unknown_codes() -> None:
    data = nmp_gatt.manufacturer_data(nmp_gatt.model_code("NMP Handheld"))
    assert data == b"NMP\x01\x03\x00"
    assert nmp_gatt.parse_manufacturer_data(data) == (1, "NMP Handheld")
    # Unknown codes and code 0 leave the model to INFO; appended bytes are ignored.
    assert nmp_gatt.parse_manufacturer_data(b"NMP\x01\x99\x00extra") == (1, "")
    assert nmp_gatt.parse_manufacturer_data(nmp_gatt.manufacturer_data(0)) == (1, "")
    assert nmp_gatt.parse_manufacturer_data(b"NMP\x01\x02") is None
    with pytest.raises(ValueError, match="model code"):
        nmp_gatt.manufacturer_data(0x10000)
