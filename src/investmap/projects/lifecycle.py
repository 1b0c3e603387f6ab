"""The project lifecycle as data: stages, milestones, the table of allowed moves.

Pure Python (no models), so the state-machine test can drive it directly and
the API, pages and imports all ask the same table (ARCHITECTURE example 2).

* Stages in order: lead → negotiating → signed → registered → land_obtained →
  construction → completed → production. `stock_space` and `hq_rd` projects
  skip `land_obtained` (they move into existing space or offices).
* A move forward to stage S (any later stage on the path, skipping is allowed)
  needs the milestone date of S and of every stage before it on the path,
  in non-decreasing order and not after "today"; dates not yet recorded may be
  given with the move.
* `on_hold` is entered from an active stage and resumes to the stage it left;
  `dropped` (with a reason) is entered from an active stage or from `on_hold`
  and is final. `production` is the end of the path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PATH = (
    "lead",
    "negotiating",
    "signed",
    "registered",
    "land_obtained",
    "construction",
    "completed",
    "production",
)
ON_HOLD = "on_hold"
DROPPED = "dropped"
STAGES = PATH + (ON_HOLD, DROPPED)
ACTIVE = PATH[:-1]  # production is the goal, not an active stage
SKIPS_LAND = frozenset({"stock_space", "hq_rd"})

# The milestone of each stage (lead has none: it is where a project starts).
MILESTONES = {
    "negotiating": "洽谈",
    "signed": "签约",
    "registered": "注册",
    "land_obtained": "拿地",
    "construction": "开工",
    "completed": "竣工",
    "production": "投产",
}

# The transition table. Each row: from, to, kind. "advance" rows are checked
# against the project's path (a skipped stage is never a target) and need
# milestones; "hold" and "drop" rows need nothing but (for drop) a reason;
# "resume" goes back to the stage the project left.
ADVANCE, HOLD, RESUME, DROP = "advance", "hold", "resume", "drop"
TABLE: tuple[tuple[str, str, str], ...] = (
    *((a, b, ADVANCE) for i, a in enumerate(ACTIVE) for b in PATH[i + 1 :]),
    *((a, ON_HOLD, HOLD) for a in ACTIVE),
    *((ON_HOLD, b, RESUME) for b in ACTIVE),
    *((a, DROPPED, DROP) for a in (*ACTIVE, ON_HOLD)),
)
_KIND = {(a, b): kind for a, b, kind in TABLE}


def path(category: str) -> tuple[str, ...]:
    """The stages a project of this category goes through, in order."""
    if category in SKIPS_LAND:
        return tuple(s for s in PATH if s != "land_obtained")
    return PATH


def milestone_stages(category: str, upto: str) -> list[str]:
    """The stages whose milestone a project needs to be at `upto`."""
    p = path(category)
    return [s for s in p[: p.index(upto) + 1] if s in MILESTONES]


@dataclass(frozen=True)
class Move:
    kind: str
    to: str
    milestones: dict[str, dt.date]  # the project's milestones after the move


class Refused(Exception):
    """A move the table does not allow; `errors` maps a field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def kind_of(current: str, to: str, category: str, held_from: str | None = None) -> str | None:
    """The kind of move current → to for this project, or None when not allowed."""
    kind = _KIND.get((current, to))
    if kind == ADVANCE and to not in path(category):
        return None
    if kind == RESUME and to != held_from:
        return None
    return kind


def allowed_targets(current: str, category: str, held_from: str | None = None) -> list[str]:
    return [b for a, b, _k in TABLE if a == current and kind_of(current, b, category, held_from)]


def check_order(category: str, milestones: dict[str, dt.date | None]) -> list[str]:
    """Stages whose recorded milestone is earlier than a previous stage's (imported data)."""
    bad, latest = [], None
    for s in path(category):
        d = milestones.get(s)
        if d is None or s not in MILESTONES:
            continue
        if latest is not None and d < latest[1]:
            bad.append(s)
        else:
            latest = (s, d)
    return bad


def plan(
    *,
    current: str,
    to: str,
    category: str,
    recorded: dict[str, dt.date | None],
    given: dict[str, dt.date] | None = None,
    held_from: str | None = None,
    reason: str = "",
    today: dt.date,
    labels=None,
) -> Move:
    """Check a requested move and return it, or raise Refused naming every problem.

    `recorded` are the milestones on file, `given` those sent with the request.
    `labels(stage)` names a stage in messages (the translated label).
    """
    from django.utils.translation import gettext as _

    name = labels or (lambda s: s)
    given = dict(given or {})
    kind = kind_of(current, to, category, held_from)
    if kind is None:
        targets = allowed_targets(current, category, held_from)
        raise Refused(
            {
                "to": [
                    _("cannot move from %(a)s to %(b)s; allowed: %(t)s")
                    % {
                        "a": name(current),
                        "b": name(to) if to in STAGES else to,
                        "t": ", ".join(targets) or _("none (final stage)"),
                    }
                ]
            }
        )
    errors: dict[str, list[str]] = {}
    if kind == DROP and not reason.strip():
        errors["reason"] = [_("a reason is required to drop a project")]
    merged = {s: d for s, d in recorded.items() if d is not None}
    if kind == ADVANCE:
        needed = milestone_stages(category, to)
        for s, d in given.items():
            key = f"milestones.{s}"
            if s not in needed:
                errors[key] = [
                    _("%(s)s is not a milestone on the way to %(to)s; accepted: %(ok)s")
                    % {"s": s, "to": name(to), "ok": ", ".join(needed)}
                ]
            elif s in merged and merged[s] != d:
                errors[key] = [
                    _("already recorded as %(d)s; correct a recorded date by editing the project")
                    % {"d": merged[s].isoformat()}
                ]
            else:
                merged[s] = d
        previous = None
        for s in needed:
            key = f"milestones.{s}"
            d = merged.get(s)
            if key in errors:
                continue
            if d is None:
                errors[key] = [
                    _("the %(m)s date (%(s)s) is missing") % {"m": MILESTONES[s], "s": name(s)}
                ]
                continue
            if d > today:
                errors[key] = [
                    _("%(d)s is in the future (today is %(t)s)")
                    % {"d": d.isoformat(), "t": today.isoformat()}
                ]
            if previous is not None and d < previous[1]:
                errors.setdefault(key, []).append(
                    _("%(d)s is before the %(m)s date %(p)s")
                    % {
                        "d": d.isoformat(),
                        "m": MILESTONES[previous[0]],
                        "p": previous[1].isoformat(),
                    }
                )
            if previous is None or d >= previous[1]:
                previous = (s, d)
    elif given:
        errors["milestones"] = [_("milestone dates are only given with a move forward")]
    if errors:
        raise Refused(errors)
    return Move(kind=kind, to=to, milestones=merged)
