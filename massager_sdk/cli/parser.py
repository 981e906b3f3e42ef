"""The argument parser of ``massager``: every verb, its options and examples.

Only the standard library is imported here; handlers are named as
``"module:function"`` strings and imported when their verb runs.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from typing import Any, NoReturn

DEVICE_HELP = (
    "device URL: sim://[MODEL] (the embedded simulator, default), "
    "serial:///dev/ttyUSB0?baud=115200, tcp://HOST:PORT, ble://AA:BB:CC:DD:EE:FF or ble://NAME "
    "(a protocol's secure channel over any of them: CHANNEL+URL, e.g. tuya+ble://...) "
    "or a device's name in devices.toml (default: $MASSAGER_DEVICE or sim://)"
)
#: The example frame the docs and --help decode: SET_HEAT 40 C, sequence number 8.
EXAMPLE_FRAME = "a5 01 02 08 04 90 01 fa 5e"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors suggest the closest verb or option."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{self._suggestion(message)}\n")

    def _suggestion(self, message: str) -> str:
        import difflib

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2))
            close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
            return f"; did you mean {close[0]!r}?" if close else ""
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            for action in self._actions:  # options of the verb the user gave
                if isinstance(action, argparse._SubParsersAction):
                    for sub in action.choices.values():
                        known += [o for a in sub._actions for o in a.option_strings]
            hints = []
            for word in unknown.group(1).split():
                if word.startswith("-"):
                    close = difflib.get_close_matches(word.split("=")[0], known, n=1, cutoff=0.6)
                    if close:
                        hints.append(f"{word} -> {close[0]}")
            if len(hints) == 1:
                return f"; did you mean {hints[0].split(' -> ')[1]}?"
            return f"; did you mean: {', '.join(hints)}?" if hints else ""
        return ""


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


#: Old verbs, accepted for a release: each prints a one-line notice, then runs its new one.
OLD_VERBS = {"profile": "massager_sdk.cli.device_cmd:old_profile_verb"}


class _OldFlag(argparse.Action):
    """An old option name: stores under the new one, with a one-line notice on stderr."""

    def __init__(self, *args: Any, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"massager: {option_string} is deprecated: use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def health_profile_option(
    parser: argparse.ArgumentParser, help: str = "your health profile file (default: yours)"
) -> None:
    parser.add_argument("--health-profile", metavar="FILE", help=help)
    parser.add_argument(
        "--profile",
        dest="health_profile",
        metavar="FILE",
        action=_OldFlag,
        new="--health-profile",
        help=argparse.SUPPRESS,
    )


def _verb(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    handler: str,
    summary: str,
    *examples: str,
    description: str = "",
    add_help: bool = True,
    hidden: bool = False,
) -> argparse.ArgumentParser:
    # A verb added without help= is not listed (help=SUPPRESS would print its marker).
    listed: dict[str, Any] = {} if hidden else {"help": summary}
    parser = sub.add_parser(
        name,
        add_help=add_help,
        **listed,
        parents=[_common()] if add_help else [],
        description=textwrap.dedent(description).strip() or summary,
        epilog=_examples(*examples) if examples else None,
        formatter_class=_Formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def _common() -> _Parser:
    """Options every verb takes after its name too (``massager info -v``)."""
    common = _Parser(add_help=False)
    # SUPPRESS: given before the verb only, the top-level value stays.
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    common.add_argument(
        "--trace", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    return common


def _group(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    summary: str,
    description: str,
    *examples: str,
) -> argparse._SubParsersAction[_Parser]:
    """A verb with verbs of its own; given alone, it prints its own help."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=_Formatter,
        epilog=_examples(*examples),
        parents=[_common()],
    )
    parser.set_defaults(help_parser=parser)
    return parser.add_subparsers(title=f"{name} verbs", metavar="VERB", parser_class=_Parser)


def _speed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="sim:// only: run X times faster than real time (a device that `massager "
        "simulate --speed X` serves says its speed in its URL, ?speed=X)",
    )


