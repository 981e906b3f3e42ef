"""``massager simulate``: the simulator's serve command under the massager name."""

from __future__ import annotations

import argparse


def simulate(args: argparse.Namespace) -> int:
    """Serve a simulated device until SIGINT or SIGTERM."""
    from massager_simulator.serve import main

    return main(list(args.rest), prog="massager simulate")
