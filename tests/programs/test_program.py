"""Program files: built-ins, validation errors with file, line, field and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from massager_sdk.errors import MassagerError
from massager_sdk.programs import (
    SESSION_LIMIT_S,
    TECHNIQUES,
    ProgramError,
    builtin_names,
    list_programs,
    load_program,
    validate_file,
)
from massager_sdk.programs.schema import program_schema, schema_text, techniques_table_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"

GOOD = """\
name = "mine"
title = "Mine"

[[stage]]
name = "preparatory"

[[stage.step]]
technique = "stroking"
duration = 60
repetitions = 5

[[stage]]
name = "main"
heat = 40

[[stage.step]]
technique = "kneading"
duration = 120
intensity = 0.7
zones = ["shoulders"]
params = { swell_s = 5 }
"""


def write(tmp_path: Path, text: str, name: str = "prog.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ProgramError:
    path = write(tmp_path, text)
    with pytest.raises(ProgramError) as caught:
        validate_file(path)
    error = caught.value
    assert isinstance(error, MassagerError)
    assert error.file == str(path)
    assert str(path) in str(error)
    return error


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------
# Built-in programs
# --------------------------------------------------------------------------


def test_the_four_built_in_programs_exist() -> None:
    assert builtin_names() == ["acupressure", "classic", "evening-heat", "office-break"]


@pytest.mark.parametrize("name", ["acupressure", "classic", "evening-heat", "office-break"])
def test_every_built_in_validates_within_twenty_minutes(name: str) -> None:
    program = load_program(name)
    assert program.name == name
    assert program.title and program.description
    assert 0 < program.duration_s <= SESSION_LIMIT_S
    # Every session opens and closes with stroking.
    steps = [step for _, step in program.steps()]
    assert steps[0].technique == "stroking"
    assert steps[-1].technique == "stroking"
    assert [s.name for s in program.stages] == ["preparatory", "main", "final"]


def test_classic_is_the_articles_full_session() -> None:
    program = load_program("classic")
    prep, main, final = program.stages
    assert [s.technique for s in prep.steps] == ["stroking"]
    assert prep.duration_s <= 120  # warm-up at most 2 minutes
    assert 5 <= prep.steps[0].cycles <= 7  # 5-7 repetitions
    assert [s.technique for s in main.steps] == [
        "squeezing",
        "rubbing",
        "stroking",  # "after rubbing, stroke three times"
        "kneading",
        "vibration",
        "pinching",
    ]
    assert main.steps[2].cycles == 3
    rubbing = main.steps[1]
    assert 3 <= rubbing.cycles <= 4  # energetic: 3-4 repetitions
    assert 180 <= main.steps[3].duration_s <= 240  # kneading 3-4 minutes
    # Soothing end: light patting, then stroking.
    assert [s.technique for s in final.steps] == ["vibration", "stroking"]
    assert final.steps[0].intensity <= 0.4
    assert program.duration_s <= 20 * 60


def test_office_break_is_about_five_minutes() -> None:
    assert 270 <= load_program("office-break").duration_s <= 330


def test_evening_heat_heats_then_cools_down() -> None:
    program = load_program("evening-heat")
    heats = [step.heat_c for _, step in program.steps()]
    assert heats[0] == 40.0
    assert all(h is not None and h <= 42 for h in heats[:-1])
    assert heats[-1] is None  # the final stage turns the heater off


def test_acupressure_presses_about_fifteen_times() -> None:
    program = load_program("acupressure")
    presses = [s for _, s in program.steps() if s.technique == "acupressure"]
    assert sum(s.cycles for s in presses) == 15
    assert all(float(s.params["press_s"]) <= 5 for s in presses)


def test_list_programs_summarises_the_built_ins() -> None:
    infos = {info.name: info for info in list_programs()}
    assert set(infos) == set(builtin_names())
    classic = infos["classic"]
    assert classic.duration_s == load_program("classic").duration_s
    assert classic.stages == ("preparatory", "main", "final")
    assert "kneading" in classic.techniques
    assert classic.source == "builtin:classic"


def test_load_program_reads_a_file_by_path(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    program = load_program(str(path))
    assert program.name == "mine"
    assert program.source == str(path)
    main = program.stages[1].steps[0]
    assert main.heat_c == 40.0 and main.zones == ("shoulders",)
    assert main.params["swell_s"] == 5 and main.params["alternate"] is True
    assert main.cycles == 24  # 120 s of 5 s swells


def test_unknown_program_name_lists_the_built_ins() -> None:
    with pytest.raises(ProgramError) as caught:
        load_program("clasic")
    assert "clasic" in str(caught.value)
    assert caught.value.allowed is not None
    for name in builtin_names():
        assert name in caught.value.allowed


def test_missing_file_is_a_program_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="no such file"):
        validate_file(tmp_path / "nope.toml")


# --------------------------------------------------------------------------
# Bad files: file, line, field, what is allowed
# --------------------------------------------------------------------------


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = GOOD.replace("duration = 120", "duration = = 120")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "duration = = 120")
    assert error.problems[0].column is not None
    assert "syntax" in str(error)


def test_unknown_technique_lists_the_techniques(tmp_path: Path) -> None:
    text = GOOD.replace('technique = "kneading"', 'technique = "shiatsu"')
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "shiatsu")
    assert error.field == "stage[2].step[1].technique"
    assert "'shiatsu'" in str(error)
    assert error.allowed is not None
    for name in TECHNIQUES:
        assert repr(name) in error.allowed


def test_out_of_range_intensity_says_what_is_allowed(tmp_path: Path) -> None:
    text = GOOD.replace("intensity = 0.7", "intensity = 1.5")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "intensity = 1.5")
    assert error.field == "stage[2].step[1].intensity"
    assert "1.5" in str(error)
    assert error.allowed == "a number from 0 to 1"


def test_negative_duration_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("duration = 60", "duration = -60")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "duration = -60")
    assert error.field == "stage[1].step[1].duration"
    assert error.allowed is not None and "above 0" in error.allowed


def test_a_session_over_twenty_minutes_is_refused_at_the_step_that_passes_it(
    tmp_path: Path,
) -> None:
    text = GOOD + (
        '\n[[stage]]\nname = "final"\n\n[[stage.step]]\ntechnique = "vibration"\n'
        'duration = 600\n\n[[stage.step]]\ntechnique = "pinching"\nduration = 500\n'
    )
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, 'technique = "pinching"') - 1  # its [[stage.step]]
    assert error.field == "stage[3].step[2]"
    assert "21:20" in str(error) and "20:00" in str(error)
    assert error.allowed is not None and "20 minutes" in error.allowed


def test_unknown_field_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD.replace("intensity = 0.7", "intensity = 0.7\nspeed = 3")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "speed = 3")
    assert error.field == "stage[2].step[1].speed"
    assert error.allowed is not None
    for name in ("technique", "duration", "repetitions", "intensity", "zones", "heat"):
        assert name in error.allowed


def test_unknown_parameter_in_an_inline_table_is_found_on_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("params = { swell_s = 5 }", "params = { swell_s = 5, depth = 3 }")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "depth = 3")
    assert error.field == "stage[2].step[1].params.depth"
    assert error.allowed == "swell_s, alternate"


def test_acupressure_presses_longer_than_five_seconds_are_refused(tmp_path: Path) -> None:
    text = (
        '[[stage]]\nname = "main"\n\n[[stage.step]]\ntechnique = "acupressure"\n'
        "[stage.step.params]\npress_s = 8\n"
    )
    error = error_for(tmp_path, text)
    assert error.line == 7
    assert error.field == "stage[1].step[1].params.press_s"
    assert error.allowed == "a number from 1 to 5"


def test_repetitions_that_squeeze_a_movement_too_short_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("repetitions = 5", "repetitions = 50")
    error = error_for(tmp_path, text)
    assert error.field == "stage[1].step[1].duration"
    assert "1.2 s" in str(error)
    assert error.allowed == "one stroking sweep lasts 3 to 40 s"


def test_heat_above_the_policy_maximum_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("heat = 40", "heat = 48")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "heat = 48")
    assert error.field == "stage[2].heat"
    assert error.allowed == "a number from 30 to 42 or 'off'"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("intensity = 0.7", "intensity = 2").replace(
        "duration = 60", 'duration = "long"'
    )
    error = error_for(tmp_path, text)
    fields = {p.field for p in error.problems}
    assert fields == {"stage[1].step[1].duration", "stage[2].step[1].intensity"}
    assert len(str(error).splitlines()) == 2


def test_a_step_without_a_technique_and_a_stage_without_steps(tmp_path: Path) -> None:
    text = '[[stage]]\nname = "a"\n\n[[stage]]\nname = "b"\n[[stage.step]]\nduration = 5\n'
    error = error_for(tmp_path, text)
    messages = {p.field: p for p in error.problems}
    assert messages["stage[1]"].line == 1
    assert "stage[1].step" in messages["stage[1]"].message
    assert messages["stage[2].step[1]"].line == 6
    assert "technique" in messages["stage[2].step[1]"].message


def test_a_file_without_stages(tmp_path: Path) -> None:
    error = error_for(tmp_path, 'name = "empty"\n')
    assert "[[stage]]" in str(error)


# --------------------------------------------------------------------------
# The published JSON Schema
# --------------------------------------------------------------------------


def test_published_schema_is_generated_from_the_loader() -> None:
    published = (DOCS / "program.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), (
        "docs/program.schema.json is stale: "
        "python -m massager_sdk.programs.schema > docs/program.schema.json"
    )


def test_schema_describes_every_technique_and_its_parameters() -> None:
    schema = program_schema()
    params = schema["$defs"]["params"]
    assert set(params) == set(TECHNIQUES)
    for name, technique in TECHNIQUES.items():
        assert set(params[name]["properties"]) == {p.name for p in technique.params}
        assert params[name]["additionalProperties"] is False
    step = schema["$defs"]["step"]
    assert step["properties"]["intensity"]["minimum"] == 0.0
    assert step["properties"]["intensity"]["maximum"] == 1.0
    assert step["additionalProperties"] is False
    json.dumps(schema)  # plain JSON


def test_the_docs_table_of_techniques_is_generated_from_the_definitions() -> None:
    text = (DOCS / "programs.md").read_text(encoding="utf-8")
    block = text.split("<!-- techniques:begin -->\n")[1].split("<!-- techniques:end -->")[0]
    assert block == techniques_table_markdown(), (
        "docs/programs.md is stale: paste techniques_table_markdown() between the markers"
    )


@pytest.mark.parametrize("name", ["acupressure", "classic", "evening-heat", "office-break"])
def test_the_docs_give_each_built_in_its_length(name: str) -> None:
    text = (DOCS / "programs.md").read_text(encoding="utf-8")
    seconds = round(load_program(name).duration_s)
    assert f"| `{name}` | {seconds // 60}:{seconds % 60:02d} |" in text
