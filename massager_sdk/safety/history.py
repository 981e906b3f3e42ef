"""Reading the session ledger: recent sessions, one session's telemetry, and a plot of it.

from massager_sdk.safety import history, open_session
for record in history(limit=10):
    print(record.id, record.device, record.length_s, record.how_it_ended)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from massager_sdk.safety.ledger import Ledger, LedgerEvent, Sample, SessionRecord


@dataclasses.dataclass(frozen=True, slots=True)
class SessionDetail:
    """One session with its telemetry and events."""

    record: SessionRecord
    samples: tuple[Sample, ...]
    events: tuple[LedgerEvent, ...]

    def to_dict(self) -> dict[str, object]:
        """The session as plain JSON-able values."""
        return {
            **self.record.to_dict(),
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "events": [dataclasses.asdict(e) for e in self.events],
        }


def history(
    device: str | None = None,
    *,
    limit: int = 50,
    path: str | os.PathLike[str] | None = None,
) -> list[SessionRecord]:
    """Recent sessions, newest first; of one device (``MODEL/SERIAL`` or a model) when given.

    ``path`` names the ledger (default: ``$MASSAGER_LEDGER``, else the user's state folder).
    """
    with Ledger(path) as ledger:
        return ledger.sessions(device, limit=limit)


def open_session(session: int, path: str | os.PathLike[str] | None = None) -> SessionDetail:
    """One session with its telemetry and events; ``KeyError`` when there is none."""
    with Ledger(path) as ledger:
        return SessionDetail(
            ledger.session(session),
            tuple(ledger.samples(session)),
            tuple(ledger.events(session)),
        )


def plot_session(detail: SessionDetail, path: str | os.PathLike[str]) -> Path:
    """Plot levels, the heat target and the measured temperature over time to ``.png``/``.svg``."""
    from massager_sdk.programs.plot import pyplot_for

    out, plt = pyplot_for(path)
    record, samples = detail.record, detail.samples
    if not samples:
        raise ValueError(f"session {record.id} has no telemetry to plot")
    t0 = samples[0].t
    minutes = [(s.t - t0) / 60 for s in samples]
    fig, (levels_ax, heat_ax) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    fig.suptitle(f"session {record.id}: {record.device} ({record.how_it_ended})", fontsize=11)
    zones = max(len(s.levels) for s in samples)
    for zone in range(zones):
        ys = [s.levels[zone] if zone < len(s.levels) else 0 for s in samples]
        levels_ax.step(minutes, ys, where="post", label=f"zone {zone}")
    levels_ax.set_ylabel("level")
    levels_ax.yaxis.get_major_locator().set_params(integer=True)
    levels_ax.legend(loc="upper right", fontsize=8)
    target = [s.heat_target_c for s in samples]
    measured = [s.temperature_c for s in samples]
    heat_ax.step(
        minutes, [float("nan") if v is None else v for v in target], where="post", label="target"
    )
    heat_ax.plot(minutes, [float("nan") if v is None else v for v in measured], label="measured")
    heat_ax.set_ylabel("C")
    heat_ax.set_xlabel("minutes")
    heat_ax.legend(loc="upper right", fontsize=8)
    fig.savefig(out)
    plt.close(fig)
    return out
