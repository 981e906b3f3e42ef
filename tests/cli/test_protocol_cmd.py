"""``massager protocol decode|vectors`` and the CLI's general behaviour."""

from __future__ import annotations

import json
import re

from massager_protocols.nmp import SetHeat, SetOutput, Status, Waveform, encode, encode_frame
from massager_protocols.vectors import load

from tests.cli.helpers import massager

ANSI = re.compile(r"\x1b\[")


def test_decode_prints_fields_with_names() -> None:
    frame = encode(SetOutput(0b11, 5, Waveform.WAVE, 0, 2000), 7)
    result = massager("protocol", "decode", frame.hex(" "))
    assert result.returncode == 0, result.stderr
    assert "seq   7  SET_OUTPUT" in result.stdout
    assert "zone_mask=[0, 1]" in result.stdout and "waveform=WAVE" in result.stdout
    assert not ANSI.search(result.stdout), "no control codes when not on a terminal"


def test_decode_reports_bad_bytes_without_failing() -> None:
    good = encode(SetHeat(400), 8)
    corrupt = bytearray(encode(SetHeat(410), 9))
    corrupt[5] ^= 0xFF
    unknown = encode_frame(3, 0x7E, b"")
    data = b"\x00\x11" + bytes(corrupt) + good + unknown + b"\xa5\x01\x05"
    result = massager("protocol", "decode", "--json", "-", stdin=data.hex(":"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f["message"] for f in report["frames"]] == ["SET_HEAT", "UNKNOWN"]
    assert report["frames"][0]["fields"] == {"target_c": 40.0}
    assert report["frames"][1]["error"] == "unknown message type 0x7E"
    assert report["crc_errors"] == 1
    assert report["bytes_skipped"] == 2 + len(corrupt)
    assert report["incomplete_bytes"] == 3


def test_decode_status_spells_out_packed_fields() -> None:
    status = Status.make(battery_pct=None, heat_target_dc=420, temperature_dc=-15, intensities=(2,))
    result = massager("protocol", "decode", "--json", "0x" + encode(status, 0).hex())
    fields = json.loads(result.stdout)["frames"][0]["fields"]
    assert fields["battery_pct"] is None
    assert (fields["heat_target_c"], fields["temperature_c"]) == (42.0, -1.5)


def test_decode_bad_hex_is_a_usage_error() -> None:
    result = massager("protocol", "decode", "a5 01 zz")
    assert result.returncode == 2
    assert "not hex: 'z'" in result.stderr
    result = massager("protocol", "decode", "a5 0")
    assert result.returncode == 2
    assert "odd number of hex digits" in result.stderr


def test_vectors_json_is_the_shipped_file() -> None:
    result = massager("protocol", "vectors", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == load("nmp1")


def test_vectors_unknown_protocol() -> None:
    result = massager("protocol", "vectors", "--protocol", "nope")
    assert result.returncode == 2
    assert "no vectors named 'nope'" in result.stderr and "nmp1" in result.stderr


def test_help_has_examples_for_every_verb() -> None:
    top = massager("--help")
    assert top.returncode == 0
    verbs = re.findall(r"^    (\w+)\s", top.stdout, re.M)
    assert "protocol" in verbs and "simulate" in verbs
    for verb in verbs:
        page = massager(verb, "--help")
        assert page.returncode == 0, (verb, page.stderr)
        assert "example" in page.stdout.lower(), f"{verb} --help has no examples"


def test_unknown_verb_is_a_usage_error() -> None:
    result = massager("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_completion_script() -> None:
    result = massager("completion", "bash")
    assert result.returncode == 0
    assert "massager" in result.stdout and "complete" in result.stdout
