"""Capabilities from an NMP/1 INFO, and the old name of the function that makes them."""

from __future__ import annotations

import pytest
from massager_simulator import load_model

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.protocols.nmp import capabilities_from_info


def test_the_old_capabilities_constructor_still_works_and_warns() -> None:
    info = load_model("heat4").info()
    with pytest.warns(DeprecationWarning, match="capabilities_from_info"):
        old = DeviceCapabilities.from_nmp_info(info)
    assert old == capabilities_from_info(info)
    assert [zone.name for zone in old.zones] == [z.name for z in load_model("heat4").zones]
