"""How Tuya BLE devices appear over Bluetooth Low Energy.

Service ``0xA201``: the host writes fragments to characteristic ``0x2B11``
and takes the device's fragments from notifications of ``0x2B10``. A device
advertises service data for ``0xA201`` (``00`` then its product id, ASCII)
and manufacturer data under company id ``0x07D0``: a flags byte (bit 7:
bound), the protocol version, four bytes the sources leave unexplained, then
its uuid encrypted with AES-128-CBC under key and IV ``MD5(product id)``.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SERVICE_UUID = "0000a201-0000-1000-8000-00805f9b34fb"
WRITE_CHAR_UUID = "00002b11-0000-1000-8000-00805f9b34fb"
NOTIFY_CHAR_UUID = "00002b10-0000-1000-8000-00805f9b34fb"
COMPANY_ID = 0x07D0


def service_data(product_id: str) -> bytes:
    """The ``0xA201`` service data: ``00`` then the product id."""
    return b"\x00" + product_id.encode("ascii")


def _uuid_cipher(product_id: str) -> Cipher[modes.CBC]:
    key = hashlib.md5(product_id.encode("ascii"), usedforsecurity=False).digest()
    return Cipher(algorithms.AES(key), modes.CBC(key))


def manufacturer_data(product_id: str, uuid: str, *, bound: bool = True, version: int = 3) -> bytes:
    """The manufacturer data after company id 0x07D0."""
    raw = uuid.encode("ascii")[:16].ljust(16, b"\0")
    encryptor = _uuid_cipher(product_id).encryptor()
    return (
        bytes([0x80 if bound else 0, version, 0, 0, 0, 0])
        + encryptor.update(raw)
        + encryptor.finalize()
    )


def parse_advertisement(manufacturer: bytes, service: bytes | None) -> dict[str, object]:
    """What an advertisement tells: bound, version, product id and uuid when readable."""
    found: dict[str, object] = {}
    product = None
    if service and len(service) > 1 and service[0] == 0:
        product = service[1:].decode("ascii", errors="replace")
        found["product_id"] = product
    if len(manufacturer) > 6:
        found["bound"] = bool(manufacturer[0] & 0x80)
        found["protocol_version"] = manufacturer[1]
        encrypted = manufacturer[6:]
        if product is not None and len(encrypted) % 16 == 0:
            decryptor = _uuid_cipher(product).decryptor()
            plain = decryptor.update(encrypted) + decryptor.finalize()
            found["uuid"] = plain.rstrip(b"\0").decode("ascii", errors="replace")
    return found
