"""``ble://AA:BB:CC:DD:EE:FF`` or ``ble://NAME``: a massager over Bluetooth Low Energy.

The transport finds the device with bleak's ``BleakScanner``, connects through
``bleak_retry_connector.establish_connection`` with its
``BleakClientWithServiceCache`` (retries, service cache; when the expected
characteristics are missing it clears the cache and connects once more),
writes to the write characteristic in pieces of the characteristic's
``max_write_without_response_size`` (the negotiated ATT MTU minus 3, read at
each write: some stacks settle the MTU after connecting), takes the device's
bytes from notifications and reports bleak's disconnect callback as a lost
link. ``ble://NAME?adapter=hci1`` picks the Bluetooth adapter (BlueZ).

Where the platform's Bluetooth cannot be used at all (no adapter, powered off,
no permission, BlueZ or D-Bus not running), scanning and connecting raise
:class:`~massager_sdk.errors.BluetoothUnavailable` saying why.

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
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from bleak import BleakScanner
from bleak.args.bluez import OrPattern
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError
from bleak_retry_connector import BleakClientWithServiceCache, clear_cache, establish_connection
from massager_protocols.nmp import gatt as nmp_gatt

from massager_sdk.errors import BluetoothUnavailable, ConnectionFailed
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


def passive_scanning_offered(scanner: type[BaseBleakScanner] | None = None) -> bool:
    """Whether passive scanning can be asked for: not from CoreBluetooth (macOS), which
    scans actively only; any injected backend decides for itself."""
    chosen = scanner or DEFAULT_BACKENDS.scanner
    return chosen is not None or sys.platform != "darwin"


def scanner_kwargs(
    scanner: type[BaseBleakScanner] | None,
    *,
    adapter: str | None = None,
    passive: bool = False,
    or_patterns: Sequence[OrPattern] = (),
    service_uuids: list[str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``BleakScanner``: the backend (none for the platform's),
    the adapter (BlueZ), passive scanning where the platform offers it (else
    active), and a service filter.

    BlueZ scans passively only through advertisement monitors, which need
    ``or_patterns`` (what to listen for): without them the platform's scanner
    scans actively.
    """
    chosen = scanner or DEFAULT_BACKENDS.scanner
    kwargs: dict[str, Any] = {} if chosen is None else {"backend": chosen}
    bluez: dict[str, Any] = {}
    if adapter:
        bluez["adapter"] = adapter
    if passive and passive_scanning_offered(scanner) and (chosen is not None or or_patterns):
        kwargs["scanning_mode"] = "passive"
        if chosen is None:
            bluez["or_patterns"] = list(or_patterns)
    if bluez:
        kwargs["bluez"] = bluez
    if service_uuids:
        kwargs["service_uuids"] = list(service_uuids)
    return kwargs


@contextlib.contextmanager
def bluetooth_errors() -> Iterator[None]:
    """Turn "the platform has no usable Bluetooth" into :class:`BluetoothUnavailable`."""
    try:
        yield
    except BleakBluetoothNotAvailableError as exc:
        reason = exc.reason.name.lower().replace("_", " ")
        raise BluetoothUnavailable(f"{exc.args[0]} ({reason})") from exc
    except BleakDBusError as exc:
        if exc.dbus_error in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.bluez.Error.NotReady",
            "org.freedesktop.DBus.Error.AccessDenied",
        ):
            raise BluetoothUnavailable(
                f"BlueZ said {exc.dbus_error} ({exc.dbus_error_details or 'no details'}): "
                "is bluetoothd running, the adapter powered on, and may this user use it?"
            ) from exc
        raise
    except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
        # bleak reaches BlueZ over the D-Bus system bus; on Linux a missing socket
        # is the usual sign of a machine or container without Bluetooth.
        raise BluetoothUnavailable(
            f"cannot reach the system's Bluetooth service ({exc.strerror or exc}); on "
            "Linux bleak needs BlueZ and the D-Bus system bus (in a container: mount "
            "/run/dbus and give it the host's Bluetooth)"
        ) from exc
    except BleakError as exc:
        if "adapter" in str(exc).lower() and "not found" in str(exc).lower():
            raise BluetoothUnavailable(str(exc)) from exc
        raise


def is_address(text: str) -> bool:
    """Whether ``text`` is a Bluetooth address (or a macOS peripheral UUID)."""
    return bool(_ADDRESS.match(text) or _UUID.match(text))


