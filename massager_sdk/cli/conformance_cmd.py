"""``massager conformance``: the NMP/1 conformance suite against a device."""

from __future__ import annotations

import argparse
import asyncio
import math
import urllib.parse
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.cli.output import console, emit_json, is_terminal

T = TypeVar("T")


def conformance(args: argparse.Namespace) -> int:
    """Run every check, print a pass/fail table; exit 1 if a required check failed
    (or a recommended one, with ``--strict``).

    A device in authenticated mode is checked with ``--key`` (its secret, kept
    in memory for the run) or the key the key store holds for its serial."""
    from massager_sdk.conformance import CHECKS, CheckResult, run_conformance, run_failed
    from massager_sdk.keys import remember

    if getattr(args, "key", None):
        from massager_protocols.nmp.auth import KeyFormatError, parse_key

        try:
            remember(parse_key(args.key))  # for this run only: nothing is written
        except KeyFormatError as exc:
            raise ValueError(f"--key: {exc}") from None

    spoken = asyncio.run(_protocol_of(args.device))
    if spoken is not None and spoken != "nmp1":
        raise ValueError(
            f"{args.device} speaks {spoken}, not NMP/1: the conformance suite checks NMP/1 "
            "devices (protocols/specs/nmp1.md); nothing was run"
        )
    out = console()
    if args.json:

        def show(result: CheckResult) -> None:
            emit_json(result.to_dict())

        results = _run(run_conformance(args.device, on_result=show), args.device)
    elif is_terminal():
        from rich.progress import Progress

        with Progress(console=out, transient=True) as progress:
            task = progress.add_task(f"NMP/1 conformance on {args.device}", total=len(CHECKS))

            def tick(result: CheckResult) -> None:
                progress.update(task, advance=1, description=result.name)

            results = _run(run_conformance(args.device, on_result=tick), args.device)
    else:

        def line(result: CheckResult) -> None:
            print(f"{_mark(result, plain=True)}  §{result.section}  {result.name}", flush=True)

        results = _run(run_conformance(args.device, on_result=line), args.device)
    strict = bool(getattr(args, "strict", False))
    if not args.json:
        _table(out, results, args.device)
    return ExitCode.FAILED if run_failed(results, strict=strict) else ExitCode.OK


def _run(main: Coroutine[Any, Any, T], url: str) -> T:
    """Run the suite; on a virtual clock when the device is the embedded simulator.

    A ``sim://`` device lives in this process, on this loop's clock, so the checks
    that wait for minutes of device time (a pad heating to its cut-off, a battery
    draining) take a moment instead of minutes; the device cannot tell. Any other
    device keeps real time.
    """
    if urllib.parse.urlsplit(url).scheme == "sim":
        from massager_simulator.clock import run as run_on_clock

        return run_on_clock(main, speed=math.inf)
    return asyncio.run(main)


async def _protocol_of(url: str) -> str | None:
    """The protocol the link says the device speaks before any is spoken (``None``: unknown).

    The URL's ``protocol=`` or ``tuya+`` scheme, or what the link knows (a
    simulated model, a BLE advertisement); a serial or TCP link says nothing.
    """
    import urllib.parse

    from massager_sdk.transports import IdentifyingTransport, open_transport

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if "protocol" in query:
        return query["protocol"][-1]
    transport = open_transport(url)
    try:
        if isinstance(transport, IdentifyingTransport):
            return (await transport.identify()).protocol
    finally:
        await transport.close()
    return None


def _mark(result: object, *, plain: bool = False) -> str:
    """PASS, FAIL (a MUST of the spec), WARN (a SHOULD) or N/T (not testable here)."""
    from massager_sdk.conformance import CheckResult

    assert isinstance(result, CheckResult)
    if not result.tested:
        return "N/T " if plain else "[dim]n/t[/]"
    if result.passed:
        return "PASS" if plain else "[green]pass[/]"
    if result.required:
        return "FAIL" if plain else "[bold red]FAIL[/]"
    return "WARN" if plain else "[yellow]warn[/]"


def _table(out: object, results: Sequence[object], device: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from massager_sdk.conformance import CheckResult

    assert isinstance(out, Console)
    table = Table(title=f"NMP/1 conformance: {device}")
    table.add_column("§")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    table.add_column("s", justify="right")
    for r in results:
        assert isinstance(r, CheckResult)
        table.add_row(r.section, r.name, _mark(r), r.detail, f"{r.seconds:.2f}")
    out.print(table)
    done = [r for r in results if isinstance(r, CheckResult)]
    required = [r for r in done if r.required and r.tested]
    recommended = [r for r in done if not r.required and r.tested]
    untested = [r for r in done if not r.tested]
    line = f"{sum(r.passed for r in required)}/{len(required)} checks passed"
    if recommended:
        line += f", {sum(r.passed for r in recommended)}/{len(recommended)} recommended"
    if untested:
        line += f", {len(untested)} not testable here (the detail says why)"
    out.print(line)
