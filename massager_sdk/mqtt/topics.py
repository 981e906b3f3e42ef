"""The MQTT topic layout of the bridge, in one place.

Device topics hang below the base topic (default ``massager``)::

    massager/<id>                 retained JSON state
    massager/<id>/set             JSON commands
    massager/<id>/set/<attr>      plain commands (``set/intensity`` = ``3``)
    massager/<id>/set/zones/<z>   plain per-zone intensity
    massager/<id>/availability    retained ``online`` | ``offline``
    massager/<id>/error           refused commands, with what is accepted
    massager/<id>/claim           retained: which bridge holds the device

Bridge topics hang below the bridge root: ``massager/bridge`` for a bridge
without an id, ``massager/bridge/<bridge_id>`` for one with an id (so each of
several bridges on one broker has its own)::

    <root>/state                  retained ``online`` | ``offline`` (last will)
    <root>/request/<name>         requests (``devices``, ``add``, ``remove``)
    <root>/response/<name>        their responses
    <root>/error                  refused requests

``massager/bridge/request/<name>`` is also answered by every bridge with an
id, each on its own response topic, so one request lists a whole site.
Home Assistant discovery lives under ``<discovery_prefix>/device/massager_<id>/config``.
"""

from __future__ import annotations

import dataclasses
import re

from massager_sdk.control.state import slug as slug

#: Device and bridge ids: what fits in a topic level and a Home Assistant object id.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ID_RULE = (
    "1-64 characters: lower-case letters, digits, '_' and '-', starting with a letter or digit"
)
#: Words a device or bridge id may not be, because the layout uses them.
RESERVED_IDS = frozenset({"bridge", "request", "response", "state", "error", "set", "claim"})
#: Requests a bridge answers.
REQUESTS = ("devices", "add", "remove")
#: What Home Assistant publishes on ``<discovery_prefix>/status`` when it (re)starts.
HA_ONLINE = "online"
ONLINE = "online"
OFFLINE = "offline"


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is a valid device or bridge id; ``ValueError`` saying the rule if not."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string ({ID_RULE}), got {type(value).__name__}")
    if not ID_PATTERN.match(value):
        raise ValueError(f"{what} {value!r} is not valid: {ID_RULE}")
    if value in RESERVED_IDS:
        raise ValueError(
            f"{what} {value!r} is reserved by the topic layout; "
            f"not one of {', '.join(sorted(RESERVED_IDS))}"
        )
    return value


