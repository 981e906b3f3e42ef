"""The spec's byte tables are generated from the code: they must not drift."""

from __future__ import annotations

import pytest
from massager_protocols.nmp import spec


def test_spec_tables_match_the_code() -> None:
    text = spec.SPEC_PATH.read_text()
    assert spec.update(text) == text, "run: python -m massager_protocols.nmp.spec --write"


def test_drift_is_detected() -> None:
    text = spec.SPEC_PATH.read_text()
    tampered = text.replace("| `intensity` | u8 |", "| `intensity` | u16 |", 1)
    assert tampered != text
    assert spec.update(tampered) != tampered


def test_a_missing_block_is_an_error() -> None:
    text = spec.SPEC_PATH.read_text()
    start = text.index("<!-- generated:msg-event -->")
    end = text.index("<!-- end:msg-event -->") + len("<!-- end:msg-event -->")
    with pytest.raises(KeyError, match="msg-event"):
        spec.update(text[:start] + text[end:])


def test_check_command_exit_codes(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    good = tmp_path / "good.md"
    good.write_text(spec.SPEC_PATH.read_text())
    assert spec.main(["--check", "--spec", str(good)]) == 0
    bad = tmp_path / "bad.md"
    bad.write_text(good.read_text().replace("| `seq` | u8 |", "| `seq` | u32 |"))
    assert spec.main(["--check", "--spec", str(bad)]) == 1
    assert spec.main(["--write", "--spec", str(bad)]) == 0
    assert bad.read_text() == good.read_text()
