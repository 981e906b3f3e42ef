"""Turn what a verb raises into a clear message and a documented exit code."""

from __future__ import annotations

import argparse
import logging
import os
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

    verbose = getattr(args, "verbose", 0)
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    trace_file = None
    try:
        if hasattr(args, "device") and not isinstance(args.device, list):  # bridge: a list
            from massager_sdk.cli.devices import resolve_device

            args.device = resolve_device(args.device)
        if getattr(args, "trace", None) or verbose >= 2:
            from massager_sdk.cli import trace

            if verbose >= 2:
                trace.enable(sys.stderr)
            if getattr(args, "trace", None):
                trace_file = open(args.trace, "a", encoding="utf-8")  # noqa: SIM115
                trace.enable(trace_file)
        return int(handler(args))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do. Python would
        # complain again while flushing stdout at exit, so point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.PIPE
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
    finally:
        if trace_file is not None:
            trace_file.close()


def _fail(message: str, code: ExitCode) -> int:
    print(f"massager: {message}", file=sys.stderr)
    return int(code)
