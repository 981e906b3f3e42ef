"""The conformance suite catches broken firmware: one-fault variants of the simulator.

Each variant below is the simulated firmware with exactly one MUST of the NMP/1
spec broken, the way a firmware team could get it wrong. Every one must fail
the suite (in the check that tests that MUST), and the unmodified simulator must
pass it; so a check that cannot fail, or a MUST no check covers, shows here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from massager_protocols.nmp import (
    EventCode,
    Fault,
    Frame,
    Message,
    MsgType,
    NackCode,
    SetAutoOff,
    SetHeat,
    SetOutput,
    Status,
    StopAll,
    StreamDecoder,
    Waveform,
    decode_frame,
    encode_frame,
)
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual
from massager_simulator.link import Port
from massager_simulator.personalities.nmp import NmpPersonality

from massager_sdk.conformance import CHECKS, CheckResult, run_conformance, run_failed

# -- the firmware's faults -------------------------------------------------------


class WatchdogLeavesHeaterOn(SimulatedDevice):
    """The watchdog stops the motors and forgets the heater."""

    def _halt(self, now: float, flag: Fault, code: EventCode, value: int) -> None:
        target = self._heat.target_c if self._heat is not None else 0.0
        super()._halt(now, flag, code, value)
        if flag == Fault.WATCHDOG and self._heat is not None:
            self._heat.target_c = target


class StopAllLeavesHeaterOn(SimulatedDevice):
    """STOP_ALL stops the motors only."""

    def _stop_all(self, m: StopAll, now: float) -> int:
        target = self._heat.target_c if self._heat is not None else 0.0
        super()._stop_all(m, now)
        if self._heat is not None:
            self._heat.target_c = target
        return 0


class PatternsNeverPlay(SimulatedDevice):
    """A pattern plays as a steady level."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        code = super()._set_output(m, now)
        if not code and m.waveform == Waveform.PATTERN:
            super()._set_output(dataclasses.replace(m, waveform=Waveform.CONSTANT), now)
        return code


class PulseNeverPlays(SimulatedDevice):
    """PULSE runs steady."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        if m.waveform == Waveform.PULSE:
            m = dataclasses.replace(m, waveform=Waveform.CONSTANT, period_ms=0)
        return super()._set_output(m, now)


class NackedCommandApplies(SimulatedDevice):
    """SET_OUTPUT sets the level before it checks the waveform."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        if m.intensity <= self.model.intensity_steps and m.zone_mask:
            for index, motor in enumerate(self._motors):
                if m.zone_mask >> index & 1 and motor.target:
                    motor.target = m.intensity
        return super()._set_output(m, now)


class NackedAutoOffRestarts(SimulatedDevice):
    """SET_AUTO_OFF restarts the count before it checks the value."""

    def _set_auto_off(self, m: SetAutoOff, now: float) -> int:
        if self._on_since is not None:
            self._on_since = now
        return super()._set_auto_off(m, now)


class AutoOffRestartsOnSet(SimulatedDevice):
    """SET_AUTO_OFF starts the count again (a host could hold the device on)."""

    def _set_auto_off(self, m: SetAutoOff, now: float) -> int:
        code = super()._set_auto_off(m, now)
        if not code and self._on_since is not None:
            self._on_since = now
        return code


class PulseWithoutPeriodAccepted(SimulatedDevice):
    """PULSE with period 0 is acknowledged (and plays steady)."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        if m.waveform == Waveform.PULSE and m.period_ms == 0:
            m = dataclasses.replace(m, waveform=Waveform.CONSTANT)
        return super()._set_output(m, now)


class HeatLockBeforeRange(SimulatedDevice):
    """A faulted heater answers HEAT_LOCKED before it checks the value (wrong precedence)."""

    def _set_heat(self, m: SetHeat, now: float) -> int:
        if m.target_dc and self._flags & (Fault.SENSOR | Fault.OVERHEAT):
            return NackCode.HEAT_LOCKED
        return super()._set_heat(m, now)


class ZoneMaskZeroAccepted(SimulatedDevice):
    """SET_OUTPUT with no zone is acknowledged."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        return 0 if m.zone_mask == 0 else super()._set_output(m, now)


class IntensityClamped(SimulatedDevice):
    """An intensity above the steps is clamped, not refused."""

    def _set_output(self, m: SetOutput, now: float) -> int:
        steps = self.model.intensity_steps
        return super()._set_output(dataclasses.replace(m, intensity=min(m.intensity, steps)), now)


class HeatAboveLimitAccepted(SimulatedDevice):
    """A heat target above the limit is acknowledged (and capped)."""

    def _set_heat(self, m: SetHeat, now: float) -> int:
        limit = self.info.heat_limit_dc
        return super()._set_heat(SetHeat(min(m.target_dc, limit)), now)


class HeatLockIgnored(SimulatedDevice):
    """SET_HEAT is obeyed while the sensor is faulted."""

    def _set_heat(self, m: SetHeat, now: float) -> int:
        flags = self._flags
        self._flags &= ~(Fault.SENSOR | Fault.OVERHEAT)
        try:
            return super()._set_heat(m, now)
        finally:
            self._flags = flags


