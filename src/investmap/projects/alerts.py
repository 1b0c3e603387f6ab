"""Project alerts (SPEC P4): projects that rot, and anomalies in their milestones.

Read-only. A few aggregate queries whatever the number of projects: one for the
projects in scope (with officer and town), one for the latest timeline entry of
each project up to the day asked (`Activity`, grouped by project). The rest is
arithmetic on those rows.

As of a day D:

* the rot clock of a project is the latest `Activity.on` ≤ D (every edit, stage
  change, document, approval and capital arrival writes one; a visit scheduled
  after D does not count); a project without any is counted from the day it was
  created, and a project created after D did not exist yet and has no alerts;
* `stale`: D minus that day is more than the limit for the project's current
  stage (`INVESTMAP_PROJECT_STALE_DAYS`; a stage without a limit never rots);
* `milestones_out_of_order`: a recorded milestone is earlier than the one of a
  previous stage on the project's path (`lifecycle.check_order`; imported data);
* `signed_not_registered`: an active project signed on or before D, with no
  registration date, more than `INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS`
  after signing;
* `land_not_started`: an active project that obtained its land on or before D,
  with no construction start, more than `INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS`
  after.

The stage is the project's current one; `as_of` only moves "today". Each alert
has a `key` naming its occurrence (project, type, the day it counts from): a
project touched again and stale again later is a new alert (notify.py sends each
key once per channel).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from . import lifecycle
from .access import visible
from .choices import AlertType
from .models import MILESTONE_FIELDS, Activity, Project

ACTIVE = frozenset(lifecycle.ACTIVE)
TYPE_ORDER = {t: i for i, t in enumerate(AlertType.values)}
STALE = AlertType.STALE.value
OUT_OF_ORDER = AlertType.MILESTONES_OUT_OF_ORDER.value
SIGNED_NOT_REGISTERED = AlertType.SIGNED_NOT_REGISTERED.value
LAND_NOT_STARTED = AlertType.LAND_NOT_STARTED.value

_COLUMNS = (
    "pk",
    "code",
    "name",
    "stage",
    "category",
    "created_at",
    "officer__username",
    "town__code",
    *MILESTONE_FIELDS.values(),
)


def projects_in(*, scope=None, project_ids=None):
    """The projects alerts are computed for: all (scope None) or those the scope sees."""
    qs = Project.objects.all() if scope is None else visible(scope)
    if project_ids is not None:
        qs = qs.filter(pk__in=list(project_ids))
    return qs


def last_touches(*, as_of: dt.date, projects=None) -> dict[int, dt.date]:
    """Project id → the latest timeline day on or before `as_of` (one grouped query)."""
    qs = Activity.objects.filter(on__lte=as_of)
    if projects is not None:
        qs = qs.filter(project__in=projects.values("pk"))
    rows = qs.values("project_id").annotate(last=Max("on")).order_by()
    return {r["project_id"]: r["last"] for r in rows}


def compute(*, as_of: dt.date, scope=None, project_ids=None) -> list[dict]:
    """The alerts of the projects in scope as of `as_of`, by type, then longest overdue first.

    Each alert: project (code), name, type, stage, days, limit_days, officer
    (username or None), since (ISO date the days count from), town (code or
    None), out_of_order (stages, for milestones_out_of_order) and key.
    """
    projects = projects_in(scope=scope, project_ids=project_ids)
    filtered = scope is not None or project_ids is not None
    touches = last_touches(as_of=as_of, projects=projects if filtered else None)
    stale_days = settings.INVESTMAP_PROJECT_STALE_DAYS
    signed_limit = settings.INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS
    land_limit = settings.INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS

    alerts = []
    for row in projects.order_by().values(*_COLUMNS).iterator(chunk_size=5000):
        last = touches.get(row["pk"])
        if last is None:
            created = timezone.localdate(row["created_at"]) if row["created_at"] else None
            if created is None or created > as_of:
                continue  # did not exist yet on that day
            last = created
        stage = row["stage"]

        limit = stale_days.get(stage)
        if limit is not None and (as_of - last).days > limit:
            alerts.append(_alert(row, STALE, (as_of - last).days, limit, last))

        milestones = {s: row[f] for s, f in MILESTONE_FIELDS.items()}
        bad = lifecycle.check_order(row["category"], milestones)
        if bad:
            alerts.append(_alert(row, OUT_OF_ORDER, 0, 0, milestones[bad[0]], out_of_order=bad))

        if stage not in ACTIVE:
            continue
        signed = row["signed_on"]
        if signed is not None and signed <= as_of and row["registered_on"] is None:
            days = (as_of - signed).days
            if days > signed_limit:
                alerts.append(_alert(row, SIGNED_NOT_REGISTERED, days, signed_limit, signed))
        land = row["land_obtained_on"]
        if land is not None and land <= as_of and row["construction_on"] is None:
            days = (as_of - land).days
            if days > land_limit:
                alerts.append(_alert(row, LAND_NOT_STARTED, days, land_limit, land))

    alerts.sort(key=lambda a: (TYPE_ORDER.get(a["type"], 99), -a["days"], a["project"]))
    return alerts


def _alert(row, kind: str, days: int, limit: int, since: dt.date, out_of_order=()) -> dict:
    return {
        "project": row["code"],
        "name": row["name"],
        "type": kind,
        "stage": row["stage"],
        "days": days,
        "limit_days": limit,
        "officer": row["officer__username"],
        "since": since.isoformat(),
        "town": row["town__code"],
        "out_of_order": list(out_of_order),
        "key": f"{row['code']}:{kind}:{since.isoformat()}",
    }
