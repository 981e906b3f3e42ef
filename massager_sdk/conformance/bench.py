"""Test benches: what causes the faults that sections 7.4 to 7.6 of NMP/1 are about.

A host cannot make a temperature sensor fail or press a device's button. The
conformance suite (:mod:`massager_sdk.conformance`) causes them through a
:class:`Bench`, in the vocabulary of NMP/1's TEST_INJECT (spec section 12.3):

- :class:`WireBench`: the device's own test mode, over the link it is tested
  on, when its INFO offers it (firmware built for test);
- :class:`InjectorBench`: something in this process that applies the same
  injections directly, such as the simulator's
  :class:`massager_simulator.testmode.Injector`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from massager_protocols.nmp import Ack, Message, Nack, TestFault, TestInject

__all__ = ["Bench", "BenchError", "InjectorBench", "Injects", "WireBench"]


class BenchError(AssertionError):
    """A bench could not cause a fault (the device refused the injection)."""


class Bench(Protocol):
    """Causes a fault on the device under test, as TEST_INJECT names it."""

    #: How the faults are caused, for reports (``"over the link, in test mode"``).
    how: str

    async def inject(self, fault: TestFault, value: int = 0) -> None:
        """Cause ``fault`` (``value`` as spec section 12.3 says); ``BenchError`` if refused."""


class Injects(Protocol):
    """Applies an injection at once: 0, or the NACK code of a refusal."""

    def apply(self, fault: int, value: int) -> int:
        """Carry out one injection."""


class InjectorBench:
    """A bench in this process (the simulator's injector)."""

    how = "by a test bench in this process"

    def __init__(self, injector: Injects) -> None:
        self.injector = injector

    async def inject(self, fault: TestFault, value: int = 0) -> None:
        """Apply the injection directly."""
        code = self.injector.apply(fault, value)
        if code:
            raise BenchError(f"the test bench refused {fault.name} = {value} (code {code})")


class WireBench:
    """The device's test mode: TEST_INJECT over the link (spec section 12)."""

    how = "over the link, in the device's test mode"

    def __init__(self, request: Callable[[Message], Awaitable[Message]]) -> None:
        self._request = request

    async def inject(self, fault: TestFault, value: int = 0) -> None:
        """Send TEST_INJECT; the device must ACK it."""
        reply = await self._request(TestInject(int(fault), value))
        if not (isinstance(reply, Ack) and reply.acked_type == TestInject.TYPE):
            shown = f"NACK {reply.reason}" if isinstance(reply, Nack) else reply.TYPE.name
            raise BenchError(f"TEST_INJECT {fault.name} = {value}: expected ACK, got {shown}")
