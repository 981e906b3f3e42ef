"""The whole suite: every spec area's checks, in the order a run takes them.

The order is fixed here, not by the order modules happen to be imported in:
the session check of authenticated mode first (with the device's key it makes
the run sign every state change, so it must come before any check that makes
one), then the areas from the framing and messages of sections 2 to 4 to the
control between links of section 7.7, and the rest of section 10 last.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from massager_sdk.conformance import auth, faults, framing, links, messages, output, timing
from massager_sdk.conformance.bench import Bench
from massager_sdk.conformance.core import CheckResult, RegisteredCheck, run_checks

#: Every check, in the order a run carries them out (and reports them).
CHECKS: list[RegisteredCheck] = [
    *auth.SESSION,
    *messages.CHECKS,
    *framing.CHECKS,
    *output.CHECKS,
    *timing.CHECKS,
    *faults.CHECKS,
    *links.CHECKS,
    *auth.CHECKS,
]


def run_failed(results: list[CheckResult], *, strict: bool = False) -> bool:
    """Whether a run fails: a MUST failed (or a SHOULD, when ``strict``), or the run
    stopped before every check."""
    return len(results) < len(CHECKS) or any(r.fails(strict=strict) for r in results)


async def run_conformance(
    url: str | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    bench: Bench | None = None,
    **options: Any,
) -> list[CheckResult]:
    """Run every check against the device at ``url``; the device is left stopped.

    Without a URL or with ``sim://`` and no ``simulator=`` option, the suite
    starts a simulator of its own, which is also its test bench
    (``sim://MODEL?test_mode=true``: one built for test, whose faults the suite
    causes over the link).
    """
    if (url is None or url.startswith("sim://")) and options.get("simulator") is None:
        from massager_simulator import DEFAULT_MODEL, SimulatedDevice, list_models, load_model
        from massager_simulator.testmode import offering

        from massager_sdk.transports.sim import test_mode_query

        parts = urllib.parse.urlsplit(url or "sim://")
        model = urllib.parse.unquote(parts.netloc)
        if (model or DEFAULT_MODEL) not in list_models():
            model = ""  # not a model: the transport says what is accepted
        device = load_model(model or DEFAULT_MODEL)
        if test_mode_query(parts.query):  # ?test_mode=true: a device built for test
            device = offering(device)
        async with SimulatedDevice(device) as simulator:
            return await run_conformance(
                url, on_result=on_result, bench=bench, simulator=simulator, **options
            )

    return await run_checks(url, CHECKS, on_result=on_result, bench=bench, **options)