def check_topic_prefix(value: object, what: str) -> str:
    """A base topic or discovery prefix: levels without wildcards or empty levels."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string such as 'massager'")
    if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
        raise ValueError(
            f"{what} {value!r} is not a usable topic prefix: no '+', '#', NUL, "
            "and no leading or trailing '/'"
        )
    if "" in value.split("/"):
        raise ValueError(f"{what} {value!r} has an empty topic level ('//')")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Incoming:
    """What a received topic means to the bridge."""

    kind: str  #: ``set``, ``set_attr``, ``request``, ``claim``, ``bridge_state``, ``ha_status``
    device_id: str | None = None
    attr: str | None = None  #: ``intensity`` or ``zones/left_neck`` for ``set_attr``; request name


@dataclasses.dataclass(frozen=True, slots=True)
class Topics:
    """Every topic one bridge publishes or subscribes to."""

    base: str = "massager"
    bridge_id: str | None = None
    discovery_prefix: str = "homeassistant"

    def __post_init__(self) -> None:
        check_topic_prefix(self.base, "base topic")
        check_topic_prefix(self.discovery_prefix, "discovery prefix")
        if self.bridge_id is not None:
            check_id(self.bridge_id, "bridge id")

    # -- devices ------------------------------------------------------------
    def state(self, device_id: str) -> str:
        """Retained JSON state of a device."""
        return f"{self.base}/{device_id}"

    def set(self, device_id: str) -> str:
        """JSON commands to a device."""
        return f"{self.base}/{device_id}/set"

    def set_attr(self, device_id: str, attr: str) -> str:
        """Plain command of one attribute (``intensity``, ``zones/<zone>``...)."""
        return f"{self.base}/{device_id}/set/{attr}"

    def availability(self, device_id: str) -> str:
        """Retained ``online`` or ``offline`` of a device."""
        return f"{self.base}/{device_id}/availability"

    def error(self, device_id: str) -> str:
        """Refusals of commands sent to a device (not retained)."""
        return f"{self.base}/{device_id}/error"

    def claim(self, device_id: str) -> str:
        """Retained claim: the bridge that holds a device."""
        return f"{self.base}/{device_id}/claim"

    def device_subscriptions(self, device_id: str) -> list[str]:
        """What a bridge subscribes to for a device it holds.

        ``set/#`` also matches ``set`` itself (MQTT 3.1.1, 4.7.1.2); a second,
        overlapping filter would have some brokers deliver each command twice.
        """
        return [f"{self.set(device_id)}/#"]

    # -- the bridge ---------------------------------------------------------
    @property
    def bridge_root(self) -> str:
        """``<base>/bridge`` or ``<base>/bridge/<bridge_id>``."""
        root = f"{self.base}/bridge"
        return root if self.bridge_id is None else f"{root}/{self.bridge_id}"

    @property
    def bridge_state(self) -> str:
        """Retained ``online``/``offline``; ``offline`` is the MQTT last will."""
        return f"{self.bridge_root}/state"

    @property
    def bridge_error(self) -> str:
        """Refused bridge requests and bridge-wide problems."""
        return f"{self.bridge_root}/error"

    def request(self, name: str) -> str:
        """This bridge's request topic ``name``."""
        return f"{self.bridge_root}/request/{name}"

    def response(self, name: str) -> str:
        """This bridge's response topic ``name``."""
        return f"{self.bridge_root}/response/{name}"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth and last-will topic."""
        return f"{self.discovery_prefix}/status"

    def bridge_subscriptions(self) -> list[str]:
        """What a bridge subscribes to for itself (devices come on top)."""
        subs = [
            f"{self.bridge_root}/request/+",
            # Every bridge's state, to tell whether a claim's holder is alive.
            f"{self.base}/bridge/state",
            f"{self.base}/bridge/+/state",
            f"{self.base}/+/claim",
            self.ha_status,
        ]
        if self.bridge_id is not None:
            subs.append(f"{self.base}/bridge/request/+")  # site-wide requests
        return subs

    # -- discovery ----------------------------------------------------------
    def device_discovery(self, device_id: str) -> str:
        """``<prefix>/device/massager_<id>/config``: the device and all its components."""
        return f"{self.discovery_prefix}/device/massager_{device_id}/config"

    def discovery(self, component: str, device_id: str, object_id: str) -> str:
        """``<prefix>/<component>/massager_<id>/<object_id>/config``: one entity alone.

        The layout of bridges before device-based discovery, kept to migrate from.
        """
        return f"{self.discovery_prefix}/{component}/massager_{device_id}/{object_id}/config"

    # -- reading what arrives -------------------------------------------------
    def parse(self, topic: str) -> Incoming | None:
        """What ``topic`` is to this bridge, or ``None`` if it is not its business."""
        if topic == self.ha_status:
            return Incoming("ha_status")
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        if levels[0] == "bridge":
            rest = levels[1:]
            if rest == ["state"] or (len(rest) == 2 and rest[1] == "state"):
                return Incoming("bridge_state")
            if len(rest) == 2 and rest[0] == "request":
                return Incoming("request", attr=rest[1])
            if (
                self.bridge_id is not None
                and len(rest) == 3
                and rest[:2]
                == [
                    self.bridge_id,
                    "request",
                ]
            ):
                return Incoming("request", attr=rest[2])
            return None
        device_id = levels[0]
        if len(levels) == 2 and levels[1] == "claim":
            return Incoming("claim", device_id)
        if len(levels) >= 2 and levels[1] == "set":
            if len(levels) == 2:
                return Incoming("set", device_id)
            return Incoming("set_attr", device_id, "/".join(levels[2:]))
        return None
