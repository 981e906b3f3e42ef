"""Screening: the user's contraindications and what each one makes the policy do.

The list is the source article's. Each entry maps to one or more actions:
refuse sessions (no output at all), refuse heat, or cap intensity (every zone at
most ``SafetyLimits.capped_fraction`` of the device's steps). The table is the
project's reading of the article, not medical advice.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from massager_sdk.errors import MassagerError
from massager_sdk.safety.limits import SafetyLimits


class HealthProfileError(MassagerError, ValueError):
    """A health profile that cannot be used; the message says what is wrong and what is accepted."""


class ScreeningAction(enum.StrEnum):
    """What a contraindication makes the policy do."""

    REFUSE_SESSIONS = "refuse_sessions"  #: no output and no heat at all
    REFUSE_HEAT = "refuse_heat"  #: the heater stays off
    CAP_INTENSITY = "cap_intensity"  #: every zone at most ``capped_fraction`` of the steps


class Contraindication(enum.StrEnum):
    """A contraindication from the source article, as a profile names it."""

    ACUTE_EXACERBATION = "acute_exacerbation"
    SPINE_OR_NECK_INJURY = "spine_or_neck_injury"
    CARDIOVASCULAR_DISEASE = "cardiovascular_disease"
    ACUTE_HEART_FAILURE = "acute_heart_failure"
    HIGH_BLOOD_PRESSURE = "high_blood_pressure"
    ANEURYSM = "aneurysm"
    ATHEROSCLEROSIS = "atherosclerosis"
    THROMBOSIS = "thrombosis"
    VARICOSE_VEINS = "varicose_veins"
    BLEEDING_DISORDER = "bleeding_disorder"
    SCURVY = "scurvy"
    PURULENT_DISEASE = "purulent_disease"
    ACTIVE_TUBERCULOSIS = "active_tuberculosis"
    HIV = "hiv"
    VENEREAL_DISEASE = "venereal_disease"
    OSTEOMYELITIS = "osteomyelitis"
    INFECTIOUS_DISEASE = "infectious_disease"
    FEVER = "fever"
    SKIN_LESIONS = "skin_lesions"
    INFLAMED_LYMPH_NODES = "inflamed_lymph_nodes"
    TUMOUR = "tumour"
    PREGNANCY = "pregnancy"
    SEVERE_OVERWORK = "severe_overwork"
    MENTAL_DISORDER = "mental_disorder"
    LIVER_OR_KIDNEY_DISEASE = "liver_or_kidney_disease"
    PACEMAKER_OR_IMPLANT = "pacemaker_or_implant"
    EPILEPSY = "epilepsy"
    AFTER_EXERCISE = "after_exercise"

    @classmethod
    def parse(cls, text: str) -> Contraindication:
        """A contraindication by name, ignoring case, spaces and hyphens."""
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            accepted = ", ".join(c.value for c in cls)
            raise HealthProfileError(
                f"unknown contraindication {text!r}; accepted ones are {accepted}"
            ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class ScreeningRule:
    """One row of the screening table."""

    actions: frozenset[ScreeningAction]
    article: str  #: how the source article words it
    why: str  #: why this action


_SESSIONS = frozenset({ScreeningAction.REFUSE_SESSIONS})
_HEAT_AND_CAP = frozenset({ScreeningAction.REFUSE_HEAT, ScreeningAction.CAP_INTENSITY})
_CAP = frozenset({ScreeningAction.CAP_INTENSITY})
_C = Contraindication

#: The screening table: every contraindication and what it makes the policy do.
SCREENING: dict[Contraindication, ScreeningRule] = {
    _C.ACUTE_EXACERBATION: ScreeningRule(
        _SESSIONS, "acute exacerbation of the disease", "massage in an acute phase worsens it"
    ),
    _C.SPINE_OR_NECK_INJURY: ScreeningRule(
        _SESSIONS, "injuries of the spine or neck", "pressure and vibration on an injured neck"
    ),
    _C.CARDIOVASCULAR_DISEASE: ScreeningRule(
        _HEAT_AND_CAP,
        "cardiovascular disease",
        "heat widens vessels and strong massage raises the heart's load; gentle use only",
    ),
    _C.ACUTE_HEART_FAILURE: ScreeningRule(
        _SESSIONS, "acute heart failure", "an acute condition: no load at all"
    ),
    _C.HIGH_BLOOD_PRESSURE: ScreeningRule(
        _HEAT_AND_CAP,
        "high blood pressure (one section lists it, another claims massage helps it)",
        "the article's sections disagree: the middle course, no heat and gentle use",
    ),
    _C.ANEURYSM: ScreeningRule(
        _SESSIONS, "aneurysm", "pressure and vibration near weakened arteries"
    ),
    _C.ATHEROSCLEROSIS: ScreeningRule(
        _SESSIONS, "atherosclerosis", "pressure on the neck's arteries may loosen plaque"
    ),
    _C.THROMBOSIS: ScreeningRule(_SESSIONS, "thrombosis", "massage may loosen a clot"),
    _C.VARICOSE_VEINS: ScreeningRule(
        _HEAT_AND_CAP, "varicose veins", "heat widens veins and strong pressure strains them"
    ),
    _C.BLEEDING_DISORDER: ScreeningRule(
        _SESSIONS,
        "blood diseases, bleeding, impaired hemostasis",
        "pressure can cause bleeding under the skin",
    ),
    _C.SCURVY: ScreeningRule(_SESSIONS, "scurvy", "fragile vessels bleed under pressure"),
    _C.PURULENT_DISEASE: ScreeningRule(
        _SESSIONS, "suppurative or purulent disease", "massage and heat spread an infection"
    ),
    _C.ACTIVE_TUBERCULOSIS: ScreeningRule(
        _SESSIONS, "active tuberculosis", "listed by the article without qualification"
    ),
    _C.HIV: ScreeningRule(_SESSIONS, "HIV", "listed by the article without qualification"),
    _C.VENEREAL_DISEASE: ScreeningRule(
        _SESSIONS, "venereal disease", "listed by the article without qualification"
    ),
    _C.OSTEOMYELITIS: ScreeningRule(
        _SESSIONS, "osteomyelitis", "an infection of the bone: no pressure, no heat"
    ),
    _C.INFECTIOUS_DISEASE: ScreeningRule(
        _SESSIONS, "infectious disease", "massage and heat add load to an infection"
    ),
    _C.FEVER: ScreeningRule(_SESSIONS, "fever", "the body is already too warm; no load"),
    _C.SKIN_LESIONS: ScreeningRule(
        _SESSIONS,
        "skin disease, wounds, abrasions, warts or papillomas in the area",
        "the device presses on the damaged skin itself",
    ),
    _C.INFLAMED_LYMPH_NODES: ScreeningRule(
        _SESSIONS,
        "inflamed or swollen lymph nodes",
        "the neck's lymph nodes lie under the device",
    ),
    _C.TUMOUR: ScreeningRule(_SESSIONS, "tumours of any kind", "massage and heat near a tumour"),
    _C.PREGNANCY: ScreeningRule(
        _HEAT_AND_CAP, "pregnancy", "no raise of body temperature; gentle use only"
    ),
    _C.SEVERE_OVERWORK: ScreeningRule(
        _CAP, "severe overwork", "an exhausted body takes gentle massage only"
    ),
    _C.MENTAL_DISORDER: ScreeningRule(
        _HEAT_AND_CAP,
        "mental disorders",
        "discomfort may go unreported: no heat, gentle use only",
    ),
    _C.LIVER_OR_KIDNEY_DISEASE: ScreeningRule(
        _HEAT_AND_CAP, "liver or kidney disease", "a systemic illness: no heat, gentle use only"
    ),
    _C.PACEMAKER_OR_IMPLANT: ScreeningRule(
        frozenset(),
        "(not in the article: electrical stimulation labelling)",
        "a motor massager acts on the muscles only; see the electrical table",
    ),
    _C.EPILEPSY: ScreeningRule(
        frozenset(),
        "(not in the article: electrical stimulation labelling)",
        "a motor massager acts on the muscles only; see the electrical table",
    ),
    _C.AFTER_EXERCISE: ScreeningRule(
        _HEAT_AND_CAP,
        "right after exercise or heavy lifting",
        "a temporary state (list it while it applies): the body is warm and the muscles tired",
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class HealthProfile:
    """A person's health profile: screening answers and optional personal limits
    (safer only). Not to be confused with a device profile
    (:class:`massager_sdk.profiles.DeviceProfile`), which describes a model.

    ``acknowledged`` records that the user read the safety warning in
    ``docs/safety.md``; the command line asks for it on first use.
    """

    contraindications: frozenset[Contraindication] = frozenset()
    acknowledged: bool = False
    limits: SafetyLimits | None = None

    def reasons(self, action: ScreeningAction) -> tuple[Contraindication, ...]:
        """The listed contraindications that call for ``action``, in table order."""
        return tuple(
            c for c in SCREENING if c in self.contraindications and action in SCREENING[c].actions
        )

    @property
    def refuses_sessions(self) -> bool:
        """Whether any listed contraindication refuses sessions."""
        return bool(self.reasons(ScreeningAction.REFUSE_SESSIONS))

    @property
    def refuses_heat(self) -> bool:
        """Whether any listed contraindication refuses heat."""
        return bool(self.reasons(ScreeningAction.REFUSE_HEAT))

    def electrical_reasons(self) -> tuple[Contraindication, ...]:
        """The listed contraindications that refuse electrical stimulation, in table order."""
        return tuple(c for c in ELECTRICAL_SCREENING if c in self.contraindications)

    @property
    def caps_intensity(self) -> bool:
        """Whether any listed contraindication caps intensity."""
        return bool(self.reasons(ScreeningAction.CAP_INTENSITY))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], where: str = "profile") -> HealthProfile:
        """A profile from a parsed TOML document; ``HealthProfileError`` says what is wrong."""
        unknown = set(data) - set(_PROFILE_KEYS)
        if unknown:
            raise HealthProfileError(
                f"{where}: unknown key {', '.join(sorted(unknown))}; "
                f"accepted keys are {', '.join(_PROFILE_KEYS)}"
            )
        acknowledged = data.get("acknowledged", False)
        if not isinstance(acknowledged, bool):
            raise HealthProfileError(f"{where}: acknowledged must be true or false")
        listed = data.get("contraindications", [])
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise HealthProfileError(
                f"{where}: contraindications must be a list of names, "
                f'e.g. ["pregnancy", "high_blood_pressure"]'
            )
        try:
            found = frozenset(Contraindication.parse(c) for c in listed)
        except HealthProfileError as exc:
            raise HealthProfileError(f"{where}: {exc}") from None
        table = data.get("limits")
        limits = None
        if table is not None:
            if not isinstance(table, dict):
                raise HealthProfileError(f"{where}: [limits] must be a table")
            try:
                limits = SafetyLimits.from_mapping(table, where=f"{where} [limits]")
            except ValueError as exc:
                raise HealthProfileError(str(exc)) from None
        return cls(found, acknowledged, limits)

    def to_toml(self) -> str:
        """The profile as a TOML document that :meth:`from_mapping` reads back."""
        names = sorted(c.value for c in self.contraindications)
        lines = [
            "# Massager health profile. Read docs/safety.md: this is not medical advice.",
            f"acknowledged = {'true' if self.acknowledged else 'false'}",
            "# accepted: " + ", ".join(c.value for c in Contraindication),
            "contraindications = [" + ", ".join(f'"{n}"' for n in names) + "]",
        ]
        changed = self.limits.changed() if self.limits else {}
        if changed:
            lines.append("")
            lines.append("[limits]  # safer than the defaults only")
            lines.extend(f"{name} = {value!r}" for name, value in changed.items())
        return "\n".join(lines) + "\n"


_PROFILE_KEYS = ("acknowledged", "contraindications", "limits")


#: Where the electrical screening comes from (docs/safety.md cites it in full).
FDA_TENS = (
    "FDA, Class II Special Controls Guidance: Transcutaneous Electrical Nerve Stimulator "
    "for Pain Relief (over-the-counter labelling), and the same warnings in TENS/EMS "
    "manufacturers' labelling"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ElectricalRule:
    """Why a contraindication refuses electrical stimulation, and the public source."""

    why: str
    source: str


#: Contraindications that refuse every session on an electrical (EMS/TENS) device, on
#: top of :data:`SCREENING` (which applies to every device).
ELECTRICAL_SCREENING: dict[Contraindication, ElectricalRule] = {
    _C.PACEMAKER_OR_IMPLANT: ElectricalRule(
        "the current can disturb a pacemaker, an implanted defibrillator or other implanted "
        "electronic or metallic device (a contraindication in the labelling)",
        FDA_TENS,
    ),
    _C.EPILEPSY: ElectricalRule(
        "suspected or diagnosed epilepsy is a labelled precaution: stimulation may set off "
        "a seizure",
        FDA_TENS,
    ),
    _C.PREGNANCY: ElectricalRule(
        "the safety of electrical stimulation during pregnancy has not been established",
        FDA_TENS,
    ),
    _C.CARDIOVASCULAR_DISEASE: ElectricalRule(
        "suspected or diagnosed heart problems are a labelled precaution",
        FDA_TENS,
    ),
}


def electrical_table_markdown() -> str:
    """The electrical screening table as Markdown (``docs/safety.md`` embeds it)."""
    rows = ["| profile entry | refused on EMS/TENS devices because | source |", "|---|---|---|"]
    for c, rule in ELECTRICAL_SCREENING.items():
        rows.append(f"| `{c.value}` | {rule.why} | {rule.source} |")
    return "\n".join(rows) + "\n"


def screening_table_markdown() -> str:
    """The screening table as Markdown (``docs/safety.md`` embeds it; a test compares)."""
    rows = [
        "| profile entry | the article's words | refuse sessions | refuse heat "
        "| cap intensity | why |",
        "|---|---|---|---|---|---|",
    ]
    for c, rule in SCREENING.items():
        marks = [
            "yes" if a in rule.actions else ""
            for a in (
                ScreeningAction.REFUSE_SESSIONS,
                ScreeningAction.REFUSE_HEAT,
                ScreeningAction.CAP_INTENSITY,
            )
        ]
        rows.append(f"| `{c.value}` | {rule.article} | {' | '.join(marks)} | {rule.why} |")
    return "\n".join(rows) + "\n"


def describe(contraindications: Iterable[Contraindication]) -> str:
    """A short text of what the listed contraindications make the policy do."""
    profile = HealthProfile(frozenset(contraindications))
    parts = []
    for action in ScreeningAction:
        found = profile.reasons(action)
        if found:
            parts.append(f"{action.value} ({', '.join(found)})")
    return "; ".join(parts) if parts else "no restriction"


#: Old names, kept for a release (a device profile's error is
#: ``massager_sdk.profiles.ProfileError``, another class).
_OLD_NAMES = {"UserProfile": "HealthProfile", "ProfileError": "HealthProfileError"}


def __getattr__(name: str) -> Any:
    new = _OLD_NAMES.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} is deprecated: use {new}", DeprecationWarning, stacklevel=2)
    return globals()[new]
