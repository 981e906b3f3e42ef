"""The committed C (protocols/c/nmp1_gen.*) is generated from the Python definitions."""

from __future__ import annotations

from pathlib import Path

from massager_protocols.nmp import MESSAGES, cgen
from massager_protocols.nmp.messages import CODE_TABLES

FIX = "python -m massager_protocols.nmp.cgen --write"


def test_the_committed_c_matches_the_python_definitions() -> None:
    for name, text in cgen.render().items():
        committed = (cgen.C_DIR / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"{name} drifted; run: python -m massager_protocols.nmp.cgen --write"
        )


def test_the_check_command_fails_on_drift_and_write_repairs_it(tmp_path: Path) -> None:
    for name, text in cgen.render().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert cgen.main(["--check", "--dir", str(tmp_path)]) == 0
    header = tmp_path / cgen.HEADER
    header.write_text(
        header.read_text().replace("uint16_t period_ms;", "uint8_t period_ms;"), encoding="utf-8"
    )
    assert cgen.main(["--check", "--dir", str(tmp_path)]) == 1
    assert cgen.main(["--write", "--dir", str(tmp_path)]) == 0
    assert cgen.main(["--check", "--dir", str(tmp_path)]) == 0


def test_every_message_and_code_is_in_the_header() -> None:
    header = cgen.render_header()
    for cls in MESSAGES.values():
        assert f"#define NMP1_MSG_{cls.TYPE.name} 0x{cls.TYPE:02X}" in header
        assert f"#define NMP1_{cls.TYPE.name}_MIN_SIZE " in header
    for title, codes in CODE_TABLES.items():
        for member in codes:
            assert f"_{member.name} 0x{member.value:02X}" in header, (title, member)
