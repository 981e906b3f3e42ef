"""Screening answers and every emergency-stop path, through the real client.

Each in-process case runs the SDK's client against a :class:`~tests.safety.live.ProbedDevice`
on the virtual clock, with a silent second link open to the device: closing the
client's link alone does not stop it, so whatever stops the device is the client or
the device's own watchdog. The rules of :class:`~tests.safety.live.Watch` hold
throughout. The signal and host-loss cases run the client in another process
against a simulator served over TCP from this one, in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from massager_protocols.nmp import NO_TEMPERATURE, EventCode, Status
from massager_simulator import FaultConfig, serve_tcp
from massager_simulator.clock import run_virtual

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.errors import ConnectionFailed, DeviceTimeout, SafetyRefusal
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep
from massager_sdk.programs import ProgramRunner, compile_program, load_program
from massager_sdk.safety import Contraindication, HealthProfile, Limit, SafetyLimits
from tests.safety.live import REACTION_SLACK_S, ProbedDevice, Watch

ROOT = Path(__file__).resolve().parents[2]
#: The firmware's control period while something is on (a device-side stop lands on it).
TICK_S = 0.25
PATTERN = Pattern((PatternStep(1.0, 0.5), PatternStep(0.4, 0.5)))

Body = Callable[[Device, ProbedDevice, Watch], Awaitable[None]]


def run_case(
    body: Body,
    *,
    limits: SafetyLimits | None = None,
    profile: HealthProfile | None = None,
    device: type[ProbedDevice] = ProbedDevice,
    **options: Any,
) -> None:
    """Connect the client to a watched simulated heat4 and run ``body`` on the virtual clock."""

    async def main() -> None:
        sim = device("heat4")
        await sim.start()
        observer = sim.connect()  # silent: it keeps the device from stopping on its own
        try:
            async with massager_sdk.connect(
                "sim://heat4", simulator=sim, limits=limits, health_profile=profile, **options
            ) as client:
                watch = Watch(sim, client.info, limits, profile)
                watch.new_host(client)
                await body(client, sim, watch)
                watch.check()
            watch.check()
        finally:
            observer.close()
            await sim.stop()

    run_virtual(main)


def events_of(device: Device) -> list[DeviceEvent]:
    """Every event the client reports from now on."""
    seen: list[DeviceEvent] = []
    device.on_event(seen.append)
    return seen


def now() -> float:
    return asyncio.get_running_loop().time()


async def settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


def is_off(sim: ProbedDevice) -> bool:
    return not any(sim.commanded) and sim.heat_target_c is None


def device_events(sim: ProbedDevice, code: EventCode, since: float = 0.0) -> list[float]:
    """When the device raised ``code`` (its own event log)."""
    return [t for t, e in sim.event_log if e.code == code and t >= since]


class HeatTimeline:
    """When the device's heater target changed, from the probe."""

    def __init__(self, sim: ProbedDevice) -> None:
        self.sim = sim
        self.changes: list[tuple[float, float | None]] = []
        self.hottest_target = 0.0
        probe = sim.probe
        assert probe is not None

        def sample(t: float) -> None:
            probe(t)
            heat = sim.heat_target_c
            if not self.changes or self.changes[-1][1] != heat:
                self.changes.append((t, heat))
            self.hottest_target = max(self.hottest_target, heat or 0.0)

        sim.probe = sample

    def off_since(self, t: float) -> float:
        """The first time at or after ``t`` when the heater was off (``inf``: never)."""
        return next((at for at, heat in self.changes if at >= t and heat is None), math.inf)


# ----------------------------------------------------------------------------- screening


def test_a_profile_that_refuses_sessions_lets_nothing_reach_the_device() -> None:
    fever = HealthProfile(frozenset({Contraindication.FEVER}))

    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        watch.hold_off("a profile that refuses sessions")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: device.set_intensity(1),
            lambda: device.set_intensity(1, "left neck"),
            lambda: device.set_heat(38.0),
            lambda: device.play_pattern(PATTERN, intensity=1),
        ]
        for call in calls:
            with pytest.raises(SafetyRefusal) as refused:
                await call()
            assert refused.value.limit == Limit.SCREENING_SESSIONS
            assert refused.value.allowed is None
            assert "fever" in str(refused.value)
        compiled = compile_program(load_program("office-break"), device.info)
        with pytest.raises(SafetyRefusal) as refused:
            await ProgramRunner(device, compiled).run()
        assert refused.value.limit == Limit.SCREENING_SESSIONS
        await settle(60.0)
        assert device.stats.output_commands == 0
        assert device.stats.safety_refusals == len(calls) + 1
        assert is_off(sim) and watch.samples > 0
        assert device.safety.snapshot(now()).screening == ("fever",)

    run_case(body, profile=fever)


