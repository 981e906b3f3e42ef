"""massager-sdk: scripting, automating and building neck massagers.

Start here::

    import massager_sdk

    async with massager_sdk.connect() as device:  # the embedded simulator
        await device.set_intensity(3)
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from massager_sdk.errors import (
    BadURLError,
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    LinkTooSlow,
    MassagerError,
    NotInControl,
    NotSupported,
    SafetyRefusal,
)

if TYPE_CHECKING:
    from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone
    from massager_sdk.client import Device, connect
    from massager_sdk.discovery import Discovered, scan
    from massager_sdk.model import (
        DeviceEvent,
        DeviceStatus,
        EventKind,
        Pattern,
        PatternStep,
        Waveform,
    )
    from massager_sdk.safety.screening import HealthProfile
    from massager_sdk.session.options import ConnectOptions

__version__ = "0.1.0"

# A library logs; the application decides where it goes (nothing is printed by default).
logging.getLogger(__name__).addHandler(logging.NullHandler())

# The rest is imported on first use (PEP 562), so that `massager --help` and
# other light entry points do not pay for asyncio, construct or bleak.
_LAZY = {
    "DeviceCapabilities": "massager_sdk.capabilities",
    "HeatCapability": "massager_sdk.capabilities",
    "Zone": "massager_sdk.capabilities",
    "Device": "massager_sdk.client",
    "connect": "massager_sdk.client",
    "Discovered": "massager_sdk.discovery",
    "scan": "massager_sdk.discovery",
    "DeviceEvent": "massager_sdk.model",
    "DeviceStatus": "massager_sdk.model",
    "EventKind": "massager_sdk.model",
    "Pattern": "massager_sdk.model",
    "PatternStep": "massager_sdk.model",
    "Waveform": "massager_sdk.model",
    "ConnectOptions": "massager_sdk.session.options",
    # The person's health profile (connect(health_profile=...)); a model's is a DeviceProfile.
    "HealthProfile": "massager_sdk.safety.screening",
}


def __dir__() -> list[str]:
    # The lazily imported names too, so that dir() and completion show them.
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'massager_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BadURLError",
    "ConnectOptions",
    "ConnectionFailed",
    "Device",
    "DeviceCapabilities",
    "DeviceEvent",
    "DeviceRefused",
    "DeviceStatus",
    "DeviceTimeout",
    "Discovered",
    "EventKind",
    "HealthProfile",
    "HeatCapability",
    "LinkTooSlow",
    "MassagerError",
    "NotInControl",
    "NotSupported",
    "Pattern",
    "PatternStep",
    "SafetyRefusal",
    "Waveform",
    "Zone",
    "__version__",
    "connect",
    "scan",
]
