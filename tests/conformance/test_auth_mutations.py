"""The authenticated-mode checks catch broken firmware: one-fault variants of the
simulator's signature check (spec section 10).

Each variant is the ``heat4-auth`` model with one MUST of section 10 broken; the
suite, run with the device's key, must fail it in the check that tests that
MUST, and pass the unmodified model in every check, the ones of sections 2-9
included (the run signs what they send).
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from massager_protocols.nmp.auth import (
    TAG_SIZE,
    TRAILER_SIZE,
    Verifier,
    expand_counter,
    mac,
)
from massager_simulator import SimulatedDevice
from massager_simulator.auth import device_auth, label_secret
from massager_simulator.clock import run_virtual

from massager_sdk.conformance import CHECKS, CheckResult, run_conformance, run_failed
from massager_sdk.keys import remember

URL = "sim://heat4-auth"


class AcceptsUnsigned(Verifier):
    """A frame without a trailer is carried out as it is."""

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        if len(payload) < TRAILER_SIZE:
            return payload
        return super().check(seq, msg_type, payload, now)


class AcceptsReplays(Verifier):
    """A frame signed with the last accepted counter is accepted again."""

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        body = super().check(seq, msg_type, payload, now)
        if body is None and len(payload) >= TRAILER_SIZE and self.last:
            body = payload[:-TRAILER_SIZE]
            if mac(self._key, self.nonce, self.last, seq, msg_type, body) == payload[-TAG_SIZE:]:
                return body
            return None
        return body


class AcceptsOldCounter(Verifier):
    """The counter is read as the low 16 bits of the last one's block, older or not."""

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        if len(payload) < TRAILER_SIZE:
            return None
        body = payload[:-TRAILER_SIZE]
        low = int.from_bytes(payload[-TRAILER_SIZE:-TAG_SIZE], "little")
        counter = (self.last & ~0xFFFF) | low
        if counter < self.last:
            tag = mac(self._key, self.nonce, counter, seq, msg_type, body)
            return body if hmac.compare_digest(tag, payload[-TAG_SIZE:]) else None
        return super().check(seq, msg_type, payload, now)


class IgnoresMac(Verifier):
    """The counter is checked, the tag never."""

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        if len(payload) < TRAILER_SIZE:
            return None
        low = int.from_bytes(payload[-TRAILER_SIZE:-TAG_SIZE], "little")
        self.last = expand_counter(self.last, low)
        return payload[:-TRAILER_SIZE]


class NoFailureLimit(Verifier):
    """Every tag is checked, however many failed before."""

    def check(self, seq: int, msg_type: int, payload: bytes, now: float) -> bytes | None:
        self.limit.tokens = 8.0
        return super().check(seq, msg_type, payload, now)


#: Each variant and a word of the check that must catch it.
MUTANTS: dict[type[Verifier], str] = {
    AcceptsUnsigned: "unsigned state changes",
    AcceptsReplays: "replayed",
    AcceptsOldCounter: "reordered",
    IgnoresMac: "another key or nonce",
    NoFailureLimit: "allowance",
}


def conformance_with(verifier: type[Verifier]) -> list[CheckResult]:
    remember(label_secret("H4A-000001"))  # as `massager conformance --key` does

    async def main() -> list[CheckResult]:
        async with SimulatedDevice("heat4-auth") as sim:
            device_auth(sim).verifier_class = verifier
            return await run_conformance(URL, simulator=sim)

    return run_virtual(main)


def test_the_unmodified_model_passes_every_check_when_signed() -> None:
    results = conformance_with(Verifier)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    # heat4-auth is not built for test: its faults come from the bench, and leaving
    # test mode is the one check that cannot be run.
    untested = [r for r in results if not r.tested]
    assert [r.name for r in untested] == ["test mode ends with EXIT_TEST_MODE and with its link"]
    assert "INFO does not offer it" in untested[0].detail
    tested = [r for r in results if r.tested]
    assert all(r.passed for r in tested), [r for r in tested if not r.passed]
    assert sum(r.section.startswith("10") for r in tested) >= 8
    assert not run_failed(results, strict=True)


def test_without_the_key_the_signed_checks_say_what_is_missing() -> None:
    async def main() -> list[CheckResult]:
        async with SimulatedDevice("heat4-auth") as sim:
            return await run_conformance(URL, simulator=sim)

    results = {r.name: r for r in run_virtual(main)}
    first = results[CHECKS[0].name]
    assert not first.tested and "--key" in first.detail
    # what needs no key is still checked, and passes
    for word in ("unsigned state changes", "reading and stopping", "another key or nonce"):
        (result,) = [r for name, r in results.items() if word in name]
        assert result.passed and result.tested, result
    assert run_failed(list(results.values()))  # unsigned, the other sections are refused


def test_a_wrong_key_is_named_and_not_used() -> None:
    remember(hashlib.sha256(b"someone else's device").digest())

    async def main() -> list[CheckResult]:
        async with SimulatedDevice("heat4-auth") as sim:
            return await run_conformance(URL, simulator=sim)

    first = run_virtual(main)[0]
    assert not first.tested and "not the key of NMP Heat 4 H4A-000001" in first.detail


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_a_broken_auth_must_fails_conformance(mutant: type[Verifier]) -> None:
    results = conformance_with(mutant)
    failed = [r.name for r in results if r.fails()]
    assert run_failed(results), f"{mutant.__name__} ({mutant.__doc__}) passed conformance"
    assert any(MUTANTS[mutant] in name for name in failed), failed