class BleTransport(Transport):
    """Bytes over a GATT service: writes to one characteristic, notifications of another."""

    scheme: ClassVar[str] = "ble"
    url_forms: ClassVar[tuple[str, ...]] = (
        "ble://AA:BB:CC:DD:EE:FF",
        "ble://NAME",
        "ble://NAME?adapter=hci1",
    )
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
        adapter: str | None = None,
        ble_device_callback: Callable[[], BLEDevice] | None = None,
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
        self._client: BleakClientWithServiceCache | None = None
        self._rx: BleakGATTCharacteristic | None = None
        self._battery: BleakGATTCharacteristic | None = None
        self._response = False
        self.adapter = adapter
        self._ble_device_callback = ble_device_callback

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> BleTransport:
        """``ble://ADDRESS`` or ``ble://NAME``, with ``?adapter=NAME`` to pick the
        adapter; options ``client_backend``, ``scanner_backend``, ``scan_timeout``,
        ``connect_attempts``, ``min_gap_s``, ``gatt``, ``adapter`` and
        ``ble_device_callback`` (returns the freshest ``BLEDevice`` for a retry, as
        a long-running scanner knows it)."""
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
                "adapter",
                "ble_device_callback",
            },
        )
        if url.path not in ("", "/") or url.fragment:
            raise bad_url(text, "a BLE URL has only an address or a name", cls.url_forms)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"adapter"})
        if unknown:
            raise bad_url(
                text, f"unknown parameter {unknown[0]!r}: a BLE URL takes adapter=", cls.url_forms
            )
        if "adapter" in query:
            adapters = query["adapter"]
            if len(adapters) != 1 or not re.fullmatch(r"[A-Za-z0-9_.:-]+", adapters[0]):
                raise bad_url(text, "adapter= takes one adapter name, e.g. hci1", cls.url_forms)
            options.setdefault("adapter", adapters[0])
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
        """The most one write carries: the write characteristic's
        ``max_write_without_response_size`` (ATT MTU - 3), 20 before connecting."""
        rx = self._rx
        if rx is None:
            return nmp_gatt.DEFAULT_ATT_MTU - ATT_HEADER
        return max(nmp_gatt.DEFAULT_ATT_MTU - ATT_HEADER, rx.max_write_without_response_size)

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
        kwargs = scanner_kwargs(self._scanner_backend, adapter=self.adapter)
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

        try:
            with bluetooth_errors():
                found = await BleakScanner.find_device_by_filter(
                    wanted, timeout=self.scan_timeout, **kwargs
                )
        except BleakError as exc:
            raise ConnectionFailed(f"scanning for {self.description} failed: {exc}") from exc
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
        # The freshest BLEDevice the caller's own scanner has, else what the last
        # scan found: a device that dropped the link is often reachable again
        # before it is heard advertising.
        fresh = self._ble_device_callback() if self._ble_device_callback else None
        device = fresh or self._device or await self._find()
        gatt = self.gatt
        client = await self._connect(device, use_services_cache=True)
        endpoints = self._endpoints(client, gatt)
        if endpoints is None:
            # A stale service cache (the device's firmware changed) looks like a
            # device without the characteristics: clear it and ask the device again.
            await self._drop(client)
            if (self._client_backend or DEFAULT_BACKENDS.client) is None:
                with contextlib.suppress(Exception):  # the platform's cache (BlueZ) only
                    await clear_cache(device.address)
            client = await self._connect(device, use_services_cache=False)
            endpoints = self._endpoints(client, gatt)
        if endpoints is None:
            await self._drop(client)
            raise ConnectionFailed(
                f"{self.description} has no service {gatt.service} with write "
                f"{gatt.write} and notify {gatt.notify}: not the device profile's "
                "endpoints (name another with device_profile= or gatt=)"
            )
        rx, tx = endpoints
        try:
            self._client = client
            self._rx = rx
            self._battery = (
                client.services.get_characteristic(gatt.battery) if gatt.battery else None
            )
            self._response = "write-without-response" not in rx.properties
            await client.start_notify(tx, self._notified)
        except BaseException:
            self._client = None
            await self._drop(client)
            raise

    async def _connect(
        self, device: BLEDevice, *, use_services_cache: bool
    ) -> BleakClientWithServiceCache:
        backend = self._client_backend or DEFAULT_BACKENDS.client
        extra: dict[str, Any] = {} if backend is None else {"backend": backend}
        if self.adapter:
            extra["bluez"] = {"adapter": self.adapter}
        try:
            with bluetooth_errors():
                client = await establish_connection(
                    BleakClientWithServiceCache,
                    device,
                    self.target,
                    disconnected_callback=self._disconnected,
                    max_attempts=self.connect_attempts,
                    ble_device_callback=self._ble_device_callback,
                    use_services_cache=use_services_cache,
                    **extra,
                )
        except BluetoothUnavailable:
            raise
        except (BleakError, TimeoutError, OSError) as exc:
            self._device = self._advertisement = None  # scan again next time
            raise ConnectionFailed(f"cannot connect to {self.description}: {exc}") from exc
        self._device = device
        return client

    @staticmethod
    def _endpoints(
        client: BleakClientWithServiceCache, gatt: GattEndpoints
    ) -> tuple[BleakGATTCharacteristic, BleakGATTCharacteristic] | None:
        service = client.services.get_service(gatt.service)
        rx = service.get_characteristic(gatt.write) if service is not None else None
        tx = service.get_characteristic(gatt.notify) if service is not None else None
        # Else by UUID under whichever service holds them: a device may advertise
        # one service and serve its characteristics under another (Tuya: A201, 1910).
        rx = rx or client.services.get_characteristic(gatt.write)
        tx = tx or client.services.get_characteristic(gatt.notify)
        return None if rx is None or tx is None else (rx, tx)

    @staticmethod
    async def _drop(client: BleakClientWithServiceCache) -> None:
        with contextlib.suppress(BleakError):
            await client.disconnect()

    def _notified(self, sender: BleakGATTCharacteristic, data: bytearray) -> None:
        self._deliver(bytes(data))

    def _disconnected(self, client: BleakClientWithServiceCache) -> None:
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
