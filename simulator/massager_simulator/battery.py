"""A lithium-ion cell: charge counting, a voltage curve, and a charger."""

from __future__ import annotations

import bisect

from massager_simulator.model import BatterySpec


class Battery:
    """The cell of a battery-powered device (the world, not the firmware)."""

    __slots__ = ("_mvs", "_pcts", "charge_mah", "charging", "load_ma", "spec")

    def __init__(self, spec: BatterySpec, pct: float) -> None:
        if not 0.0 <= pct <= 100.0:
            raise ValueError(f"battery level {pct!r} must be 0..100 percent")
        self.spec = spec
        self.charge_mah = spec.capacity_mah * pct / 100.0
        self.charging = False
        #: Current drawn by the device's loads (set by the firmware as they change).
        self.load_ma = spec.idle_ma
        self._pcts = [p for p, _ in spec.voltage_curve]
        self._mvs = [mv for _, mv in spec.voltage_curve]

    @property
    def pct(self) -> float:
        """State of charge, 0..100."""
        return 100.0 * self.charge_mah / self.spec.capacity_mah

    @property
    def level(self) -> int:
        """State of charge as the firmware reports it: whole percent, rounded up
        (a cell is reported empty only when it is)."""
        pct = self.pct
        whole = int(pct)
        return min(100, whole + (1 if pct > whole else 0))

    @property
    def mv(self) -> int:
        """Terminal voltage: the open-circuit curve less the sag under load."""
        pct = self.pct
        i = bisect.bisect_right(self._pcts, pct)
        if i <= 0:
            ocv = float(self._mvs[0])
        elif i >= len(self._pcts):
            ocv = float(self._mvs[-1])
        else:
            p0, p1, v0, v1 = self._pcts[i - 1], self._pcts[i], self._mvs[i - 1], self._mvs[i]
            ocv = v0 + (v1 - v0) * (pct - p0) / (p1 - p0)
        # A charger pushing current in raises the terminal voltage the same way.
        net_ma = self.load_ma - (self.spec.charge_ma if self.charging else 0.0)
        sag = net_ma * self.spec.internal_mohm / 1000.0
        return max(0, round(ocv - sag))

    def advance(self, dt: float, drain: float) -> None:
        """Count ``dt`` seconds of charge in and out (``drain`` multiplies the loads)."""
        flow = -self.load_ma * drain
        if self.charging:
            flow += self.spec.charge_ma
        charge = self.charge_mah + flow * dt / 3600.0
        self.charge_mah = min(float(self.spec.capacity_mah), max(0.0, charge))
