"""Protocol-neutral device commands, and the state tracking that sends only changes.

A compiled program is a list of :class:`TimedCommand`. Each command maps onto
one call of the device client (:class:`ProgramDevice`, which the SDK's client
satisfies): :class:`SetIntensity` onto ``set_intensity``, :class:`PlayPattern`
onto ``play_pattern``, :class:`SetHeat` onto ``set_heat``, :class:`Stop` onto
``stop``. :class:`Emitter` remembers what the device was last told and yields
the commands that bring it to a wanted state: the compiler uses it to build the
stream, the runner to bring a device back in step after a pause or a skip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from massager_sdk.capabilities import DeviceCapabilities
from massager_sdk.model import DeviceStatus, Pattern, Waveform


class Output(NamedTuple):
    """What one zone does: a level, steady, looping a pattern or on a device waveform.

    For a pattern, ``origin`` is the program time (modulo the loop) at which the
    loop was at its start, so that the phase can be computed whenever the
    command is sent, and two outputs that continue the same loop compare equal.
    (A named tuple: the compiler compares many of them.)
    """

    level: int
    pattern: Pattern | None = None
    origin: float = 0.0
    waveform: Waveform = Waveform.CONSTANT
    period_s: float = 0.0

    @staticmethod
    def looping(level: int, pattern: Pattern, origin: float, loop_s: float = 0.0) -> Output:
        """A zone looping ``pattern`` at ``level``, the loop starting at program time ``origin``.

        ``loop_s`` may pass ``pattern.loop_s`` when it is already known.
        """
        if level <= 0:
            return OFF
        return Output(level, pattern, round(origin % (loop_s or pattern.loop_s), 6))

    @staticmethod
    def on_waveform(level: int, waveform: Waveform, period_s: float) -> Output:
        """A zone on one of the device's own waveforms."""
        if level <= 0:
            return OFF
        return Output(level, waveform=waveform, period_s=period_s)

    def phase_at(self, t: float) -> float:
        """The pattern's phase (fraction of its loop) at program time ``t``."""
        if self.pattern is None:
            return 0.0
        loop = self.pattern.loop_s
        return ((t - self.origin) / loop) % 1.0


OFF = Output(0)


@dataclasses.dataclass(frozen=True, slots=True)
class SetIntensity:
    """Set ``zones`` to ``level`` (device steps), steady or on a device waveform."""

    level: int
    zones: tuple[int, ...]
    waveform: Waveform = Waveform.CONSTANT
    period_s: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class PlayPattern:
    """Loop ``pattern`` on ``zones`` at ``intensity``, starting ``phase`` (0..1) into the loop."""

    pattern: Pattern
    zones: tuple[int, ...]
    intensity: int
    phase: float


@dataclasses.dataclass(frozen=True, slots=True)
class SetHeat:
    """Set the heater's target (degrees C), or turn it off with ``None``."""

    target_c: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Stop:
    """Stop every output and the heater."""


Command = SetIntensity | PlayPattern | SetHeat | Stop


@dataclasses.dataclass(frozen=True, slots=True)
class TimedCommand:
    """A command due ``at`` seconds into the program."""

    at: float
    command: Command


class ProgramDevice(Protocol):
    """The part of the device client a program runner needs."""

    @property
    def info(self) -> DeviceCapabilities:
        """The device's capabilities."""
        ...

    @property
    def last_status(self) -> DeviceStatus | None:
        """The latest status the device reported, if any."""
        ...

    async def set_intensity(
        self,
        level: int,
        zone: int | list[int] | None = None,
        *,
        waveform: Waveform = Waveform.CONSTANT,
        period: float = 1.0,
    ) -> object:
        """Set the motors of ``zone`` (all zones when ``None``)."""
        ...

    async def play_pattern(
        self,
        pattern: Pattern,
        zone: int | list[int] | None = None,
        *,
        intensity: int,
        phase: float = 0.0,
    ) -> object:
        """Loop ``pattern`` on ``zone`` at ``intensity``."""
        ...

    async def set_heat(self, target_c: float | None) -> object:
        """Set the heater's target, or turn it off with ``None``."""
        ...

    async def stop(self) -> object:
        """Stop every output and the heater."""
        ...


def _zone_arg(zones: tuple[int, ...], count: int) -> int | list[int] | None:
    if len(zones) == count:
        return None
    if len(zones) == 1:
        return zones[0]
    return list(zones)


async def send(device: ProgramDevice, command: Command) -> None:
    """Perform ``command`` on ``device`` with the matching client call."""
    count = len(device.info.zones)
    if isinstance(command, SetIntensity):
        if command.waveform is Waveform.CONSTANT:
            await device.set_intensity(command.level, _zone_arg(command.zones, count))
        else:
            await device.set_intensity(
                command.level,
                _zone_arg(command.zones, count),
                waveform=command.waveform,
                period=command.period_s,
            )
    elif isinstance(command, PlayPattern):
        await device.play_pattern(
            command.pattern,
            _zone_arg(command.zones, count),
            intensity=command.intensity,
            phase=command.phase,
        )
    elif isinstance(command, SetHeat):
        await device.set_heat(command.target_c)
    else:
        await device.stop()


class Emitter:
    """What the device was last told; the next command to reach a wanted state.

    Zones that want the same output are addressed by one command; only zones
    whose output differs from what was sent are addressed at all.
    """

    def __init__(self, zones: int) -> None:
        self.outputs: list[Output] = [OFF] * zones
        self.heat: float | None = None

    def next(self, outputs: Sequence[Output], heat: float | None, at: float) -> Command | None:
        """The first command still needed to reach ``outputs`` and ``heat``; it is recorded."""
        sent = self.outputs
        for i, want in enumerate(outputs):
            if want is not sent[i] and want != sent[i]:
                group = tuple(
                    j for j in range(i, len(outputs)) if outputs[j] == want and sent[j] != want
                )
                for j in group:
                    sent[j] = want
                return _command(want, group, at)
        if heat != self.heat:
            self.heat = heat
            return SetHeat(heat)
        return None

    def record(self, command: Command, at: float) -> None:
        """Note a command sent at program time ``at`` (from a compiled stream)."""
        if isinstance(command, Stop):
            self.outputs = [OFF] * len(self.outputs)
            self.heat = None
        elif isinstance(command, SetHeat):
            self.heat = command.target_c
        else:
            for zone in command.zones:
                self.outputs[zone] = _output(command, at)


def _command(want: Output, zones: tuple[int, ...], at: float) -> Command:
    if want.pattern is not None:
        return PlayPattern(want.pattern, zones, want.level, want.phase_at(at))
    return SetIntensity(want.level, zones, want.waveform, want.period_s)


def _output(command: SetIntensity | PlayPattern, at: float) -> Output:
    if isinstance(command, PlayPattern):
        origin = at - command.phase * command.pattern.loop_s
        return Output.looping(command.intensity, command.pattern, origin)
    if command.waveform is not Waveform.CONSTANT:
        return Output.on_waveform(command.level, command.waveform, command.period_s)
    return Output(command.level)
