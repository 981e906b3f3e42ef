"""Personalities: every protocol, NMP/1 included, is one, found the same ways."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from massager_simulator import ModelError, SimulatedDevice, list_models, load_model
from massager_simulator import personalities as registry
from massager_simulator.personalities import (
    Personality,
    default_protocol,
    known_protocols,
    register_personality,
    registered_personality,
)
from massager_simulator.personalities.nmp import NmpPersonality
from massager_simulator.personalities.yh import YhPersonality

MODELS = Path(registry.__file__).resolve().parents[1] / "models"


class Renamed(YhPersonality):
    """A personality an installed package would bring."""

    protocol = "renamed"


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[importlib.metadata.EntryPoint]]:
    points: list[importlib.metadata.EntryPoint] = []

    def fake(group: str) -> list[importlib.metadata.EntryPoint]:
        assert group == registry.ENTRY_POINT_GROUP
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    monkeypatch.setattr(registry, "_read", False)
    monkeypatch.setattr(registry, "_registered", {})
    yield points


def test_every_module_of_the_package_is_a_personality_and_every_model_has_one() -> None:
    modules = [m.name for m in pkgutil.iter_modules(registry.__path__) if m.name != "base"]
    assert len(known_protocols()) == len(modules) >= 3
    for name in list_models():
        device = SimulatedDevice(name)
        assert isinstance(device.personality, Personality)
        assert device.personality.protocol == device.model.protocol


def test_a_model_naming_no_protocol_speaks_the_fallback_which_is_nmp1() -> None:
    assert default_protocol() == NmpPersonality.protocol
    assert [p for p in known_protocols() if registry._registered[p].fallback] == ["nmp1"]
    device = SimulatedDevice("heat4")
    assert isinstance(device.personality, NmpPersonality)
    assert device.personality.gatt.local_name == f"NMP-{device.serial}"


def test_a_personality_installed_through_an_entry_point_is_found(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    value = f"{__name__}:Renamed"
    entry_points.append(importlib.metadata.EntryPoint("renamed", value, registry.ENTRY_POINT_GROUP))
    assert "renamed" in known_protocols()


def test_a_name_is_registered_once_and_leaves_with_its_block() -> None:
    with registered_personality(Renamed):
        assert "renamed" in known_protocols()
        with pytest.raises(ValueError, match="registered already"):
            register_personality(Renamed)
    assert "renamed" not in known_protocols()
    with pytest.raises(TypeError, match="takes a Personality subclass"):
        register_personality(int)  # type: ignore[arg-type]


def test_a_model_naming_an_unknown_protocol_is_refused_with_the_known_ones(
    tmp_path: Path,
) -> None:
    text = (MODELS / "neck2.toml").read_text(encoding="utf-8")
    (tmp_path / "odd.toml").write_text('protocol = "nope"\n' + text, encoding="utf-8")
    with pytest.raises(ModelError, match=r"protocol = 'nope'; accepted: nmp1, "):
        load_model(tmp_path / "odd.toml")
    built = dataclasses.replace(load_model("neck2"), protocol="nope")
    with pytest.raises(ValueError, match=r"no personality speaks 'nope'; known: nmp1, "):
        SimulatedDevice(built)
