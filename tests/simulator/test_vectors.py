"""The golden exchanges replayed against a fresh device of each vector's model."""

from __future__ import annotations

from typing import Any

import pytest
from massager_protocols.nmp import Message, MsgType, decode_frame
from massager_protocols.vectors import load
from massager_simulator import SimulatedDevice

from tests.simulator.nmp_host import NmpHost, fields_subset, virtual

EXCHANGES: list[dict[str, Any]] = load("nmp1")["exchanges"]


def test_there_are_exchanges_to_replay() -> None:
    assert len(EXCHANGES) >= 10


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[e["name"] for e in EXCHANGES])
def test_golden_exchange(exchange: dict[str, Any]) -> None:
    request = bytes.fromhex(exchange["request_hex"])
    seq = decode_frame(request).seq
    expected = exchange["reply"]

    async def scenario() -> Message:
        async with SimulatedDevice(exchange["model"]) as device:
            host = NmpHost(device.connect())
            reply = await host.send_frame(request, seq)
            await host.close()
            return reply

    reply = virtual(scenario)
    assert MsgType(reply.TYPE).name == expected["message"]
    assert fields_subset(reply, expected["fields"]) == expected["fields"]
