"""One host process driving a safety policy over the default ledger, in virtual time.

    python -m tests.ledger.proc '{"wall": 1.7e9, "on_s": 600, "heat": 42, "end": "off"}'

``wall`` is the Unix time the process starts at; the policy's clock runs from 0 and the
ledger sees ``wall`` plus it, so a test can place processes back to back without waiting.
``end`` is ``"off"`` (switch off and exit) or ``"vanish"`` (exit with everything on, as a
killed host does). Prints one JSON line: the snapshot at the start, whether switching
on was refused, and the snapshot at the end.
"""

from __future__ import annotations

import json
import os
import sys

from massager_sdk.errors import SafetyRefusal
from massager_sdk.model import DeviceStatus
from massager_sdk.safety import SafetyPolicy
from massager_sdk.safety.rules import history
from tests.safety.devices import heat_device

OFF = [0, 0, 0, 0]
ON = [1, 1, 0, 0]


def status(levels: list[int], heat: float | None) -> DeviceStatus:
    return DeviceStatus(tuple(levels), heat, heat, None, None, False, 0, frozenset())


def main(spec: dict[str, object]) -> dict[str, object]:
    wall = float(spec["wall"])  # type: ignore[arg-type]
    history.wall_time = lambda: wall  # the anchor: policy time 0 is this Unix time
    on_s = float(spec.get("on_s", 0))  # type: ignore[arg-type]
    heat = spec.get("heat")
    heat_c = None if heat is None else float(heat)  # type: ignore[arg-type]
    step = float(spec.get("status_s", 10))  # type: ignore[arg-type]
    policy = SafetyPolicy(heat_device(sensor=False))
    now = 0.0
    start = policy.snapshot(now).to_dict()
    out: dict[str, object] = {"start": start, "refused": None, "stopped": None}
    try:
        policy.check_output(0, 1, now)
        if heat_c is not None:
            policy.check_heat(heat_c, now)
    except SafetyRefusal as exc:
        out["refused"] = exc.limit
        out["message"] = str(exc)
        out["end"] = policy.snapshot(now).to_dict()
        return out
    policy.outputs_changed(ON, heat_c, now)
    while now < on_s:
        now = min(on_s, now + step)
        actions = policy.required_actions(now)
        if actions:
            out["stopped"] = actions[0].reason
            policy.outputs_changed(OFF, None, now)
            break
        policy.observe_status(status(ON, heat_c), now)
    out["end"] = policy.snapshot(now).to_dict()
    if spec.get("end") == "vanish":
        print(json.dumps(out), flush=True)
        os._exit(0)  # a killed host: nothing switched off, nothing closed
    policy.outputs_changed(OFF, None, now)
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
