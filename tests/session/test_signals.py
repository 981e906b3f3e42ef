"""The signal guard: a real signal to this process, handled on the loop, handlers restored."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from massager_sdk.session.signals import SignalGuard


def test_a_signal_calls_back_cancels_the_owner_and_becomes_its_exit() -> None:
    seen: list[int] = []
    before = signal.getsignal(signal.SIGTERM)

    async def owner() -> None:
        guard = SignalGuard(seen.append)
        with guard:
            assert signal.getsignal(signal.SIGTERM) is not before
            os.kill(os.getpid(), signal.SIGTERM)
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(30)
            assert guard.received == signal.SIGTERM
            guard.reraise(asyncio.CancelledError)

    with pytest.raises(SystemExit) as exited:
        asyncio.run(owner())
    assert exited.value.code == 128 + signal.SIGTERM
    assert seen == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_becomes_keyboard_interrupt_and_only_after_a_signal() -> None:
    async def owner() -> None:
        guard = SignalGuard(lambda sig: None)
        with guard:
            guard.reraise(None)  # no signal yet: nothing happens
            os.kill(os.getpid(), signal.SIGINT)
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(30)
        # Another exception on its way is not replaced by the signal's exit.
        guard.reraise(ValueError)
        guard.reraise(None)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(owner())
