"""The safety policy's rules, one module each, run by :class:`~.policy.SafetyPolicy`.

- :mod:`.screening`: what the person's profile refuses or caps;
- :mod:`.intensity`: the device's steps, intensity ceilings and the soft ramp;
- :mod:`.stops`: the emergency stop latch, device stops and faults, violations;
- :mod:`.session`: on-time up to the auto-off and the rest after it;
- :mod:`.heat`: temperature ceilings, contact time, thermal dose, readings and heat faults;
- :mod:`.history`: the session ledger: what carries over between processes, and the record;
- :mod:`.chain`: all of them in the order the policy asks them.
"""

from massager_sdk.safety.rules.base import Cap, PolicyState, Rule
from massager_sdk.safety.rules.chain import RuleChain
from massager_sdk.safety.rules.heat import HeatGuard
from massager_sdk.safety.rules.history import SessionHistory
from massager_sdk.safety.rules.intensity import IntensityCaps
from massager_sdk.safety.rules.screening import ProfileScreening
from massager_sdk.safety.rules.session import SessionClock
from massager_sdk.safety.rules.stops import StopLatch

__all__ = [
    "Cap",
    "HeatGuard",
    "IntensityCaps",
    "PolicyState",
    "ProfileScreening",
    "Rule",
    "RuleChain",
    "SessionClock",
    "SessionHistory",
    "StopLatch",
]
