"""The numbers the safety policy enforces, their defaults, and where they come from.

Every limit can be made safer freely. Making one less safe than its default is an
*override*: it must be named in ``overrides``, stays inside a hard bound that no
override passes, is logged at WARNING by the policy and shows in its snapshot.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Literal

#: IEC 60601-1 practice: parts in skin contact for 10 minutes or more stay at or
#: below 43 C. Not a field: no override moves it.
CONTACT_LIMIT_C = 43.0
#: The contact time from which :data:`CONTACT_LIMIT_C` applies.
CONTACT_LONG_S = 600.0


class Limit(enum.StrEnum):
    """Names of the limits, as :class:`~massager_sdk.errors.SafetyRefusal` reports them."""

    DEVICE_STEPS = "device_steps"
    DEVICE_HEAT_LIMIT = "device_heat_limit"
    DEVICE_AUTO_OFF_MAX = "device_auto_off_max"
    INTENSITY_MAX = "intensity_max"
    FRONT_NECK_GENTLE = "front_neck_gentle"
    PROFILE_ACKNOWLEDGED = "profile_acknowledged"
    SCREENING_SESSIONS = "screening_sessions"
    SCREENING_HEAT = "screening_heat"
    SCREENING_INTENSITY = "screening_intensity"
    SCREENING_ELECTRICAL = "screening_electrical"
    FRONT_NECK_ELECTRICAL = "front_neck_electrical"
    EMERGENCY_STOP = "emergency_stop"
    SESSION_MAX = "session_max"
    REST = "rest"
    HEAT_MAX = "heat_max"
    HEAT_CONTACT = "heat_contact"
    HEAT_FAULT = "heat_fault"
    TEMPERATURE_STALE = "temperature_stale"
    THERMAL_DOSE = "thermal_dose"
    OUTPUTS_OUTSIDE_POLICY = "outputs_outside_policy"
    LEDGER = "ledger"


Safer = Literal["lower", "higher"] | None


@dataclasses.dataclass(frozen=True, slots=True)
class LimitSpec:
    """How one field of :class:`SafetyLimits` may move, and why its default is what it is."""

    unit: str
    safer: Safer  #: the direction that is safer; ``None``: pacing only, either way
    bounds: tuple[float, float]  #: hard bounds; no override passes them
    meaning: str
    source: str


#: One entry per field of :class:`SafetyLimits` (a test keeps the two in step).
SPECS: dict[str, LimitSpec] = {
    "auto_off_s": LimitSpec(
        "s",
        "lower",
        (60, 3600),
        "Everything switches off after this much on-time in a session, unless the "
        "caller sets another auto-off (up to `session_max_s`).",
        "Commercial neck massagers switch off after 15 minutes.",
    ),
    "session_max_s": LimitSpec(
        "s",
        "lower",
        (60, 3600),
        "Hard maximum of on-time in one session; no auto-off setting passes it.",
        'The source article: "a full range of effects on the body can take only 20 minutes".',
    ),
    "rest_s": LimitSpec(
        "s",
        "higher",
        (0, 86400),
        "Everything off for this long ends a session. Once a session has used its "
        "time, outputs are refused until this rest has passed.",
        "The article prescribes 20-30 minutes of rest after a session; the policy "
        "takes the longer end because it cannot tell which applies to the user.",
    ),
    "heat_max_c": LimitSpec(
        "C",
        "lower",
        (30.0, 45.0),
        "Highest heater target. Above 43 C (override only) a target is allowed for "
        "the first 10 minutes of heat contact in a session, never after.",
        "Commercial devices heat to 38-42 C; IEC 60601-1 practice asks a clinical "
        "justification above 41 C and caps 10-minute contact at 43 C.",
    ),
    "overtemp_margin_c": LimitSpec(
        "C",
        "lower",
        (0.5, 3.0),
        "A reported temperature this far above `heat_max_c` (or any reading above "
        "the device's own limit) counts as over-temperature.",
        "Room for a heater controller's overshoot while still tripping before the "
        "43 C contact limit is passed by much.",
    ),
    "temperature_timeout_s": LimitSpec(
        "s",
        "lower",
        (1.0, 30.0),
        "On a device that reports temperature, heat goes off when no reading has "
        "arrived for this long while heating.",
        "A few status periods: a heater left without a sensor reading is heating blind.",
    ),
    "dose_limit_fraction": LimitSpec(
        "",
        "lower",
        (0.01, 0.5),
        "Heat goes off when the thermal dose reaches this fraction of the burn "
        "threshold (360 equivalent minutes at 44 C).",
        "Moritz and Henriques: 44 C burns in about 6 hours, each +1 C halves the "
        "time. A factor of ten in time is about 3.3 C of margin at that rate.",
    ),
    "dose_half_life_s": LimitSpec(
        "s",
        "higher",
        (600.0, 604800.0),
        "The thermal dose halves every this many seconds while the heater is off.",
        "Slow next to the rest period, so back-to-back sessions add up; a day "
        "(12 half-lives) brings it back to about zero.",
    ),
    "max_fraction": LimitSpec(
        "",
        "lower",
        (0.1, 1.0),
        "Highest intensity of any zone, as a fraction of the device's steps.",
        "The device's own steps; lower it to keep every zone gentler.",
    ),
    "gentle_fraction": LimitSpec(
        "",
        "lower",
        (0.05, 0.5),
        "Highest intensity of a zone over the front of the neck, as a fraction of "
        "the device's steps (at least step 1).",
        'The article: "the front of the neck gets only gentle stroking" (carotid '
        "arteries, lymph nodes).",
    ),
    "capped_fraction": LimitSpec(
        "",
        "lower",
        (0.1, 0.8),
        "Highest intensity of any zone when the user's profile lists a "
        "contraindication whose action is `cap_intensity`.",
        "Gentle to medium only: the article's light techniques (stroking, light "
        "patting) stay available, the strong ones (kneading) do not.",
    ),
    "ramp_s": LimitSpec(
        "s",
        "higher",
        (0.5, 60.0),
        "Shortest time for a zone to rise from off to the device's highest step.",
        'The article: "nothing sharp or sudden". Commercial devices soft-start in '
        "well under a second; the policy is gentler.",
    ),
    "ramp_interval_s": LimitSpec(
        "s",
        None,
        (0.05, 5.0),
        "How often a rising level may step (never faster than the link's minimum gap).",
        "Pacing only: the rise per step scales with it, so the rate stays `ramp_s`.",
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class SafetyLimits:
    """The limits one :class:`~massager_sdk.safety.SafetyPolicy` enforces.

    Each field can be set toward safer (see :data:`SPECS` for the direction). A value
    less safe than the default raises ``ValueError`` unless the field is named in
    ``overrides``; no value passes the field's hard bounds.

        SafetyLimits(heat_max_c=40.0)                                  # safer: fine
        SafetyLimits(heat_max_c=43.0, overrides=frozenset({"heat_max_c"}))  # logged
    """

    auto_off_s: int = 900
    session_max_s: int = 1200
    rest_s: int = 1800
    heat_max_c: float = 42.0
    overtemp_margin_c: float = 1.5
    temperature_timeout_s: float = 5.0
    dose_limit_fraction: float = 0.1
    dose_half_life_s: float = 7200.0
    max_fraction: float = 1.0
    gentle_fraction: float = 0.3
    capped_fraction: float = 0.5
    ramp_s: float = 3.0
    ramp_interval_s: float = 0.5
    overrides: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - set(SPECS)
        if unknown:
            raise ValueError(
                f"cannot override {', '.join(sorted(unknown))}: not a limit; "
                f"limits are {', '.join(SPECS)}"
            )
        for name, spec in SPECS.items():
            value = getattr(self, name)
            _check_type(name, value, self._default(name))
            low, high = spec.bounds
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(
                    f"{name}={value} is outside its hard bounds {low}..{high} {spec.unit}"
                )
            if _less_safe(spec, value, self._default(name)) and name not in self.overrides:
                raise ValueError(
                    f"{name}={value} is less safe than the default {self._default(name)}; "
                    f"name it in overrides to override it deliberately (it is logged)"
                )
        if self.auto_off_s > self.session_max_s:
            raise ValueError(
                f"auto_off_s={self.auto_off_s} is above session_max_s={self.session_max_s}; "
                f"the auto-off must come no later than the hard maximum"
            )

    @staticmethod
    def _default(name: str) -> float:
        value = _DEFAULTS[name]
        assert isinstance(value, int | float)
        return value

    def overridden(self) -> dict[str, float]:
        """The fields that are less safe than their defaults, with their values."""
        return {
            name: getattr(self, name)
            for name, spec in SPECS.items()
            if _less_safe(spec, getattr(self, name), self._default(name))
        }

    def safest(self, other: SafetyLimits) -> SafetyLimits:
        """``self`` tightened by the fields that ``other`` sets away from their defaults.

        For each such field the safer of the two values wins; fields ``other`` leaves
        at their defaults, and pacing fields (no safer direction), come from ``self``.
        So a profile that only shortens the auto-off does not undo an override of
        ``heat_max_c``. Overrides survive only where the result is still less safe
        than the default.
        """
        values: dict[str, float] = {}
        for name, theirs in other.changed().items():
            spec, mine = SPECS[name], getattr(self, name)
            if spec.safer == "lower":
                values[name] = min(mine, theirs)
            elif spec.safer == "higher":
                values[name] = max(mine, theirs)
        # Keep the auto-off within the (possibly lowered) hard maximum.
        session_max = values.get("session_max_s", self.session_max_s)
        values["auto_off_s"] = min(values.get("auto_off_s", self.auto_off_s), session_max)
        merged = {name: values.get(name, getattr(self, name)) for name in SPECS}
        overrides = frozenset(
            name
            for name in self.overrides | other.overrides
            if _less_safe(SPECS[name], merged[name], self._default(name))
        )
        return dataclasses.replace(self, overrides=overrides, **values)  # type: ignore[arg-type]

    def changed(self) -> dict[str, float]:
        """The fields that differ from their defaults (what a profile file records)."""
        return {
            name: getattr(self, name)
            for name in SPECS
            if getattr(self, name) != self._default(name)
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], where: str = "limits") -> SafetyLimits:
        """Limits from a parsed table (a profile's ``[limits]``); safer-only, no overrides.

        ``ValueError`` names the offending key and the accepted ones.
        """
        values: dict[str, int | float] = {}
        for key, value in data.items():
            if key not in SPECS:
                raise ValueError(
                    f"{where}: unknown limit {key!r}; accepted limits are {', '.join(SPECS)}"
                )
            default = cls._default(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: {key} must be a number, not {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise ValueError(f"{where}: {key} must be a whole number of seconds")
            values[key] = float(value) if isinstance(default, float) else value
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


_DEFAULTS: dict[str, object] = {
    f.name: f.default for f in dataclasses.fields(SafetyLimits) if f.name in SPECS
}


def _check_type(name: str, value: object, default: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if isinstance(default, int) and not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of seconds, not {value!r}")


def _less_safe(spec: LimitSpec, value: float, default: float) -> bool:
    if spec.safer == "lower":
        return value > default
    if spec.safer == "higher":
        return value < default
    return False


def limits_table_markdown() -> str:
    """The limits as a Markdown table (``docs/safety.md`` embeds it; a test compares)."""
    rows = [
        "| limit | default | safer | hard bounds | what it does | where the figure comes from |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in SPECS.items():
        default = _DEFAULTS[name]
        unit = f" {spec.unit}" if spec.unit else ""
        safer = spec.safer or "either (pacing)"
        low, high = spec.bounds
        rows.append(
            f"| `{name}` | {default}{unit} | {safer} | {low:g}..{high:g} | "
            f"{spec.meaning} | {spec.source} |"
        )
    return "\n".join(rows) + "\n"