def test_a_profile_that_refuses_heat_never_heats_but_allows_gentle_massage() -> None:
    pregnancy = HealthProfile(frozenset({Contraindication.PREGNANCY}))

    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        heat = HeatTimeline(sim)
        for target in (38.0, 40.0, 42.0):
            with pytest.raises(SafetyRefusal) as refused:
                await device.set_heat(target)
            assert refused.value.limit == Limit.SCREENING_HEAT
            assert refused.value.requested == target and refused.value.allowed is None
        await device.set_intensity(3)
        await device.flush()
        assert sim.commanded == (3, 3, 3, 3)
        await settle(30.0)
        assert heat.hottest_target == 0.0 and sim.heat_target_c is None
        snap = device.safety.snapshot(now())
        assert not snap.heat_allowed and snap.heat_max_c is None

    run_case(body, profile=pregnancy)


def test_a_profile_that_caps_intensity_holds_every_zone_to_the_cap() -> None:
    overwork = HealthProfile(frozenset({Contraindication.SEVERE_OVERWORK}))

    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        cap = device.safety.zone_max(0)
        assert cap == 5  # half of the heat4's ten steps (capped_fraction 0.5)
        highest = [0]
        probe = sim.probe
        assert probe is not None

        def sample(t: float) -> None:
            probe(t)
            highest[0] = max(highest[0], *sim.commanded)

        sim.probe = sample
        for level in (6, 10):
            with pytest.raises(SafetyRefusal) as refused:
                await device.set_intensity(level)
            assert refused.value.limit == Limit.SCREENING_INTENSITY
            assert (refused.value.requested, refused.value.allowed) == (level, cap)
        with pytest.raises(SafetyRefusal):
            await device.play_pattern(PATTERN, intensity=cap + 1)
        await device.set_intensity(cap)
        await device.flush()
        assert sim.commanded == (cap,) * 4
        await device.stop()
        # A program that would go to 8 on this device is held to the cap.
        compiled = compile_program(load_program("office-break"), device.info)
        progress = await ProgramRunner(device, compiled).run()
        assert progress.state == "completed"
        assert 0 < highest[0] <= cap

    run_case(body, profile=overwork)


# ---------------------------------------------------------------------- stopping


def test_device_stop_switches_everything_off_at_once_and_nothing_comes_back() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        await device.set_heat(40.0)
        await device.set_intensity(10, ["left neck", "right neck"])
        await device.play_pattern(PATTERN, "left shoulder", intensity=6)
        await settle(1.2)  # mid-ramp: the neck zones are on their way to 10
        assert 1 < sim.commanded[0] < 10 and sim.heat_target_c == 40.0
        await device.stop()
        assert is_off(sim)  # confirmed by the device before stop() returns
        watch.hold_off("device.stop()")
        await settle(120.0)  # the ramp does not go on, the heat does not come back
        assert is_off(sim) and device.pending_outputs == 0
        # A plain stop: no lock to lift, the next request starts softly.
        await device.set_intensity(4)
        watch.may_run()
        await settle(0.01)
        assert sim.commanded == (1, 1, 1, 1)

    run_case(body)


def test_the_device_button_ends_a_program_and_blocks_everything_until_resumed() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        await device.set_heat(40.0)
        runner = ProgramRunner(device, compile_program(load_program("office-break"), device.info))
        program = asyncio.create_task(runner.run())
        await settle(75.0)
        assert any(sim.commanded) and sim.heat_target_c == 40.0
        pressed = now()
        sim.press_button()
        assert is_off(sim)
        watch.hold_off("the device button", slack=True)
        progress = await program
        assert progress.state == "stopped" and "button" in progress.reason
        await settle(60.0)
        assert is_off(sim)
        assert any(e.kind is EventKind.BUTTON for e in events)
        blocked: list[Callable[[], Awaitable[None]]] = [
            lambda: device.set_intensity(1),
            lambda: device.set_heat(38.0),
        ]
        for call in blocked:
            with pytest.raises(SafetyRefusal) as refused:
                await call()
            assert refused.value.limit == Limit.EMERGENCY_STOP
            assert "button" in str(refused.value)
        snap = device.safety.snapshot(now())
        assert snap.emergency_stopped and snap.session_elapsed_s == pytest.approx(pressed, abs=1)
        device.resume()
        watch.resumed()
        await device.set_intensity(3)
        watch.may_run()
        await settle(0.01)
        assert sim.commanded == (1, 1, 1, 1)  # soft again

    run_case(body)


