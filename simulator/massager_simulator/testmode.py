"""NMP/1 test mode as the simulated firmware keeps it (spec section 12).

A model offers it only when its protocol options say so (off by default, as a
production build)::

    [protocol_options]
    test_mode = true

or, for any bundled model, with the URL ``sim://heat4?test_mode=true``.
:class:`Injector` turns each TEST_INJECT fault into the simulator's own
hardware faults (:mod:`.faults`), its button and its charger; it also serves a
test bench in the same process. :class:`TestMode` keeps the entry rules of
section 12.1: a fresh INFO on the link, the device's serial, nothing on, one
link at a time, and one wrong attempt closing the window.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from massager_protocols.nmp import (
    STUCK_AT_READING,
    TEST_ENTRY_WINDOW_S,
    EnterTestMode,
    Feature,
    NackCode,
    StopAll,
    TestFault,
    TestInject,
)

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port
    from massager_simulator.model import DeviceModel

#: The protocol option that offers test mode.
OPTION = "test_mode"
_SENSOR = {
    TestFault.SENSOR_OK: "ok",
    TestFault.SENSOR_STUCK: "stuck",
    TestFault.SENSOR_OPEN: "open",
    TestFault.SENSOR_SHORT: "short",
}


def offered(options: dict[str, Any], where: str) -> bool:
    """Whether a model's protocol options offer test mode (``ValueError`` if malformed)."""
    value = options.get(OPTION, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {OPTION} = {value!r}; accepted: true or false")
    return value


class Injector:
    """Injects the faults of TEST_INJECT into a simulated device, and lifts them.

    What it changes is recorded first, so :meth:`lift` gives the device back the
    hardware it had before: the faults configured, the cell's charge, the charger.
    """

    __test__ = False  # not a pytest class

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self._faults_before: dict[str, Any] | None = None
        self._charge_before: float | None = None
        self._charging_before: bool | None = None

    def apply(self, fault: int, value: int) -> int:
        """Carry out one injection: 0, or the NackCode (a refusal changes nothing)."""
        code = self._check(fault, value)
        if code:
            return code
        device = self.device
        kind = TestFault(fault)
        if kind in _SENSOR:
            stuck_c = None if value == STUCK_AT_READING else value / 10.0
            self._inject(sensor=_SENSOR[kind], stuck_c=stuck_c)
        elif kind == TestFault.HEATER_STUCK_ON:
            self._inject(heater_stuck_on=bool(value))
        elif kind == TestFault.BATTERY_LEVEL:
            self._battery(value)
        elif kind == TestFault.CHARGER:
            if self._charging_before is None:
                self._charging_before = device.charging
            device.set_charging(bool(value))
        else:
            device.press_button()
        return 0

    def _check(self, fault: int, value: int) -> int:
        features = Feature(self.device.info.features)
        try:
            kind = TestFault(fault)
        except ValueError:
            return NackCode.OUT_OF_RANGE
        needs = {
            TestFault.HEATER_STUCK_ON: Feature.HEAT,
            TestFault.BATTERY_LEVEL: Feature.BATTERY,
            TestFault.CHARGER: Feature.CHARGING,
            TestFault.BUTTON: Feature.BUTTON,
        }.get(kind, Feature.HEAT)
        if not features & needs:
            return NackCode.OUT_OF_RANGE
        if kind == TestFault.SENSOR_STUCK:
            return 0
        if kind == TestFault.BATTERY_LEVEL:
            ok = 0 <= value <= 100 or value == -1
        elif kind in (TestFault.HEATER_STUCK_ON, TestFault.CHARGER):
            ok = value in (0, 1)
        else:
            ok = value == 0
        return 0 if ok else NackCode.OUT_OF_RANGE

    def _inject(self, **changes: Any) -> None:
        device = self.device
        if self._faults_before is None:
            current = device.faults
            self._faults_before = {
                name: getattr(current, name) for name in ("sensor", "stuck_c", "heater_stuck_on")
            }
        device.inject(**changes)

    def _battery(self, pct: int) -> None:
        device = self.device
        assert device.power is not None  # checked: the model advertises a battery
        battery = device.power.battery
        device.battery_pct  # noqa: B018 - brings the cell's charge up to now first
        if pct < 0:
            if self._charge_before is not None:
                battery.charge_mah, self._charge_before = self._charge_before, None
        else:
            if self._charge_before is None:
                self._charge_before = battery.charge_mah
            battery.charge_mah = battery.spec.capacity_mah * pct / 100.0
        device._poke()  # the firmware reads its gauge at once

    def lift(self) -> None:
        """Give the device back the hardware it had before the first injection."""
        device = self.device
        if self._faults_before is not None:
            device.inject(**self._faults_before)
            self._faults_before = None
        if self._charge_before is not None:
            self._battery(-1)
        if self._charging_before is not None:
            device.set_charging(self._charging_before)
            self._charging_before = None


@dataclasses.dataclass
class _Entry:
    """One link's entry window: when INFO was last answered there, and whether a
    wrong attempt has closed it since."""

    info_at: float | None = None
    closed: bool = False


class TestMode:
    """The test-mode state of one simulated NMP/1 device (spec section 12)."""

    __test__ = False  # not a pytest class

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.injector = Injector(device)
        #: The link in test mode, or ``None``.
        self.port: Port | None = None
        self._entries: dict[Port, _Entry] = {}

    def info_answered(self, port: Port, now: float) -> None:
        """A GET_INFO was answered on ``port``: its entry window opens."""
        self._entries[port] = _Entry(info_at=now)

    def enter(self, port: Port, message: EnterTestMode, now: float) -> int:
        """ENTER_TEST_MODE from ``port``: 0, or NACK TEST_MODE_REFUSED (12.1)."""
        device = self.device
        wanted = EnterTestMode.for_serial(device.info.serial)
        if port is self.port and message == wanted:
            return 0
        entry = self._entries.setdefault(port, _Entry())
        fresh = entry.info_at is not None and now - entry.info_at <= TEST_ENTRY_WINDOW_S
        if message != wanted or not fresh or entry.closed or device.is_on or self.port is not None:
            self.refused(port)
            return NackCode.TEST_MODE_REFUSED
        self.port = port
        return 0

    def refused(self, port: Port) -> None:
        """A wrong attempt on ``port``: its window closes until the next INFO."""
        self._entries.setdefault(port, _Entry()).closed = True

    def exit(self, port: Port, now: float) -> int:
        """EXIT_TEST_MODE from ``port``: 0, or NACK TEST_MODE_REFUSED when it is not in
        test mode."""
        if port is not self.port:
            return NackCode.TEST_MODE_REFUSED
        self._leave(now)
        return 0

    def inject(self, port: Port, message: TestInject) -> int:
        """TEST_INJECT from ``port``: 0, or the NackCode (12.3)."""
        if port is not self.port:
            return NackCode.TEST_MODE_REFUSED
        return self.injector.apply(message.fault, message.value)

    def port_closed(self, port: Port) -> None:
        """A link closed: its window goes, and test mode with it when it was the test link."""
        self._entries.pop(port, None)
        if port is self.port:
            self._leave(self.device._clock())

    def _leave(self, now: float) -> None:
        self.port = None
        self.injector.lift()
        self.device.apply(StopAll(), now)


def offering(model: DeviceModel, offer: bool = True) -> DeviceModel:
    """``model`` built for test (``offer``) or not: its ``test_mode`` option set."""
    return dataclasses.replace(model, protocol_options={**model.protocol_options, OPTION: offer})
