"""What every part of one device session shares: its state and its small utilities.

The facade (:class:`~massager_sdk.client.Device`), the link supervisor
(:mod:`.link`) and the engine (:mod:`.engine`) each hold the same
:class:`SessionCore`; none of them holds another's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any, Literal

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.errors import ConnectionFailed, MassagerError
from massager_sdk.model import DeviceStatus
from massager_sdk.profiles.overrides import DeviceOverride
from massager_sdk.profiles.selection import LinkRequest, Selection
from massager_sdk.protocols import ProtocolAdapter
from massager_sdk.safety import SafetyPolicy
from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.plan import OutputPlan
from massager_sdk.session.requester import Requester, SessionStats
from massager_sdk.session.slots import PatternSlots
from massager_sdk.session.telemetry import TelemetryHub
from massager_sdk.transports import Transport

_log = logging.getLogger("massager_sdk")

State = Literal["new", "opening", "open", "closing", "closed"]


class SessionCore:
    """The state of one device session (no I/O of its own)."""

    def __init__(self, transport: Transport, link: LinkRequest, options: ConnectOptions) -> None:
        self.options = options
        self.link_request = link  # what connect() was asked: URL, protocol, profile, keys
        self.transport = transport
        # Until the device is opened and identified: the best guess without the link's word.
        self.selection: Selection
        self.adapter: ProtocolAdapter
        self.selection, self.adapter = link.guess()
        self.link_keys: tuple[str, ...] = ()
        self.override: DeviceOverride | None = None
        self.stats = SessionStats()
        self.requester = Requester(
            transport, self.adapter, self.stats, timeout=options.timeout, retries=options.retries
        )
        self.hub = TelemetryHub(self.stats)
        self.control = options.control

        self.state: State = "new"
        self.caps: DeviceCapabilities | None = None
        self.safety: SafetyPolicy | None = None
        # Replaced once the device is identified (its zones, slots and gap).
        self.plan = OutputPlan(0, PatternSlots(0), gap_s=transport.min_gap_s)
        self.keepalive_s = 1.0
        self.auto_off_synced = False  # the device's auto-off was set for this on-period
        self.last_status: DeviceStatus | None = None
        self.last_status_at = -math.inf
        self.error: MassagerError | None = None  # a device refusal not yet reported
        self.failure: ConnectionFailed | None = None  # the session has ended for good
        self.link_up = False
        self.lost_at: float | None = None
        self.stop_task: asyncio.Task[None] | None = None  # STOP_ALL under way
        self.heat_task: asyncio.Task[None] | None = None  # a safety heat-off under way
        self.background: set[asyncio.Task[Any]] = set()
        self.wake = asyncio.Event()
        self._progress = asyncio.Event()

    def use(self, transport: Transport, adapter: ProtocolAdapter) -> None:
        """Talk over ``transport`` in ``adapter``'s protocol from now on."""
        self.transport = self.requester.transport = transport
        self.adapter = self.requester.adapter = adapter
        self.plan.gap_s = transport.min_gap_s

    @property
    def name(self) -> str:
        """The display name: the user's device file's, else the model."""
        if self.override is not None and self.override.name:
            return self.override.name
        return self.caps.model if self.caps else "device"

    def describe(self) -> str:
        """The device and link, for messages: ``NMP Heat 4 on sim://heat4``."""
        return f"{self.name} on {self.transport.description}"

    # -- outputs -----------------------------------------------------------------

    def take_as_told(self, status: DeviceStatus) -> None:
        """What ``status`` shows the device runs becomes what it was told; a monitor,
        which wants nothing of its own, wants just that."""
        self.plan.showed(tuple(status.intensities), status.heat_target_c, follow=not self.control)

    def outputs_changed(self) -> None:
        """The device acknowledged other outputs: tell the policy and every waiter."""
        if not self.plan.running:
            self.auto_off_synced = False
        if self.safety is not None and self.control:
            told = self.plan.acknowledged
            self.safety.outputs_changed(list(told.levels), told.heat_c, self.now())
        self.notify()

    def told_off(self) -> None:
        """The device has switched everything off."""
        self.plan.stopped()
        self.outputs_changed()

    def forget_outputs(self) -> None:
        """The device is off on its own: want nothing more either."""
        self.plan.clear()
        self.told_off()

    def stopping(self) -> bool:
        """Whether a STOP_ALL is under way."""
        return running(self.stop_task)

    def settled(self) -> bool:
        """Whether the device acknowledged everything asked (and no stop is under way)."""
        return not self.stopping() and self.plan.pending == 0

    # -- waking and waiting ------------------------------------------------------

    @staticmethod
    def now() -> float:
        """The event loop's clock."""
        return asyncio.get_running_loop().time()

    def kick(self) -> None:
        """Wake the engine: something to send may have changed."""
        self.wake.set()

    def notify(self) -> None:
        """Wake everyone waiting for progress (flush, requests waiting for the link)."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait_progress(self, deadline: float | None) -> None:
        """Until :meth:`notify` (or ``deadline``, event-loop time)."""
        event = self._progress
        if deadline is None:
            await event.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await event.wait()

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a background task of this session (cancelled on close)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("%s: %s failed: %s", self.describe(), task.get_name(), task.exception())
        self.kick()


def running(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task`` exists and has not finished."""
    return task is not None and not task.done()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again if a cancellation was lost.

    (``asyncio.timeout`` and ``asyncio.wait_for`` before Python 3.12 can swallow a
    cancellation that arrives as their own timeout expires.)
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        _log.error("task %s failed", task.get_name(), exc_info=task.exception())
