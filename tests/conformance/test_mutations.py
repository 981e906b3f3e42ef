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
    EnterTestMode,
    EventCode,
    EventState,
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
    TestInject,
    Waveform,
    decode_frame,
    encode_frame,
)
from massager_simulator import SimulatedDevice, load_model
from massager_simulator.clock import run_virtual
from massager_simulator.heating import Heating
from massager_simulator.link import Port
from massager_simulator.outputs import Outputs
from massager_simulator.personalities.nmp import NmpPersonality
from massager_simulator.power import Power
from massager_simulator.reports import Reports
from massager_simulator.supervisor import Supervisor
from massager_simulator.testmode import TestMode, offering

from massager_sdk.conformance import CHECKS, CheckResult, run_conformance, run_failed

# -- the firmware's faults -------------------------------------------------------
# Most variants break one part of the firmware (a subclass of the part, named in the
# device's ``*_class`` attribute); a few break the device's own dispatch or loop.


def _heater_target(device: SimulatedDevice) -> float:
    return 0.0 if device.heating is None else device.heating.control.target_c


def _restore_heater(device: SimulatedDevice, target: float) -> None:
    if device.heating is not None:
        device.heating.control.target_c = target


class _HaltLeavesHeaterOn(Supervisor):
    def halt(self, now: float, flag: Fault, code: EventCode, value: int) -> None:
        target = _heater_target(self.device)
        super().halt(now, flag, code, value)
        if flag == Fault.WATCHDOG:
            _restore_heater(self.device, target)


class WatchdogLeavesHeaterOn(SimulatedDevice):
    """The watchdog stops the motors and forgets the heater."""

    supervisor_class = _HaltLeavesHeaterOn


class _StopAllLeavesHeaterOn(Supervisor):
    def stop_all(self, m: StopAll, now: float) -> int:
        target = _heater_target(self.device)
        super().stop_all(m, now)
        _restore_heater(self.device, target)
        return 0


class StopAllLeavesHeaterOn(SimulatedDevice):
    """STOP_ALL stops the motors only."""

    supervisor_class = _StopAllLeavesHeaterOn


