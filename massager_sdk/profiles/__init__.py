"""Device profiles: how to recognise a massager family, how it speaks, what it can do.

    from massager_sdk.profiles import get_profile, identify
    profile = get_profile("PROFILE-ID")        # or a path to a .toml file
    caps = profile.capabilities()               # DeviceCapabilities for the client
    found = identify(name, services, manufacturer_data, service_data)

Profiles are TOML files (schema: ``docs/profile.schema.json``); built-in ones
ship in ``massager_sdk/profiles/builtin/`` and the user may add or replace
them in ``<config>/massager/profiles/``. User overrides (display names, allow
and deny lists, a lower intensity cap, a disabled heater, a protocol's credentials)
live in ``<config>/massager/devices.toml``: see :mod:`.overrides`.
"""

from massager_sdk.profiles.loader import (
    PROFILES_DIR_ENV,
    ProfileError,
    all_profiles,
    builtin_profiles,
    config_dir,
    get_profile,
    load_profile_file,
    parse_profile,
    user_profiles_dir,
)
from massager_sdk.profiles.model import (
    DataPrefix,
    DeviceProfile,
    GattEndpoints,
    HeatLevel,
    MatchRule,
    ModeSpec,
    ProfileCapabilities,
    SerialParameters,
    ZoneSpec,
)

__all__ = [
    "PROFILES_DIR_ENV",
    "DataPrefix",
    "DeviceProfile",
    "GattEndpoints",
    "HeatLevel",
    "MatchRule",
    "ModeSpec",
    "ProfileCapabilities",
    "ProfileError",
    "SerialParameters",
    "ZoneSpec",
    "all_profiles",
    "builtin_profiles",
    "config_dir",
    "get_profile",
    "load_profile_file",
    "parse_profile",
    "user_profiles_dir",
]


def __getattr__(name: str) -> object:
    from massager_sdk.profiles import loader

    return getattr(loader, name)  # deprecated names (PROTOCOLS) warn there