def test_cancelling_the_host_task_stops_the_device_at_once() -> None:
    async def main() -> None:
        sim = ProbedDevice("heat4")
        await sim.start()
        observer = sim.connect()
        running = asyncio.Event()
        off_at: list[float] = []
        sim.probe = lambda t: off_at.append(t) if is_off(sim) and not off_at else None

        async def application() -> None:
            async with massager_sdk.connect("sim://heat4", simulator=sim) as device:
                await device.set_heat(40.0)
                compiled = compile_program(load_program("office-break"), device.info)
                runner = ProgramRunner(device, compiled)
                await runner.run(lambda p: running.set() if any(p.intensities) else None)

        task = asyncio.create_task(application())
        await running.wait()
        await settle(5.0)
        assert any(sim.commanded) and sim.heat_target_c == 40.0
        off_at.clear()
        cancelled_at = now()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert is_off(sim) and off_at == [cancelled_at]  # stopped by the host, at once
        assert not device_events(sim, EventCode.WATCHDOG_STOP)
        observer.close()
        await sim.stop()

    run_virtual(main)


def test_a_host_that_cannot_reach_the_device_is_backed_by_its_watchdog() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        await device.set_heat(40.0)
        await device.set_intensity(4)
        await device.flush()
        await settle(5.0)
        cut = now()
        watch.link(False)
        sim.inject(corrupt=1.0)  # every byte damaged, both ways: nothing gets through
        await settle(30.0)
        # The device heard nothing valid after the cut: its watchdog stopped it.
        stops = device_events(sim, EventCode.WATCHDOG_STOP, since=cut)
        assert stops and stops[0] <= cut + device.info.watchdog_s + 1e-6
        assert is_off(sim)
        # The client gave up after its grace period: the session is over for good.
        assert any(e.kind is EventKind.LINK_LOST and e.active is None for e in events)
        with pytest.raises(ConnectionFailed):
            await device.set_intensity(1)
        sim.inject(corrupt=0.0)
        await settle(60.0)
        assert is_off(sim)  # nothing switched it back on once the link healed

    run_case(body)


# --------------------------------------------------------------------------- heat


def test_a_heater_stuck_on_is_switched_off_by_the_first_hot_reading() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        heat = HeatTimeline(sim)
        readings: list[tuple[float, float]] = []
        device.on_status(
            lambda s: (
                readings.append((now(), s.temperature_c)) if s.temperature_c is not None else None
            )
        )
        await device.set_heat(42.0)
        await settle(240.0)  # warmed up and holding
        sim.inject(heater_stuck_on=True)  # the driver fails short: full power
        stuck = now()
        await settle(60.0)
        threshold = device.safety.limits.heat_max_c + device.safety.limits.overtemp_margin_c
        hot = [t for t, c in readings if t >= stuck and c > threshold]
        assert hot, "the pad never read hot: the fault was not injected"
        hot_at = hot[0]
        assert heat.off_since(stuck) <= hot_at + REACTION_SLACK_S
        assert watch.hottest_c <= device.info.heat.limit_c  # type: ignore[union-attr]
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(38.0)
        assert refused.value.limit == Limit.HEAT_FAULT
        assert "overtemperature" in device.safety.snapshot(now()).heat_faults

    run_case(body)


def test_a_device_overheat_turns_the_heat_off_and_locks_it_until_cleared_and_resumed() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        heat = HeatTimeline(sim)
        await device.set_heat(40.0)
        await settle(120.0)
        hot = now()
        sim.inject(sensor="stuck", stuck_c=44.8)  # reads past the device's own cut-off
        await settle(5.0)
        assert device_events(sim, EventCode.OVERHEAT, since=hot)
        assert heat.off_since(hot) <= hot + TICK_S + 1e-6
        assert any(e.kind is EventKind.OVERHEAT and e.active for e in events)
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(38.0)
        assert refused.value.limit == Limit.HEAT_FAULT
        sim.inject(sensor="ok", stuck_c=None)  # repaired; the pad cools below the clear point
        await settle(120.0)
        await device.status()
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(38.0)  # cleared, but not resumed yet
        assert refused.value.limit == Limit.HEAT_FAULT
        device.resume()
        watch.resumed()
        await device.set_heat(38.0)
        await device.flush()
        assert sim.heat_target_c == 38.0

    run_case(body)


