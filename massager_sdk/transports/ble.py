"""``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``: a massager over Bluetooth Low Energy.

The transport finds the device with bleak's ``BleakScanner``, connects through
``bleak_retry_connector.establish_connection`` (retries, service cache), writes
to the RX characteristic in pieces of the negotiated ATT MTU minus 3 bytes,
takes the device's bytes from TX notifications and reports bleak's disconnect
callback as a lost link. GATT UUIDs: :mod:`massager_protocols.nmp.gatt`.

bleak's backend can be replaced, for tests and for other radios: per
connection with the ``client_backend=`` and ``scanner_backend=`` options, or
for the whole process with :func:`use_backends`::

    from massager_simulator.ble import SimulatedBleakClient, SimulatedBleakScanner
    massager_sdk.transports.ble.use_backends(SimulatedBleakClient, SimulatedBleakScanner)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import urllib.parse
from typing import Any, ClassVar

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection
from massager_protocols.nmp.gatt import DEFAULT_ATT_MTU, RX_CHAR_UUID, TX_CHAR_UUID

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports.base import Transport, bad_url, check_options

#: Bytes of ATT header in a write or notification: the payload is MTU minus this.
ATT_HEADER = 3
_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
#: macOS names peripherals by a UUID instead of an address.
_UUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")


@dataclasses.dataclass(slots=True)
class BleBackends:
    """bleak backends to use instead of the platform's (``None``: the platform's)."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None


#: The process-wide default backends (see :func:`use_backends`).
DEFAULT_BACKENDS = BleBackends()


def use_backends(
    client: type[BaseBleakClient] | None = None, scanner: type[BaseBleakScanner] | None = None
) -> None:
    """Make every ``ble://`` connection and :func:`~massager_sdk.scan` use these backends.

    ``use_backends()`` with no argument goes back to the platform's.
    """
    DEFAULT_BACKENDS.client = client
    DEFAULT_BACKENDS.scanner = scanner


def scanner_kwargs(scanner: type[BaseBleakScanner] | None) -> dict[str, Any]:
    """Keyword arguments selecting a scanner backend (none for the platform's)."""
    chosen = scanner or DEFAULT_BACKENDS.scanner
    return {} if chosen is None else {"backend": chosen}


def is_address(text: str) -> bool:
    """Whether ``text`` is a Bluetooth address (or a macOS peripheral UUID)."""
    return bool(_ADDRESS.match(text) or _UUID.match(text))


class BleTransport(Transport):
    """NMP/1 over the NMP GATT service (RX writes, TX notifications)."""

    scheme: ClassVar[str] = "ble"
    url_forms: ClassVar[tuple[str, ...]] = ("ble://AA:BB:CC:DD:EE:FF", "ble://NAME")
    #: BLE links keep up with about one write per connection interval.
    default_min_gap_s: ClassVar[float] = 0.03

    def __init__(
        self,
        target: str,
        *,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        scan_timeout: float = 10.0,
        connect_attempts: int = 3,
        min_gap_s: float | None = None,
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        if not target:
            raise ValueError("a BLE address or name is needed")
        self.target = target
        self.by_address = is_address(target)
        self.scan_timeout = scan_timeout
        self.connect_attempts = connect_attempts
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self._device: BLEDevice | None = None
        self._client: BleakClient | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._response = False
        self._mtu = DEFAULT_ATT_MTU - ATT_HEADER

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> BleTransport:
        """``ble://ADDRESS`` or ``ble://NAME``; options ``client_backend``,
        ``scanner_backend``, ``scan_timeout``, ``connect_attempts`` and ``min_gap_s``."""
        check_options(
            cls,
            text,
            options,
            {"client_backend", "scanner_backend", "scan_timeout", "connect_attempts", "min_gap_s"},
        )
        if url.path not in ("", "/") or url.query or url.fragment:
            raise bad_url(text, "a BLE URL has only an address or a name", cls.url_forms)
        target = urllib.parse.unquote(url.netloc)
        if not target:
            raise bad_url(text, "the address or name is missing", cls.url_forms)
        return cls(target, **options)

    @property
    def description(self) -> str:
        """``ble://TARGET``."""
        return f"ble://{self.target}"

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU minus 3: the most one write carries."""
        return self._mtu

    async def _find(self) -> BLEDevice:
        kwargs = scanner_kwargs(self._scanner_backend)
        target = self.target
        if self.by_address:
            found = await BleakScanner.find_device_by_address(
                target, timeout=self.scan_timeout, **kwargs
            )
        else:

            def named(device: BLEDevice, adv: AdvertisementData) -> bool:
                return target in (adv.local_name, device.name)

            found = await BleakScanner.find_device_by_filter(
                named, timeout=self.scan_timeout, **kwargs
            )
        if found is None:
            raise ConnectionFailed(
                f"no BLE device {'at' if self.by_address else 'named'} {target!r} found "
                f"within {self.scan_timeout:g} s of scanning"
            )
        return found

    async def _open(self) -> None:
        # Reuse what the last scan found: a device that dropped the link is often
        # reachable again before it is heard advertising.
        device = self._device or await self._find()
        backend = self._client_backend or DEFAULT_BACKENDS.client
        extra: dict[str, Any] = {} if backend is None else {"backend": backend}
        try:
            client = await establish_connection(
                BleakClient,
                device,
                self.target,
                disconnected_callback=self._disconnected,
                max_attempts=self.connect_attempts,
                **extra,
            )
        except (BleakError, TimeoutError, OSError) as exc:
            self._device = None  # scan again next time
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        self._device = device
        try:
            rx = client.services.get_characteristic(RX_CHAR_UUID)
            tx = client.services.get_characteristic(TX_CHAR_UUID)
            if rx is None or tx is None:
                raise ConnectionFailed(
                    f"{self.description} has no NMP service (RX {RX_CHAR_UUID}, TX {TX_CHAR_UUID})"
                )
            self._client = client
            self._rx = rx
            self._response = "write-without-response" not in rx.properties
            self._mtu = max(DEFAULT_ATT_MTU, client.mtu_size) - ATT_HEADER
            await client.start_notify(tx, self._notified)
        except BaseException:
            self._client = None
            await client.disconnect()
            raise

    def _notified(self, sender: BleakGATTCharacteristic, data: bytearray) -> None:
        self._deliver(bytes(data))

    def _disconnected(self, client: BleakClient) -> None:
        if client is self._client:
            self._lost(None)

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(BleakError):
                await client.disconnect()

    async def _write_chunk(self, chunk: bytes) -> None:
        client, rx = self._client, self._rx
        if client is None or rx is None:
            raise ConnectionError(f"{self.description} is not connected")
        try:
            await client.write_gatt_char(rx, chunk, response=self._response)
        except BleakError as exc:
            raise ConnectionError(f"writing to {self.description} failed: {exc}") from exc
