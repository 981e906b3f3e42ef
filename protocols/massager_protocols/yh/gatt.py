"""How "yh" devices are carried over Bluetooth Low Energy.

The host writes frames to ``WRITE_CHAR_UUID`` and takes the device's frames
from notifications of ``NOTIFY_CHAR_UUID``; both are 16-bit UUIDs of the
Bluetooth base. The documented advertisement is ``'y' 'h' product firmware``;
carried as manufacturer-specific data, its first two bytes are what a BLE
stack reads as the company identifier: ``0x6879`` (little-endian ``79 68``).
"""

SERVICE_UUID = "0000ffe0-0000-1000-8000-00805f9b34fb"
#: Host to device: write / write without response.
WRITE_CHAR_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"
#: Device to host: notify.
NOTIFY_CHAR_UUID = "0000ffe2-0000-1000-8000-00805f9b34fb"
#: Manufacturer data "company identifier": the bytes 'y' 'h' read little-endian.
COMPANY_ID = 0x6879
#: Product identifier of the EMS massager family in the advertisement.
PRODUCT_EMS = 1
#: The public documentation asks for this ATT MTU (falling back to 23).
PREFERRED_ATT_MTU = 247


def manufacturer_data(product: int, firmware: int) -> bytes:
    """The advertisement's manufacturer data after the company identifier."""
    return bytes([product & 0xFF, firmware & 0xFF])


def parse_manufacturer_data(data: bytes) -> tuple[int, int] | None:
    """``(product, firmware)`` from the bytes after company id 0x6879, or ``None``."""
    if len(data) < 2:
        return None
    return data[0], data[1]