@pytest.mark.parametrize(
    ("fault", "within_s"),
    [
        ({"sensor": "open"}, TICK_S),
        ({"sensor": "short"}, TICK_S),
        ({"sensor": "stuck", "stuck_c": 30.0}, TICK_S),  # far below what the pad must be
        ({"sensor": "stuck"}, 30.0 + TICK_S),  # frozen: found after 30 s without change
    ],
)
def test_a_sensor_fault_turns_the_heat_off_and_locks_it(
    fault: dict[str, Any], within_s: float
) -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        heat = HeatTimeline(sim)
        await device.set_intensity(2)
        await device.set_heat(40.0)
        await settle(120.0)
        broke = now()
        sim.faults = FaultConfig(**fault)
        await settle(40.0)
        assert device_events(sim, EventCode.SENSOR_FAULT, since=broke)
        assert heat.off_since(broke) <= broke + within_s + 1e-6
        assert sim.commanded == (2, 2, 2, 2)  # only the heat goes
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(40.0)
        assert refused.value.limit == Limit.HEAT_FAULT
        assert "sensor_fault" in device.safety.snapshot(now()).heat_faults

    run_case(body)


class SilentSensorDevice(ProbedDevice):
    """A heat4 whose STATUS stops carrying the temperature while ``silent`` (the heater runs on)."""

    silent = False

    def _status(self, now: float) -> Status:
        status = super()._status(now)
        if not self.silent:
            return status
        return dataclasses.replace(
            status, heat=(status.heat & 0xFFF) | (NO_TEMPERATURE & 0xFFF) << 12
        )


def test_stale_temperature_readings_turn_the_heat_off() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        assert isinstance(sim, SilentSensorDevice)
        heat = HeatTimeline(sim)
        last_reading = [0.0]
        device.on_status(
            lambda s: last_reading.__setitem__(0, now()) if s.temperature_c is not None else None
        )
        await device.set_heat(40.0)
        await settle(30.0)
        sim.silent = True
        silenced = now()
        await settle(30.0)
        timeout = device.safety.limits.temperature_timeout_s
        off = heat.off_since(silenced)
        assert last_reading[0] + timeout - 1e-6 <= off <= last_reading[0] + timeout + 1e-3
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_heat(40.0)
        assert refused.value.limit == Limit.TEMPERATURE_STALE
        sim.silent = False
        await device.status()  # a reading arrives again: heat is allowed again
        await device.set_heat(40.0)
        await device.flush()
        assert sim.heat_target_c == 40.0

    run_case(body, device=SilentSensorDevice)


# ----------------------------------------------------------------------- link loss


def test_a_link_back_within_the_grace_period_resumes_softly_and_is_no_emergency_stop() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        await device.set_heat(40.0)
        await device.set_intensity(5)
        await device.flush()
        watch.link(False)
        sim.drop_links()
        assert is_off(sim)  # the device stops the moment its host's link closes
        await settle(device.safety.ramp_interval_s + 0.1)  # the ramp's pace holds across
        kinds = [e.kind for e in events]
        assert EventKind.LINK_LOST in kinds and EventKind.LINK_RESTORED in kinds
        assert not device.safety.snapshot(now()).emergency_stopped
        assert sim.heat_target_c == 40.0 and sim.commanded == (1, 1, 1, 1)  # soft again
        await device.flush()
        assert sim.commanded == (5, 5, 5, 5)

    run_case(body)


def test_the_session_clock_runs_on_through_an_outage() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        await device.set_intensity(3)
        await device.flush()
        await settle(60.0)
        before = device.safety.snapshot(now()).session_elapsed_s
        watch.link(False)
        sim.inject(corrupt=1.0)
        await settle(8.0)  # within the 10 s grace period
        sim.inject(corrupt=0.0)
        await settle(5.0)
        assert any(e.kind is EventKind.LINK_RESTORED for e in events)
        after = device.safety.snapshot(now()).session_elapsed_s
        # The device was off for part of the outage; the policy counted all of it.
        assert after - before >= 8.0
        assert watch.monitor.on_s < after
        with contextlib.suppress(DeviceTimeout):
            await device.flush()  # the first call reports the request lost in the outage
        await device.flush()
        assert sim.commanded == (3, 3, 3, 3)

    run_case(body)


