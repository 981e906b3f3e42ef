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
#: then the model code (16 bits, little-endian); later versions may append bytes.
MANUFACTURER_PREFIX = b"NMP"
#: Model codes of the advertisement. 0 means "not said": the host reads INFO.
MODEL_CODES: dict[int, str] = {
    0x0001: "NMP Neck 2",
    0x0002: "NMP Heat 4",
    0x0003: "NMP Handheld",
    0x0004: "NMP Wrap 8",
}
#: Legacy advertising carries at most this many bytes of AD structures per packet
#: (the advertisement and the scan response each).
LEGACY_AD_MAX = 31
#: The longest local name the advertisement carries complete (beside flags and
#: manufacturer data in 31 bytes).
MAX_LOCAL_NAME = 16

DEFAULT_ATT_MTU = 23


def model_code(model: str) -> int:
    """The advertised code of ``model`` (0 for a model without one)."""
    for code, name in MODEL_CODES.items():
        if name == model:
            return code
    return 0


def manufacturer_data(code: int, version: int = 1) -> bytes:
    """The manufacturer-specific advertising payload of an NMP device (after the company id)."""
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"model code {code} outside 0..65535")
    return MANUFACTURER_PREFIX + bytes([version]) + code.to_bytes(2, "little")


def parse_manufacturer_data(data: bytes) -> tuple[int, str] | None:
    """``(protocol version, model)`` from an NMP advertisement, or ``None``.

    The model is ``""`` when the code is 0 or not in :data:`MODEL_CODES`
    (the host learns it from INFO). Bytes after the code are ignored.
    """
    if len(data) < 6 or not data.startswith(MANUFACTURER_PREFIX):
        return None
    code = int.from_bytes(data[4:6], "little")
    return data[3], MODEL_CODES.get(code, "")
