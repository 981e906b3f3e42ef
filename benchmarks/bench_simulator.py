"""The simulator on the virtual clock: a 20-minute session, end to end, in under a second.

A small host loop speaks raw NMP/1 frames over the in-process link: a
keepalive every second, an output change every 3 s, a heat change every 30 s,
a GET_STATUS every 5 s, while the firmware runs its control loop, sends its
telemetry and drains its battery. The figure is the wall time of the whole
session; the target is at most 1 s (at least 1200 times real time). A second
run plays the classic program through the SDK (client, safety, runner).
"""

from __future__ import annotations

import asyncio
import time

from massager_protocols.nmp import (
    GetInfo,
    GetStatus,
    Keepalive,
    Message,
    PatternStep,
    SetAutoOff,
    SetHeat,
    SetOutput,
    StreamDecoder,
    UploadPattern,
    Waveform,
    encode,
)
from massager_simulator import SimulatedDevice
from massager_simulator.clock import run_virtual

from benchmarks.harness import Report, Target

SESSION_S = 20 * 60
RUNS = 3


async def _session() -> tuple[int, int]:
    """One 20-minute session; returns (frames sent, frames received)."""
    loop = asyncio.get_running_loop()
    async with SimulatedDevice("heat4") as device:
        link = device.connect()
        decoder = StreamDecoder()
        pending: dict[int, asyncio.Future[Message]] = {}
        received = 0

        async def pump() -> None:
            nonlocal received
            try:
                while True:
                    for frame in decoder.feed(await link.read()):
                        received += 1
                        fut = pending.pop(frame.seq, None)
                        if fut is not None:
                            fut.set_result(frame.message())
            except ConnectionResetError:
                pass

        reader = loop.create_task(pump())
        seq = 0
        sent = 0

        async def request(message: Message) -> Message:
            nonlocal seq, sent
            seq = seq % 255 + 1
            fut: asyncio.Future[Message] = loop.create_future()
            pending[seq] = fut
            await link.write(encode(message, seq))
            sent += 1
            return await fut

        await request(GetInfo())
        await request(SetAutoOff(SESSION_S))
        await request(UploadPattern(0, (PatternStep(100, 400), PatternStep(30, 600))))
        start = loop.time()
        targets = (380, 400, 420, 400)
        for second in range(SESSION_S - 1):
            if second % 3 == 0:
                zone = 1 << (second // 3 % 4)
                waveform = (Waveform.CONSTANT, Waveform.WAVE, Waveform.PATTERN)[second % 9 // 3]
                await request(SetOutput(zone, second % 10 + 1, waveform, 0, 2000))
            if second % 30 == 0:
                await request(SetHeat(targets[second // 30 % 4]))
            if second % 5 == 0:
                await request(GetStatus())
            await request(Keepalive())
            await asyncio.sleep(start + second + 1 - loop.time())
        assert device.is_on, "the session ended early"
        link.close()
        await reader
        return sent, received


async def _program_session() -> float:
    """The classic program (19:10) through the SDK: client, safety policy, runner."""
    import massager_sdk
    from massager_sdk.programs import ProgramRunner, compile_program, load_program

    loop = asyncio.get_running_loop()
    start = loop.time()
    async with massager_sdk.connect("sim://heat4") as device:
        compiled = compile_program(load_program("classic"), device.info)
        final = await ProgramRunner(device, compiled).run()
    assert final.state == "completed", final
    return loop.time() - start


def run() -> Report:
    """Run each session a few times; report the best wall times."""
    best = float("inf")
    sent = received = 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        sent, received = run_virtual(_session)
        best = min(best, time.perf_counter() - t0)
    speedup = SESSION_S / best
    sdk_best = float("inf")
    simulated = 0.0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        simulated = run_virtual(_program_session)
        sdk_best = min(sdk_best, time.perf_counter() - t0)
    return Report(
        title="Simulator: 20-minute session on the virtual clock",
        command="python -m benchmarks simulator",
        table=[
            {
                "session": "raw NMP/1 host loop",
                "simulated": f"{SESSION_S} s",
                "wall (best of 3)": f"{best * 1000:.0f} ms",
                "times real time": f"{speedup:,.0f}x",
                "frames": f"{sent} out, {received} in",
            },
            {
                "session": "classic program through the SDK",
                "simulated": f"{simulated:.0f} s",
                "wall (best of 3)": f"{sdk_best * 1000:.0f} ms",
                "times real time": f"{simulated / sdk_best:,.0f}x",
                "frames": "",
            },
        ],
        targets=[
            Target("wall time of a 20-minute session (raw host loop)", best, 1.0, "<=", " s"),
            Target("speed-up over real time (raw host loop)", speedup, 1200.0, ">=", "x"),
            Target("wall time of classic through the SDK", sdk_best, 1.0, "<=", " s"),
        ],
        notes=(
            "Raw NMP/1 frames through the in-process link to a heat4 device: keepalive every "
            "second, an output change every 3 s (constant, wave, pattern), a heat change every "
            "30 s, GET_STATUS every 5 s; the device answers each, runs its 4 Hz control loop "
            "and sends a STATUS every second. The second row plays the built-in classic "
            "program (19:10) with the SDK's client, safety policy and program runner against "
            "the same simulated device."
        ),
    )
