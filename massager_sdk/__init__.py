"""massager-sdk: scripting, automating and building neck massagers.

import massager_sdk

async with massager_sdk.connect() as device:  # the embedded simulator
    await device.set_intensity(3)
"""

from massager_sdk.capabilities import DeviceCapabilities, HeatCapability, Zone
from massager_sdk.errors import (
    BadURLError,
    ConnectionFailed,
    DeviceRefused,
    DeviceTimeout,
    MassagerError,
    NotSupported,
    SafetyRefusal,
)

__version__ = "0.1.0"

__all__ = [
    "BadURLError",
    "ConnectionFailed",
    "DeviceCapabilities",
    "DeviceRefused",
    "DeviceTimeout",
    "HeatCapability",
    "MassagerError",
    "NotSupported",
    "SafetyRefusal",
    "Zone",
    "__version__",
]
