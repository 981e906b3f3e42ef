"""Firmware personalities: the wire protocols a simulated device speaks.

A model file's ``protocol`` names a personality: it decodes that protocol's
frames, translates each command into the firmware's own
(:meth:`SimulatedDevice.apply`), and reports state and events in that
protocol's frames. Motors, heater, battery, watchdog and auto-off are the
simulator's own, whatever the protocol.

Where personalities come from, in order (the first of a name wins):
:func:`register_personality` at run time; the modules of this package (a module
defining ``PERSONALITY``, a :class:`Personality` subclass); the entry point
group ``massager_simulator.personalities`` (name: the protocol, value:
``module:Class``). This module is imported by the model loader, so it loads
them only when a protocol is first looked up.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from massager_simulator.personalities.base import GattProfile, Personality

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice

#: Entry point group of third-party personalities.
ENTRY_POINT_GROUP = "massager_simulator.personalities"

__all__ = [
    "ENTRY_POINT_GROUP",
    "GattProfile",
    "Personality",
    "default_protocol",
    "known_protocols",
    "make_personality",
    "register_personality",
    "registered_personality",
]

_registered: dict[str, type[Personality]] = {}
_read = False


def _read_sources() -> None:
    global _read
    if _read:
        return
    _read = True
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        cls = getattr(loaded, "PERSONALITY", None)
        if isinstance(cls, type) and issubclass(cls, Personality):
            _registered.setdefault(cls.protocol, cls)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _registered:
            continue
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, Personality)):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a Personality")
        _registered[entry.name] = cls


def register_personality(cls: type[Personality], *, replace: bool = False) -> type[Personality]:
    """Let model files name ``cls.protocol``; ``ValueError`` if the name is taken."""
    if not (isinstance(cls, type) and issubclass(cls, Personality)):
        raise TypeError(f"register_personality takes a Personality subclass, got {cls!r}")
    _read_sources()
    if cls.protocol in _registered and not replace:
        raise ValueError(f"a personality for {cls.protocol!r} is registered already")
    _registered[cls.protocol] = cls
    return cls


@contextlib.contextmanager
def registered_personality(cls: type[Personality]) -> Iterator[type[Personality]]:
    """``cls`` registered for the ``with`` block."""
    register_personality(cls)
    try:
        yield cls
    finally:
        _registered.pop(cls.protocol, None)


def known_protocols() -> tuple[str, ...]:
    """Every protocol a model file may name, sorted."""
    _read_sources()
    return tuple(sorted(_registered))


def default_protocol() -> str:
    """The protocol of a model file that names none."""
    _read_sources()
    for name, cls in sorted(_registered.items()):
        if cls.fallback:
            return name
    raise LookupError("no registered personality is the fallback")


def make_personality(device: SimulatedDevice) -> Personality:
    """The personality for ``device``'s model."""
    _read_sources()
    protocol = device.model.protocol
    try:
        cls = _registered[protocol]
    except KeyError:
        raise ValueError(
            f"model {device.model.name}: no personality speaks {protocol!r}; "
            f"known: {', '.join(known_protocols())}"
        ) from None
    return cls(device)
