"""A node's part in the claims protocol: wait until a device is free, stake a claim.

Connecting to a device takes control of it, so a bridge opens a link only to
a device whose retained claim is its own (see ``docs/home-assistant.md``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from massager_sdk.mqtt.claims import Claim

if TYPE_CHECKING:
    from massager_sdk.mqtt.node import DeviceNode

_log = logging.getLogger("massager_sdk.mqtt")

#: After claiming a free device, wait this long for other bridges' claims to arrive; after
#: winning a contested claim, publish everything again this much later, when the loser
#: has surely seen the winning claim and stopped publishing.
CONTEST_SETTLE_S = 1.0


class ClaimStake:
    """Decides, for one node, when its device may be taken."""

    def __init__(self, node: DeviceNode) -> None:
        self.node = node
        self.bridge = node.bridge
        self._changed = asyncio.Event()
        self.subscribed: str | None = None  #: the device id whose commands we receive

    def changed(self) -> None:
        """A claim or a bridge's state changed: a standing-by node looks again."""
        self._changed.set()

    async def listen(self) -> None:
        """Receive the device's commands even while it is not held, to answer them."""
        device_id = self.node.device_id
        if device_id is not None and self.subscribed != device_id:
            self.subscribed = device_id
            await self.bridge.subscribe(self.bridge.topics.device_subscriptions(device_id))

    async def wait_until_free(self, device_id: str) -> None:
        """Wait until the claims allow this bridge to take ``device_id``."""
        node = self.node
        logged = False
        while not node.removed:
            self._changed.clear()
            await self.bridge.claims_synced()
            reason = self.bridge.conflict(node, device_id)
            if reason is None:
                return
            if not logged:
                _log.warning("device %s stands by: %s", device_id, reason)
                logged = True
            node.phase = "standby"
            node.error = reason
            await self._changed.wait()

    async def stake(self, device_id: str) -> bool:
        """Claim a free device before connecting; whether this bridge won it.

        Bridges that found it free at the same moment all claim it. Once every
        claim has reached every bridge (``CONTEST_SETTLE_S``), all see the same
        retained claim, the last the broker took, and only its owner connects:
        connecting takes control, so a loser must never open a link. Both the
        look before claiming and the decision wait until this bridge has handled
        everything the broker sent so far: a busy bridge must not decide on
        claims still waiting in its connection.
        """
        bridge = self.bridge
        if not await bridge.caught_up() or bridge.conflict(self.node, device_id):
            await asyncio.sleep(CONTEST_SETTLE_S)  # never spin while the broker is away
            return False
        ours = self.ours(device_id)
        if ours is not None and self.node.held:
            return True  # reconnecting to a device we hold: contests are the holder's rule
        claim = self.claim(device_id)
        await bridge.publish(bridge.topics.claim(device_id), claim.payload(), retain=True)
        await asyncio.sleep(CONTEST_SETTLE_S)
        if not await bridge.caught_up():
            return False
        return self.ours(device_id) is not None

    async def unstake(self, device_id: str) -> None:
        """Withdraw a claim this bridge made but could not follow with a connection."""
        if self.ours(device_id) is not None:
            await self.bridge.publish(self.bridge.topics.claim(device_id), b"", retain=True)

    def ours(self, device_id: str) -> Claim | None:
        """The retained claim on ``device_id`` if it is this bridge's."""
        book = self.bridge.claims.claims.get(device_id)
        return book if book is not None and book.owner == self.bridge.owner else None

    def claim(self, device_id: str) -> Claim:
        """This bridge's claim on ``device_id``, as old as the one it already has."""
        ours = self.ours(device_id)
        since = ours.since if ours is not None else time.time()
        return Claim(self.bridge.owner, self.bridge.topics.bridge_state, since)
