"""SIGINT and SIGTERM as a context manager: stop the device, end the task that opened it.

    with SignalGuard(on_signal) as guard:     # inside the task that owns the device
        ...                                   # a signal calls on_signal(sig), cancels this task
    guard.reraise(exc_type)                   # KeyboardInterrupt or SystemExit(128 + sig)

Handlers go on the running event loop (``loop.add_signal_handler``), so they
run between callbacks, never inside one. Where the loop cannot take them (not
the main thread, not a Unix loop) the guard does nothing and says so in the
debug log. Leaving the guard puts the previous handlers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Any

_log = logging.getLogger("massager_sdk")

#: The signals a guard handles.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    """While entered, SIGINT and SIGTERM call ``on_signal(sig)`` and cancel the owner task."""

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self._on_signal = on_signal
        #: The first signal received, if any.
        self.received: int | None = None
        #: The task that entered the guard (cancelled by a signal).
        self.owner: asyncio.Task[Any] | None = None
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        loop = asyncio.get_running_loop()
        self.owner = asyncio.current_task()
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self._handle, int(sig))
            except (NotImplementedError, RuntimeError, ValueError):
                _log.debug("cannot handle %s here (not the main thread?)", sig.name)
                continue
            self._saved[int(sig)] = previous
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._saved:
            return
        loop = asyncio.get_running_loop()
        for sig, previous in self._saved.items():
            loop.remove_signal_handler(sig)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, previous)
        self._saved.clear()

    def _handle(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
        self._on_signal(sig)
        owner = self.owner
        if owner is not None and not owner.done():
            owner.cancel()

    def reraise(self, exc_type: type[BaseException] | None) -> None:
        """After a signal, in the owner task: turn its cancellation into the signal's exit.

        Raises ``KeyboardInterrupt`` for SIGINT and ``SystemExit(128 + signal)``
        otherwise, when the block ended normally or by the cancellation the
        signal caused; does nothing when no signal arrived or another exception
        is on its way.
        """
        sig = self.received
        if sig is None or not (exc_type is None or issubclass(exc_type, asyncio.CancelledError)):
            return
        task = asyncio.current_task()
        if task is not None and task is self.owner:
            while task.cancelling():
                task.uncancel()
        if sig == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise SystemExit(128 + sig) from None
