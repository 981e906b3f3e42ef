"""``massager completion SHELL``: a completion script (argcomplete), and what it completes."""

from __future__ import annotations

import argparse
import contextlib
import sys


def completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``."""
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["massager"], shell=args.shell))
    return 0


def program_names() -> list[str]:
    """The built-in programs' names (for ``run``, ``program show|validate|plot``)."""
    from massager_sdk.programs.program import builtin_names

    return builtin_names()


def device_names() -> list[str]:
    """Names ``--device`` accepts from the user's device file, and ``sim://MODEL`` URLs."""
    from massager_sdk.cli.devices import named_devices

    names: list[str] = []
    # A broken device file must not break completion (`massager doctor` reports it).
    with contextlib.suppress(Exception):
        names += list(named_devices())
    from massager_simulator.model import list_models

    return names + [f"sim://{model}" for model in list_models()]
