"""Serve a simulated device on a pseudo-terminal, TCP or Bluetooth until stopped.

``python -m massager_simulator --tcp 127.0.0.1:0`` (and ``massager
simulate``) print the URL to connect to on the first line of standard
output, then serve until SIGINT or SIGTERM; the exit status is then 0.
``--ble HCI`` serves as a BLE peripheral through a Bluetooth controller
(the ``bumble`` extra; see :mod:`massager_simulator.bumble.hci`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import math
import signal
import sys
from collections.abc import Sequence

from massager_simulator import clock
from massager_simulator.device import SimulatedDevice
from massager_simulator.faults import FaultConfig
from massager_simulator.model import DEFAULT_MODEL, DeviceModel, ModelError, list_models, load_model
from massager_simulator.pty_link import open_pty
from massager_simulator.tcp import serve_tcp
from massager_simulator.testmode import offering

#: The shortest watchdog a served device keeps, in real time. Its host is another process,
#: which a loaded machine may leave without a CPU for tens of milliseconds; at ``--speed X``
#: that is X times as much device time, and the models' 3 s watchdog (3 ms of real time at
#: 1000x) would stop the device whenever the host waited for a CPU. The longer watchdog is
#: what INFO reports, so the host's keepalive (a third of it) follows.
SERVED_WATCHDOG_REAL_S = 0.06
#: The longest watchdog INFO can carry (an unsigned 16-bit count of milliseconds).
WATCHDOG_MAX_MS = 0xFFFF


def served_model(model: DeviceModel, speed: float) -> DeviceModel:
    """``model`` as served at ``speed``: a watchdog of at least ``SERVED_WATCHDOG_REAL_S``
    of real time (as long as INFO can carry it); unchanged where the model's is longer."""
    floor_ms = min(WATCHDOG_MAX_MS, math.ceil(SERVED_WATCHDOG_REAL_S * speed * 1000))
    if model.watchdog_ms >= floor_ms:
        return model
    return dataclasses.replace(model, watchdog_ms=floor_ms)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of the serving entry point."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a simulated neck massager on a pseudo-terminal, TCP or Bluetooth LE. "
        "The first line printed is the device URL to connect to; it serves until SIGINT "
        "or SIGTERM.",
        epilog="examples:\n"
        "  %(prog)s --tcp 127.0.0.1:0                      a free port, printed first\n"
        "  %(prog)s --serial --model neck2                 a pseudo-terminal\n"
        "  %(prog)s --tcp 127.0.0.1:7000 --speed 10 --fault corrupt=0.01 --seed 1\n"
        "  %(prog)s --tcp 127.0.0.1:0 --test-mode          built for test (NMP/1 section 12)\n"
        "  %(prog)s --ble usb:0                            a BLE peripheral on a USB controller",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--serial", action="store_true", help="serve on a new pseudo-terminal (serial:///dev/pts/N)"
    )
    where.add_argument(
        "--tcp", metavar="HOST:PORT", help="serve on TCP, e.g. 127.0.0.1:0 (0 picks a free port)"
    )
    where.add_argument(
        "--ble",
        metavar="HCI",
        help="serve as a BLE peripheral through the Bluetooth controller HCI, a bumble "
        "transport name: usb:0, serial:/dev/ttyACM0,1000000, hci-socket:0, "
        "tcp-client:HOST:PORT (needs the massager-simulator[bumble] extra)",
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"device model: {', '.join(list_models())}, or a .toml model file "
        f"(default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run the device clock this many times faster than real time (default 1); "
        "the URL (TCP or serial) then ends in ?speed=X, which tells a host to run its clock "
        "as fast",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"inject a fault (repeatable); names: {', '.join(FaultConfig.names())}",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --tcp listen on an address other than loopback (127.0.0.1, ::1, "
        "localhost): anyone who reaches it can drive the device",
    )
    parser.add_argument(
        "--test-mode",
        action="store_true",
        help="build the device for test: it offers NMP/1's test mode (spec section 12), in "
        "which a host injects faults over the link; a production device never does",
    )
    parser.add_argument("--seed", type=int, help="seed for the injected faults' randomness")
    parser.add_argument("--serial-number", help="serial number to report (default: the model's)")
    return parser


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a pair; ``ValueError`` if malformed."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"--tcp {text!r}: expected HOST:PORT, e.g. 127.0.0.1:0, with PORT 0..65535"
        )
    return host, int(port_text)


