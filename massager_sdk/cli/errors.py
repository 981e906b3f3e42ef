"""Turn what a verb raises into a clear message and a documented exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from massager_sdk.cli.exitcodes import ExitCode


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call a verb's handler; map errors to exit codes with a one-line message."""
    from massager_sdk.errors import (
        BadURLError,
        ConnectionFailed,
        DeviceRefused,
        DeviceTimeout,
        MassagerError,
        NotSupported,
        SafetyRefusal,
    )

    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        # Verbs stop the device themselves before this propagates.
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except SafetyRefusal as exc:
        return _fail(f"refused by the safety policy: {exc}", ExitCode.SAFETY)
    except BadURLError as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except (ConnectionFailed, DeviceTimeout, DeviceRefused, NotSupported) as exc:
        return _fail(f"device error: {exc}", ExitCode.DEVICE)
    except MassagerError as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except (OSError, ValueError) as exc:
        return _fail(str(exc), ExitCode.USAGE)


def _fail(message: str, code: ExitCode) -> int:
    print(f"massager: {message}", file=sys.stderr)
    return int(code)
