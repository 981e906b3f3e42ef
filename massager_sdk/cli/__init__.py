"""The ``massager`` command line.

Start-up is kept fast (``massager --help`` in well under 0.3 s): this module and
:mod:`massager_sdk.cli.parser` import only the standard library; each verb's
module, and with it asyncio, bleak or rich, is imported when that verb runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from massager_sdk.cli.exitcodes import ExitCode


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (see ``docs/cli.md``)."""
    from massager_sdk.cli.parser import build_parser

    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # shell completion asks; answer and exit
        import argcomplete

        argcomplete.autocomplete(parser)
    # Pass-through verbs (simulate) hand their arguments to another parser.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.rest = extra
    if not getattr(args, "handler", None):
        # `massager program` alone: that verb's own help, not the top level's.
        getattr(args, "help_parser", parser).print_help()
        return ExitCode.USAGE
    module_name, _, func_name = args.handler.partition(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    from massager_sdk.cli.errors import run_handler

    return run_handler(handler, args)


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
