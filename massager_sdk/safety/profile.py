"""Reading and writing the health profile file (the only part of safety that does I/O).

The health profile lives at ``$MASSAGER_HEALTH_PROFILE`` when that is set (the
old name ``$MASSAGER_PROFILE`` is still read), otherwise in the
user's configuration folder: ``%APPDATA%\\massager\\profile.toml`` on Windows,
``$XDG_CONFIG_HOME/massager/profile.toml`` (default ``~/.config``) elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Literal

from massager_sdk.safety.screening import HealthProfile, HealthProfileError

#: Environment variable naming the health profile file.
HEALTH_PROFILE_ENV = "MASSAGER_HEALTH_PROFILE"
#: Its old name, still read when the new one is not set.
PROFILE_ENV = "MASSAGER_PROFILE"

PathLike = str | os.PathLike[str]


def default_profile_path() -> Path:
    """Where the profile is read from and written to when no path is given."""
    explicit = os.environ.get(HEALTH_PROFILE_ENV) or os.environ.get(PROFILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "massager" / "profile.toml"


def load_profile(path: PathLike | None = None) -> HealthProfile:
    """The profile at ``path`` (default: :func:`default_profile_path`).

    ``FileNotFoundError`` when there is none; ``HealthProfileError`` when it is not valid
    TOML or names something unknown (the message lists what is accepted).
    """
    where = Path(path) if path is not None else default_profile_path()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no health profile at {where}; write one (see docs/safety.md) or acknowledge "
            f"the safety warning to create it"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HealthProfileError(f"{where}: not valid TOML: {exc}") from None
    return HealthProfile.from_mapping(data, where=str(where))


def save_profile(profile: HealthProfile, path: PathLike | None = None) -> Path:
    """Write ``profile`` whole or not at all (a temporary file renamed into place)."""
    where = Path(path) if path is not None else default_profile_path()
    where.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".profile-", suffix=".toml", dir=where.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(profile.to_toml())
        os.replace(tmp, where)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return where


def acknowledge(path: PathLike | None = None) -> HealthProfile:
    """Record that the user read the safety warning, keeping the rest of the profile.

    Creates a profile without contraindications when there is none. An invalid
    profile is left untouched and raises ``HealthProfileError``.
    """
    try:
        current = load_profile(path)
    except FileNotFoundError:
        current = HealthProfile()
    updated = dataclasses.replace(current, acknowledged=True)
    save_profile(updated, path)
    return updated


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileStatus:
    """What the command line needs to know before the first output command."""

    path: Path
    state: Literal["missing", "invalid", "unacknowledged", "ready"]
    profile: HealthProfile | None = None
    error: str | None = None

    @property
    def needs_prompt(self) -> bool:
        """Whether the user must be asked for a profile or the acknowledgement."""
        return self.state != "ready"


def profile_status(path: PathLike | None = None) -> ProfileStatus:
    """Whether a usable, acknowledged profile exists (never raises for a bad file)."""
    where = Path(path) if path is not None else default_profile_path()
    try:
        profile = load_profile(where)
    except FileNotFoundError:
        return ProfileStatus(where, "missing")
    except (HealthProfileError, OSError) as exc:
        return ProfileStatus(where, "invalid", error=str(exc))
    state: Literal["unacknowledged", "ready"] = (
        "ready" if profile.acknowledged else "unacknowledged"
    )
    return ProfileStatus(where, state, profile)
