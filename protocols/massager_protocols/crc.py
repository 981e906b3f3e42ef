"""CRC helpers shared by the protocols."""

import binascii


def crc16_ccitt_false(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.

    ``binascii.crc_hqx`` implements exactly this polynomial in C; the check value
    of ``b"123456789"`` is ``0x29B1``.
    """
    return binascii.crc_hqx(data, init)


def crc16_xmodem(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/XMODEM: the same polynomial with initial value 0 (check ``0x31C3``)."""
    return binascii.crc_hqx(data, 0)
