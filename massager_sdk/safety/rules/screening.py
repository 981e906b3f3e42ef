"""Screening: what the person's profile refuses or caps (docs/safety.md, "Screening")."""

from __future__ import annotations

from massager_sdk.errors import SafetyRefusal
from massager_sdk.safety.limits import Limit
from massager_sdk.safety.rules.base import Cap, Rule, fraction_level, refusal
from massager_sdk.safety.screening import ScreeningAction


class ProfileScreening(Rule):
    """Refuses sessions or heat, or caps intensity, as the profile's contraindications say."""

    def output_block(self) -> SafetyRefusal | None:
        """Any output, without an acknowledged profile or when a listed contraindication
        refuses sessions."""
        if self.state.profile_refused is not None:
            return refusal(
                Limit.PROFILE_ACKNOWLEDGED, "on", "acknowledged", self.state.profile_refused
            )
        state = self.state
        if state.profile.refuses_sessions:
            detail = state.screening_detail(ScreeningAction.REFUSE_SESSIONS)
            return refusal(Limit.SCREENING_SESSIONS, "on", None, detail)
        electrical = state.profile.electrical_reasons() if state.caps.electrical else ()
        if electrical:
            detail = (
                f"{state.caps.model} stimulates electrically and the health profile lists "
                f'{", ".join(electrical)} (see docs/safety.md, "Electrical stimulation")'
            )
            return refusal(Limit.SCREENING_ELECTRICAL, "on", None, detail)
        return None

    def heat_block(self) -> SafetyRefusal | None:
        """Any heat, when a listed contraindication refuses heat."""
        if not self.state.profile.refuses_heat:
            return None
        detail = self.state.screening_detail(ScreeningAction.REFUSE_HEAT)
        return refusal(Limit.SCREENING_HEAT, "on", None, detail)

    def level_caps(self, zone: int) -> list[Cap]:
        """The capped fraction, when a listed contraindication caps intensity."""
        state = self.state
        if not state.profile.caps_intensity:
            return []
        level = fraction_level(state.caps.intensity_steps, state.limits.capped_fraction)
        detail = state.screening_detail(ScreeningAction.CAP_INTENSITY)
        return [Cap(Limit.SCREENING_INTENSITY, level, detail)]

    def snapshot(self, now: float) -> dict[str, object]:
        """The profile's contraindications."""
        names = sorted(c.value for c in self.state.profile.contraindications)
        return {"screening": tuple(names)}