def _device(parser: argparse.ArgumentParser) -> None:
    device = parser.add_argument(
        "-d", "--device", metavar="URL|NAME", default=None, help=DEVICE_HELP
    )
    _complete(device, "device_names")
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
    parser = _Parser(
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
              massager -vv info                     with a wire trace of every frame
              massager doctor                       check Bluetooth, serial ports, health profile

            exit codes: 0 ok, 1 failed check, 2 usage error, 3 device error,
                        4 safety refusal, 130 interrupted / 143 terminated (device stopped)
            docs: docs/cli.md"""
        ),
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (-vv: debug and a wire trace of every frame); also after the verb",
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="write a wire trace (every frame sent and received, timestamped and decoded) "
        "to FILE; read it back with: massager protocol decode --file FILE",
    )
    sub = parser.add_subparsers(title="verbs", metavar="VERB", parser_class=_Parser)

    # -- scan / info / status / set / stop ----------------------------------
    scan = _verb(
        sub,
        "scan",
        "massager_sdk.cli.device_cmd:scan",
        "list massagers advertising over Bluetooth LE",
        "massager scan",
        "massager scan --timeout 10 --all --json",
        "massager scan --simulate heat4,neck2     the simulator's devices, no radio needed",
        "massager scan --watch --passive --json   one line per device as heard, until Ctrl-C",
    )
    scan.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to listen (5; with --watch: until Ctrl-C)",
    )
    scan.add_argument("--all", action="store_true", help="list unrecognised devices too")
    scan.add_argument(
        "--watch",
        action="store_true",
        help="keep scanning; print each device when first heard and when it changes",
    )
    scan.add_argument(
        "--passive",
        action="store_true",
        help="scan without scan requests where the system offers it (not macOS)",
    )
    scan.add_argument("--adapter", help="the Bluetooth adapter to scan with (Linux), e.g. hci1")
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
    health_profile_option(setter)
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

    for name in ("health", "profile"):  # "profile" is the old name, kept for a release
        health = _verb(
            sub,
            name,
            "massager_sdk.cli.device_cmd:health" if name == "health" else OLD_VERBS[name],
            "show or acknowledge your health profile",
            "massager health show",
            "massager health acknowledge",
            "MASSAGER_HEALTH_PROFILE=~/neck.toml massager health check",
            description="""
                Your health profile records the contraindications that apply to you
                (see docs/safety.md) and that you read the safety warning. Verbs that
                switch outputs on need an acknowledged health profile. (A device
                profile, --device-profile, describes a model instead.)""",
            hidden=name != "health",
        )
        health.add_argument("action", choices=["show", "check", "acknowledge"])
        health_profile_option(health, "health profile file (default: yours)")
        _json(health)

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
            says so. On a terminal, keys steer it: p pauses and resumes, s skips
            to the next step, q stops. See docs/programs.md for the techniques
            and the file format.""",
    )
    _complete(run.add_argument("program", metavar="PROGRAM|FILE"), "program_names")
    _device(run)
    _speed(run)
    health_profile_option(run)
    _json(run)

    program_sub = _group(
        sub,
        "program",
        "list, show, validate and plot programs",
        "Massage programs: built-in ones and your own TOML files.",
        "massager program list",
        "massager program show classic",
        "massager program validate my-program.toml",
        "massager program plot classic -o classic.png",
    )
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
    _complete(show.add_argument("program", metavar="NAME|FILE"), "program_names")
    _json(show)
    validate = _verb(
        program_sub,
        "validate",
        "massager_sdk.cli.program_cmd:program_validate",
        "check a program file or built-in program (exit 1 when invalid)",
        "massager program validate my-program.toml",
        "massager program validate classic --json   the problems as a list",
    )
    _complete(validate.add_argument("file", metavar="NAME|FILE"), "program_names")
    _json(validate)
    plot = _verb(
        program_sub,
        "plot",
        "massager_sdk.cli.program_cmd:program_plot",
        "plot intensity per zone and heat over time (needs matplotlib)",
        "massager program plot classic -o classic.png",
        "massager program plot mine.toml -o mine.svg --model neck2",
    )
    _complete(plot.add_argument("program", metavar="NAME|FILE"), "program_names")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help=".png or .svg")
    plot.add_argument(
        "--model",
        default="heat4",
        help="simulated model (or its sim:// URL) whose zones and heater to use (heat4)",
    )

    # -- protocol ---------------------------------------------------------
    proto_sub = _group(
        sub,
        "protocol",
        "decode frames, print golden vectors",
        "Tools for the wire protocol (NMP/1).",
        f"massager protocol decode '{EXAMPLE_FRAME}'",
        "massager protocol decode - < capture.hex",
        "massager protocol decode --file massager.trace",
        "massager protocol vectors --json",
    )
    decode = _verb(
        proto_sub,
        "decode",
        "massager_sdk.cli.protocol_cmd:decode",
        "decode frames from hex (or - for stdin) and print their fields",
        f"massager protocol decode '{EXAMPLE_FRAME}'",
        "xxd -p capture.bin | massager protocol decode -",
        "massager --trace run.trace run classic; massager protocol decode --file run.trace",
        "massager protocol decode --json a50100010164d1",
        description="""
            Decode NMP/1 frames from hex text: spaces, colons, newlines and a 0x
            prefix are ignored. Bytes that do not form a frame are reported (how
            many were skipped, CRC failures with the expected and received CRC)
            but are not fatal. --file reads a wire trace (--trace FILE, -vv).""",
    )
    decode.add_argument(
        "hex", metavar="HEX|-", nargs="?", help="hex bytes, or - to read them from stdin"
    )
    decode.add_argument(
        "--file", metavar="TRACE", help="a wire trace written by --trace FILE (or -vv's output)"
    )
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
        "massager conformance --strict                      SHOULDs fail the run too",
        "massager conformance --device sim://heat4-auth --key HEX  authenticated mode",
        description="""
            Check a device against the NMP/1 spec: every MUST of it, each check naming
            its section. Prints a pass/fail table that also lists what could not be
            tested on this device or link, and why; exits 1 when a required check
            fails (with --strict, a recommended one too). The device is left stopped.""",
    )
    _device(conf)
    _json(conf)
    conf.add_argument(
        "--strict",
        action="store_true",
        help="fail the run when a recommended (SHOULD) check fails, not only a required one",
    )
    conf.add_argument(
        "--key",
        metavar="HEX",
        help="the device's secret (64 hex digits, e.g. from its label) for a device in "
        "authenticated mode; default: the key `massager pair` kept for its serial",
    )

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

    # -- doctor -------------------------------------------------------------
    doctor = _verb(
        sub,
        "doctor",
        "massager_sdk.cli.doctor_cmd:doctor",
        "check this computer: Bluetooth, D-Bus, serial ports, health profile, broker",
        "massager doctor",
        "massager doctor --broker mqtt://localhost --json",
        description="""
            Check what using a massager from this computer needs, one line per
            check (ok, warn or FAIL): the Bluetooth stack and D-Bus, access to
            serial ports (and a list of them), the device file, your health
            profile, and an MQTT broker when --broker is given. Exits 1 when a
            check fails.""",
    )
    doctor.add_argument("--broker", metavar="URL", help="also check this MQTT broker is reachable")
    _json(doctor)
    from massager_sdk.cli.history_cmd import add_history_parser

    add_history_parser(sub)
    return parser


def _complete(action: argparse.Action, what: str) -> None:
    """Shell completion (argcomplete) for an argument, loaded only when completing."""

    def completer(**_: Any) -> list[str]:
        from massager_sdk.cli import completion_cmd

        names: list[str] = getattr(completion_cmd, what)()
        return names

    action.completer = completer  # type: ignore[attr-defined]


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = f"massager {version('massager-sdk')}"
        except PackageNotFoundError:
            text = "massager (not installed)"
        print(text)  # to stdout, as other tools print theirs
        parser.exit()
