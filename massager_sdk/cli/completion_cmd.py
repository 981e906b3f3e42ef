"""``massager completion SHELL``: a completion script (argcomplete)."""

from __future__ import annotations

import argparse
import sys


def completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``."""
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["massager"], shell=args.shell))
    return 0
