"""The NMP/1 conformance suite: checks a device against the spec, over any link.

A firmware team runs it on its board (``massager conformance --device
serial:///dev/ttyACM0``); the project runs it on the simulator. It talks raw
NMP/1 through a transport (no client, no safety layer in between: it must be
able to send what a well-behaved host never would) and leaves the device
stopped whatever happens.

Each check is an ``async`` function of a :class:`Probe` and names the spec
section it tests; a check fails by raising :class:`CheckFailed` with a message
that says what the spec expects and what the device did, and reports what it
could not test by raising :class:`NotTestable` with the reason (a second link
the device does not offer, a fault only a test bench can cause). Checks of what
the spec says a device MUST do are *required*; checks of what it SHOULD do are
*recommended*: their failures are warnings unless the run is strict.

Faults a host cannot cause by itself (a sensor failing, the button, a flat
battery) are caused through a :class:`Bench`: the device's own test mode over
the link when its INFO offers it (spec section 12: firmware built for test),
else a bench given to the run (the simulator in this process). With neither,
those checks are reported as not testable.

The package in layers, each importing only those above it:

- :mod:`~massager_sdk.conformance.bench`: what causes faults (test mode, a bench);
- :mod:`~massager_sdk.conformance.core`: the probe, the check registry, results,
  errors, and running a list of checks;
- the checks by spec area: :mod:`~massager_sdk.conformance.messages` (sections 4,
  6.1, 7.3, 8), :mod:`~massager_sdk.conformance.framing` (2.1),
  :mod:`~massager_sdk.conformance.output` (6.2 to 6.4),
  :mod:`~massager_sdk.conformance.timing` (6.5, 7.1, 7.2),
  :mod:`~massager_sdk.conformance.faults` (7.4 to 7.6, 12),
  :mod:`~massager_sdk.conformance.links` (7.7) and
  :mod:`~massager_sdk.conformance.auth` (10, with its
  :mod:`~massager_sdk.conformance.signing` link);
- :mod:`~massager_sdk.conformance.suite`: every check in the order a run takes
  them (:data:`CHECKS`), and :func:`run_conformance`.
"""

from __future__ import annotations

from massager_sdk.conformance.bench import Bench, BenchError, InjectorBench, WireBench
from massager_sdk.conformance.core import (
    CheckFailed,
    CheckResult,
    NotTestable,
    Probe,
    RegisteredCheck,
    probe_session,
)
from massager_sdk.conformance.suite import CHECKS, run_conformance, run_failed

__all__ = [
    "CHECKS",
    "Bench",
    "BenchError",
    "CheckFailed",
    "CheckResult",
    "InjectorBench",
    "NotTestable",
    "Probe",
    "RegisteredCheck",
    "WireBench",
    "probe_session",
    "run_conformance",
    "run_failed",
]
