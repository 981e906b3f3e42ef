"""``massager history``: the safety history of each device, from the session ledger.

Only the standard library is imported at module level (the parser imports it).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from typing import TypeVar

HANDLER = "massager_sdk.cli.history_cmd:"
P = TypeVar("P", bound=argparse.ArgumentParser)


def add_history_parser(sub: argparse._SubParsersAction[P]) -> None:
    """Register ``history`` and ``history show`` on the top-level subparsers."""
    parser = sub.add_parser(
        "history",
        help="past sessions: length, peak temperature, thermal dose, how each ended",
        description=textwrap.dedent(
            """
            The session ledger: every session of every device, from every face
            (command line, Python, MQTT bridge). Newest first."""
        ).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  massager history\n  massager history --device NMP-SIM --json\n"
        "  massager history show 12 --plot session.png",
    )
    parser.set_defaults(handler=HANDLER + "history_list")
    _common(parser)
    parser.add_argument(
        "--device", dest="only", metavar="MODEL[/SERIAL]", help="only this device or model"
    )
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")
    verbs = parser.add_subparsers(title="history verbs", metavar="VERB")
    show = verbs.add_parser(
        "show",
        help="one session: its telemetry and events",
        description="One session: levels, heat target and temperature over time, and events.",
    )
    show.set_defaults(handler=HANDLER + "history_show")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--plot", metavar="FILE", help="write a .png or .svg plot (needs matplotlib)")
    _common(show)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", metavar="FILE", help="the ledger (default: $MASSAGER_LEDGER)")
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def history_list(args: argparse.Namespace) -> int:
    """Print recent sessions, one line each."""
    from massager_sdk.cli.output import emit_json
    from massager_sdk.safety.history import history

    if args.limit < 1:
        raise ValueError(f"--limit must be 1 or more, not {args.limit}")
    records = history(args.only, limit=args.limit, path=args.ledger)
    if args.json:
        emit_json([r.to_dict() for r in records])
        return 0
    if not records:
        print("no sessions recorded")
        return 0
    rows = [("ID", "DEVICE", "START", "LENGTH", "PEAK C", "DOSE", "PEAK LEVELS", "HOW IT ENDED")]
    for r in records:
        rows.append(
            (
                str(r.id),
                r.device,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)),
                _mmss(r.length_s),
                "-" if r.peak_temp_c is None else f"{r.peak_temp_c:g}",
                f"{r.peak_dose_min:.2f}",
                "/".join(str(v) for v in r.peak_levels) or "-",
                r.how_it_ended,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def history_show(args: argparse.Namespace) -> int:
    """Print one session; ``--plot`` writes its plot."""
    from massager_sdk.cli.exitcodes import ExitCode
    from massager_sdk.cli.output import emit_json
    from massager_sdk.safety.history import open_session, plot_session

    try:
        detail = open_session(args.id, args.ledger)
    except KeyError:
        print(f"massager: no session {args.id}; `massager history` lists them", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.plot:
        path = plot_session(detail, args.plot)
    if args.json:
        emit_json(detail.to_dict())
    else:
        r = detail.record
        print(f"session {r.id}: {r.device}")
        print(f"  started      {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.started))}")
        print(f"  on-time      {_mmss(r.length_s)} (session clock {_mmss(r.on_s)})")
        print(f"  heat contact {_mmss(r.contact_s)}")
        peak = "-" if r.peak_temp_c is None else f"{r.peak_temp_c:g} C"
        print(f"  peak temp    {peak}")
        print(f"  thermal dose {r.peak_dose_min:.2f} equivalent min at 44 C (peak)")
        print(f"  peak levels  {'/'.join(str(v) for v in r.peak_levels) or '-'}")
        print(f"  ended        {r.how_it_ended}")
        print(f"  refusals     {r.refusals}; {len(detail.samples)} telemetry samples")
        for event in detail.events:
            offset = _mmss(max(0.0, event.t - r.started))
            print(f"  {offset}  {event.kind}: {event.detail}")
    if args.plot and not args.json:
        print(f"wrote {path}")
    return 0


def _mmss(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
