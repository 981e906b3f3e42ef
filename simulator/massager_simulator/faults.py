"""Fault injection: what can go wrong with a link or with the hardware.

:class:`FaultConfig` describes the faults; a device applies the hardware ones
(sensor, heater driver, battery drain, busy) itself, and every link, whatever
carries it (in-process, TCP, pty, BLE), passes its bytes through the same
:class:`Shaper` for the link ones. All randomness comes from a
``random.Random`` seeded from ``seed``, so a run is reproducible.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterable
from typing import Any, Literal

SensorFault = Literal["ok", "stuck", "open", "short"]
SENSOR_FAULTS: tuple[str, ...] = ("ok", "stuck", "open", "short")

#: Bytes a shaper may hold in flight (delayed or merged) per direction; beyond
#: it, bytes are dropped, as a UART or radio buffer overflows.
MAX_IN_FLIGHT = 64 * 1024
#: How long a chunk held back for merging waits for the next one.
MERGE_WINDOW_S = 0.005


@dataclasses.dataclass(frozen=True)
class FaultConfig:
    """Faults to inject. The default injects none.

    Link faults apply to both directions of every link; hardware faults to the
    device itself. Rates and fractions are probabilities in 0..1.
    """

    seed: int = 0  #: seeds every random choice
    # link faults
    drop_after_s: float | None = None  #: drop each link this long after it opens
    corrupt: float = 0.0  #: fraction of bytes with one bit flipped
    delay_ms: float = 0.0  #: fixed latency added to every chunk
    jitter_ms: float = 0.0  #: extra random latency, 0..jitter_ms (order is kept)
    reply_delay_ms: float = 0.0  #: latency added to what the device sends only (a slow radio)
    split: float = 0.0  #: probability a chunk is cut into pieces
    merge: float = 0.0  #: probability a chunk is held and joined to the next
    # hardware faults
    sensor: SensorFault = "ok"  #: temperature sensor: ok, stuck, open (reads -55 C), short (150 C)
    stuck_c: float | None = None  #: reading of a stuck sensor; None = the reading when it stuck
    heater_stuck_on: bool = False  #: heater driver fails short: full power whatever it is told
    drain: float = 1.0  #: battery drain multiplier (fast drain)
    busy: float = 0.0  #: fraction of commands NACKed BUSY (never STOP_ALL)

    def __post_init__(self) -> None:
        for name in ("corrupt", "split", "merge", "busy"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name}={value!r} must be a fraction in 0..1")
        for name in ("delay_ms", "jitter_ms", "reply_delay_ms"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"fault {name}={getattr(self, name)!r} must be >= 0")
        if self.drop_after_s is not None and not self.drop_after_s >= 0:
            raise ValueError(f"fault drop_after_s={self.drop_after_s!r} must be >= 0 seconds")
        if not self.drain > 0:
            raise ValueError(f"fault drain={self.drain!r} must be a positive multiplier")
        if self.sensor not in SENSOR_FAULTS:
            raise ValueError(f"fault sensor={self.sensor!r}; accepted: {', '.join(SENSOR_FAULTS)}")

    @property
    def shapes_bytes(self) -> bool:
        """Whether any fault alters the bytes or the timing of a link."""
        return bool(
            self.corrupt
            or self.delay_ms
            or self.jitter_ms
            or self.reply_delay_ms
            or self.split
            or self.merge
        )

    def replace(self, **changes: Any) -> FaultConfig:
        """A copy with some faults changed (checked like the constructor)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        """The fault names accepted by :meth:`parse`."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def parse(cls, items: Iterable[str], base: FaultConfig | None = None) -> FaultConfig:
        """Build from ``NAME=VALUE`` strings (the command line's ``--fault``).

        Raises ``ValueError`` naming the bad item and what is accepted.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in fields:
                raise ValueError(
                    f"bad fault {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
                )
            changes[name] = _convert(name, str(fields[name].type), text.strip())
        return dataclasses.replace(base or cls(), **changes)


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if name == "sensor":
            return text
        if "bool" in kind:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "None" in kind and text.lower() in ("none", ""):
            return None
        if kind.startswith("int"):
            return int(text)
        return float(text)
    except ValueError:
        what = (
            "true or false"
            if "bool" in kind
            else "an integer"
            if kind.startswith("int")
            else "a number"
        )
        raise ValueError(f"bad fault value {name}={text!r}: expected {what}") from None


class Shaper:
    """One direction of a link under the link faults of a :class:`FaultConfig`.

    ``push`` takes chunks in order; ``deliver`` receives them, corrupted, cut,
    joined and delayed as configured, still in order. With no link fault
    configured a chunk is delivered at once, untouched. ``replies`` marks the
    device-to-host direction, which ``reply_delay_ms`` delays too.
    """

    __slots__ = (
        "_closed",
        "_deliver",
        "_faults",
        "_held",
        "_in_flight",
        "_last_due",
        "_merge_timer",
        "_replies",
        "_rng",
        "dropped",
    )  # fmt: skip

    def __init__(
        self,
        faults: Callable[[], FaultConfig],
        rng: random.Random,
        deliver: Callable[[bytes], None],
        *,
        replies: bool = False,
    ) -> None:
        self._faults = faults
        self._replies = replies
        self._rng = rng
        self._deliver = deliver
        self._held = b""
        self._merge_timer: asyncio.TimerHandle | None = None
        self._last_due = 0.0
        self._in_flight = 0
        self._closed = False
        #: Bytes dropped because too much was in flight.
        self.dropped = 0

    def close(self) -> None:
        """Deliver nothing more (bytes in flight are lost, as on a dropped link)."""
        self._closed = True
        self._held = b""
        if self._merge_timer is not None:
            self._merge_timer.cancel()
            self._merge_timer = None

    def push(self, data: bytes) -> None:
        """Send one chunk through the faults."""
        if self._closed:
            return
        faults = self._faults()
        if not faults.shapes_bytes and not self._in_flight and not self._held:
            self._deliver(data)
            return
        rng = self._rng
        if faults.corrupt:
            data = _corrupt(data, faults.corrupt, rng)
        if faults.merge and rng.random() < faults.merge:
            self._hold(data)
            return
        if self._held:
            data = self._held + data
            self._held = b""
            if self._merge_timer is not None:
                self._merge_timer.cancel()
                self._merge_timer = None
        pieces = [data]
        if faults.split and len(data) > 1 and rng.random() < faults.split:
            cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 3))))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        for piece in pieces:
            self._schedule(piece, faults)

    def _hold(self, data: bytes) -> None:
        if len(self._held) + len(data) > MAX_IN_FLIGHT:
            self.dropped += len(data)
            return
        self._held += data
        if self._merge_timer is None:
            loop = asyncio.get_running_loop()
            self._merge_timer = loop.call_later(MERGE_WINDOW_S, self._flush_held)

    def _flush_held(self) -> None:
        self._merge_timer = None
        data, self._held = self._held, b""
        if data and not self._closed:
            self._schedule(data, self._faults())

    def _schedule(self, data: bytes, faults: FaultConfig) -> None:
        latency = faults.delay_ms + (
            self._rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0
        )
        if self._replies:
            latency += faults.reply_delay_ms
        if not latency and not self._in_flight:
            self._deliver(data)
            return
        if self._in_flight + len(data) > MAX_IN_FLIGHT:
            self.dropped += len(data)
            return
        loop = asyncio.get_running_loop()
        # Strictly increasing due times keep the bytes in order through the timer heap.
        due = max(loop.time() + latency / 1000.0, self._last_due + 1e-6)
        self._last_due = due
        self._in_flight += len(data)
        loop.call_at(due, self._arrive, data)

    def _arrive(self, data: bytes) -> None:
        self._in_flight -= len(data)
        if not self._closed:
            self._deliver(data)


def _corrupt(data: bytes, fraction: float, rng: random.Random) -> bytes:
    out = bytearray(data)
    for i in range(len(out)):
        if rng.random() < fraction:
            out[i] ^= 1 << rng.randrange(8)
    return bytes(out)
