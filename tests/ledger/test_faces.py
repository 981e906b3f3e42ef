"""The Python API carries the session over from one connection to the next through the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import massager_sdk
from massager_sdk.safety import Ledger


async def test_a_second_connection_carries_on_the_session(_private_ledger: Path) -> None:
    loop = asyncio.get_running_loop()
    async with massager_sdk.connect("sim://heat4") as device:
        await device.set_intensity(1)
        await device.flush()
        await asyncio.sleep(1.0)
        used = device.safety.snapshot(loop.time()).session_elapsed_s
        assert used >= 0.9
    async with massager_sdk.connect("sim://heat4") as again:
        before = again.safety.snapshot(loop.time())
        assert before.session_active and before.session_elapsed_s >= used
        assert before.session_remaining_s <= before.auto_off_s - used
    with Ledger(_private_ledger) as ledger:
        [record] = ledger.sessions()
    assert record.model == device.info.model and record.length_s >= used
    assert record.peak_levels == (1, 1, 1, 1)
