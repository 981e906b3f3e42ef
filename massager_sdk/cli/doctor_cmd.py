"""``massager doctor``: is this computer ready to drive a massager?

One line per check, ``ok``, ``warn`` or ``FAIL``, each saying what was found and,
when something is wrong, what to do. ``FAIL`` (exit 1) is for what is broken
(an invalid file, an unreachable broker that was asked for, serial ports that
cannot be opened); ``warn`` for what only limits the choice of link (no
Bluetooth on a machine used over serial) or is still to be done once.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import glob
import os
import sys
from collections.abc import Callable
from typing import Literal

from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json

Level = Literal["ok", "warn", "FAIL"]


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One finding."""

    name: str
    level: Level
    detail: str


def doctor(args: argparse.Namespace) -> int:
    """Run every check, print a line for each; exit 1 when one fails."""
    checks: list[Callable[[], list[Check]]] = [
        _python,
        _dbus_and_bluez,
        _serial_ports,
        _device_file,
        _safety_profile,
    ]
    found: list[Check] = []
    for check in checks:
        found += check()
    if args.broker:
        found.append(asyncio.run(_broker(args.broker)))
    if args.json:
        emit_json([dataclasses.asdict(c) for c in found])
    else:
        out = console()
        for c in found:
            out.print(f"{c.level:<4}  {c.name:<14} {c.detail}", markup=False, highlight=False)
    failed = any(c.level == "FAIL" for c in found)
    return ExitCode.FAILED if failed else ExitCode.OK


def _python() -> list[Check]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk = version("massager-sdk")
    except PackageNotFoundError:
        sdk = "not installed"
    py = ".".join(str(v) for v in sys.version_info[:3])
    return [Check("python", "ok", f"Python {py}, massager-sdk {sdk}, {sys.platform}")]


def _dbus_and_bluez() -> list[Check]:
    if not sys.platform.startswith("linux"):
        # bleak talks to CoreBluetooth or WinRT directly: nothing to check from here.
        return [Check("bluetooth", "ok", f"{sys.platform}: bleak uses the system's own stack")]
    adapters = sorted(os.path.basename(p) for p in glob.glob("/sys/class/bluetooth/hci*"))
    out = []
    bus, bluez = asyncio.run(_ask_dbus())
    if bus is not None:
        out.append(
            Check(
                "d-bus",
                "warn",
                f"the system bus cannot be reached ({bus}): ble:// "
                "URLs will not work; start dbus (a container needs /run/dbus mounted)",
            )
        )
    else:
        out.append(Check("d-bus", "ok", "system bus reachable"))
        if bluez:
            out.append(Check("bluez", "ok", "bluetoothd (org.bluez) is running"))
        else:
            out.append(
                Check(
                    "bluez",
                    "warn",
                    "bluetoothd (org.bluez) is not on the system bus: "
                    "install and start BlueZ (systemctl start bluetooth)",
                )
            )
    if adapters:
        out.append(Check("adapter", "ok", ", ".join(adapters)))
    else:
        out.append(
            Check(
                "adapter",
                "warn",
                "no Bluetooth adapter (/sys/class/bluetooth is "
                "empty): ble:// URLs need one; serial, tcp and sim:// still work",
            )
        )
    return out


async def _ask_dbus() -> tuple[str | None, bool]:
    """``(why the system bus is unreachable or None, whether org.bluez is on it)``."""
    from dbus_fast import BusType, Message
    from dbus_fast.aio import MessageBus

    try:
        async with asyncio.timeout(3):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except Exception as exc:  # any failure to connect is the finding itself
        return (str(exc) or type(exc).__name__), False
    try:
        async with asyncio.timeout(3):
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=["org.bluez"],
                )
            )
        return None, bool(reply is not None and reply.body and reply.body[0])
    except Exception:
        return None, False
    finally:
        bus.disconnect()


def _serial_ports() -> list[Check]:
    from serial.tools import list_ports

    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        return [Check("serial ports", "ok", "none found (plug in a USB serial device to use one)")]
    out = []
    for port in ports:
        what = port.description if port.description and port.description != "n/a" else ""
        if port.vid is not None and port.pid is not None:
            what += f" [{port.vid:04x}:{port.pid:04x}]"
        usable = os.access(port.device, os.R_OK | os.W_OK)
        if usable:
            out.append(Check("serial port", "ok", f"serial://{port.device}  {what}".rstrip()))
        else:
            out.append(
                Check(
                    "serial port",
                    "FAIL",
                    f"{port.device}: no read/write permission"
                    f"{_group_hint(port.device)}  {what}".rstrip(),
                )
            )
    return out


def _group_hint(device: str) -> str:
    try:
        import grp  # Unix only

        group = grp.getgrgid(os.stat(device).st_gid).gr_name
    except (ImportError, OSError, KeyError):
        return ""
    return f"; add yourself to the group {group!r} (sudo usermod -aG {group} $USER, log in again)"


def _device_file() -> list[Check]:
    from massager_sdk.profiles.loader import ProfileError
    from massager_sdk.profiles.overrides import default_devices_path, load_devices

    path = default_devices_path()
    if not path.is_file():
        return [Check("device file", "ok", f"{path}: none (optional: names and safer limits)")]
    try:
        devices = load_devices(path)
    except ProfileError as exc:
        return [Check("device file", "FAIL", str(exc))]
    named = [d.name or d.pattern for d in devices.devices]
    return [Check("device file", "ok", f"{path}: {len(named)} device(s) {', '.join(named)}")]


def _safety_profile() -> list[Check]:
    from massager_sdk.safety import profile_status

    state = profile_status()
    if state.state == "ready":
        return [Check("health profile", "ok", f"{state.path}: acknowledged")]
    if state.state == "invalid":
        return [Check("health profile", "FAIL", f"{state.path}: {state.error}")]
    return [
        Check(
            "health profile",
            "warn",
            f"{state.path}: {state.state}; set and run need it: massager health acknowledge",
        )
    ]


async def _broker(url: str) -> Check:
    import urllib.parse

    parts = urllib.parse.urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        return Check("broker", "FAIL", f"{url!r}: use mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        async with asyncio.timeout(3):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except (OSError, TimeoutError) as exc:
        why = "no answer within 3 s" if isinstance(exc, TimeoutError) else exc.strerror or exc
        return Check("broker", "FAIL", f"{parts.hostname}:{port} cannot be reached: {why}")
    writer.close()
    return Check("broker", "ok", f"{parts.hostname}:{port} accepts connections")