@pytest.mark.parametrize("step_s", [0.5, 0.9])
@pytest.mark.parametrize("noise_s", [3.5, 4.0, 4.5, 5.0])
def test_a_watchdog_stop_whose_event_is_lost_in_noise_never_restarts_a_motor_hard(
    noise_s: float, step_s: float
) -> None:
    """Noise that outlasts the device's watchdog while a program keeps changing levels.

    Each command is replaced by the next before its retries run out, so no request
    ever times out and the client sees no outage; the WATCHDOG_STOP event is lost in
    the noise. The first command through after it would start a stopped motor at
    its level, without the soft start. The client must find out first: it stops
    trusting what it told the device once the device may have stopped unseen.
    (Found by the stateful test.)
    """

    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        events = events_of(device)
        await device.set_intensity(5)
        await device.flush()
        watch.link(False)
        sim.inject(corrupt=1.0)
        quiet_at = now() + noise_s
        level = 4
        while now() < quiet_at:  # what a program does: a new level below the last now and then
            with contextlib.suppress(DeviceTimeout):  # an earlier request's, reported late
                await device.set_intensity(level)
            level = 7 - level  # 4, 3, 4...: never the level the client told the device
            await settle(min(step_s, max(0.0, quiet_at - now())))
        sim.inject(corrupt=0.0)
        watch.link(True)
        await settle(15.0)
        assert device_events(sim, EventCode.WATCHDOG_STOP), "the noise outlasted the watchdog"
        watch.check()  # no motor started without the soft start
        kinds = [e.kind for e in events]
        if EventKind.LINK_RESTORED not in kinds:
            # No outage seen: the client found the stop (the latch in STATUS) and
            # holds it as the emergency stop it is.
            assert EventKind.WATCHDOG_STOP in kinds
            assert device.safety.snapshot(now()).emergency_stopped
            assert is_off(sim)

    run_case(body)


# ---------------------------------------------------------------------- session end


def test_a_shorter_auto_off_than_the_time_used_stops_the_device_at_once() -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        await device.set_intensity(2)
        await device.flush()
        await settle(400.0)
        asked = now()
        await device.set_auto_off(300)
        watch.auto_off(300)
        assert is_off(sim) and now() == asked
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_intensity(1)
        assert refused.value.limit == Limit.REST

    run_case(body)


@pytest.mark.parametrize("turns", range(6))
def test_a_command_on_its_way_when_the_session_ends_is_undone_not_a_violation(
    turns: int,
) -> None:
    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        await device.set_intensity(2)
        await device.flush()
        await settle(100.0)
        await device.stop()
        await device.set_intensity(1)
        for _ in range(turns):
            await asyncio.sleep(0)
        with contextlib.suppress(SafetyRefusal):  # the level may be refused while ramping
            await device.set_auto_off(60)  # less than the 100 s used: the session is over
        watch.auto_off(60)
        await settle(2.0)
        assert is_off(sim)
        snap = device.safety.snapshot(now())
        assert snap.violations == 0 and not snap.emergency_stopped, snap.stop_reason
        with pytest.raises(SafetyRefusal) as refused:
            await device.set_intensity(1)
        assert refused.value.limit == Limit.REST

    run_case(body)


@pytest.mark.parametrize("turns", range(6))
def test_a_command_acknowledged_after_a_stop_began_still_counts_for_the_ramp(turns: int) -> None:
    """A level on its way when a stop begins reaches the device: the ramp counts it."""

    async def body(device: Device, sim: ProbedDevice, watch: Watch) -> None:
        await device.set_intensity(1)
        for _ in range(turns):
            await asyncio.sleep(0)
        await device.stop()
        await device.set_intensity(1)
        await settle(2.0)  # the Watch fails on a second rise within one ramp interval
        assert sim.commanded == (1, 1, 1, 1)
        assert device.safety.snapshot(now()).violations == 0

    run_case(body)


