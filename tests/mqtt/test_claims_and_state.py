"""The claim rule between bridges, and the state document."""

from __future__ import annotations

import json
from typing import Any

from massager_sdk.model import DeviceStatus
from massager_sdk.mqtt.claims import Claim, ClaimBook
from massager_sdk.mqtt.state import Outputs, ProgramView, fast_view, state_document

A = Claim("a", "massager/bridge/a/state", 100.0)
B = Claim("b", "massager/bridge/b/state", 200.0)


def book(*, a: str | None = "online", b: str | None = "online") -> ClaimBook:
    out = ClaimBook()
    if a is not None:
        out.seen_bridge_state(A.state_topic, a.encode())
    if b is not None:
        out.seen_bridge_state(B.state_topic, b.encode())
    return out


def test_claims_round_trip_and_bad_ones_read_as_none() -> None:
    assert Claim.parse(A.payload()) == A
    for bad in [
        b"",
        b"x",
        b"[]",
        b'{"owner": 1, "state_topic": "t", "since": 1}',
        b'{"owner": "a", "state_topic": "t"}',
        b'{"owner": "a", "state_topic": "t", "since": true}',
    ]:
        assert Claim.parse(bad) is None


def test_a_free_device_may_be_taken() -> None:
    assert book().may_take("sofa", "b") is None


def test_a_device_held_by_a_live_bridge_may_not_be_taken() -> None:
    claims = book()
    claims.seen_claim("sofa", A.payload())
    assert claims.may_take("sofa", "b") == A
    assert claims.may_take("sofa", "a") is None  # its own claim, after a restart


def test_a_device_held_by_an_offline_or_silent_bridge_may_be_taken_over() -> None:
    for state in ("offline", None):
        claims = book(a=state)
        claims.seen_claim("sofa", A.payload())
        assert claims.may_take("sofa", "b") is None


def test_a_cleared_claim_frees_the_device() -> None:
    claims = book()
    claims.seen_claim("sofa", A.payload())
    assert claims.seen_claim("sofa", b"") is None
    assert claims.may_take("sofa", "b") is None


def test_contests_are_won_by_the_older_claim_on_both_sides() -> None:
    claims = book()
    claims.seen_claim("sofa", B.payload())
    assert claims.keeps("sofa", A)  # A is older: it keeps the device
    claims.seen_claim("sofa", A.payload())
    assert not claims.keeps("sofa", B)  # and B, seeing A's claim, lets go
    tie = Claim("c", "massager/bridge/c/state", A.since)
    claims.seen_bridge_state(tie.state_topic, b"online")
    claims.seen_claim("sofa", tie.payload())
    assert claims.keeps("sofa", A)  # same age: the smaller owner name wins
    claims.seen_claim("sofa", A.payload())
    assert not claims.keeps("sofa", tie)


def test_a_dead_bridges_claim_never_wins() -> None:
    claims = book(a="offline")
    claims.seen_claim("sofa", A.payload())
    assert claims.keeps("sofa", B)


# -- state ---------------------------------------------------------------------

ZONES = ("left", "right")


def status(**changes: Any) -> DeviceStatus:
    base: dict[str, Any] = {
        "intensities": (0, 0),
        "heat_target_c": None,
        "temperature_c": None,
        "battery_pct": 64,
        "battery_mv": 3800,
        "charging": True,
        "auto_off_s": 0,
        "faults": frozenset(),
    }
    base.update(changes)
    return DeviceStatus(**base)


def test_an_idle_device() -> None:
    doc = state_document(status(), ZONES)
    assert doc == {
        "state": "OFF",
        "intensity": 0,
        "zones": {"left": 0, "right": 0},
        "heat": None,
        "temperature": None,
        "battery": 64,
        "charging": True,
        "remaining_s": 0,
        "program": "none",
        "program_state": "idle",
        "progress": None,
        "status": "idle",
        "faults": [],
        "safety": None,
        "link": "online",
        "last_refusal": None,
        "session_remaining_s": None,
        "thermal_dose_pct": None,
    }
    json.dumps(doc)  # JSON-able


def test_a_running_device_shows_its_levels_and_auto_off() -> None:
    doc = state_document(status(intensities=(2, 4), auto_off_s=600), ZONES)
    assert (doc["state"], doc["intensity"], doc["zones"]) == ("ON", 4, {"left": 2, "right": 4})
    assert (doc["remaining_s"], doc["status"]) == (600, "massaging")


def test_acknowledged_outputs_override_an_older_status() -> None:
    doc = state_document(status(), ZONES, outputs=Outputs((3, 3), 40.0))
    assert (doc["state"], doc["intensity"], doc["heat"]) == ("ON", 3, 40)
    assert doc["status"] == "massaging and heating"


def test_a_program_shows_its_progress_and_remaining_time() -> None:
    program = ProgramView("classic", elapsed_s=120.0, duration_s=1200.0, stage="main")
    doc = state_document(status(auto_off_s=1100), ZONES, program=program)
    assert doc["state"] == "ON"
    assert (doc["program"], doc["program_state"], doc["remaining_s"]) == (
        "classic",
        "running",
        1080,
    )
    assert doc["progress"] == {"elapsed_s": 120, "duration_s": 1200, "percent": 10, "stage": "main"}
    assert doc["status"] == "program classic: main"
    paused = state_document(status(), ZONES, program=ProgramView("classic", paused=True))
    assert (paused["program_state"], paused["status"]) == ("paused", "program classic paused")


def test_faults_and_a_lost_link_come_first_in_the_status() -> None:
    faulty = state_document(status(faults=frozenset({"overheat", "low_battery"})), ZONES)
    assert faulty["faults"] == ["low_battery", "overheat"]
    assert faulty["status"] == "fault: low_battery, overheat"
    lost = state_document(status(), ZONES, online=False)
    assert (lost["status"], lost["link"]) == ("link lost", "offline")
    assert state_document(None, ZONES)["status"] == "connecting"


def test_slow_fields_do_not_change_the_fast_view() -> None:
    a = state_document(status(temperature_c=30.0, auto_off_s=100, intensities=(1, 1)), ZONES)
    b = state_document(status(temperature_c=31.0, auto_off_s=99, intensities=(1, 1)), ZONES)
    c = state_document(status(temperature_c=31.0, auto_off_s=99, intensities=(1, 2)), ZONES)
    assert fast_view(a) == fast_view(b)
    assert fast_view(b) != fast_view(c)
