"""Test mode over a real link: a device built for test, served by ``massager simulate
--tcp --test-mode`` in its own process, has its button pressed by the conformance
suite over TCP (the way a firmware team's bench build is checked)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from massager_sdk.conformance import CHECKS, probe_session
from tests.cli.conftest import Served


@pytest.fixture
def built_for_test() -> Iterator[Served]:
    device = Served("--test-mode")
    yield device
    device.stop()


def test_the_button_is_pressed_over_tcp_in_test_mode(built_for_test: Served) -> None:
    picked = [c for c in CHECKS if c.section in ("4.2 INFO", "12.1") or "button" in c.name]

    async def main() -> list[str]:
        async with probe_session(built_for_test.url) as probe:
            assert probe.bench is None  # nothing in this process: only the link
            return [await c.run(probe) for c in picked]

    details = dict(zip([c.name for c in picked], asyncio.run(main()), strict=True))
    entry, button, leaving = (details[c.name] for c in picked if c.section in ("12.1", "7.6"))
    assert entry.endswith("entered")
    assert button.endswith("pressed over the link, in the device's test mode")
    assert leaving.startswith("left with EXIT_TEST_MODE and with the loss of its link")


def test_simulate_offers_test_mode_only_to_nmp1_models() -> None:
    from massager_simulator.serve import main

    assert main(["--tcp", "127.0.0.1:0", "--model", "yh-ems", "--test-mode"]) == 2
