"""How a device session is configured: one frozen object for every way in.

:func:`massager_sdk.connect`, :class:`massager_sdk.client.Device` and
:func:`massager_sdk.sync.connect` all take a :class:`ConnectOptions` as
``options=``, and also each of its fields as a keyword argument (a keyword
wins over the same field of ``options``)::

    options = ConnectOptions(timeout=0.5, reconnect_grace_s=30)
    async with massager_sdk.connect("tcp://10.0.0.7:7000", options=options) as device:
        ...

Every field is checked when the object is built, so a bad value is refused
before any link is opened.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from massager_sdk.profiles.model import DeviceProfile
from massager_sdk.safety import HealthProfile, SafetyLimits


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectOptions:
    """The options of one device session (see :func:`massager_sdk.connect`)."""

    #: The safety limits (default: the policy's defaults).
    limits: SafetyLimits | None = None
    #: The person's health profile, screened by the safety policy. ``None``: the default
    #: health profile (``$MASSAGER_HEALTH_PROFILE``, else the user's health profile
    #: file), which must be acknowledged before the session drives anything (see
    #: :meth:`person`).
    health_profile: HealthProfile | None = None
    #: The wire protocol (``nmp1``, ``yh``, ``tuya_ble``); default: chosen from the link.
    protocol: str | None = None
    #: A device profile id, a path to a ``.toml`` profile, or a profile.
    device_profile: str | os.PathLike[str] | DeviceProfile | None = None
    #: Seconds to wait for each reply.
    timeout: float = 1.0
    #: How many times an unanswered command is sent again (0..10).
    retries: int = 2
    #: How long a lost link may take to come back before the session ends.
    reconnect_grace_s: float = 10.0
    #: Seconds between keepalives while something runs (default: a third of the watchdog).
    keepalive_s: float | None = None
    #: How often the device is asked for its status while it runs (``None``: never).
    status_interval_s: float | None = 2.0
    #: Default size of a telemetry iterator's buffer.
    telemetry_buffer: int = 256
    #: Whether SIGINT and SIGTERM stop the device (see :mod:`massager_sdk.session.signals`).
    install_signal_handlers: bool = False
    #: ``False``: a monitoring connection that drives nothing.
    control: bool = True
    #: The old name of :attr:`health_profile` (deprecated; warns).
    profile: dataclasses.InitVar[HealthProfile | None] = None

    def __post_init__(self, profile: HealthProfile | None) -> None:
        if profile is not None:
            warnings.warn(DEPRECATED_PROFILE, DeprecationWarning, stacklevel=3)
            if self.health_profile is not None and self.health_profile is not profile:
                raise TypeError("give health_profile= only (profile= is its old name)")
            object.__setattr__(self, "health_profile", profile)
        for name in ("control", "install_signal_handlers"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not _number(self.timeout) or not self.timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not (_integer(self.retries) and 0 <= self.retries <= 10):
            raise ValueError(f"retries must be an integer 0..10, got {self.retries!r}")
        if not _number(self.reconnect_grace_s) or not self.reconnect_grace_s >= 0:
            raise ValueError(
                f"reconnect_grace_s must be >= 0 seconds, got {self.reconnect_grace_s!r}"
            )
        keepalive = self.keepalive_s
        if keepalive is not None and not (_number(keepalive) and keepalive > 0):
            raise ValueError(
                f"keepalive_s must be a positive number of seconds, got {self.keepalive_s!r}"
            )
        if self.status_interval_s is not None and not (
            _number(self.status_interval_s) and self.status_interval_s > 0
        ):
            raise ValueError(
                f"status_interval_s must be a positive number of seconds or None, "
                f"got {self.status_interval_s!r}"
            )
        if not _integer(self.telemetry_buffer) or self.telemetry_buffer < 1:
            raise ValueError(
                f"telemetry_buffer must be an integer of at least 1, got {self.telemetry_buffer!r}"
            )

    def person(self) -> tuple[HealthProfile, str | None]:
        """The profile the session is screened against, and why it may not drive (or ``None``).

        One rule for every face (the command line, :func:`massager_sdk.connect`, the
        sync facade, the MQTT bridge, programs): a profile passed here is the
        caller's word and is used as given; otherwise the default profile is read
        when the session opens, and outputs are refused until it exists, is valid
        and is acknowledged (``massager health acknowledge``).
        """
        if self.health_profile is not None:
            return self.health_profile, None
        from massager_sdk.safety import profile_status

        status = profile_status()
        if status.state == "ready" and status.profile is not None:
            return status.profile, None
        how = (
            "run `massager health acknowledge` once after reading docs/safety.md, or pass "
            "health_profile= to connect()"
        )
        if status.state == "invalid":
            why = f"the health profile {status.path} is not valid ({status.error}); fix it"
            return HealthProfile(), f"{why}, or pass health_profile= to connect()"
        if status.state == "unacknowledged" and status.profile is not None:
            return status.profile, f"the health profile {status.path} is not acknowledged: {how}"
        return HealthProfile(), f"no health profile at {status.path}: {how}"

    def replace(self, **changes: Any) -> ConnectOptions:
        """A copy with ``changes`` (checked like a new object)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def split(
        cls, options: ConnectOptions | None, keywords: Mapping[str, Any]
    ) -> tuple[ConnectOptions, dict[str, Any]]:
        """``options`` (default: the defaults) with the keywords naming its fields applied,
        and the keywords that are not its fields (a transport's options)."""
        if options is not None and not isinstance(options, ConnectOptions):
            raise TypeError(f"options must be a ConnectOptions, got {type(options).__name__}")
        if "profile" in keywords:
            keywords = dict(keywords)
            if "health_profile" in keywords:
                raise TypeError("give health_profile= only (profile= is its old name)")
            warnings.warn(DEPRECATED_PROFILE, DeprecationWarning, stacklevel=3)
            keywords["health_profile"] = keywords.pop("profile")
        ours = {k: v for k, v in keywords.items() if k in _FIELDS}
        rest = {k: v for k, v in keywords.items() if k not in _FIELDS}
        base = options if options is not None else cls()
        return (base.replace(**ours) if ours else base), rest


_FIELDS = frozenset(f.name for f in dataclasses.fields(ConnectOptions))
DEPRECATED_PROFILE = (
    "profile= is deprecated: use health_profile= (the person's health profile; "
    "device_profile= names the device's)"
)


def _old_profile(self: ConnectOptions) -> HealthProfile | None:
    """The old name of :attr:`ConnectOptions.health_profile` (deprecated; warns)."""
    if sys._getframe(1).f_code.co_filename == dataclasses.__file__:
        # ``dataclasses.replace`` copies the init-only alias by reading it: give it
        # nothing, so a copy neither warns nor passes the old keyword on.
        return None
    warnings.warn(
        "ConnectOptions.profile is deprecated: use health_profile", DeprecationWarning, stacklevel=2
    )
    return self.health_profile


# Reading the old name gives the health profile, with a warning. The init-only
# ``profile`` left its default (None) as a class attribute, which would read as "no
# profile" whatever was given; ``__init__`` keeps its own copy of that default.
setattr(ConnectOptions, "profile", property(_old_profile))  # noqa: B010 - mypy knows no such field


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
