"""How NMP/1 is carried over Bluetooth Low Energy (GATT and advertising).

The host writes frames to ``RX_CHAR_UUID`` (with or without response) in
chunks of at most ATT MTU - 3 bytes; the device sends frames as notifications
on ``TX_CHAR_UUID``, likewise split. Frames are a byte stream on both
characteristics: a receiver feeds every chunk to a streaming decoder.
"""

SERVICE_UUID = "a5e10001-6e6d-7031-8f5a-6d6173736167"
#: Host to device: write / write without response.
RX_CHAR_UUID = "a5e10002-6e6d-7031-8f5a-6d6173736167"
#: Device to host: notify.
TX_CHAR_UUID = "a5e10003-6e6d-7031-8f5a-6d6173736167"
#: Standard Battery Service and Battery Level characteristic (optional).
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_CHAR_UUID = "00002a19-0000-1000-8000-00805f9b34fb"

#: Manufacturer data company identifier: 0xFFFF is the Bluetooth SIG's value
#: for devices without an assigned identifier (tests and prototypes).
COMPANY_ID = 0xFFFF
#: Manufacturer data starts with these bytes, then the protocol version byte,
#: then the model name in UTF-8 (up to 16 bytes).
MANUFACTURER_PREFIX = b"NMP"

DEFAULT_ATT_MTU = 23


def manufacturer_data(model: str, version: int = 1) -> bytes:
    """The manufacturer-specific advertising payload of an NMP device."""
    return MANUFACTURER_PREFIX + bytes([version]) + model.encode("utf-8")[:16]


def parse_manufacturer_data(data: bytes) -> tuple[int, str] | None:
    """``(protocol version, model)`` from an NMP advertisement, or ``None``."""
    if len(data) < 4 or not data.startswith(MANUFACTURER_PREFIX):
        return None
    return data[3], data[4:].decode("utf-8", errors="replace")
