"""Firmware personalities: the same simulated device speaking another wire protocol.

A model file with ``protocol = "yh"`` or ``protocol = "tuya_ble"`` gets a
personality: it decodes that protocol's frames, translates each command into
the firmware's own (:meth:`SimulatedDevice.apply`), and reports state and
events in that protocol's frames. Motors, heater, battery, watchdog and
auto-off are the simulator's own, whatever the protocol.

This module is imported by the model loader, so it names the personalities
without importing them; each is loaded when a device needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from massager_simulator.personalities.base import GattProfile, Personality

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: Personalities by protocol name: ``module:Class`` under this package.
_PERSONALITIES: dict[str, str] = {
    "yh": "massager_simulator.personalities.yh:YhPersonality",
    "tuya_ble": "massager_simulator.personalities.tuya:TuyaPersonality",
}

__all__ = ["GattProfile", "Personality", "known_protocols", "make_personality"]


def known_protocols() -> tuple[str, ...]:
    """Every protocol a model file may name."""
    return ("nmp1", *sorted(_PERSONALITIES))


def make_personality(device: SimulatedDevice) -> Personality | None:
    """The personality for ``device``'s model, or ``None`` when it speaks NMP/1."""
    protocol = device.model.protocol
    if protocol == "nmp1":
        return None
    module_name, _, attr = _PERSONALITIES[protocol].partition(":")
    cls: type[Personality] = getattr(importlib.import_module(module_name), attr)
    return cls(device)
