"""How Tuya BLE devices appear over Bluetooth Low Energy (Tuya's BLE SDK).

The command service is ``0x1910``: the host writes fragments to
characteristic ``0x2B11`` and takes the device's fragments from
notifications of ``0x2B10``. ``0xA201`` is only advertised: as a service UUID
and as the key of the service data (``00`` then the product id). The
manufacturer data under company id ``0x07D0`` holds a flags byte (bit 7:
bound), the protocol version, the encryption mode, two bytes of
communication abilities, a byte the sources leave unexplained, then the
uuid encrypted with AES-128-CBC under key and IV ``MD5(advertised id)``.

Once bound, a device no longer advertises its product id: the service data
then carries the first bytes of the uuid (as lowercase hex, then ``00``,
padded with ``0F``) under AES-128-ECB with the key ``local_key[:6] +
uuid[:10]``, and the uuid in the manufacturer data is encrypted with those
bytes. Only a host holding the local key and uuid can check them.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: The service that holds the two characteristics.
COMMAND_SERVICE_UUID = "00001910-0000-1000-8000-00805f9b34fb"
#: The advertised service UUID and the service-data key.
SERVICE_UUID = "0000a201-0000-1000-8000-00805f9b34fb"
WRITE_CHAR_UUID = "00002b11-0000-1000-8000-00805f9b34fb"
NOTIFY_CHAR_UUID = "00002b10-0000-1000-8000-00805f9b34fb"
COMPANY_ID = 0x07D0


def bound_id(uuid: str, local_key: str, length: int) -> bytes:
    """What a bound device advertises in place of its product id (``length`` bytes)."""
    raw = _uuid_bytes(uuid)
    plain = raw.hex().encode("ascii") + b"\0"
    plain += bytes([16 - len(plain) % 16]) * (16 - len(plain) % 16)
    key = local_key[:6].encode("ascii") + raw[:10]
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # the SDK uses ECB here
    return (encryptor.update(plain) + encryptor.finalize())[:length]


def advertised_id(product_id: str, uuid: str, *, bound: bool, local_key: str = "") -> bytes:
    """The id after ``00`` in the service data: the product id, or once bound its
    stand-in from :func:`bound_id`."""
    plain = product_id.encode("ascii")
    return bound_id(uuid, local_key, len(plain)) if bound else plain


def service_data(
    product_id: str, uuid: str = "", *, bound: bool = False, local_key: str = ""
) -> bytes:
    """The ``0xA201`` service data: ``00`` then the advertised id."""
    return b"\x00" + advertised_id(product_id, uuid, bound=bound, local_key=local_key)


def _uuid_bytes(uuid: str) -> bytes:
    return uuid.encode("ascii")[:16].ljust(16, b"\0")


def _uuid_cipher(advertised: bytes) -> Cipher[modes.CBC]:
    key = hashlib.md5(advertised, usedforsecurity=False).digest()
    return Cipher(algorithms.AES(key), modes.CBC(key))


def manufacturer_data(
    product_id: str,
    uuid: str,
    *,
    bound: bool = False,
    version: int = 3,
    local_key: str = "",
) -> bytes:
    """The manufacturer data after company id 0x07D0."""
    advertised = advertised_id(product_id, uuid, bound=bound, local_key=local_key)
    encryptor = _uuid_cipher(advertised).encryptor()
    return (
        bytes([0x80 if bound else 0, version, 1, 0, 0, 0])
        + encryptor.update(_uuid_bytes(uuid))
        + encryptor.finalize()
    )


def parse_advertisement(
    manufacturer: bytes,
    service: bytes | None,
    *,
    local_key: str | None = None,
    uuid: str | None = None,
) -> dict[str, object]:
    """What an advertisement tells: bound, version, product id (unbound) and uuid.

    Binary data never raises: a field that does not decode is left out. With
    ``local_key`` and ``uuid`` of a device, ``"ours"`` says whether a bound
    advertisement is that device's.
    """
    found: dict[str, object] = {}
    advertised = bytes(service[1:]) if service and len(service) > 1 and service[0] == 0 else None
    bound = len(manufacturer) > 6 and bool(manufacturer[0] & 0x80)
    if advertised is not None:
        found["advertised_id"] = advertised.hex()
        if not bound and advertised.isascii() and advertised.decode("ascii").isprintable():
            found["product_id"] = advertised.decode("ascii")
    if len(manufacturer) > 6:
        found["bound"] = bound
        found["protocol_version"] = manufacturer[1]
        encrypted = bytes(manufacturer[6:])
        if advertised is not None and encrypted and len(encrypted) % 16 == 0:
            decryptor = _uuid_cipher(advertised).decryptor()
            plain = (decryptor.update(encrypted) + decryptor.finalize()).rstrip(b"\0")
            if plain.isascii() and plain.decode("ascii").isprintable():
                found["uuid"] = plain.decode("ascii")
    if bound and advertised is not None and local_key and uuid:
        found["ours"] = bound_id(uuid, local_key, len(advertised)) == advertised
    return found
