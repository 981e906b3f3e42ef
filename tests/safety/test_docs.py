"""docs/safety.md stays in step with the code: its tables are generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from massager_sdk.safety import (
    SPECS,
    Contraindication,
    Limit,
    SafetyLimits,
    limits_table_markdown,
    screening_table_markdown,
)
from massager_sdk.safety.screening import electrical_table_markdown
from massager_sdk.safety.thermal import dose_table_markdown

DOC = Path(__file__).parents[2] / "docs" / "safety.md"


def section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(f"<!-- generated:{name} -->\n(.*?)<!-- /generated:{name} -->", text, re.S)
    assert found, f"docs/safety.md lacks the generated {name} section"
    return found.group(1)


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("limits", limits_table_markdown()),
        ("screening", screening_table_markdown()),
        ("electrical", electrical_table_markdown()),
        ("dose", dose_table_markdown(SafetyLimits().dose_limit_fraction)),
    ],
)
def test_generated_tables_match_the_code(name: str, table: str) -> None:
    assert section(name) == table, f"regenerate the {name} table in docs/safety.md"


def test_says_plainly_it_is_not_medical_advice() -> None:
    assert "**This is not medical advice.**" in DOC.read_text(encoding="utf-8")


def test_every_limit_name_and_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in SPECS:
        assert f"`{name}`" in text
    refusal_names = set(Limit) - {Limit.OUTPUTS_OUTSIDE_POLICY}
    missing = [limit.value for limit in refusal_names if f"`{limit.value}`" not in text]
    assert not missing, f"refusal limits not explained in docs/safety.md: {missing}"
    for contraindication in Contraindication:
        assert f"`{contraindication.value}`" in text