class NoSensorCutoff(SimulatedDevice):
    """An implausible temperature reading is not a fault."""

    def _sense(self) -> float:
        return self._healthy_reading()


class WatchdogLatchSticks(SimulatedDevice):
    """The WATCHDOG latch never clears."""

    def _accepted_output(self, now: float, *, switched_on: bool) -> None:
        latched = self._flags & Fault.WATCHDOG
        super()._accepted_output(now, switched_on=switched_on)
        self._flags |= latched


class AutoOffLatchSticks(SimulatedDevice):
    """The AUTO_OFF latch never clears."""

    def _accepted_output(self, now: float, *, switched_on: bool) -> None:
        latched = self._flags & Fault.AUTO_OFF
        super()._accepted_output(now, switched_on=switched_on)
        self._flags |= latched


class AutoOffStuckAtZero(SimulatedDevice):
    """STATUS reports auto-off 0 whatever the count."""

    def _status(self, now: float) -> Status:
        return dataclasses.replace(super()._status(now), auto_off_s=0)


class AutoOffIgnoresSetting(SimulatedDevice):
    """SET_AUTO_OFF is acknowledged and ignored."""

    def _set_auto_off(self, m: SetAutoOff, now: float) -> int:
        return 0 if m.seconds <= self.model.auto_off_max_s else NackCode.OUT_OF_RANGE


class WatchdogNeverFires(SimulatedDevice):
    """The watchdog is fed by the device's own loop."""

    def _tick(self, now: float) -> None:
        self._last_rx = now
        super()._tick(now)


class MonitorFeedsWatchdog(SimulatedDevice):
    """Any valid frame on any link feeds the watchdog (NMP/1 1.0's reading)."""

    def heard(self, now: float, link: object | None = None) -> None:
        super().heard(now, None)


class SecondLinkTakesOverSilently(SimulatedDevice):
    """A second link's commands are obeyed while another link controls."""

    def apply(self, message: Message, now: float, link: object | None = None) -> int:
        if self._controller is not None and link is not self._controller:
            self._controller = link
        return super().apply(message, now, link)


class LinkStopUnreported(SimulatedDevice):
    """A stop from another link is not reported to the controlling one."""

    def _event(self, now: float, code: EventCode, state: Any, value: int = 0) -> None:
        if code != EventCode.LINK_STOP:
            super()._event(now, code, state, value)


class ButtonLeavesHeaterOn(SimulatedDevice):
    """The button stops the motors only."""

    def _stop_everything(self) -> None:
        import traceback

        pressed = any(f.name == "press_button" for f in traceback.extract_stack(limit=4))
        target = self._heat.target_c if self._heat is not None else 0.0
        super()._stop_everything()
        if pressed and self._heat is not None:
            self._heat.target_c = target


class NoTelemetry(SimulatedDevice):
    """No unprompted STATUS at all."""

    def _broadcast_status(self, now: float) -> None:
        self._next_status = now + 1.0


class SilentWhenOff(SimulatedDevice):
    """No STATUS when everything has gone off."""

    def _report_off(self, now: float) -> None:
        pass


# -- the wire's faults (the personality) ---------------------------------------------


class _Mutant(NmpPersonality):
    """The NMP/1 personality with one change to the frames it answers."""

    def answer(self, frame: Frame, reply: bytes) -> bytes:
        return reply

    def _dispatch(self, port: Port, frame: Frame, now: float) -> bytes:
        return self.answer(frame, super()._dispatch(port, frame, now))


class _WithPersonality(SimulatedDevice):
    personality_class: type[NmpPersonality] = NmpPersonality

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.personality = self.personality_class(self)


