"""``massager info|status|set|stop|scan|profile``: talking to one device."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json, is_terminal
from massager_sdk.cli.speed import run_at_device_speed, speed_options

_log = logging.getLogger("massager_sdk")

if TYPE_CHECKING:
    from massager_sdk.client import Device
    from massager_sdk.model import DeviceStatus
    from massager_sdk.safety import HealthProfile

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")

WARNING_TEXT = """\
Before the first session: this software drives a device that touches your neck.
It is not medical software and gives no medical advice. Do not use a massager
with an acute flare-up, an injury of the spine or neck, cardiovascular disease,
high blood pressure, thrombosis, a fever or infection, skin damage in the area,
swollen lymph nodes, a tumour, or during pregnancy; see docs/safety.md for the
full list. A health profile can record what applies to you, and the safety policy
then refuses sessions or heat, or caps the intensity, accordingly."""


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h``, ``1m30s``; ``ValueError`` otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r}: use seconds (90, 90s), minutes (5m) or 1m30s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def health_profile(args: argparse.Namespace) -> HealthProfile:
    """The acknowledged health profile that output verbs need, asking on first use.

    ``--health-profile FILE`` names one; otherwise the default health profile is used. Without an
    acknowledged profile an interactive user is shown the warning and asked; a
    script gets a :class:`SafetyRefusal` that says how to acknowledge.
    """
    from massager_sdk.errors import SafetyRefusal
    from massager_sdk.safety import acknowledge, load_profile, profile_status

    path = getattr(args, "health_profile", None)
    status = profile_status(path)
    if status.state == "ready" and status.profile is not None:
        return status.profile
    if status.state == "invalid":
        raise SafetyRefusal(
            "health profile", str(status.path), "a valid profile", status.error or ""
        )
    if sys.stdin.isatty() and sys.stdout.isatty():
        print(WARNING_TEXT)
        try:
            answer = input(f"Type 'yes' to acknowledge (recorded in {status.path}): ")
        except EOFError:  # Ctrl-D: not a yes
            print()
            answer = ""
        except KeyboardInterrupt:
            print()
            raise NothingConnected from None
        if answer.strip().lower() == "yes":
            acknowledge(status.path)
            return load_profile(status.path)
    raise SafetyRefusal(
        "acknowledged health profile",
        status.state,
        "acknowledged",
        f"run `massager health acknowledge` once (or pass --health-profile FILE) after reading "
        f"docs/safety.md; profile path: {status.path}",
    )


class DeviceStoppedItself(Exception):
    """The device switched its outputs off on its own while a verb held them on
    (auto-off, watchdog, its button, a battery shutdown, another host's stop)."""


class DeviceStopWatch:
    """Notes the first event saying the device switched its outputs off on its own."""

    def __init__(self) -> None:
        #: Set when the device stopped.
        self.stopped = asyncio.Event()
        #: What stopped the device (``None``: nothing did).
        self.why: str | None = None

    def on_event(self, event: Any) -> None:
        """A device's ``on_event`` callback."""
        if self.why is None and event.kind.stops_outputs and event.raised:
            detail = f" ({event.detail})" if event.detail else ""
            self.why = f"{event.kind.value.replace('_', ' ')}{detail}"
            self.stopped.set()

    def check(self, name: str) -> None:
        """Raise :class:`DeviceStoppedItself` if the device stopped on its own."""
        if self.why is not None:
            raise DeviceStoppedItself(f"{name} stopped on its own: {self.why}")


def stopped_by_device(exc: DeviceStoppedItself) -> int:
    """The exit code when the device stopped itself, saying why on stderr."""
    print(f"massager: {exc}", file=sys.stderr)
    return ExitCode.STOPPED


class NothingConnected(KeyboardInterrupt):
    """Ctrl-C before any device was connected: there was nothing to stop."""


def interrupted(exc: BaseException, *, quiet: bool = False) -> int:
    """The exit code for Ctrl-C or SIGTERM, saying so on stderr (the device is stopped)."""
    if isinstance(exc, NothingConnected):
        print("interrupted before connecting: nothing was switched on", file=sys.stderr)
        return ExitCode.INTERRUPTED
    terminated = isinstance(exc, SystemExit)
    if not quiet:
        word = "terminated" if terminated else "interrupted"
        print(f"{word}: device stopped", file=sys.stderr)
    return ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED


def is_signal_exit(exc: SystemExit) -> bool:
    """Whether a ``SystemExit`` is the client's answer to SIGTERM."""
    return exc.code == ExitCode.TERMINATED


def add_device_profile_argument(parser: argparse.ArgumentParser) -> None:
    """``--device-profile NAME|FILE``: which device family ``--device`` is, when it
    cannot be recognised (a serial or TCP link to a non-NMP device)."""
    parser.add_argument(
        "--device-profile",
        metavar="NAME|FILE",
        help="device profile (yh-ems, tuya-neck, nmp or a .toml file): its protocol, "
        "GATT endpoints and capabilities (default: recognised from the device)",
    )


@asynccontextmanager
async def open_device(
    args: argparse.Namespace,
    *,
    health_profile: HealthProfile | None = None,
    control: bool = True,
    **options: Any,
) -> AsyncIterator[Device]:
    """Connect to ``--device`` (with ``--device-profile`` when given). Output verbs
    pass the :func:`health_profile` they checked before connecting. ``control=False``
    watches without taking control: the device is not stopped on connecting or
    leaving (``info``, ``status``), ``stop`` sends its one STOP_ALL, and Ctrl-C
    simply ends the verb."""
    import massager_sdk

    device_profile = getattr(args, "device_profile", None)
    async with massager_sdk.connect(
        args.device,
        health_profile=health_profile,
        device_profile=device_profile,
        install_signal_handlers=control,  # the signal stops a device this host drives
        control=control,
        **{**speed_options(args), **options},
    ) as device:
        yield device


# -- info / status -------------------------------------------------------------


def info(args: argparse.Namespace) -> int:
    """Print the device's capabilities."""
    import dataclasses

    async def main() -> tuple[Any, str]:
        async with open_device(args, control=False) as device:
            return device.info, device.name

    caps, name = run_at_device_speed(main(), args)
    if args.json:
        emit_json({**dataclasses.asdict(caps), "name": name})
        return ExitCode.OK
    from rich.table import Table
    from rich.text import Text

    title = name if name == caps.model else f"{name}: {caps.model}"
    table = Table(title=Text(f"{clean(title)} ({args.device})"), show_header=False)
    table.add_column("", style="bold")
    table.add_column("")

    def row(label: str, value: str) -> None:
        # Text, not markup: what the device says is shown as it is, never interpreted.
        table.add_row(label, Text(clean(value) or "unknown"))

    row("serial", caps.serial)
    row("firmware", caps.firmware)
    row("protocol", caps.protocol)
    row("zones", ", ".join(f"{z.index}: {z.name} ({z.position.name.lower()})" for z in caps.zones))
    table.add_row("intensity", f"0..{caps.intensity_steps}")
    heat = caps.heat
    table.add_row(
        "heat",
        "none"
        if heat is None
        else f"presets {', '.join(f'{t:g}' for t in heat.targets_c)} C, limit {heat.limit_c:g} C",
    )
    table.add_row("battery", "mains" if caps.battery_mah is None else f"{caps.battery_mah} mAh")
    table.add_row(
        "patterns",
        f"{caps.pattern_slots} slots of {caps.pattern_max_steps} steps"
        if caps.supports_patterns
        else "none",
    )
    table.add_row("watchdog", f"{caps.watchdog_s:g} s")
    table.add_row("auto-off", f"{caps.auto_off_default_s} s (max {caps.auto_off_max_s} s)")
    console().print(table)
    return ExitCode.OK


_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_][^\x1b]*?(?:\x1b\\|\x07)|[\x00-\x1f\x7f-\x9f]"
)


