"""The host's signing session survives what a link can do to it (spec 10.2):

- the device loses the session with the link up (it restarted): the host's
  next signed command is refused NOT_AUTHENTICATED, the host asks for the
  session again and sends the command once more, signed anew;
- the answer to a signed command is lost: the retry is signed again with the
  next counter (never the same bytes, which the device refuses as a replay).

Both against the simulator in authenticated mode, through massager_sdk.connect().
"""

from __future__ import annotations

from typing import Any

from massager_protocols import ProtocolError
from massager_protocols.nmp import Ack, Message, MsgType, SetOutput, decode_frame
from massager_simulator import SimulatedDevice
from massager_simulator.auth import device_auth, label_secret
from massager_simulator.clock import run_virtual
from massager_simulator.link import Port
from massager_simulator.personalities.nmp import NmpPersonality

import massager_sdk
from massager_sdk.keys import store_key
from massager_sdk.protocols.nmp import KEY_MISMATCH, PairingRequired

SERIAL = "H4A-000001"
URL = "sim://heat4-auth"


class Recording(SimulatedDevice):
    """The simulated firmware, noting every SET_OUTPUT it carries out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.carried_out: list[int] = []

    def apply(self, message: Message, now: float, link: object | None = None) -> int:
        code = super().apply(message, now, link)
        if isinstance(message, SetOutput) and not code:
            self.carried_out.append(message.intensity)
        return code


def _after(restart: bool) -> tuple[list[int], int, bool]:
    """Level 3, then (after a restart of the device's sessions, when ``restart``) level 5:
    the SET_OUTPUTs carried out for the second, renewals, and whether the nonce changed."""
    store_key(SERIAL, label_secret(SERIAL))

    async def main() -> tuple[list[int], int, bool]:
        sim = Recording("heat4-auth")
        async with (
            sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            await device.set_intensity(3)
            await device.flush()
            assert sim.commanded == (3, 3, 3, 3)
            auth = device_auth(sim)
            (port,) = sim.personality.ports()
            before = auth.session(port, 0.0).nonce
            if restart:
                auth.restart()  # every session and counter gone, the link still up
            sim.carried_out.clear()
            await device.set_intensity(5)
            await device.flush()
            assert sim.commanded == (5, 5, 5, 5)
            assert device.stats.refusals == 0
            carried_out = list(sim.carried_out)
            await device.set_intensity(2)  # and it goes on in that session
            await device.flush()
            assert sim.commanded == (2, 2, 2, 2)
            renewed = auth.session(port, 0.0).nonce != before
            return carried_out, device.stats.session_renewals, renewed

    return run_virtual(main)


def test_a_restarted_device_s_session_is_renewed_and_the_command_carried_out_once() -> None:
    carried_out, renewals, renewed = _after(restart=True)
    assert (renewals, renewed) == (1, True)
    # not lost, not doubled: what a device that kept its session carried out
    assert carried_out == _after(restart=False)[0]
    assert carried_out and carried_out[-1] == 5


def test_a_session_renewed_to_another_key_says_to_pair_again() -> None:
    store_key(SERIAL, label_secret(SERIAL))

    async def main() -> None:
        sim = Recording("heat4-auth")
        async with (
            sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            await device.set_intensity(3)
            await device.flush()
            auth = device_auth(sim)
            auth.paired_key = bytes(range(32))  # paired with another host meanwhile
            auth.restart()
            sim.carried_out.clear()
            try:
                await device.set_intensity(5)
                await device.flush()
            except PairingRequired as exc:
                assert KEY_MISMATCH in str(exc)
            else:
                raise AssertionError("a device holding another key took the command")
            assert sim.carried_out == []
            assert device.stats.session_renewals == 1

    run_virtual(main)


class _LosesOneAck(NmpPersonality):
    """The link loses the device's first ACK of a SET_OUTPUT at level 4."""

    lost = 0

    # An instance method where the base has a static one: it needs the device.
    def send(self, port: Port, data: bytes) -> None:  # type: ignore[override]
        try:
            message = decode_frame(data).message()
        except ProtocolError:
            message = None  # INFO and SESSION in one write
        if (
            not self.lost
            and isinstance(message, Ack)
            and message.acked_type == MsgType.SET_OUTPUT
            and self.device.commanded == (4, 4, 4, 4)
        ):
            type(self).lost += 1
            return  # carried out, but its ACK never reaches the host
        super().send(port, data)


class LosesOneAck(Recording):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.personality = _LosesOneAck(self)


def test_a_signed_command_whose_ack_is_lost_is_signed_again_and_accepted() -> None:
    store_key(SERIAL, label_secret(SERIAL))
    _LosesOneAck.lost = 0

    async def main() -> None:
        sim = LosesOneAck("heat4-auth")
        async with (
            sim,
            massager_sdk.connect(URL, simulator=sim) as device,
        ):
            await device.set_intensity(4)
            await device.flush()
            assert _LosesOneAck.lost == 1
            assert device.stats.retries == 1 and device.stats.refusals == 0
            assert device.stats.session_renewals == 0  # the retry was not refused
            assert sim.commanded == (4, 4, 4, 4)
            # Carried out on the first frame and again on the retry, each signed
            # with its own counter; setting a level twice leaves it as once.
            assert sim.carried_out[-2:] == [4, 4] and sim.carried_out.count(4) == 2
            await device.set_intensity(1)  # the session goes on
            await device.flush()
            assert sim.commanded == (1, 1, 1, 1)

    run_virtual(main)