class _WrongSeq(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        out = decode_frame(reply)
        if out.msg_type != MsgType.ACK:
            return reply
        return encode_frame(frame.seq % 255 + 1, out.msg_type, out.payload)


class AckEchoesWrongSeq(_WithPersonality):
    """ACKs carry the next sequence number."""

    personality_class = _WrongSeq


class _StatusSeqZero(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        out = decode_frame(reply)
        if out.msg_type != MsgType.STATUS:
            return reply
        return encode_frame(0, out.msg_type, out.payload)


class _SeqZeroAnswered(NmpPersonality):
    def port_bytes(self, port: Port, data: bytes) -> None:
        frames = self.decoder(port).feed(data)
        now = self.device._clock()
        for frame in frames:
            self.send(port, self._dispatch(port, frame, now))


class SeqZeroAnswered(_WithPersonality):
    """A host frame numbered 0 is carried out and answered."""

    personality_class = _SeqZeroAnswered


class StatusReplyUnnumbered(_WithPersonality):
    """STATUS in reply to GET_STATUS carries seq 0."""

    personality_class = _StatusSeqZero


class _ShortHeat(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        if frame.msg_type == MsgType.SET_HEAT and len(frame.payload) == 1:
            return encode_frame(frame.seq, MsgType.ACK, bytes([MsgType.SET_HEAT]))
        return reply


class ShortSetHeatAccepted(_WithPersonality):
    """A 1-byte SET_HEAT is acknowledged."""

    personality_class = _ShortHeat


class _StrictLength(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        if frame.msg_type == MsgType.KEEPALIVE and frame.payload:
            return encode_frame(frame.seq, MsgType.NACK, bytes([frame.msg_type, 0x08]))
        return reply


class LongKeepaliveRefused(_WithPersonality):
    """A KEEPALIVE with bytes beyond its (empty) layout is NACKed."""

    personality_class = _StrictLength


class _UnknownAcked(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        if frame.msg_type not in set(MsgType):
            return encode_frame(frame.seq, MsgType.ACK, bytes([frame.msg_type]))
        return reply


class UnknownTypeAcked(_WithPersonality):
    """A type the firmware does not know is acknowledged."""

    personality_class = _UnknownAcked


class _WholeCandidateDropped(StreamDecoder):
    """After a CRC failure, skips the whole candidate instead of one byte."""

    def _valid(self, start: int, end: int) -> bool:
        ok = super()._valid(start, end)
        if not ok:
            self._buf[start + 1 : end] = bytes(end - start - 1)
        return ok


class _EagerDecoder(StreamDecoder):
    """Takes a complete frame that starts inside an incomplete candidate."""

    TRUST_HEADER = False


def _decoding_with(decoder: type[StreamDecoder]) -> type[NmpPersonality]:
    class Personality(NmpPersonality):
        def decoder(self, port: Port) -> StreamDecoder:
            made: StreamDecoder = self.port_state(port, decoder)
            return made

    return Personality


class NoResyncAfterBadCrc(_WithPersonality):
    """A CRC failure discards the whole candidate, frames inside it too."""

    personality_class = _decoding_with(_WholeCandidateDropped)


class EmbeddedFrameAnswered(_WithPersonality):
    """A frame inside a longer frame's payload is taken for a frame (rule 5 of 2.1)."""

    personality_class = _decoding_with(_EagerDecoder)


#: Each variant and a word of the check that must catch it.
MUTANTS: dict[type[SimulatedDevice], str] = {
    WatchdogLeavesHeaterOn: "watchdog stops",
    StopAllLeavesHeaterOn: "STOP_ALL switches the heater off",
    PatternsNeverPlay: "patterns play",
    PulseNeverPlays: "pulse and wave",
    NackedCommandApplies: "NACKed command changes nothing",
    NackedAutoOffRestarts: "NACKed command changes nothing",
    AutoOffRestartsOnSet: "auto-off counts down",
    PulseWithoutPeriodAccepted: "out-of-range",
    HeatLockBeforeRange: "sensor fault",
    ZoneMaskZeroAccepted: "out-of-range",
    IntensityClamped: "out-of-range",
    HeatAboveLimitAccepted: "out-of-range",
    HeatLockIgnored: "sensor fault",
    NoSensorCutoff: "sensor fault",
    WatchdogLatchSticks: "watchdog stops",
    AutoOffLatchSticks: "auto-off counts down",
    AutoOffStuckAtZero: "auto-off counts down",
    AutoOffIgnoresSetting: "auto-off counts down",
    WatchdogNeverFires: "watchdog stops",
    MonitorFeedsWatchdog: "monitor",
    SecondLinkTakesOverSilently: "monitor",
    LinkStopUnreported: "monitor",
    ButtonLeavesHeaterOn: "button",
    NoTelemetry: "STATUS about once a second",
    SilentWhenOff: "STATUS about once a second",
    AckEchoesWrongSeq: "echoes the request's sequence",
    StatusReplyUnnumbered: "echoes the request's sequence",
    SeqZeroAnswered: "echoes the request's sequence",
    ShortSetHeatAccepted: "shorter than its layout",
    LongKeepaliveRefused: "beyond a payload's layout",
    UnknownTypeAcked: "unknown message types",
    NoResyncAfterBadCrc: "failed candidate",
    EmbeddedFrameAnswered: "inside a payload",
}


def conformance_of(device: Callable[[str], SimulatedDevice]) -> list[CheckResult]:
    async def main() -> list[CheckResult]:
        async with device("heat4") as sim:
            return await run_conformance("sim://heat4", simulator=sim)

    return run_virtual(main)


def test_the_unmodified_simulator_passes_every_check() -> None:
    results = conformance_of(SimulatedDevice)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    auth = [r for r in results if r.section.startswith("10")]  # heat4 has no AUTH mode
    assert all("does not advertise AUTH" in r.detail and not r.tested for r in auth), auth
    others = [r for r in results if r not in auth]
    assert all(r.passed and r.tested for r in others), [r for r in others if not r.passed]
    assert not run_failed(results, strict=True)


def test_there_are_at_least_twenty_variants() -> None:
    assert len(MUTANTS) >= 20


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_a_broken_must_fails_conformance(mutant: type[SimulatedDevice]) -> None:
    results = conformance_of(mutant)
    failed = [r.name for r in results if r.fails()]
    assert run_failed(results), f"{mutant.__name__} ({mutant.__doc__}) passed conformance"
    assert any(MUTANTS[mutant] in name for name in failed), failed