def check_loopback(host: str) -> None:
    """``ValueError`` unless ``host`` is a loopback address (or ``localhost``).

    A simulated device on another interface can be driven by anyone who reaches
    it: the command line serves one only when told so (``--allow-remote``).
    """
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a host name: it may resolve to anything
    if not loopback:
        raise ValueError(
            f"--tcp {host!r} is not a loopback address: anyone who reaches it could drive "
            "the simulated device; use 127.0.0.1, ::1 or localhost, or add --allow-remote"
        )


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the simulator command line; returns the exit status."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        model = load_model(args.model)
        if args.test_mode:
            if model.protocol != "nmp1":
                raise ValueError(
                    f"--test-mode: model {model.name} speaks {model.protocol}; test mode is NMP/1's"
                )
            model = offering(model)
        faults = FaultConfig.parse(args.fault)
        if args.seed is not None:
            faults = faults.replace(seed=args.seed)
        if not (args.speed > 0 and math.isfinite(args.speed)):
            raise ValueError(f"--speed {args.speed}: expected a finite number above 0")
        address = parse_hostport(args.tcp) if args.tcp else None
        if address is not None and not args.allow_remote:
            check_loopback(address[0])
    except (ModelError, ValueError) as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    served = served_model(model, args.speed)
    if served.watchdog_ms / 1000 / args.speed < SERVED_WATCHDOG_REAL_S:
        print(
            f"{parser.prog}: warning: at --speed {args.speed:g} the watchdog "
            f"({served.watchdog_ms} ms, the most INFO carries) is "
            f"{served.watchdog_ms / args.speed:.2g} ms of real time: a host in another "
            "process that waits that long for a CPU lets it stop the device",
            file=sys.stderr,
        )
    try:
        return clock.run(
            _serve(served, faults, address, args.serial_number, args.ble, args.speed),
            speed=args.speed,
            max_behind_s=clock.REMOTE_MAX_BEHIND_S,
        )
    except (OSError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1


async def _serve(
    model: DeviceModel,
    faults: FaultConfig,
    address: tuple[str, int] | None,
    serial: str | None,
    ble: str | None = None,
    speed: float = 1.0,
) -> int:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    device = SimulatedDevice(model, faults=faults, serial=serial)
    server: asyncio.Server | None = None
    radio = contextlib.AsyncExitStack()
    heard_as = ""
    try:
        await device.start()
        if ble is not None:
            try:
                from massager_simulator.bumble.hci import serve_ble
            except ImportError as exc:
                raise OSError(
                    f"--ble needs bumble: pip install 'massager-simulator[bumble]' ({exc})"
                ) from exc
            peripheral = await radio.enter_async_context(serve_ble(device, ble))
            url = f"ble://{peripheral.address}"
            heard_as = f", advertising as {peripheral.gatt.local_name!r} through {ble}"
        elif address is not None:
            host, port = address
            server, bound = await serve_tcp(device, host, port)
            url = f"tcp://[{host}]:{bound}" if ":" in host else f"tcp://{host}:{bound}"
        else:
            url = f"serial://{open_pty(device)}"
        if ble is None:
            # A host keeps the device's time only if it knows the device's speed.
            url += clock.speed_query(speed)
        print(url, flush=True)
        print(
            f"simulating {model.model} ({model.name}), serial {device.serial}{heard_as}; "
            "stop with Ctrl-C or SIGTERM",
            file=sys.stderr,
            flush=True,
        )
        await stopped.wait()
    finally:
        await radio.aclose()
        if server is not None:
            server.close()
        await device.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
