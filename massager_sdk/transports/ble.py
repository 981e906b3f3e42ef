"""``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``: a massager over Bluetooth Low Energy.

The transport finds the device with bleak's ``BleakScanner``, connects through
``bleak_retry_connector.establish_connection`` (retries, service cache), writes
to the write characteristic in pieces of the negotiated ATT MTU minus 3 bytes,
takes the device's bytes from notifications and reports bleak's disconnect
callback as a lost link.

Which characteristics carry the bytes is a :class:`~massager_sdk.transports.GattEndpoints`
(service, write, notify and an optional Battery Level): the ``gatt=`` option,
else the device profile the client selected, else NMP/1's
(:mod:`massager_protocols.nmp.gatt`). :meth:`BleTransport.identify` scans for
the device and matches its advertisement against the device profiles, so the
client knows the protocol before it connects.

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
from massager_protocols.nmp import gatt as nmp_gatt

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports import Advertisement, GattEndpoints, LinkIdentity
from massager_sdk.transports.base import Transport, bad_url, check_options

#: NMP/1's endpoints: the default when neither an option nor a profile names others.
NMP_GATT = GattEndpoints(
    service=nmp_gatt.SERVICE_UUID,
    write=nmp_gatt.RX_CHAR_UUID,
    notify=nmp_gatt.TX_CHAR_UUID,
    battery=nmp_gatt.BATTERY_LEVEL_CHAR_UUID,
)

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
    """Bytes over a GATT service: writes to one characteristic, notifications of another."""

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
        gatt: GattEndpoints | None = None,
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        if not target:
            raise ValueError("a BLE address or name is needed")
        if gatt is not None and not isinstance(gatt, GattEndpoints):
            raise TypeError(
                "gatt must be a massager_sdk.profiles.GattEndpoints(service, write, notify, "
                f"battery), got {type(gatt).__name__}"
            )
        self.target = target
        self.by_address = is_address(target)
        self.scan_timeout = scan_timeout
        self.connect_attempts = connect_attempts
        self._client_backend = client_backend
        self._scanner_backend = scanner_backend
        self._gatt = gatt
        self._device: BLEDevice | None = None
        self._advertisement: AdvertisementData | None = None
        self._client: BleakClient | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._battery: BleakGATTCharacteristic | None = None
        self._response = False
        self._mtu = nmp_gatt.DEFAULT_ATT_MTU - ATT_HEADER

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> BleTransport:
        """``ble://ADDRESS`` or ``ble://NAME``; options ``client_backend``,
        ``scanner_backend``, ``scan_timeout``, ``connect_attempts``, ``min_gap_s`` and
        ``gatt``."""
        check_options(
            cls,
            text,
            options,
            {
                "client_backend",
                "scanner_backend",
                "scan_timeout",
                "connect_attempts",
                "min_gap_s",
                "gatt",
            },
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

    @property
    def gatt(self) -> GattEndpoints:
        """The characteristics the bytes go through (NMP/1's unless told otherwise)."""
        return self._gatt or NMP_GATT

    @property
    def gatt_chosen(self) -> bool:
        """Whether endpoints were given (option or profile), not NMP/1's by default."""
        return self._gatt is not None

    def use_gatt(self, gatt: GattEndpoints) -> None:
        """Use these endpoints from the next connection on (the client passes the profile's)."""
        self._gatt = gatt

    async def identify(self) -> LinkIdentity:
        """Scan for the device and say what it advertises (the client matches it against
        the device profiles).

        What the scan found is kept: connecting does not scan again.
        """
        if self._device is None or self._advertisement is None:
            await self._find()
        device, adv = self._device, self._advertisement
        assert device is not None and adv is not None
        names = {device.address, adv.local_name or "", device.name or ""}
        return LinkIdentity(
            keys=tuple(sorted(n for n in names if n)),
            advertisement=Advertisement(
                adv.local_name or device.name or "",
                tuple(adv.service_uuids),
                dict(adv.manufacturer_data),
                dict(adv.service_data),
            ),
        )

    async def _find(self) -> BLEDevice:
        kwargs = scanner_kwargs(self._scanner_backend)
        target = self.target
        heard: list[AdvertisementData] = []

        def wanted(device: BLEDevice, adv: AdvertisementData) -> bool:
            if self.by_address:
                hit = device.address.upper() == target.upper()
            else:
                hit = target in (adv.local_name, device.name)
            if hit:
                heard.append(adv)
            return hit

        found = await BleakScanner.find_device_by_filter(
            wanted, timeout=self.scan_timeout, **kwargs
        )
        if found is None:
            raise ConnectionFailed(
                f"no BLE device {'at' if self.by_address else 'named'} {target!r} found "
                f"within {self.scan_timeout:g} s of scanning"
            )
        self._device, self._advertisement = found, heard[-1]
        return found

    async def read_battery(self) -> int | None:
        """The Battery Level characteristic in percent (``None`` when there is none)."""
        client, battery = self._client, self._battery
        if client is None or battery is None:
            return None
        try:
            data = await client.read_gatt_char(battery)
        except BleakError as exc:
            raise ConnectionError(
                f"reading the battery of {self.description} failed: {exc}"
            ) from exc
        return data[0] if data else None

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
            self._device = self._advertisement = None  # scan again next time
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        self._device = device
        gatt = self.gatt
        try:
            service = client.services.get_service(gatt.service)
            rx = service.get_characteristic(gatt.write) if service is not None else None
            tx = service.get_characteristic(gatt.notify) if service is not None else None
            if rx is None or tx is None:
                # Found by UUID under whichever service holds them: a device may
                # advertise one service and serve its characteristics under another.
                rx = rx or client.services.get_characteristic(gatt.write)
                tx = tx or client.services.get_characteristic(gatt.notify)
            if rx is None or tx is None:
                raise ConnectionFailed(
                    f"{self.description} has no service {gatt.service} with write "
                    f"{gatt.write} and notify {gatt.notify}: not the device profile's "
                    "endpoints (name another with device_profile= or gatt=)"
                )
            self._client = client
            self._rx = rx
            self._battery = (
                client.services.get_characteristic(gatt.battery) if gatt.battery else None
            )
            self._response = "write-without-response" not in rx.properties
            self._mtu = max(nmp_gatt.DEFAULT_ATT_MTU, client.mtu_size) - ATT_HEADER
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
