"""Device keys for NMP/1 authenticated mode (spec section 10), one per device serial.

They live in ``keys.toml`` in the user's configuration folder
(``$XDG_CONFIG_HOME/massager/keys.toml``, default ``~/.config``; the
``MASSAGER_KEYS_FILE`` environment variable names another file)::

    [keys]
    "H4A-000001" = "3f2a...64 hex digits"

The file is written with mode 0600 and its folder 0700; a key is never logged
nor shown (``massager pair`` says only which device it paired). A process may
also add keys in memory (:func:`remember`): the MQTT bridge does so for the
keys in its device entries, so they never need the user's file; a key given
for no serial in particular serves the device whose key id it matches.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from massager_protocols.nmp import auth as nmp_auth
from massager_protocols.nmp.auth import KeyFormatError, format_key, parse_key

from massager_sdk.profiles.loader import config_dir

#: Environment variable naming the key file instead of the default.
KEYS_FILE_ENV = "MASSAGER_KEYS_FILE"

_memory: dict[str, bytes] = {}
_unbound: list[bytes] = []


class KeyStoreError(ValueError):
    """A key file that cannot be read, or a key that is not 64 hex digits."""


def keys_path() -> Path:
    """Where the user's device keys are kept."""
    explicit = os.environ.get(KEYS_FILE_ENV)
    return Path(explicit).expanduser() if explicit else config_dir() / "keys.toml"


def load_keys(path: Path | None = None) -> dict[str, bytes]:
    """Every key in the file, by device serial (empty when there is no file)."""
    path = keys_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        table = tomllib.loads(text).get("keys", {})
    except tomllib.TOMLDecodeError as exc:
        raise KeyStoreError(f"{path}: not valid TOML ({exc})") from None
    if not isinstance(table, dict):
        raise KeyStoreError(f'{path}: [keys] must be a table of serial = "64 hex digits"')
    keys = {}
    for serial, text_key in table.items():
        try:
            keys[serial] = parse_key(str(text_key))
        except KeyFormatError as exc:
            raise KeyStoreError(f"{path}: key of {serial}: {exc}") from None
    return keys


def _write(keys: dict[str, bytes], path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [
        "# Device keys for NMP/1 authenticated mode, written by `massager pair`.",
        "# Anyone who reads this file can drive these devices: keep it private.",
        "[keys]",
    ]
    # a JSON string is a valid TOML basic string for these texts
    lines += [
        f"{json.dumps(serial)} = {json.dumps(format_key(key))}" for serial, key in keys.items()
    ]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)  # O_CREAT's mode only applies to a new file
    os.replace(tmp, path)


def store_key(serial: str, key: bytes, path: Path | None = None) -> Path:
    """Keep ``key`` for the device ``serial`` (replacing any); returns the file."""
    path = keys_path() if path is None else path
    format_key(key)  # checks its length
    keys = load_keys(path)
    keys[serial] = key
    _write(keys, path)
    return path


def forget_key(serial: str, path: Path | None = None) -> bool:
    """Drop the key of ``serial``; whether there was one (in the file or in memory)."""
    path = keys_path() if path is None else path
    keys = load_keys(path)
    had = _memory.pop(serial, None) is not None
    if serial in keys:
        del keys[serial]
        _write(keys, path)
        return True
    return had


def remember(key: bytes, serial: str | None = None) -> None:
    """Use ``key`` in this process without writing it anywhere: for ``serial``, or,
    without one, for whichever device reports its key id (a bridge's device entry)."""
    format_key(key)
    if serial is None:
        if key not in _unbound:
            _unbound.append(key)
    else:
        _memory[serial] = key


def key_for(serial: str, key_id: int | None = None) -> bytes | None:
    """The key to use for the device ``serial`` whose SESSION reports ``key_id``.

    Candidates, in order: this process's key for the serial, its keys for no
    serial in particular, the user's file's key for the serial. The first whose
    id is ``key_id`` wins; if none matches, the first candidate (the device will
    refuse it, and the host says so); ``None`` when there is no candidate.
    """
    candidates = [k for k in (_memory.get(serial), *_unbound) if k is not None]
    stored = load_keys().get(serial)
    if stored is not None:
        candidates.append(stored)
    if key_id is not None:
        for key in candidates:
            if nmp_auth.key_id(key) == key_id:
                return key
    return candidates[0] if candidates else None