def clean(text: str) -> str:
    """A device-supplied string without terminal escape sequences or control characters."""
    return _CONTROL.sub("", text).strip()


def status_dict(device: Device, status: DeviceStatus, *, safety: bool = True) -> dict[str, Any]:
    """A status as the one state document (:class:`~massager_sdk.control.DeviceState`)
    with the device's own report, and this host's safety snapshot when ``safety``."""
    from massager_sdk.control.state import DeviceState, zone_keys

    snapshot = None
    if safety:
        snapshot = device.safety.snapshot(asyncio.get_running_loop().time()).to_dict()
    names = [zone.name for zone in device.info.zones]
    state = DeviceState(status, zone_keys(names), safety=snapshot, online=device.connected)
    data = state.to_dict(report=True)
    if not safety:  # a watcher's own policy says nothing about the device: no such fields
        for key in ("safety", "session_remaining_s", "thermal_dose_pct"):
            del data[key]
    return data


def _stamped(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the time it was seen, first (ISO 8601, UTC)."""
    import datetime

    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return {"time": now, **data}


def _status_line(data: dict[str, Any]) -> str:
    if "event" in data:
        state = {True: " raised", False: " cleared", None: ""}[data["active"]]
        detail = f": {clean(data['detail'])}" if data["detail"] else ""
        return f"event {data['event']}{state}{detail}"
    heat = data["heat_target_c"]
    temp = data["temperature_c"]
    parts = [
        "levels " + " ".join(str(v) for v in data["intensities"]),
        f"heat {'off' if heat is None else f'{heat:g} C'}",
        f"temp {'-' if temp is None else f'{temp:.1f} C'}",
        f"battery {'mains' if data['battery_pct'] is None else str(data['battery_pct']) + '%'}",
        f"auto-off {data['auto_off_s']} s",
    ]
    if data["faults"]:
        parts.append("faults " + ",".join(data["faults"]))
    return "  ".join(parts)


def status(args: argparse.Namespace) -> int:
    """Print the device's status once, or follow it (``--watch``), without taking control."""
    duration = parse_duration(args.for_) if args.for_ else None
    if duration is not None and not args.watch:
        raise ValueError("--for goes with --watch (status alone prints once)")
    out = console()

    def show(data: dict[str, Any]) -> None:
        if args.json:
            emit_json(data)
        elif args.watch:
            out.print(f"{data['time'][11:23]}  {_status_line(data)}", markup=False, highlight=False)
        else:
            out.print(_status_line(data), markup=False, highlight=False)

    async def main() -> None:
        async with open_device(args, control=False) as device:
            if not args.watch:
                show(status_dict(device, await device.status()))
                return
            # A watcher's lines: what the device said and when; no safety snapshot
            # (the watcher drives nothing, so its own policy says nothing about the device).
            show(_stamped(status_dict(device, await device.status(), safety=False)))
            await follow(device, duration, lambda data: show(_stamped(data)))

    try:
        run_at_device_speed(main(), args)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED  # a watcher leaves the device as it is
    return ExitCode.OK


async def follow(
    device: Device, duration: float | None, show: Callable[[dict[str, Any]], None]
) -> None:
    """Show what the device sends by itself (status, events) for ``duration`` (or forever).

    Nothing is asked of the device meanwhile: a device sends STATUS about once a
    second while anything is on, and every event.
    """
    from massager_sdk.model import DeviceStatus

    last_line = ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(duration):
            async for item in device.telemetry():
                if isinstance(item, DeviceStatus):
                    data = status_dict(device, item, safety=False)
                    line = _status_line(data)
                    if line != last_line:  # telemetry repeats itself while nothing changes
                        show(data)
                    last_line = line
                else:
                    show(
                        {
                            "event": item.kind.value,
                            "active": item.active,
                            "value": item.value,
                            "detail": item.detail,
                        }
                    )
            # The stream ended before the time was up: the link is gone for good.
            await device.status()  # raises why (ConnectionFailed: a device error)


# -- set -----------------------------------------------------------------------


def _parse_level(text: str) -> tuple[str, int]:
    zone, sep, level = text.partition("=")
    if not sep or not zone or not level.strip().isdigit():
        raise ValueError(f"bad --level {text!r}: use ZONE=LEVEL, e.g. 0=3 or 'left neck'=3")
    return zone.strip(), int(level)


def _parse_heat(text: str) -> float | None:
    if text.strip().lower() in ("off", "0", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"bad --heat {text!r}: a temperature in C (e.g. 40) or 'off'") from None


def set_(args: argparse.Namespace) -> int:
    """Hold the device at the requested setting with a live view until Ctrl-C or --for."""
    from massager_sdk.control import HEAT_OFF, Shape, parse_pattern
    from massager_sdk.model import Waveform

    duration = parse_duration(args.for_) if args.for_ else None
    heat = _parse_heat(args.heat) if args.heat is not None else None
    levels = [_parse_level(item) for item in args.level]
    pattern = parse_pattern(args.pattern, "--pattern") if args.pattern else None
    waveform = Waveform(args.waveform)
    if args.intensity is None and not levels and args.heat is None:
        raise ValueError("nothing to set: give --intensity, --level ZONE=N or --heat")
    if pattern is not None and args.intensity is None:
        raise ValueError("--pattern needs --intensity (the level the pattern is scaled to)")
    if waveform is not Waveform.CONSTANT and args.intensity is None:
        raise ValueError(f"--waveform {waveform.value} needs --intensity (the level it swings to)")
    zones = [int(z) if z.isdigit() else z for z in args.zone] if args.zone else None
    out = console()

    async def main() -> None:
        from massager_sdk.client import zones_of
        from massager_sdk.control import Controller, ControlRequest

        async with open_device(args, health_profile=person) as device:
            if args.heat is not None:
                check_heat(device, heat)  # before anything is sent
            watch = DeviceStopWatch()
            device.on_event(watch.on_event)  # from the first command on
            control = Controller(device)
            caps = device.info
            driven = zones_of(caps, zones)
            picked = tuple((zones_of(caps, int(z) if z.isdigit() else z)[0], n) for z, n in levels)
            heat_field = None if args.heat is None else HEAT_OFF if heat is None else heat
            shape = None
            if pattern is not None or waveform is not Waveform.CONSTANT:
                # The pattern or waveform shapes the --intensity zones; --level zones hold steady.
                shape = Shape(waveform, args.period, pattern, zones=driven)
            whole = ControlRequest(
                zones=tuple((i, args.intensity) for i in driven if args.intensity is not None)
                + picked,
                heat=heat_field,
                shape=shape,
            )
            # --for counts from the device's confirmation, but waiting for it is bounded by
            # --for too: a slow link must not keep the device on past it.
            loop = asyncio.get_running_loop()
            end = None if duration is None else loop.time() + duration
            # Every part (pattern or waveform included) is checked against the capabilities
            # and the safety policy before any is sent.
            await control.set_outputs(whole)
            try:
                async with asyncio.timeout_at(end):
                    await _unless_stopped(control.wait_acknowledged(), watch)
            except TimeoutError:
                _log.warning("%s did not confirm the setting within --for", device.describe())
            else:
                end = None if duration is None else loop.time() + duration
            watch.check(device.name)
            await hold(device, end, args.json, out, watch)
        if not args.json:
            out.print("device stopped", markup=False)

    try:
        person = health_profile(args)
        run_at_device_speed(main(), args)
    except KeyboardInterrupt as exc:
        return interrupted(exc, quiet=args.json)
    except SystemExit as exc:
        if not is_signal_exit(exc):
            raise
        return interrupted(exc, quiet=args.json)
    except DeviceStoppedItself as exc:
        return stopped_by_device(exc)
    return ExitCode.OK


def check_heat(device: Device, target: float | None) -> None:
    """Refuse a ``--heat`` the device cannot take, before anything is sent.

    The range comes from the capabilities the device reported (its INFO presets
    and limit), with the user's device file applied (``heat = false``).
    """
    if target is None:
        return
    caps = device.info
    heat = caps.heat
    if heat is None:
        why = (
            "its heater is disabled in your device file (heat = false)"
            if _heater_disabled_by_user(device)
            else "it has no heater"
        )
        raise ValueError(f"--heat {target:g}: {device.name} cannot heat: {why}; use --heat off")
    low = min(heat.targets_c, default=0.0)
    if not low <= target <= heat.limit_c:
        presets = ", ".join(f"{t:g}" for t in heat.targets_c)
        raise ValueError(
            f"--heat {target:g} is outside what {device.name} accepts: {low:g}..{heat.limit_c:g} C "
            f"(its presets: {presets} C), or off"
        )


def _heater_disabled_by_user(device: Device) -> bool:
    from massager_sdk.profiles.overrides import load_devices

    keys = (device.transport.description, device.info.serial, device.name)
    entry = load_devices().override(*keys)
    return entry is not None and entry.heat is False


async def _unless_stopped(waiting: Any, watch: DeviceStopWatch) -> None:
    """Await ``waiting`` unless the device stops on its own first."""
    task = asyncio.ensure_future(waiting)
    stopped = asyncio.ensure_future(watch.stopped.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        task.result()


async def hold(
    device: Device, end: float | None, json_lines: bool, out: Any, watch: DeviceStopWatch
) -> None:
    """Show live status until ``end`` (event-loop time; forever when ``None``).

    Raises :class:`DeviceStoppedItself` at once when ``watch`` sees the device
    switch its outputs off on its own: there is nothing left to hold.
    """
    loop = asyncio.get_running_loop()
    last_line = ""
    live = None
    if is_terminal() and not json_lines:
        from rich.live import Live

        live = Live(console=out, refresh_per_second=4, transient=False)
        live.start()
    try:
        while (end is None or loop.time() < end) and watch.why is None:
            data = status_dict(device, await device.status())
            line = _status_line(data)
            if json_lines:
                emit_json(data)
            elif live is not None:
                remaining = None if end is None else end - loop.time()
                live.update(_status_table(data, remaining, [z.name for z in device.info.zones]))
            elif line != last_line:
                out.print(line, markup=False, highlight=False)
            last_line = line
            wait = 1.0 if end is None else max(0.0, min(1.0, end - loop.time()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await watch.stopped.wait()
    finally:
        if live is not None:
            live.stop()
    watch.check(device.name)


def _status_table(data: dict[str, Any], remaining: float | None, zones: list[str]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="holding (Ctrl-C stops the device)", show_header=False, min_width=44)
    table.add_column("", style="bold")
    table.add_column("")
    for i, level in enumerate(data["intensities"]):
        name = clean(zones[i]) if i < len(zones) else f"zone {i}"  # the device names its zones
        table.add_row(Text(f"{i}: {name}"), "#" * level + f" {level}")
    heat = data["heat_target_c"]
    temp = data["temperature_c"]
    table.add_row("heat", "off" if heat is None else f"{heat:g} C")
    table.add_row("temperature", "-" if temp is None else f"{temp:.1f} C")
    battery = data["battery_pct"]
    table.add_row("battery", "mains" if battery is None else f"{battery} %")
    table.add_row("session left", f"{data['safety']['session_remaining_s']:.0f} s")
    if remaining is not None:
        table.add_row("--for left", f"{remaining:.0f} s")
    if data["faults"]:
        table.add_row("faults", ", ".join(data["faults"]))
    return table


# -- stop ----------------------------------------------------------------------


def stop(args: argparse.Namespace) -> int:
    """Stop every output and the heater."""

    async def main() -> None:
        from massager_sdk.control import Controller

        async with open_device(args, control=False) as device:
            await Controller(device).stop("stopped from the command line")

    run_at_device_speed(main(), args)
    if args.json:
        emit_json({"stopped": True, "device": args.device})
    else:
        console().print(f"stopped {args.device}", markup=False)
    return ExitCode.OK


# -- scan ----------------------------------------------------------------------


def scan(args: argparse.Namespace) -> int:
    """List massagers advertising over BLE (``--watch``: as they are heard)."""
    import dataclasses

    from massager_sdk.discovery import scan as ble_scan

    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"--timeout {args.timeout:g}: expected a number of seconds above 0")
    options: dict[str, Any] = {
        "all_devices": args.all,
        "adapter": args.adapter,
        "passive": args.passive,
    }
    if args.watch:
        return _watch(args, options)
    timeout = 5.0 if args.timeout is None else args.timeout

    async def main() -> list[Any]:
        if not args.simulate:
            return await ble_scan(timeout, **options)
        from massager_simulator.ble import SimulatedBleakScanner

        async with _simulated_air(args.simulate):
            return await ble_scan(timeout, backend=SimulatedBleakScanner, **options)

    out = console()
    if is_terminal() and not args.json:
        with out.status(f"scanning for {timeout:g} s..."):
            found = asyncio.run(main())
    else:
        found = asyncio.run(main())
    if args.json:
        emit_json([{**dataclasses.asdict(d), "url": d.url} for d in found])
        return ExitCode.OK
    if not found:
        out.print("no massagers found", markup=False)
        return ExitCode.OK
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="devices in range" if args.all else "massagers in range")
    for column in ("name", "address", "RSSI", "protocol", "device profile", "model", "URL"):
        table.add_column(column, overflow="fold")
    for d in found:
        # advertised names are not markup, nor terminal control sequences
        table.add_row(*(escape(clean(c)) for c in _scan_cells(d)))
    out.print(table)
    return ExitCode.OK


def _scan_cells(d: Any) -> tuple[str, ...]:
    return (
        d.name,
        d.address,
        str(d.rssi),
        d.protocol or "unknown",
        d.profile or "-",
        # An unknown device: what it advertised, so a device profile can be written for it.
        d.model or ("?" if d.known else f"seen: {d.seen}"),
        d.url,
    )


def _watch(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """``scan --watch``: a line per device as heard, until Ctrl-C or ``--timeout``."""
    import dataclasses

    from massager_sdk.discovery import watch

    async def report() -> None:
        backend: Any = None
        async with contextlib.AsyncExitStack() as stack:
            if args.simulate:
                from massager_simulator.ble import SimulatedBleakScanner

                await stack.enter_async_context(_simulated_air(args.simulate))
                backend = SimulatedBleakScanner
            async for d in watch(backend=backend, **options):
                if args.json:
                    emit_json({**dataclasses.asdict(d), "url": d.url})
                else:
                    print("  ".join(clean(c) for c in _scan_cells(d)), flush=True)

    async def main() -> None:
        if args.timeout is None:
            await report()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                await report()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        asyncio.run(main())
    return ExitCode.OK


@asynccontextmanager
async def _simulated_air(models: str) -> AsyncIterator[None]:
    """Simulated devices of ``models`` (comma-separated) advertising in this process."""
    from massager_simulator import SimulatedDevice, load_model
    from massager_simulator.ble import BLE_REGISTRY

    devices = [
        SimulatedDevice(load_model(name.strip()), serial=f"SCAN-{i + 1:03d}")
        for i, name in enumerate(models.split(","))
    ]
    for i, device in enumerate(devices):
        await device.start()
        BLE_REGISTRY.add(device, address=f"F0:00:00:00:00:{i + 1:02X}")
    try:
        yield
    finally:
        for device in devices:
            BLE_REGISTRY.remove(device.address or "")
            await device.stop()


# -- health profile ------------------------------------------------------------


def old_profile_verb(args: argparse.Namespace) -> int:
    """``massager profile ...``: the old name of ``massager health ...``."""
    print("massager: `massager profile` is deprecated: use `massager health`", file=sys.stderr)
    return health(args)


def health(args: argparse.Namespace) -> int:
    """Show, check or acknowledge the health profile."""
    from massager_sdk.safety import acknowledge, profile_status

    if args.action == "acknowledge":
        print(WARNING_TEXT)
        acknowledge(args.health_profile)
    state = profile_status(args.health_profile)
    data = {
        "path": str(state.path),
        "state": state.state,
        "error": state.error,
        "contraindications": sorted(str(c) for c in state.profile.contraindications)
        if state.profile
        else [],
    }
    if args.json:
        emit_json(data)
    else:
        out = console()
        out.print(f"health profile {data['path']}: {data['state']}", markup=False)
        if data["error"]:
            out.print(data["error"], markup=False)
        if data["contraindications"]:
            out.print("contraindications: " + ", ".join(data["contraindications"]), markup=False)
    ok = state.state == "ready"
    return ExitCode.OK if ok or args.action == "show" else ExitCode.FAILED
