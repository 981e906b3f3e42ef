"""Compiled programs are shared between alike devices: one command stream for a fleet.

A bridge playing one program on a hundred devices of a model holds one command
stream, not a hundred (each copy is thousands of objects the garbage collector
scans, and a full collection holds up every runner in the process).
"""

from __future__ import annotations

import dataclasses

from massager_sdk.programs import compile_program, load_program
from tests.programs.devices import HEAT4, NECK2_PLAIN


def test_alike_devices_share_the_command_stream_but_keep_their_own_capabilities() -> None:
    first = dataclasses.replace(HEAT4, serial="H4-000001", firmware="1.0.0")
    second = dataclasses.replace(HEAT4, serial="H4-000002", firmware="1.0.1")
    a = compile_program(load_program("classic"), first)
    b = compile_program(load_program("classic"), second)
    assert b.commands is a.commands and b.timeline is a.timeline
    assert a.caps is first and b.caps is second
    assert b.notes == a.notes


def test_what_changes_the_result_is_compiled_anew() -> None:
    classic = compile_program(load_program("classic"), HEAT4)
    held = compile_program(load_program("classic"), HEAT4, zone_max=(2, 2, 2, 2))
    assert held.commands is not classic.commands
    assert max(o.level for zone in held.timeline.outputs for _, o in zone) <= 2
    other_model = compile_program(load_program("classic"), NECK2_PLAIN)
    assert other_model.commands is not classic.commands
    assert len(other_model.caps.zones) == len(NECK2_PLAIN.zones)
    other_program = compile_program(load_program("office-break"), HEAT4)
    assert other_program.program.name == "office-break"
    assert other_program.commands is not classic.commands


def test_a_shared_result_is_the_one_a_fresh_compile_gives() -> None:
    shared = compile_program(load_program("classic"), HEAT4)
    again = compile_program(load_program("classic"), dataclasses.replace(HEAT4, serial="X"))
    fresh_caps = dataclasses.replace(HEAT4, serial="Y", min_gap_s=HEAT4.min_gap_s + 0.001)
    fresh = compile_program(load_program("classic"), fresh_caps)
    assert again.commands == shared.commands
    assert fresh.commands is not shared.commands  # another min_gap_s: compiled anew