# ------------------------------------------------------------ other processes

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import massager_sdk
    from massager_sdk.model import EventKind
    from massager_sdk.programs import ProgramRunner, compile_program, load_program

    async def main(url: str, hold: bool) -> None:
        device = massager_sdk.connect(url, install_signal_handlers=True)
        loop = asyncio.get_running_loop()

        def event(e) -> None:
            print("event", e.kind.value, flush=True)
            if e.kind is EventKind.WATCHDOG_STOP:
                snap = device.safety.snapshot(loop.time())
                print("policy", snap.emergency_stopped, snap.stop_reason, flush=True)

        try:
            async with device:
                device.on_event(event)
                await device.set_heat(40.0)
                if hold:
                    await device.set_intensity(3)
                    await device.flush()
                    print("running", flush=True)
                    await asyncio.sleep(3600)
                compiled = compile_program(load_program("office-break"), device.info)
                started = []

                def progress(p) -> None:
                    if any(p.intensities) and not started:
                        started.append(True)
                        print("running", flush=True)

                await ProgramRunner(device, compiled).run(progress)
            print("not reached", flush=True)
        except (KeyboardInterrupt, SystemExit):
            snap = device.safety.snapshot(loop.time())
            print("stopped", snap.emergency_stopped, snap.stop_reason, flush=True)
            raise

    asyncio.run(main(sys.argv[1], sys.argv[2] == "hold"))
    """
)


class Child:
    """The client in another process, on a simulator served over TCP from this one."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, port: int, mode: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            f"tcp://127.0.0.1:{port}",
            mode,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def wait_for(self, prefix: str) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(60):
            while True:
                raw = await self.process.stdout.readline()
                assert raw, f"the client process ended before printing {prefix!r}: {self.lines}"
                line = raw.decode().strip()
                self.lines.append(line)
                if line.startswith(prefix):
                    return line

    async def finish(self) -> tuple[str, str]:
        async with asyncio.timeout(60):
            out, err = await self.process.communicate()
        self.lines += out.decode().splitlines()
        return "\n".join(self.lines), err.decode()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def until(predicate: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Wait in real time for ``predicate``; the bound only keeps a broken case from hanging."""
    deadline = now() + within
    while not predicate():
        assert now() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
async def test_a_signal_stops_a_running_program_and_its_heat(signum: signal.Signals) -> None:
    sim = ProbedDevice("heat4")
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    observer = sim.connect()  # the TCP link closing alone does not stop the device
    child = await Child.start(port, "program")
    try:
        await child.wait_for("running")
        await until(lambda: any(sim.commanded), "the program's first level on the device")
        assert sim.heat_target_c == 40.0
        child.process.send_signal(signum)
        out, err = await child.finish()
        assert is_off(sim)
        assert not device_events(sim, EventCode.WATCHDOG_STOP)  # the host stopped it
        assert "not reached" not in out
        assert f"stopped True {signum.name} received" in out, out + err
        if signum == signal.SIGTERM:
            assert child.process.returncode == 128 + signal.SIGTERM, err
        else:
            assert child.process.returncode != 0 and "KeyboardInterrupt" in err
    finally:
        await child.kill()
        observer.close()
        server.close()
        await sim.stop()


async def test_a_killed_host_process_stops_the_device_whoever_else_is_connected() -> None:
    sim = ProbedDevice("heat4")
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    observer = sim.connect()  # another host's link stays open and keeps nothing on
    child = await Child.start(port, "hold")
    try:
        await child.wait_for("running")
        assert sim.commanded == (3, 3, 3, 3) and sim.heat_target_c == 40.0
        child.process.kill()  # no cleanup at all
        await child.process.wait()
        # NMP/1 7.7: the controlling link is lost, so the device stops (the
        # watchdog would, too, were the loss not seen).
        await until(lambda: is_off(sim), "the device stopping")
    finally:
        await child.kill()
        observer.close()
        server.close()
        await sim.stop()


async def test_a_frozen_host_is_backed_by_the_watchdog_and_leaves_the_device_stopped() -> None:
    sim = ProbedDevice("heat4")
    server, port = await serve_tcp(sim, "127.0.0.1", 0)
    child = await Child.start(port, "hold")
    try:
        await child.wait_for("running")
        assert sim.commanded == (3, 3, 3, 3) and sim.heat_target_c == 40.0
        frozen = now()
        child.process.send_signal(signal.SIGSTOP)  # alive, link open, silent
        await until(lambda: is_off(sim), "the device watchdog")
        assert device_events(sim, EventCode.WATCHDOG_STOP, since=frozen)
        child.process.send_signal(signal.SIGCONT)
        # Back, the host learns that the device stopped on its own and keeps it stopped.
        line = await child.wait_for("policy")
        assert line.startswith("policy True") and "watchdog" in line
        await asyncio.sleep(1.0)
        assert is_off(sim)
        child.process.send_signal(signal.SIGTERM)
        _, err = await child.finish()
        assert child.process.returncode == 128 + signal.SIGTERM, err
        assert is_off(sim)
    finally:
        await child.kill()
        server.close()
        await sim.stop()
