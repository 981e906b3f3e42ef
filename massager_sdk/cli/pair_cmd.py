"""``massager pair`` and ``massager unpair``: keys for devices in NMP/1 authenticated mode.

Only the standard library is imported at module level (the parser imports
this module to register the verbs); the SDK is imported when a verb runs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any

_Verb = Callable[..., argparse.ArgumentParser]
_Adder = Callable[[argparse.ArgumentParser], None]


def add_verbs(sub: Any, verb: _Verb, device: _Adder, json_flag: _Adder) -> None:
    """Register ``pair`` and ``unpair`` with the parser's own helpers."""
    pair_parser = verb(
        sub,
        "pair",
        "massager_sdk.cli.pair_cmd:pair",
        "pair with a device that requires it, and keep its key",
        "massager pair --device ble://NMP-H4A-000001   within 30 s of holding its button 5 s",
        "massager pair --device tcp://192.168.1.20:7000 --label   type the label's secret",
        description="""
            A device in NMP/1 authenticated mode carries out only commands signed with
            its key. Hold its button for 5 s (its pairing window opens for 30 s), then
            run `massager pair`: a new secret is drawn and given to the device. Or give
            the secret printed on its label with --label (nothing is sent). The key is
            kept for the device's serial in keys.toml in the user's configuration folder
            (mode 0600; $MASSAGER_KEYS_FILE names another file) and is never shown.
        """,
    )
    device(pair_parser)
    pair_parser.add_argument(
        "--label",
        action="store_true",
        help="read the secret printed on the device's label (64 hex digits) from the "
        "terminal or standard input, instead of using its pairing window",
    )
    json_flag(pair_parser)
    unpair_parser = verb(
        sub,
        "unpair",
        "massager_sdk.cli.pair_cmd:unpair",
        "forget the key kept for a device",
        "massager unpair --device ble://NMP-H4A-000001",
    )
    device(unpair_parser)
    json_flag(unpair_parser)


def _label_secret() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("secret on the device's label (64 hex digits): ")
    return sys.stdin.readline().strip()


def pair(args: argparse.Namespace) -> int:
    """Pair with ``args.device`` and keep its key."""
    from massager_sdk.cli.exitcodes import ExitCode
    from massager_sdk.cli.output import console, emit_json
    from massager_sdk.pairing import pair as pair_device

    secret = _label_secret() if args.label else None
    paired = asyncio.run(pair_device(args.device, label_secret=secret))
    if args.json:
        emit_json(
            {"paired": True, "serial": paired.serial, "model": paired.model, "how": paired.how}
        )
    else:
        how = "its label's secret" if paired.how == "label" else "a new key"
        console().print(
            f"paired {paired.model} {paired.serial} with {how}; kept in {paired.path}",
            markup=False,
        )
    return ExitCode.OK


def unpair(args: argparse.Namespace) -> int:
    """Forget the key kept for ``args.device``."""
    from massager_sdk.cli.exitcodes import ExitCode
    from massager_sdk.cli.output import console, emit_json
    from massager_sdk.pairing import unpair as unpair_device

    serial, had = asyncio.run(unpair_device(args.device))
    if args.json:
        emit_json({"serial": serial, "forgotten": had})
    else:
        text = f"forgot the key of {serial}" if had else f"no key was kept for {serial}"
        console().print(text, markup=False)
    return ExitCode.OK
