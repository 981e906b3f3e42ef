"""``--device URL|NAME``: a URL as it is, or a device named in the user's device file."""

from __future__ import annotations

import os
import re

from massager_sdk.transports import DEFAULT_URL

#: Environment variable holding the default device.
DEVICE_ENV = "MASSAGER_DEVICE"

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")


def _url_of(pattern: str) -> str | None:
    """The URL a device-file key stands for; ``None`` for a wildcard pattern."""
    if any(c in pattern for c in "*?["):
        return None
    if "://" in pattern:
        return pattern
    return f"ble://{pattern}"  # a Bluetooth address or advertised name


def named_devices() -> dict[str, str]:
    """Every name ``--device`` accepts from the device file, and its URL.

    An entry is known by its display ``name`` and by its key (an address, BLE
    name or URL), unless the key is a wildcard pattern.
    """
    from massager_sdk.profiles.overrides import load_devices

    out: dict[str, str] = {}
    for entry in load_devices().devices:
        url = _url_of(entry.pattern)
        if url is None:
            continue
        if entry.name:
            out[entry.name] = url
        if "://" not in entry.pattern:
            out[entry.pattern] = url
    return out


def resolve_device(given: str | None) -> str:
    """The device URL for ``--device`` (``given``), ``$MASSAGER_DEVICE`` or the default.

    A value without ``://`` is looked up by name in the device file;
    :class:`BadURLError` says where the value came from when it is neither.
    """
    from massager_sdk.errors import BadURLError
    from massager_sdk.profiles.overrides import default_devices_path
    from massager_sdk.transports import accepted_forms

    source = "--device"
    if given is None:
        given, source = os.environ.get(DEVICE_ENV) or None, f"${DEVICE_ENV}"
    if given is None:
        return DEFAULT_URL
    text = given.strip()
    if "://" in text:
        return text
    names = named_devices()
    folded = {name.casefold(): url for name, url in names.items()}
    if text.casefold() in folded:
        return folded[text.casefold()]
    if _ADDRESS.match(text):
        return f"ble://{text}"
    known = f"; names there: {', '.join(sorted(names))}" if names else ""
    raise BadURLError(
        f"{source} {given!r} is neither a device URL nor a device named in "
        f"{default_devices_path()}{known}; accepted URL forms: {', '.join(accepted_forms())}"
    )
