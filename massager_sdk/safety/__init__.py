"""The safety policy: limits that no API call, command, program or MQTT message can bypass.

Every outgoing command passes through one :class:`SafetyPolicy`. Refusals raise
:class:`~massager_sdk.errors.SafetyRefusal`. ``docs/safety.md`` lists every limit,
its default and where the figure comes from. This is not medical advice.

    policy = SafetyPolicy(caps, profile=load_profile())
    policy.check_output(zone=0, level=5, now=loop.time())
"""

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
    ProfileError,
    ScreeningAction,
    ScreeningRule,
    UserProfile,
    screening_table_markdown,
)
from massager_sdk.safety.thermal import BURN_MINUTES, REFERENCE_C, dose_rate, minutes_to_burn

__all__ = [
    "BURN_MINUTES",
    "CONTACT_LIMIT_C",
    "CONTACT_LONG_S",
    "PROFILE_ENV",
    "REFERENCE_C",
    "SCREENING",
    "SPECS",
    "Contraindication",
    "Limit",
    "LimitSpec",
    "ProfileError",
    "ProfileStatus",
    "SafetyAction",
    "SafetyLimits",
    "SafetyPolicy",
    "SafetySnapshot",
    "ScreeningAction",
    "ScreeningRule",
    "UserProfile",
    "acknowledge",
    "default_profile_path",
    "dose_rate",
    "limits_table_markdown",
    "load_profile",
    "minutes_to_burn",
    "profile_status",
    "save_profile",
    "screening_table_markdown",
]
