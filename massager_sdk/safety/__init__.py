"""The safety policy: limits that no API call, command, program or MQTT message can bypass.

Every outgoing command passes through one :class:`SafetyPolicy`. Refusals raise
:class:`~massager_sdk.errors.SafetyRefusal`. ``docs/safety.md`` lists every limit,
its default and where the figure comes from. This is not medical advice.

    policy = SafetyPolicy(caps, health_profile=load_profile())
    policy.check_output(zone=0, level=5, now=loop.time())

Each device's safety history is kept in the session ledger (:class:`Ledger`), shared
by every process; :func:`history` and :func:`open_session` read it.

The person's side is a :class:`HealthProfile` (screening answers, personal
limits): the health profile, as against a model's device profile.
"""

import warnings
from typing import Any

from massager_sdk.safety.history import SessionDetail, history, open_session, plot_session
from massager_sdk.safety.ledger import (
    LEDGER_ENV,
    RETENTION_ENV,
    Ledger,
    LedgerError,
    SessionRecord,
    default_ledger_path,
)
from massager_sdk.safety.limits import (
    CONTACT_LIMIT_C,
    CONTACT_LONG_S,
    SPECS,
    Limit,
    LimitSpec,
    SafetyLimits,
    limits_table_markdown,
)
from massager_sdk.safety.policy import SafetyAction, SafetyPolicy, SafetySnapshot
from massager_sdk.safety.profile import (
    HEALTH_PROFILE_ENV,
    PROFILE_ENV,
    ProfileStatus,
    acknowledge,
    default_profile_path,
    load_profile,
    profile_status,
    save_profile,
)
from massager_sdk.safety.screening import (
    SCREENING,
    Contraindication,
    HealthProfile,
    HealthProfileError,
    ScreeningAction,
    ScreeningRule,
    screening_table_markdown,
)
from massager_sdk.safety.thermal import BURN_MINUTES, REFERENCE_C, dose_rate, minutes_to_burn

__all__ = [
    "BURN_MINUTES",
    "CONTACT_LIMIT_C",
    "CONTACT_LONG_S",
    "HEALTH_PROFILE_ENV",
    "LEDGER_ENV",
    "PROFILE_ENV",
    "REFERENCE_C",
    "RETENTION_ENV",
    "SCREENING",
    "SPECS",
    "Contraindication",
    "HealthProfile",
    "HealthProfileError",
    "Ledger",
    "LedgerError",
    "Limit",
    "LimitSpec",
    "ProfileStatus",
    "SafetyAction",
    "SafetyLimits",
    "SafetyPolicy",
    "SafetySnapshot",
    "ScreeningAction",
    "ScreeningRule",
    "SessionDetail",
    "SessionRecord",
    "acknowledge",
    "default_ledger_path",
    "default_profile_path",
    "dose_rate",
    "history",
    "limits_table_markdown",
    "load_profile",
    "minutes_to_burn",
    "open_session",
    "plot_session",
    "profile_status",
    "save_profile",
    "screening_table_markdown",
]


#: Old names, kept for a release.
_OLD_NAMES = {"UserProfile": "HealthProfile", "ProfileError": "HealthProfileError"}


def __getattr__(name: str) -> Any:
    new = _OLD_NAMES.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"massager_sdk.safety.{name} is deprecated: use {new}", DeprecationWarning, stacklevel=2
    )
    return globals()[new]
