"""Stateful property test: the real client, driven at random, never makes the device unsafe.

Each example starts a simulated ``heat4`` massager (:class:`~tests.safety.live.ProbedDevice`)
on the virtual clock, connects the SDK's client to it over ``sim://`` and applies an
arbitrary sequence of: intensity, heat, pattern and auto-off requests (refused ones
included), stops, emergency stops, resumes, time passing (up to half an hour at once),
a short program run started and stopped, dropped and garbled links, hardware faults
(stuck, open or shorted sensor, a heater stuck on, a fast-draining battery), button
presses, and the host going away. After every step the rules are checked on the
simulator's true state (see :mod:`tests.safety.live`): heat within the device's and
the policy's limits (and 43 C after 10 minutes of contact), no session past its
limit, no rise beyond the ramp, nothing on after a stop or a lost host, refusals that
change nothing on the device, and no policy violation by the client.

The default run is short and derandomized (the same sequences every time). A longer,
random exploration::

    SAFETY_E2E_EXAMPLES=400 .venv/bin/python -m pytest -q tests/safety/test_end_to_end.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import unittest
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from massager_simulator import FaultConfig
from massager_simulator.clock import VirtualTimeEventLoop

import massager_sdk
from massager_sdk.client import Device
from massager_sdk.errors import ConnectionFailed, DeviceRefused, DeviceTimeout, SafetyRefusal
from massager_sdk.model import DeviceEvent, EventKind, Pattern, PatternStep, Waveform
from massager_sdk.programs import CompiledProgram, ProgramRunner, compile_program, load_program
from massager_sdk.safety import Contraindication, HealthProfile, Limit, SafetyLimits
from tests.safety.live import ProbedDevice, Watch

T = TypeVar("T")

#: Examples in the default run; raise it (environment) for a longer exploration.
EXAMPLES = int(os.environ.get("SAFETY_E2E_EXAMPLES", "36"))
STEPS = int(os.environ.get("SAFETY_E2E_STEPS", "30"))

CONFIGS: dict[str, tuple[SafetyLimits | None, HealthProfile | None]] = {
    "defaults": (None, None),
    # Above 43 C is allowed only by an override, and only for 10 minutes of contact.
    "hot override": (SafetyLimits(heat_max_c=44.5, overrides=frozenset({"heat_max_c"})), None),
    "short sessions": (SafetyLimits(auto_off_s=120, session_max_s=180), None),
    "capped": (None, HealthProfile(frozenset({Contraindication.SEVERE_OVERWORK}))),
    "no heat": (None, HealthProfile(frozenset({Contraindication.PREGNANCY}))),
    "no sessions": (None, HealthProfile(frozenset({Contraindication.FEVER}))),
}
LIMIT_NAMES = {limit.value for limit in Limit}
#: Failures a call may meet that say nothing about safety: a refusal by the device
#: (an earlier call's, reported late), or a link that is down.
LINK_TROUBLE = (DeviceRefused, DeviceTimeout, ConnectionFailed)
#: One hardware fault at a time (IEC 60601-1's single-fault condition).
HARDWARE_FAULTS: dict[str, dict[str, Any]] = {
    "sensor stuck": {"sensor": "stuck"},
    "sensor stuck cold": {"sensor": "stuck", "stuck_c": 30.0},
    "sensor stuck hot": {"sensor": "stuck", "stuck_c": 44.0},
    "sensor open": {"sensor": "open"},
    "sensor short": {"sensor": "short"},
    "heater stuck on": {"heater_stuck_on": True},
    "fast drain": {"drain": 300.0},
}
DISRUPTIONS = (
    "drop links",
    "garble link",
    "hardware fault",
    "repair",
    "charger on",
    "charger off",
    "emergency stop",
)
PATTERNS = (
    Pattern((PatternStep(1.0, 0.5), PatternStep(0.2, 0.5))),
    Pattern((PatternStep(0.3, 1.0), PatternStep(1.0, 2.0), PatternStep(0.0, 0.5))),
)
HEAT_TARGETS = st.sampled_from([None, 38.0, 40.0, 41.5, 42.0, 42.5, 43.0, 44.0, 44.5, 45.0])
#: A moment (a ramp, a watchdog) or a while (minutes: sessions, heat contact, rest).
MOMENTS = st.floats(0.01, 6.0)
WHILES = st.sampled_from([10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1300.0, 1800.0])
#: What passes after a request: nothing, a moment or a while.
PAUSES = st.sampled_from([0.0, 0.3, 2.0, 10.0, 60.0, 300.0, 900.0])
ZONES = st.sets(st.integers(0, 3), max_size=4).map(lambda s: tuple(sorted(s)) or None)


#: Longer than any step takes (the longest wait is half an hour, a program five minutes).
STEP_LIMIT_S = 4 * 3600.0


def waiting_tasks() -> str:
    """Where each task of the running loop waits (for a step that never ends)."""
    lines = []
    for task in asyncio.all_tasks():
        frames = task.get_stack()
        where = (
            f"{frames[-1].f_code.co_filename}:{frames[-1].f_lineno} {frames[-1].f_code.co_name}"
            if frames
            else "?"
        )
        lines.append(f"  {task.get_name()}: {where}")
    return "\n".join(sorted(lines))


def bucket(value: float, edges: tuple[float, ...]) -> str:
    """``value`` as a coarse range for the statistics."""
    below = next((edge for edge in edges if value < edge), None)
    return f"< {below:g}" if below is not None else f">= {edges[-1]:g}"


class ClientMachine(RuleBasedStateMachine):
    """Random use of a real client on a real simulator, watched on the device's side."""

    loop: VirtualTimeEventLoop
    sim: ProbedDevice
    watch: Watch
    device: Device
    holder: asyncio.Task[None]
    limits: SafetyLimits | None
    profile: HealthProfile | None
    compiled: CompiledProgram | None
    program: asyncio.Task[Any] | None
    runner: ProgramRunner | None

    #: The entry of :data:`CONFIGS` this machine runs with.
    config = "defaults"

    # ------------------------------------------------------------ plumbing

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the machine's virtual clock (time passes only inside).

        A step that never ends would jump the virtual clock forever: past
        :data:`STEP_LIMIT_S` it fails, naming what every task was waiting for.
        """

        async def bounded() -> T:
            try:
                async with asyncio.timeout(STEP_LIMIT_S):
                    return await coro
            except TimeoutError:
                raise AssertionError(
                    f"a step did not end within {STEP_LIMIT_S / 3600:g} h of virtual time; "
                    f"tasks:\n{waiting_tasks()}"
                ) from None

        return self.loop.run_until_complete(bounded())

    @initialize()
    def start(self) -> None:
        self.limits, self.profile = CONFIGS[self.config]
        self.loop = VirtualTimeEventLoop()
        self.compiled = None
        self.program = self.runner = None
        self.session_ended = False
        self.requested: set[object] = set()

        async def setup() -> None:
            self.sim = ProbedDevice("heat4")
            await self.sim.start()
            self.listen()
            await self.connect()

        self.run(setup())

    def listen(self) -> None:
        """Keep a silent second link open, so closing the client's link alone stops nothing.

        Whatever stops the device is then the client (or the device's watchdog).
        """
        self.observer = self.sim.connect()

    async def connect(self) -> None:
        """A new client takes the device (its own policy: a fresh session clock)."""
        ready: asyncio.Future[Device] = self.loop.create_future()

        async def hold() -> None:
            async with massager_sdk.connect(
                "sim://heat4", simulator=self.sim, limits=self.limits, health_profile=self.profile
            ) as device:
                ready.set_result(device)
                await asyncio.Event().wait()  # until the host goes away

        self.holder = self.loop.create_task(hold())
        either: list[asyncio.Future[Any]] = [ready, self.holder]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            self.holder.result()  # raises why the client could not connect
        self.device = ready.result()
        self.session_ended = False
        self.device.on_event(self._client_event)
        if not hasattr(self, "watch"):
            # The rules take the device's capabilities as it reports them.
            self.watch = Watch(self.sim, self.device.info, self.limits, self.profile)
        self.watch.new_host(self.device)

    def _client_event(self, item: DeviceEvent) -> None:
        if item.kind is EventKind.LINK_LOST and item.active is None:
            self.session_ended = True  # the client gave the link up for good

    async def host_gone(self) -> None:
        """Everything on the host ends: the program, then the client (cancelled)."""
        await self.end_program(cancel=True)
        self.holder.cancel()
        await asyncio.gather(self.holder, return_exceptions=True)
        if hasattr(self, "watch"):
            self.watch.detach()

    def teardown(self) -> None:
        if not hasattr(self, "loop"):
            return

        async def down() -> None:
            if hasattr(self, "holder"):
                await self.host_gone()
            self.observer.close()
            await self.sim.stop()

        try:
            self.run(down())
            if hasattr(self, "watch"):
                # What the example reached (--hypothesis-show-statistics).
                watch = self.watch
                event(f"virtual time: {bucket(self.now() / 60, (1, 20, 60))} min")
                event(f"longest session: {bucket(watch.longest_on_s / 60, (1, 10, 15))} min")
                event(f"hottest pad: {bucket(watch.hottest_c, (40, 42, 43, 44))} C")
        finally:
            self.sim.probe = None
            self.loop.close()

    def now(self) -> float:
        return self.loop.time()

    def program_running(self) -> bool:
        return self.program is not None and not self.program.done()

    async def end_program(self, *, cancel: bool = False) -> None:
        task, runner = self.program, self.runner
        self.program = self.runner = None
        if task is None or runner is None:
            return
        if cancel:
            task.cancel()
        else:
            runner.stop("stopped by the user")
        results = await asyncio.gather(task, return_exceptions=True)
        outcome = results[0]
        event(f"program ended: {type(outcome).__name__}")
        assert not isinstance(outcome, AssertionError), outcome

    async def attempt(
        self, call: Callable[[], Awaitable[object]], requested: object, *, turns_on: bool
    ) -> str:
        """Make a request; a refusal must change nothing on the device."""
        sim, device = self.sim, self.device
        self.requested.add(requested)
        levels, heat = sim.commanded, sim.heat_target_c
        pending = device.pending_outputs
        try:
            await call()
        except SafetyRefusal as err:
            assert err.limit in LIMIT_NAMES, f"a refusal names an unknown limit: {err}"
            # A refusal the client met while ramping an earlier request is reported by
            # the next call (which then does nothing): it names that earlier request.
            assert err.requested == requested or err.requested in self.requested, (
                f"{err} for a request of {requested!r}"
            )
            assert device.pending_outputs == pending, f"{err}, yet something was scheduled"
            if pending == 0 and not self.program_running() and device.connected:
                # Nothing was on its way: give the client time to send, then compare.
                await asyncio.sleep(2 * device.safety.ramp_interval_s)
                after = sim.commanded
                assert all(a <= b for a, b in zip(after, levels, strict=True)), (
                    f"refused ({err}), yet zones rose {levels} -> {after}"
                )
                now_heat = sim.heat_target_c
                assert now_heat is None or (heat is not None and now_heat <= heat), (
                    f"refused ({err}), yet the heater went {heat} -> {now_heat}"
                )
            event(f"refused: {err.limit}")
            return "refused"
        except LINK_TROUBLE as err:
            event(f"failed: {type(err).__name__}")
            return "failed"
        if turns_on:
            self.watch.may_run()
        return "accepted"

    # ------------------------------------------------------------ requests

    @rule(
        zones=ZONES,
        level=st.integers(0, 11),
        waveform=st.sampled_from(list(Waveform)),
        then=PAUSES,
    )
    def set_intensity(
        self, zones: tuple[int, ...] | None, level: int, waveform: Waveform, then: float
    ) -> None:
        period = 0.0 if waveform is Waveform.CONSTANT else 1.5

        async def go() -> None:
            if level > self.sim.model.intensity_steps:
                try:
                    await self.device.set_intensity(level, zones)
                except (ValueError, SafetyRefusal, *LINK_TROUBLE):
                    return  # a refusal here is an earlier request's, reported late
                raise AssertionError(f"level {level} above the device's steps was accepted")
            await self.attempt(
                lambda: self.device.set_intensity(level, zones, waveform=waveform, period=period),
                level,
                turns_on=level > 0,
            )
            await asyncio.sleep(then)

        self.run(go())

    @rule(celsius=HEAT_TARGETS, then=PAUSES)
    def set_heat(self, celsius: float | None, then: float) -> None:
        async def go() -> None:
            await self.attempt(
                lambda: self.device.set_heat(celsius), celsius, turns_on=celsius is not None
            )
            await asyncio.sleep(then)

        self.run(go())

    @rule(
        pattern=st.sampled_from(PATTERNS),
        zones=ZONES,
        intensity=st.integers(1, 10),
        phase=st.sampled_from([0.0, 0.5]),
        then=PAUSES,
    )
    def play_pattern(
        self,
        pattern: Pattern,
        zones: tuple[int, ...] | None,
        intensity: int,
        phase: float,
        then: float,
    ) -> None:
        async def go() -> None:
            await self.attempt(
                lambda: self.device.play_pattern(pattern, zones, intensity=intensity, phase=phase),
                intensity,
                turns_on=True,
            )
            await asyncio.sleep(then)

        self.run(go())

    @rule(seconds=st.sampled_from([0, 60, 300, 900, 1200, 1500]))
    def set_auto_off(self, seconds: int) -> None:
        async def go() -> None:
            result = await self.attempt(
                lambda: self.device.set_auto_off(seconds), seconds, turns_on=False
            )
            if result == "accepted":
                limits = self.watch.monitor.limits
                self.watch.auto_off(
                    seconds or min(limits.auto_off_s, self.device.info.auto_off_max_s)
                )

        self.run(go())

    @rule()
    def stop(self) -> None:
        """The user stops everything: the program (if any) and the device."""

        async def go() -> None:
            await self.end_program()
            try:
                await self.device.stop()
            except LINK_TROUBLE:
                return
            assert self.sim.commanded == (0, 0, 0, 0) and self.sim.heat_target_c is None
            self.watch.hold_off("device.stop()")

        self.run(go())

    @rule()
    def resume(self) -> None:
        async def go() -> None:
            try:
                self.device.resume()
            except SafetyRefusal as err:
                assert err.limit == Limit.EMERGENCY_STOP, err
                event("resume refused")
            except ConnectionFailed:
                pass
            else:
                self.watch.resumed()

        self.run(go())

    @rule(
        level=st.integers(1, 10),
        celsius=st.sampled_from([38.0, 40.0, 42.0, 44.5]),
        then=st.sampled_from([60.0, 300.0, 900.0]),
    )
    def start_again(self, level: int, celsius: float, then: float) -> None:
        """The usual use: resume if stopped, heat and massage, then leave it running."""

        async def go() -> None:
            with contextlib.suppress(SafetyRefusal, ConnectionFailed):
                self.device.resume()
                self.watch.resumed()
            await self.attempt(lambda: self.device.set_heat(celsius), celsius, turns_on=True)
            await self.attempt(lambda: self.device.set_intensity(level), level, turns_on=True)
            await asyncio.sleep(then)

        self.run(go())

    @rule(seconds=MOMENTS)
    def advance(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    @rule(seconds=WHILES)
    def wait_a_while(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    # ------------------------------------------------------------ programs

    @precondition(lambda self: not self.program_running())
    @rule(then=PAUSES)
    def start_program(self, then: float) -> None:
        async def go() -> None:
            await self.end_program()
            if self.compiled is None:
                self.compiled = compile_program(load_program("office-break"), self.device.info)
            self.runner = ProgramRunner(self.device, self.compiled)
            started = asyncio.Event()
            self.program = self.loop.create_task(self.runner.run(lambda _: started.set()))
            self.watch.may_run()
            # The runner sets the device's auto-off before it reports its start.
            waiting = self.loop.create_task(started.wait())
            await asyncio.wait({waiting, self.program}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            self.watch.auto_off(self.device.safety.snapshot(self.now()).auto_off_s)
            await asyncio.sleep(then)

        self.run(go())

    @precondition(lambda self: self.program_running())
    @rule()
    def stop_program(self) -> None:
        self.run(self.end_program())

    # ------------------------------------------------------------ the world

    @rule(
        what=st.sampled_from(DISRUPTIONS),
        fault=st.sampled_from(sorted(HARDWARE_FAULTS)),
        seconds=st.sampled_from([1.0, 4.0, 8.0, 15.0]),
    )
    def disrupt(self, what: str, fault: str, seconds: float) -> None:
        """Something happens to the device, the link or the host (one rule, so it is rarer)."""
        event(f"disrupt: {what}")
        sim, watch = self.sim, self.watch

        async def go() -> None:
            if what == "drop links":
                watch.link(False)
                sim.drop_links()
                self.listen()
                await asyncio.sleep(0)
            elif what == "garble link":
                await self.garble(seconds)
            elif what == "hardware fault":
                event(f"fault: {fault}")
                sim.faults = FaultConfig(**HARDWARE_FAULTS[fault])  # replaces any other
            elif what == "repair":
                sim.faults = FaultConfig()
            elif what.startswith("charger"):
                sim.set_charging(what == "charger on")
            else:
                assert what == "emergency stop", what
                # What the MQTT OFF does: the policy's emergency stop, the program's
                # end, a stop.
                self.device.safety.emergency_stop("emergency stop", self.now())
                watch.stopped()
                if self.runner is not None:
                    self.runner.stop("emergency stop")
                try:
                    await self.device.stop()
                except LINK_TROUBLE:
                    return
                finally:
                    await self.end_program()
                watch.hold_off("an emergency stop")

        self.run(go())

    @rule()
    def press_button(self) -> None:
        async def go() -> None:
            self.sim.press_button()
            self.watch.hold_off("the device button", slack=True)

        self.run(go())

    @rule()
    def host_goes_away(self) -> None:
        """The application ends (its task is cancelled); a new one connects."""

        async def go() -> None:
            await self.host_gone()
            assert not self.sim.is_on, "the device runs on after its host left"
            self.watch.hold_off("the host went away")
            await self.connect()

        self.run(go())

    async def garble(self, seconds: float) -> None:
        """Every byte corrupted both ways for a while: the device hears nothing valid."""
        lost: list[DeviceEvent] = []
        unsubscribe = self.device.on_event(
            lambda e: lost.append(e) if e.kind is EventKind.LINK_LOST else None
        )
        self.watch.link(False)
        self.sim.inject(corrupt=1.0)
        await asyncio.sleep(seconds)
        self.sim.inject(corrupt=0.0)
        unsubscribe()
        if not lost:
            self.watch.link(True)  # the client never noticed: the link is fine again
        event(f"garbled {seconds:g} s; the client noticed: {bool(lost)}")

    # ------------------------------------------------------------ invariants

    @invariant()
    def the_device_stays_within_the_rules(self) -> None:
        async def check() -> None:
            if self.session_ended:
                # The client gave up the link: the device must stay off; take a new one.
                await self.host_gone()
                await self.connect()
            self.watch.check()
            if self.program is not None and self.program.done():
                await self.end_program()
            snap = self.device.safety.snapshot(self.now())
            assert json.loads(json.dumps(snap.to_dict())) == snap.to_dict()
            assert snap.violations == 0, f"the client sent what the policy refuses: {snap}"
            # The policy counts what it told the device: never less than the device ran.
            monitor = self.watch.monitor
            assert snap.session_elapsed_s >= monitor.on_s - 1e-6, (
                f"the policy counted {snap.session_elapsed_s:.3f} s of on-time, "
                f"the device ran {monitor.on_s:.3f} s"
            )

        self.run(check())


def _test_case(config: str) -> type[unittest.TestCase]:
    """The test case of a machine that runs with ``CONFIGS[config]``."""
    machine: type[ClientMachine] = type(
        f"Machine_{config.replace(' ', '_')}", (ClientMachine,), {"config": config}
    )
    case = machine.TestCase
    case.settings = settings(
        max_examples=max(1, EXAMPLES // len(CONFIGS)),
        stateful_step_count=STEPS,
        deadline=None,
        derandomize="SAFETY_E2E_EXAMPLES" not in os.environ,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    return case


TestDefaults = _test_case("defaults")
TestHotOverride = _test_case("hot override")
TestShortSessions = _test_case("short sessions")
TestCappedIntensity = _test_case("capped")
TestNoHeat = _test_case("no heat")
TestNoSessions = _test_case("no sessions")
