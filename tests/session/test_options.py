"""One options object configures connect(), Device and the sync facade alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from massager_simulator import FaultConfig, SimulatedDevice
from massager_simulator.clock import run_virtual

import massager_sdk
import massager_sdk.sync
from massager_sdk import ConnectionFailed, ConnectOptions
from massager_sdk.client import Device
from massager_sdk.safety import SafetyLimits
from massager_sdk.transports.sim import SimTransport

SLOW_RAMP = SafetyLimits(ramp_s=2.0, ramp_interval_s=0.5, overrides=frozenset({"ramp_s"}))


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("timeout", 0, ValueError, "timeout must be a positive number of seconds"),
        ("retries", 11, ValueError, "retries must be an integer 0..10"),
        ("retries", 1.5, ValueError, "retries must be an integer 0..10"),
        ("reconnect_grace_s", -1, ValueError, "reconnect_grace_s must be >= 0"),
        ("keepalive_s", 0, ValueError, "keepalive_s must be a positive number"),
        ("status_interval_s", -2, ValueError, "status_interval_s must be a positive number"),
        ("telemetry_buffer", 0, ValueError, "telemetry_buffer must be an integer of at least 1"),
        ("control", "no", TypeError, "control must be True or False"),
        ("install_signal_handlers", 1, TypeError, "install_signal_handlers must be True or"),
    ],
)
def test_a_bad_option_is_named_with_what_is_accepted(
    field: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ConnectOptions(**{field: value})
    with pytest.raises(error, match=message):
        ConnectOptions().replace(**{field: value})
    with pytest.raises(error, match=message):
        massager_sdk.connect("sim://heat4", **{field: value})


def test_options_are_frozen() -> None:
    options = ConnectOptions()
    with pytest.raises(AttributeError):
        options.timeout = 3.0  # type: ignore[misc]


def test_split_takes_the_fields_and_leaves_the_transport_options() -> None:
    base = ConnectOptions(timeout=0.5, control=False)
    settled, rest = ConnectOptions.split(base, {"retries": 4, "control": True, "baud": 9600})
    assert settled == ConnectOptions(timeout=0.5, retries=4, control=True)
    assert rest == {"baud": 9600}
    assert base.control is False  # the given options are not changed
    with pytest.raises(TypeError, match="options must be a ConnectOptions"):
        ConnectOptions.split({"timeout": 1.0}, {})  # type: ignore[arg-type]


def test_connect_takes_the_options_object_and_keywords_win() -> None:
    async def main() -> None:
        options = ConnectOptions(limits=SLOW_RAMP, status_interval_s=None, timeout=0.25)
        async with massager_sdk.connect("sim://heat4", options=options, timeout=0.5) as device:
            assert device.options == options.replace(timeout=0.5)
            # The options reach the parts they configure.
            assert device.safety.ramp_interval_s == 0.5
            await device.set_intensity(4, 0)
            await device.flush()
            assert device.info.zones[0].index == 0

    run_virtual(main)


def test_a_device_built_on_a_transport_takes_the_same_options() -> None:
    async def main() -> None:
        async with SimulatedDevice("heat4") as sim:
            transport = SimTransport("heat4", simulator=sim)
            options = ConnectOptions(control=False)
            async with Device(transport, options) as device:
                assert not device.in_control
                assert device.options is options
            assert sim.is_on is False
        with pytest.raises(TypeError, match="unknown keyword arguments baud"):
            Device(SimTransport("heat4"), baud=9600)

    run_virtual(main)


def test_the_sync_facade_takes_the_options_object() -> None:
    options = ConnectOptions(control=False, telemetry_buffer=8)
    with massager_sdk.sync.connect("sim://heat4", options=options) as device:
        assert not device.in_control
        assert device.device.options == options
    # install_signal_handlers belongs to the calling thread, not to the loop's.
    with massager_sdk.sync.connect(
        "sim://heat4", options=options, install_signal_handlers=False
    ) as device:
        assert device.device.options.install_signal_handlers is False


def test_the_wait_for_a_reply_is_the_options_timeout() -> None:
    async def main() -> None:
        sim = SimulatedDevice("heat4", faults=FaultConfig(delay_ms=600_000))
        await sim.start()
        loop = asyncio.get_running_loop()
        for options in (ConnectOptions(timeout=0.3, retries=0), ConnectOptions(timeout=0.2)):
            started = loop.time()
            with pytest.raises(ConnectionFailed, match="does not answer"):
                async with massager_sdk.connect("sim://", simulator=sim, options=options):
                    pass
            tries = options.retries + 1
            assert loop.time() - started == pytest.approx(options.timeout * tries, abs=0.05)
        await sim.stop()

    run_virtual(main)
