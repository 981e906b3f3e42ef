"""Background tasks of the bridge and its nodes: started on their behalf, ended with them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from massager_sdk.session.core import cancel_and_wait

__all__ = ["Background", "cancel_and_wait"]


class Background:
    """Tasks run in the background for one owner, kept until done, cancelled together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background (a reference is kept until it ends)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()