class _PatternsNeverPlay(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        code = super().set_output(m, now)
        if not code and m.waveform == Waveform.PATTERN:
            super().set_output(dataclasses.replace(m, waveform=Waveform.CONSTANT), now)
        return code


class PatternsNeverPlay(SimulatedDevice):
    """A pattern plays as a steady level."""

    outputs_class = _PatternsNeverPlay


class _PulseNeverPlays(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        if m.waveform == Waveform.PULSE:
            m = dataclasses.replace(m, waveform=Waveform.CONSTANT, period_ms=0)
        return super().set_output(m, now)


class PulseNeverPlays(SimulatedDevice):
    """PULSE runs steady."""

    outputs_class = _PulseNeverPlays


class _NackedCommandApplies(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        if m.intensity <= self.device.model.intensity_steps and m.zone_mask:
            for index, motor in enumerate(self.motors):
                if m.zone_mask >> index & 1 and motor.target:
                    motor.target = m.intensity
        return super().set_output(m, now)


class NackedCommandApplies(SimulatedDevice):
    """SET_OUTPUT sets the level before it checks the waveform."""

    outputs_class = _NackedCommandApplies


class _NackedAutoOffRestarts(Supervisor):
    def set_auto_off(self, m: SetAutoOff, now: float) -> int:
        if self.on_since is not None:
            self.on_since = now
        return super().set_auto_off(m, now)


class NackedAutoOffRestarts(SimulatedDevice):
    """SET_AUTO_OFF restarts the count before it checks the value."""

    supervisor_class = _NackedAutoOffRestarts


class _AutoOffRestartsOnSet(Supervisor):
    def set_auto_off(self, m: SetAutoOff, now: float) -> int:
        code = super().set_auto_off(m, now)
        if not code and self.on_since is not None:
            self.on_since = now
        return code


class AutoOffRestartsOnSet(SimulatedDevice):
    """SET_AUTO_OFF starts the count again (a host could hold the device on)."""

    supervisor_class = _AutoOffRestartsOnSet


class _PulseWithoutPeriodAccepted(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        if m.waveform == Waveform.PULSE and m.period_ms == 0:
            m = dataclasses.replace(m, waveform=Waveform.CONSTANT)
        return super().set_output(m, now)


class PulseWithoutPeriodAccepted(SimulatedDevice):
    """PULSE with period 0 is acknowledged (and plays steady)."""

    outputs_class = _PulseWithoutPeriodAccepted


class _HeatLockBeforeRange(Heating):
    def set_heat(self, m: SetHeat, now: float) -> int:
        if m.target_dc and self.device.supervisor.flags & (Fault.SENSOR | Fault.OVERHEAT):
            return NackCode.HEAT_LOCKED
        return super().set_heat(m, now)


class HeatLockBeforeRange(SimulatedDevice):
    """A faulted heater answers HEAT_LOCKED before it checks the value (wrong precedence)."""

    heating_class = _HeatLockBeforeRange


class _ZoneMaskZeroAccepted(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        return 0 if m.zone_mask == 0 else super().set_output(m, now)


class ZoneMaskZeroAccepted(SimulatedDevice):
    """SET_OUTPUT with no zone is acknowledged."""

    outputs_class = _ZoneMaskZeroAccepted


class _IntensityClamped(Outputs):
    def set_output(self, m: SetOutput, now: float) -> int:
        steps = self.device.model.intensity_steps
        return super().set_output(dataclasses.replace(m, intensity=min(m.intensity, steps)), now)


class IntensityClamped(SimulatedDevice):
    """An intensity above the steps is clamped, not refused."""

    outputs_class = _IntensityClamped


class _HeatAboveLimitAccepted(Heating):
    def set_heat(self, m: SetHeat, now: float) -> int:
        limit = self.device.info.heat_limit_dc
        return super().set_heat(SetHeat(min(m.target_dc, limit)), now)


class HeatAboveLimitAccepted(SimulatedDevice):
    """A heat target above the limit is acknowledged (and capped)."""

    heating_class = _HeatAboveLimitAccepted


class _HeatLockIgnored(Heating):
    def set_heat(self, m: SetHeat, now: float) -> int:
        supervisor = self.device.supervisor
        flags = supervisor.flags
        supervisor.flags &= ~(Fault.SENSOR | Fault.OVERHEAT)
        try:
            return super().set_heat(m, now)
        finally:
            supervisor.flags = flags


class HeatLockIgnored(SimulatedDevice):
    """SET_HEAT is obeyed while the sensor is faulted."""

    heating_class = _HeatLockIgnored


class _NoSensorCutoff(Heating):
    def sense(self) -> float:
        return self.healthy_reading()


class NoSensorCutoff(SimulatedDevice):
    """An implausible temperature reading is not a fault."""

    heating_class = _NoSensorCutoff


class _LatchSticks(Supervisor):
    sticky = Fault(0)

    def accepted(self, now: float, *, switched_on: bool) -> None:
        latched = self.flags & self.sticky
        super().accepted(now, switched_on=switched_on)
        self.flags |= latched


class _WatchdogLatchSticks(_LatchSticks):
    sticky = Fault.WATCHDOG


class WatchdogLatchSticks(SimulatedDevice):
    """The WATCHDOG latch never clears."""

    supervisor_class = _WatchdogLatchSticks


class _AutoOffLatchSticks(_LatchSticks):
    sticky = Fault.AUTO_OFF


class AutoOffLatchSticks(SimulatedDevice):
    """The AUTO_OFF latch never clears."""

    supervisor_class = _AutoOffLatchSticks


class AutoOffStuckAtZero(SimulatedDevice):
    """STATUS reports auto-off 0 whatever the count."""

    def _status(self, now: float) -> Status:
        return dataclasses.replace(super()._status(now), auto_off_s=0)


class _AutoOffIgnoresSetting(Supervisor):
    def set_auto_off(self, m: SetAutoOff, now: float) -> int:
        return 0 if m.seconds <= self.device.model.auto_off_max_s else NackCode.OUT_OF_RANGE


class AutoOffIgnoresSetting(SimulatedDevice):
    """SET_AUTO_OFF is acknowledged and ignored."""

    supervisor_class = _AutoOffIgnoresSetting


class WatchdogNeverFires(SimulatedDevice):
    """The watchdog is fed by the device's own loop."""

    def _tick(self, now: float) -> None:
        self.supervisor.last_rx = now
        super()._tick(now)


class MonitorFeedsWatchdog(SimulatedDevice):
    """Any valid frame on any link feeds the watchdog (NMP/1 1.0's reading)."""

    def heard(self, now: float, link: object | None = None) -> None:
        super().heard(now, None)


class SecondLinkTakesOverSilently(SimulatedDevice):
    """A second link's commands are obeyed while another link controls."""

    def apply(self, message: Message, now: float, link: object | None = None) -> int:
        supervisor = self.supervisor
        if supervisor.controller is not None and link is not supervisor.controller:
            supervisor.controller = link
        return super().apply(message, now, link)


class _LinkStopUnreported(Reports):
    def event(self, now: float, code: EventCode, state: EventState, value: int = 0) -> None:
        if code != EventCode.LINK_STOP:
            super().event(now, code, state, value)


class LinkStopUnreported(SimulatedDevice):
    """A stop from another link is not reported to the controlling one."""

    reports_class = _LinkStopUnreported


class _StopsMotorsOnlyWhenPressed(Supervisor):
    pressed = False

    def stop_everything(self) -> None:
        target = _heater_target(self.device)
        super().stop_everything()
        if self.pressed:
            _restore_heater(self.device, target)


class ButtonLeavesHeaterOn(SimulatedDevice):
    """The button stops the motors only."""

    supervisor_class = _StopsMotorsOnlyWhenPressed

    def press_button(self) -> None:
        supervisor = self.supervisor
        assert isinstance(supervisor, _StopsMotorsOnlyWhenPressed)
        supervisor.pressed = True
        try:
            super().press_button()
        finally:
            supervisor.pressed = False


class _NoTelemetry(Reports):
    def broadcast(self, now: float) -> None:
        self.next_status = now + 1.0


class NoTelemetry(SimulatedDevice):
    """No unprompted STATUS at all."""

    reports_class = _NoTelemetry


class _SilentWhenOff(Reports):
    def report_off(self, now: float) -> None:
        pass


class SilentWhenOff(SimulatedDevice):
    """No STATUS when everything has gone off."""

    reports_class = _SilentWhenOff


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


class _StatusLayout10(_Mutant):
    def answer(self, frame: Frame, reply: bytes) -> bytes:
        out = decode_frame(reply)
        if out.msg_type != MsgType.STATUS:
            return reply
        status = Status.decode_payload(out.payload)
        return encode_frame(out.seq, out.msg_type, status.encode_payload_1_0())


class StatusInTheOldLayout(_WithPersonality):
    """STATUS in 1.0's layout: a byte per zone, faults bit 7 clear."""

    personality_class = _StatusLayout10


class StatusZonesSwapped(SimulatedDevice):
    """STATUS packs each pair of zones the wrong way round (zone 0 in bits 4-7)."""

    def _status(self, now: float) -> Status:
        status = super()._status(now)
        levels = list(status.intensities)
        for i in range(0, len(levels) - 1, 2):
            levels[i], levels[i + 1] = levels[i + 1], levels[i]
        return dataclasses.replace(status, intensities=tuple(levels))


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
    StatusInTheOldLayout: "one level per zone",
    StatusZonesSwapped: "each zone's own level",
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


# -- faults only test mode shows over the wire (spec sections 7.4 to 7.6, 12) --------


class _NoOverheatCutoff(Heating):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.control.cutoff_c = float("inf")


class NoOverheatCutoff(SimulatedDevice):
    """The over-temperature cut-off never trips (the controller alone keeps the heat down)."""

    heating_class = _NoOverheatCutoff


class _SensorFaultLeavesHeaterOn(Heating):
    def tick(self, now: float, dt: float) -> None:
        before, target = self.device.supervisor.flags, self.control.target_c
        super().tick(now, dt)
        if self.device.supervisor.flags & ~before & Fault.SENSOR:
            self.control.target_c = target


class SensorFaultLeavesHeaterOn(SimulatedDevice):
    """A sensor fault is flagged and reported, and the heater stays on."""

    heating_class = _SensorFaultLeavesHeaterOn


class _FaultedSensorStillReported(Reports):
    def status(self, now: float) -> Status:
        status = super().status(now)
        heating = self.device.heating
        if heating is None or status.temperature_dc is not None:
            return status
        reading = max(-2047, min(2047, round(heating.sense() * 10)))
        heat = status.heat_target_dc | (reading & 0xFFF) << 12
        return dataclasses.replace(status, heat=heat)


class FaultedSensorStillReported(SimulatedDevice):
    """STATUS keeps showing the faulted sensor's reading instead of -2048 (none)."""

    reports_class = _FaultedSensorStillReported


class ButtonIgnored(SimulatedDevice):
    """A press of the button does nothing."""

    def press_button(self) -> None:
        pass


class _ShutdownLeavesOutputsOn(Power):
    def tick(self, now: float) -> None:
        supervisor = self.device.supervisor
        stop = supervisor.stop_everything
        supervisor.stop_everything = lambda: None  # type: ignore[method-assign]
        try:
            super().tick(now)
        finally:
            supervisor.stop_everything = stop  # type: ignore[method-assign]


class ShutdownLeavesOutputsOn(SimulatedDevice):
    """At the shutdown level the device flags and reports it, and keeps running."""

    power_class = _ShutdownLeavesOutputsOn


class _LowBatteryLeavesHeaterOn(Power):
    def tick(self, now: float) -> None:
        heating, supervisor = self.device.heating, self.device.supervisor
        target = heating.control.target_c if heating is not None else 0.0
        before = supervisor.flags
        super().tick(now)
        if heating is not None and supervisor.flags & ~before & Fault.LOW_BATTERY:
            heating.control.target_c = target


class LowBatteryLeavesHeaterOn(SimulatedDevice):
    """At the low level the heater keeps heating."""

    power_class = _LowBatteryLeavesHeaterOn


class _LowBatteryLatchSticks(Supervisor):
    def unlatch(self, now: float, flag: Fault, code: EventCode, value: int = 0) -> None:
        if flag != Fault.LOW_BATTERY:
            super().unlatch(now, flag, code, value)


class LowBatteryLatchSticks(SimulatedDevice):
    """LOW_BATTERY never clears, however far the battery recovers."""

    supervisor_class = _LowBatteryLatchSticks


class _EntersOnAnyRequest(TestMode):
    def enter(self, port: Port, message: EnterTestMode, now: float) -> int:
        self.port = port
        return 0


class _EntersWhileRunning(TestMode):
    def enter(self, port: Port, message: EnterTestMode, now: float) -> int:
        if message == EnterTestMode.for_serial(self.device.serial):
            self.port = port  # whatever runs, and whenever INFO was read
            return 0
        return super().enter(port, message, now)


class _WindowNeverCloses(TestMode):
    def refused(self, port: Port) -> None:
        pass


class _InjectsOutsideTestMode(TestMode):
    def inject(self, port: Port, message: TestInject) -> int:
        return self.injector.apply(message.fault, message.value)


def _test_mode_with(mode: type[TestMode]) -> type[NmpPersonality]:
    class Personality(NmpPersonality):
        def __init__(self, device: SimulatedDevice) -> None:
            super().__init__(device)
            self.test_mode = mode(device)

    return Personality


class TestModeOnAnyEntry(_WithPersonality):
    """Test mode is entered by any ENTER_TEST_MODE: no magic, serial, fresh INFO or idle device."""

    __test__ = False
    personality_class = _test_mode_with(_EntersOnAnyRequest)


class TestModeWhileRunning(_WithPersonality):
    """The right ENTER_TEST_MODE is taken with outputs on, or long after INFO."""

    __test__ = False
    personality_class = _test_mode_with(_EntersWhileRunning)


class TestModeRetriesFreely(_WithPersonality):
    """A wrong attempt does not close the entry window (a host may guess in a loop)."""

    __test__ = False
    personality_class = _test_mode_with(_WindowNeverCloses)


class InjectionsOutsideTestMode(_WithPersonality):
    """TEST_INJECT works without entering test mode."""

    personality_class = _test_mode_with(_InjectsOutsideTestMode)


#: Variants that only a device in test mode shows over the wire, and the check that
#: must catch each.
TEST_MODE_MUTANTS: dict[type[SimulatedDevice], str] = {
    NoOverheatCutoff: "heater stuck on is cut off",
    SensorFaultLeavesHeaterOn: "sensor fault",
    FaultedSensorStillReported: "sensor fault",
    ButtonIgnored: "button",
    ShutdownLeavesOutputsOn: "critical stops everything",
    LowBatteryLeavesHeaterOn: "low battery cuts the heater",
    LowBatteryLatchSticks: "both clear",
    TestModeOnAnyEntry: "deliberate sequence",
    TestModeWhileRunning: "deliberate sequence",
    TestModeRetriesFreely: "deliberate sequence",
    InjectionsOutsideTestMode: "deliberate sequence",
}


def conformance_of(
    device: Callable[[Any], SimulatedDevice], *, test_mode: bool = False
) -> list[CheckResult]:
    model = offering(load_model("heat4")) if test_mode else load_model("heat4")

    async def main() -> list[CheckResult]:
        async with device(model) as sim:
            return await run_conformance("sim://heat4", simulator=sim)

    return run_virtual(main)


def test_the_unmodified_simulator_passes_every_check() -> None:
    """Built for test, every check is carried out (the faults over the link) and passes."""
    results = conformance_of(SimulatedDevice, test_mode=True)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    auth = [r for r in results if r.section.startswith("10")]  # heat4 has no AUTH mode
    assert all("does not advertise AUTH" in r.detail and not r.tested for r in auth), auth
    others = [r for r in results if r not in auth]
    assert all(r.passed and r.tested for r in others), [r for r in others if not r.passed]
    assert not run_failed(results, strict=True)
    over_the_link = [r.section for r in results if "in the device's test mode" in r.detail]
    assert over_the_link == ["7.6", "6.4, 7.3, 7.4", "7.4", "7.3, 7.5"]


def test_the_production_build_passes_with_its_bench_and_says_test_mode_is_not_offered() -> None:
    results = conformance_of(SimulatedDevice)
    assert [r.name for r in results] == [c.name for c in CHECKS]
    auth = [r for r in results if r.section.startswith("10")]  # heat4 has no AUTH mode
    assert auth and all(not r.tested and "does not advertise AUTH" in r.detail for r in auth)
    untested = {r.section: r.detail for r in results if not r.tested and r not in auth}
    assert list(untested) == ["12.1"]
    assert "INFO does not offer it" in untested["12.1"]
    assert all(r.passed for r in results if r.tested), [r for r in results if not r.passed]
    assert not run_failed(results, strict=True)


@pytest.mark.parametrize("mutant", list(TEST_MODE_MUTANTS), ids=lambda m: m.__name__)
def test_a_broken_must_fails_conformance_over_the_wire_in_test_mode(
    mutant: type[SimulatedDevice],
) -> None:
    results = conformance_of(mutant, test_mode=True)
    failed = [r.name for r in results if r.fails()]
    assert run_failed(results), f"{mutant.__name__} ({mutant.__doc__}) passed conformance"
    assert any(TEST_MODE_MUTANTS[mutant] in name for name in failed), failed
    entry = next(r for r in results if r.section == "12.1")
    if TEST_MODE_MUTANTS[mutant] != "deliberate sequence":
        assert entry.passed, entry  # so the faults went over the link, in test mode


def test_there_are_at_least_twenty_variants() -> None:
    assert len(MUTANTS) >= 20


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_a_broken_must_fails_conformance(mutant: type[SimulatedDevice]) -> None:
    results = conformance_of(mutant)
    failed = [r.name for r in results if r.fails()]
    assert run_failed(results), f"{mutant.__name__} ({mutant.__doc__}) passed conformance"
    assert any(MUTANTS[mutant] in name for name in failed), failed
