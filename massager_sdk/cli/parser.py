"""The argument parser of ``massager``: every verb, its options and examples.

Only the standard library is imported here; handlers are named as
``"module:function"`` strings and imported when their verb runs.
"""

from __future__ import annotations

import argparse
import os
import textwrap

DEFAULT_DEVICE = "sim://"
DEVICE_HELP = (
    "device URL: sim://[MODEL] (the embedded simulator, default), "
    "serial:///dev/ttyUSB0?baud=115200, tcp://HOST:PORT, ble://AA:BB:CC:DD:EE:FF or ble://NAME "
    "(default: $MASSAGER_DEVICE or sim://)"
)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _verb(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: str,
    summary: str,
    *examples: str,
    description: str = "",
    add_help: bool = True,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        add_help=add_help,
        help=summary,
        description=textwrap.dedent(description).strip() or summary,
        epilog=_examples(*examples) if examples else None,
        formatter_class=_Formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def _speed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="sim:// only: run X times faster than real time (a device that `massager "
        "simulate --speed X` serves says its speed in its URL, ?speed=X)",
    )


def _device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--device",
        metavar="URL",
        default=os.environ.get("MASSAGER_DEVICE", DEFAULT_DEVICE),
        help=DEVICE_HELP,
    )
    parser.add_argument(
        "--device-profile",
        metavar="NAME|FILE",
        help="device profile (yh-ems, tuya-neck, nmp or a .toml file): its protocol, "
        "GATT endpoints and capabilities (default: recognised from the device)",
    )


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (JSON or JSON lines)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The complete ``massager`` parser."""
    parser = argparse.ArgumentParser(
        prog="massager",
        description=(
            "Drive neck massagers over BLE, serial or TCP, or the built-in simulator.\n"
            "Every verb that talks to a device takes --device URL (default sim://)."
        ),
        epilog=textwrap.dedent(
            """\
            examples:
              massager info                         the embedded simulator's capabilities
              massager run classic --speed 60       the classic session, 60x faster, simulated
              massager simulate --tcp 127.0.0.1:0   serve a simulated device over TCP
              massager protocol vectors             NMP/1 golden vectors

            exit codes: 0 ok, 1 failed check, 2 usage error, 3 device error,
                        4 safety refusal, 130 interrupted (device stopped)
            docs: docs/cli.md"""
        ),
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(title="verbs", metavar="VERB")

    # -- scan / info / status / set / stop ----------------------------------
    scan = _verb(
        sub,
        "scan",
        "massager_sdk.cli.device_cmd:scan",
        "list massagers advertising over Bluetooth LE",
        "massager scan",
        "massager scan --timeout 10 --all --json",
        "massager scan --simulate heat4,neck2     the simulator's devices, no radio needed",
    )
    scan.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (5)")
    scan.add_argument("--all", action="store_true", help="list unrecognised devices too")
    scan.add_argument(
        "--simulate", metavar="MODELS", help="scan simulated devices of these models instead"
    )
    _json(scan)

    info = _verb(
        sub,
        "info",
        "massager_sdk.cli.device_cmd:info",
        "show what the device is and can do",
        "massager info",
        "massager info --device tcp://127.0.0.1:7000 --json",
    )
    _device(info)
    _json(info)

    status = _verb(
        sub,
        "status",
        "massager_sdk.cli.device_cmd:status",
        "show the device's state (without taking control of it)",
        "massager status",
        "massager status --device serial:///dev/ttyUSB0 --json",
        "massager status --watch --device tcp://127.0.0.1:7000   follow another host's session",
        description="""
            Show the device's state once, or follow it with --watch: every status
            and event the device sends, until Ctrl-C or --for DURATION. It
            watches without taking control: a device another host runs keeps
            running, and --watch sends nothing while it follows.""",
    )
    _device(status)
    status.add_argument(
        "--watch", action="store_true", help="follow the device's status and events"
    )
    status.add_argument(
        "--for", dest="for_", metavar="DURATION", help="with --watch: stop following after it"
    )
    _json(status)

    setter = _verb(
        sub,
        "set",
        "massager_sdk.cli.device_cmd:set_",
        "hold the device at a setting (until Ctrl-C or --for)",
        "massager set --intensity 3                       every zone at level 3",
        "massager set --intensity 5 --zone 0 --zone 1 --for 5m",
        "massager set --level 0=2 --level 'right neck'=4 --heat 40",
        "massager set --intensity 6 --pattern 100/0.2,0/0.3 --for 30s",
        description="""
            Switch outputs on and hold them there with a live status view. A
            device stops by itself when its host goes away, so this command
            stays until Ctrl-C or --for DURATION, then stops the device. Every
            request passes the safety policy (limits, ramps, heat).""",
    )
    _device(setter)
    setter.add_argument("--intensity", type=int, metavar="N", help="level for the chosen zones")
    setter.add_argument(
        "--zone",
        action="append",
        metavar="ZONE",
        help="zone index or name (repeatable; default all)",
    )
    setter.add_argument(
        "--level",
        action="append",
        default=[],
        metavar="ZONE=N",
        help="one zone's level (repeatable)",
    )
    setter.add_argument("--heat", metavar="C|off", help="heater target in C, or off")
    setter.add_argument(
        "--waveform", choices=["constant", "pulse", "wave"], default="constant", help="(constant)"
    )
    setter.add_argument("--period", type=float, default=0.0, metavar="S", help="pulse/wave period")
    setter.add_argument("--pattern", metavar="P/S,...", help="loop: percent/seconds steps")
    setter.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 90s, 5m, 1m30s")
    _speed(setter)
    setter.add_argument("--profile", metavar="FILE", help="user profile (default: yours)")
    _json(setter)

    stop = _verb(
        sub,
        "stop",
        "massager_sdk.cli.device_cmd:stop",
        "stop every output and the heater now",
        "massager stop --device ble://NM-H4",
    )
    _device(stop)
    _json(stop)

    profile = _verb(
        sub,
        "profile",
        "massager_sdk.cli.device_cmd:profile",
        "show or acknowledge your safety profile",
        "massager profile show",
        "massager profile acknowledge",
        "MASSAGER_PROFILE=~/neck.toml massager profile check",
        description="""
            The safety profile records the contraindications that apply to you
            (see docs/safety.md) and that you read the safety warning. Verbs that
            switch outputs on need an acknowledged profile.""",
    )
    profile.add_argument("action", choices=["show", "check", "acknowledge"])
    profile.add_argument("--profile", metavar="FILE", help="profile file (default: yours)")
    _json(profile)

    # -- run / program ----------------------------------------------------
    run = _verb(
        sub,
        "run",
        "massager_sdk.cli.program_cmd:run",
        "play a massage program (built-in name or .toml file)",
        "massager run classic                      the article's full session",
        "massager run office-break --speed 30       30x faster on the simulator",
        "massager run ~/my-program.toml --device ble://NM-H4",
        "massager run evening-heat --json           progress as JSON lines",
        description="""
            Compile a program for the device (its zones, steps, heater, link) and
            play it on time with a progress display. Ctrl-C stops the device and
            says so. See docs/programs.md for the techniques and the file format.""",
    )
    run.add_argument("program", metavar="PROGRAM|FILE")
    _device(run)
    _speed(run)
    run.add_argument("--profile", metavar="FILE", help="user profile (default: yours)")
    _json(run)

    program = sub.add_parser(
        "program",
        help="list, show, validate and plot programs",
        description="Massage programs: built-in ones and your own TOML files.",
        formatter_class=_Formatter,
        epilog=_examples(
            "massager program list",
            "massager program show classic",
            "massager program validate my-program.toml",
            "massager program plot classic -o classic.png",
        ),
    )
    program_sub = program.add_subparsers(title="program verbs", metavar="VERB")
    plist = _verb(
        program_sub,
        "list",
        "massager_sdk.cli.program_cmd:program_list",
        "the built-in programs",
        "massager program list --json",
    )
    _json(plist)
    show = _verb(
        program_sub,
        "show",
        "massager_sdk.cli.program_cmd:program_show",
        "a program's stages and steps",
        "massager program show classic",
        "massager program show ./mine.toml --json",
    )
    show.add_argument("program", metavar="NAME|FILE")
    _json(show)
    validate = _verb(
        program_sub,
        "validate",
        "massager_sdk.cli.program_cmd:program_validate",
        "check a program file (exit 1 when invalid)",
        "massager program validate my-program.toml",
    )
    validate.add_argument("file", metavar="FILE")
    _json(validate)
    plot = _verb(
        program_sub,
        "plot",
        "massager_sdk.cli.program_cmd:program_plot",
        "plot intensity per zone and heat over time (needs matplotlib)",
        "massager program plot classic -o classic.png",
        "massager program plot mine.toml -o mine.svg --model neck2",
    )
    plot.add_argument("program", metavar="NAME|FILE")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help=".png or .svg")
    plot.add_argument(
        "--model", default="heat4", help="simulated model whose zones and heater to use (heat4)"
    )

    # -- protocol ---------------------------------------------------------
    proto = sub.add_parser(
        "protocol",
        help="decode frames, print golden vectors",
        description="Tools for the wire protocol (NMP/1).",
        formatter_class=_Formatter,
        epilog=_examples(
            "massager protocol decode 'a5 01 02 08 04 90 01 5c 0c'",
            "massager protocol decode - < capture.hex",
            "massager protocol vectors --json",
        ),
    )
    proto_sub = proto.add_subparsers(title="protocol verbs", metavar="VERB")
    decode = _verb(
        proto_sub,
        "decode",
        "massager_sdk.cli.protocol_cmd:decode",
        "decode frames from hex (or - for stdin) and print their fields",
        "massager protocol decode 'a5 01 02 08 04 90 01 5c 0c'",
        "xxd -p capture.bin | massager protocol decode -",
        "massager protocol decode --json a50100010164d1",
        description="""
            Decode NMP/1 frames from hex text: spaces, colons, newlines and a 0x
            prefix are ignored. Bytes that do not form a frame are reported (how
            many were skipped, CRC failures) but are not fatal.""",
    )
    decode.add_argument("hex", metavar="HEX|-", help="hex bytes, or - to read them from stdin")
    _json(decode)
    vectors = _verb(
        proto_sub,
        "vectors",
        "massager_sdk.cli.protocol_cmd:vectors",
        "print the golden test vectors",
        "massager protocol vectors",
        "massager protocol vectors --json > nmp1.json",
    )
    vectors.add_argument("--protocol", default="nmp1", help="which protocol's vectors (nmp1)")
    _json(vectors)

    from massager_sdk.cli import pair_cmd  # pair, unpair

    pair_cmd.add_verbs(sub, _verb, _device, _json)

    # -- simulate ---------------------------------------------------------
    simulate = _verb(
        sub,
        "simulate",
        "massager_sdk.cli.simulate_cmd:simulate",
        "serve a simulated device over a pseudo-terminal or TCP",
        "massager simulate --tcp 127.0.0.1:0",
        "massager simulate --serial --model neck2",
        "massager simulate --tcp 127.0.0.1:7000 --speed 10 --fault corrupt=0.01",
        description="""
            Run the virtual firmware and serve it. The first line printed is the
            URL to connect to (serial:///dev/pts/N or tcp://127.0.0.1:PORT);
            it serves until SIGINT or SIGTERM.""",
        add_help=False,  # the simulator's own parser answers --help
    )
    simulate.set_defaults(passthrough=True)

    # -- conformance ------------------------------------------------------
    conf = _verb(
        sub,
        "conformance",
        "massager_sdk.cli.conformance_cmd:conformance",
        "run the NMP/1 conformance suite against a device",
        "massager conformance                               the embedded simulator",
        "massager conformance --device serial:///dev/ttyACM0  your board over USB serial",
        "massager conformance --device ble://NM-H4 --json",
        description="""
            Check a device against the NMP/1 spec: every message, the NACK cases,
            resynchronisation, the heat limit, patterns, the watchdog and auto-off.
            Prints a pass/fail table; exits 1 when a check fails. The device is
            left stopped.""",
    )
    _device(conf)
    _json(conf)

    # -- bridge -------------------------------------------------------------
    from massager_sdk.cli.bridge_cmd import DESCRIPTION, EXAMPLES, add_bridge_arguments

    bridge = _verb(
        sub,
        "bridge",
        "massager_sdk.cli.bridge_cmd:bridge",
        "serve massagers over MQTT, with Home Assistant discovery",
        *EXAMPLES,
        description=DESCRIPTION,
    )
    add_bridge_arguments(bridge)

    # -- completion -------------------------------------------------------
    completion = _verb(
        sub,
        "completion",
        "massager_sdk.cli.completion_cmd:completion",
        "print a shell completion script",
        'eval "$(massager completion bash)"',
        "massager completion zsh > ~/.zfunc/_massager",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish", "tcsh"])
    from massager_sdk.cli.history_cmd import add_history_parser

    add_history_parser(sub)
    return parser


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = f"massager {version('massager-sdk')}"
        except PackageNotFoundError:
            text = "massager (not installed)"
        parser.exit(message=text + "\n")
