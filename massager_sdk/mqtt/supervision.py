"""Which devices this bridge holds, and what the claims of other bridges mean for them.

The supervisor keeps the held devices by id, decides whether a node may take a
device (not while another node of this bridge uses the id, nor while another
live bridge holds it), routes commands to the node that holds (or answers for)
a device, and follows the claims: a claim cleared by someone else is put back,
a contested claim is kept or given up by the claims' rule.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from massager_sdk.mqtt.node_claims import CONTEST_SETTLE_S
from massager_sdk.mqtt.topics import OFFLINE, ONLINE

if TYPE_CHECKING:
    import aiomqtt

    from massager_sdk.mqtt.bridge import Bridge
    from massager_sdk.mqtt.node import DeviceNode


class Supervisor:
    """The devices of one bridge as the claims see them."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.held: dict[str, DeviceNode] = {}

    def conflict(self, node: DeviceNode, device_id: str) -> str | None:
        """Why ``node`` may not take ``device_id`` now, or ``None`` if it may."""
        other = self.held.get(device_id)
        if other is not None and other is not node:
            return f"device id {device_id!r} is already used by {other.config.url} on this bridge"
        claim = self.bridge.claims.may_take(device_id, self.bridge.owner)
        if claim is not None:
            return f"held by bridge {claim.owner!r}, which is online"
        return None

    def holding(self, node: DeviceNode) -> None:
        """``node`` holds its device now."""
        assert node.device_id is not None
        self.held[node.device_id] = node

    def not_holding(self, node: DeviceNode) -> None:
        """``node`` let its device go."""
        if node.device_id is not None and self.held.get(node.device_id) is node:
            del self.held[node.device_id]

    def claims_changed(self) -> None:
        """Every node that stands by looks at the claims again."""
        for node in self.bridge.nodes:
            node.claims_changed()

    async def connected(self, client: aiomqtt.Client) -> None:
        """The broker connection is back and the retained claims are read: say what holds.

        Availability is true at every moment: a crashed bridge left its devices
        "online"; they say "offline" before this bridge says "online", and each
        says "online" again only once its node has taken it.
        """
        bridge = self.bridge
        topics = bridge.topics
        for device_id in self._possibly_ours():
            await client.publish(topics.availability(device_id), OFFLINE, qos=1, retain=True)
        await client.publish(topics.bridge_state, ONLINE, qos=1, retain=True)
        bridge.link.synced.set()
        self.claims_changed()
        await bridge.link.resubscribe()
        # The broker may have lost everything retained: publish it all again.
        await self.publish_held()

    async def publish_held(self) -> None:
        """Everything about every held device, again (a reconnection, Home Assistant's start)."""
        for node in list(self.held.values()):
            await node.publish_all()

    def _possibly_ours(self) -> list[str]:
        """Ids of devices this bridge serves or served before (its retained claims).

        Not those another live bridge holds: their availability is that bridge's word.
        """
        bridge = self.bridge
        ids = {n.device_id for n in bridge.nodes if n.device_id is not None}
        ids.update(d for d, claim in bridge.claims.claims.items() if claim.owner == bridge.owner)
        return sorted(d for d in ids if bridge.claims.may_take(d, bridge.owner) is None)

    def command(
        self, device_id: str, attr: str | None, payload: bytes, topic: str, *, retain: bool
    ) -> None:
        """A message on a device's set topic: to the node that holds it, or refused."""
        bridge = self.bridge
        node = self.held.get(device_id)
        held = node is not None
        if node is None:
            node = self._answers_for(device_id)
            if node is None:
                return
        if retain:
            # A retained command would run again on every reconnection.
            bridge.spawn(
                node.publish_error(
                    "retained commands are ignored; publish commands without the retain flag",
                    topic,
                    payload,
                )
            )
            return
        if not held:
            why = node.error or node.phase
            bridge.spawn(
                node.publish_error(
                    f"device {device_id} is not available ({why}); the command was not run",
                    topic,
                    payload,
                    kind="unavailable",
                )
            )
            return
        node.submit(attr, payload, topic)

    def _answers_for(self, device_id: str) -> DeviceNode | None:
        """The node that answers commands to ``device_id``, which this bridge does not hold.

        ``None`` when the device is not this bridge's, or another live bridge holds
        it (that bridge answers).
        """
        bridge = self.bridge
        node = next((n for n in bridge.nodes if n.device_id == device_id), None)
        if node is None or bridge.claims.may_take(device_id, bridge.owner) is not None:
            return None
        return node

    def claim_seen(self, device_id: str, payload: bytes) -> None:
        """A retained claim on ``device_id`` arrived (or was cleared)."""
        bridge = self.bridge
        claim = bridge.claims.seen_claim(device_id, payload)
        node = self.held.get(device_id)
        if node is not None and node.claim is not None:
            if claim is None:
                # Our claim was cleared by someone else: put it back.
                bridge.spawn(
                    bridge.publish(
                        bridge.topics.claim(device_id), node.claim.payload(), retain=True
                    )
                )
            elif claim.owner != bridge.owner:
                if bridge.claims.keeps(device_id, node.claim):
                    bridge.spawn(self._reassert(node))
                else:
                    node.release(f"bridge {claim.owner!r} holds an older claim")
        self.claims_changed()

    def bridge_state_seen(self, topic: str, payload: bytes) -> None:
        """A bridge said it is online or offline."""
        self.bridge.claims.seen_bridge_state(topic, payload)
        self.claims_changed()

    async def _reassert(self, node: DeviceNode) -> None:
        """We won a contested claim: publish everything again once the loser has stopped."""
        bridge = self.bridge
        if node.claim is not None and node.device_id is not None:
            await bridge.publish(
                bridge.topics.claim(node.device_id), node.claim.payload(), retain=True
            )
        await asyncio.sleep(CONTEST_SETTLE_S)
        await node.publish_all()
