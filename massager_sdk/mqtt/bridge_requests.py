"""The bridge's request/reply topics: ``devices``, ``add`` and ``remove``.

A request is a JSON object (or empty) on ``<bridge>/request/<name>``; the
answer goes to ``<bridge>/response/<name>`` with ``status`` ``ok`` and
``data``, or ``error`` and what was wrong (also on the bridge's error topic),
with the request's ``transaction`` if it had one. With a ``bridge_id``, the
shared request topic reaches every bridge: each lists its devices, removes only
its own, and adds only on its own topic.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from massager_sdk.mqtt.config import DeviceConfig
from massager_sdk.mqtt.topics import REQUESTS

if TYPE_CHECKING:
    from massager_sdk.mqtt.bridge import Bridge


class BridgeRequests:
    """Answers the requests to one bridge."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def handle(self, name: str, payload: bytes, topic: str) -> None:
        """Carry out the request ``name`` that arrived on ``topic`` and publish the answer."""
        bridge = self.bridge
        broadcast = bridge.config.bridge_id is not None and not topic.startswith(
            f"{bridge.topics.bridge_root}/"
        )
        transaction = None
        try:
            body = self._body(payload)
            transaction = body.pop("transaction", None)
            if name == "devices":
                _no_fields(body, name, set())
                data: Any = [node.describe() for node in bridge.nodes]
            elif name == "add":
                if broadcast:
                    return  # adding is for one bridge: its own request topic
                data = await self._add(body)
            elif name == "remove":
                _no_fields(body, name, {"id"})
                device_id = body.get("id")
                if not isinstance(device_id, str):
                    raise ValueError('remove needs "id": the id of a device on this bridge')
                if broadcast and not any(n.device_id == device_id for n in bridge.nodes):
                    return  # another bridge's device
                try:
                    await bridge.remove_device(device_id)
                except KeyError as exc:
                    raise ValueError(exc.args[0]) from None
                data = {"id": device_id}
            else:
                raise ValueError(f"unknown request {name!r}; accepted: {', '.join(REQUESTS)}")
        except ValueError as exc:
            response = {"status": "error", "error": str(exc), "bridge": bridge.owner}
            if transaction is not None:
                response["transaction"] = transaction
            await bridge.publish(bridge.topics.response(name), json.dumps(response))
            await bridge.report_error(str(exc), request=name)
            return
        response = {"status": "ok", "data": data, "bridge": bridge.owner}
        if transaction is not None:
            response["transaction"] = transaction
        await bridge.publish(bridge.topics.response(name), json.dumps(response))

    def _body(self, payload: bytes) -> dict[str, Any]:
        limit = self.bridge.config.max_payload
        if len(payload) > limit:
            raise ValueError(
                f"request of {len(payload)} bytes is too large (at most {limit} bytes)"
            )
        if not payload.strip():
            return {}
        try:
            parsed = json.loads(payload)
        except ValueError:
            raise ValueError(
                'a request is a JSON object, e.g. {"transaction": "1"}, or empty'
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError('a request is a JSON object, e.g. {"transaction": "1"}')
        return parsed

    async def _add(self, body: Mapping[str, Any]) -> dict[str, Any]:
        _no_fields(body, "add", {"url", "id", "name"})
        url = body.get("url")
        if not isinstance(url, str):
            raise ValueError('add needs "url": a device URL such as "ble://AA:BB:..."')
        device_id, name = body.get("id"), body.get("name")
        if device_id is not None and not isinstance(device_id, str):
            raise ValueError('"id" must be a string')
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError('"name" must be a non-empty string')
        node = await self.bridge.add_device(self._configured(url, device_id, name))
        return node.describe()

    def _configured(self, url: str, device_id: str | None, name: str | None) -> DeviceConfig:
        """The entry to add for an ``add`` request: the configuration file's own entry for
        that device (its profile, limits and key stay with it across remove and add),
        else a new one."""
        for entry in self.bridge.config.devices:
            if entry.url == url and (device_id is None or entry.id in (None, device_id)):
                return dataclasses.replace(entry, id=device_id or entry.id, name=name or entry.name)
        return DeviceConfig(url=url, id=device_id, name=name)


def _no_fields(body: Mapping[str, Any], request: str, accepted: set[str]) -> None:
    unknown = sorted(set(body) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted | {"transaction"}))
        raise ValueError(f"{request}: unknown field(s) {', '.join(unknown)}; accepted: {allowed}")
