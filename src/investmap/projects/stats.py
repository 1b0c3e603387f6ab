"""Overview figures of the project library (SPEC P5, issue 5): totals by group, the funnel,
key projects, rankings and team performance. Read-only; the services write the rows read here.

Counting (Sanming rules; the services write them as `SigningEvent` rows):

* signed investment in a period is the sum of `SigningEvent.amount_wan` dated in the period —
  a project's first signing counts its total investment then, a later increase only the
  increase, when it happens, and a change of investor is a new signing at the full amount;
  a decrease writes no row and is not counted. `Project.total_investment_wan` is never used
  for signed amounts;
* capital arrived is the sum of `CapitalArrival.amount_wan` dated in the period;
* a project "exists" by `as_of` when its lead date (or, without one, the day it was
  recorded) is on or before `as_of`; its stage at `as_of` is the `from_stage` of its first
  recorded move after `as_of`, or its current stage when it has none;
* the period is `[from, to]`, both days included; `to` defaults to `as_of` and is cut at
  `as_of` (nothing after "today" is counted); no `from` means from the beginning.

Missing is not zero: a group whose projects have no total investment sums to None, and
`missing_investment` counts the projects without one. Every group_by partitions the same
projects and rows, so the groups add up to `total` (projects without a town are the group
with key None, labelled "(none)"). Everything is a handful of aggregate queries.

Team performance is a ruleset: `rulesets/performance-<name>.yaml` (weights and the way each
indicator is normalised, with the source and test cases; see `parse_ruleset`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, Count, DateField, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Least, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from investmap.core.scope import Scope
from investmap.efficiency.presenters import industry_division_names
from investmap.efficiency.rules import Checker as _Checker
from investmap.efficiency.rules import RulesetError, digest_of, open_document
from investmap.resources.models import Park, Team, Town
from investmap.resources.services import InvalidFilter

from . import access, lifecycle
from .choices import Category, Grade, Stage
from .models import MILESTONE_FIELDS, CapitalArrival, Project, SigningEvent, StageChange

GROUP_BYS = ("stage", "category", "industry", "chain", "town", "park", "team", "officer")
RANK_BY = ("total_investment_wan", "signed_wan")
STAGE_ORDER = {s: i for i, s in enumerate(lifecycle.STAGES)}
_FAR = dt.date(9999, 12, 31)


# --- parameters ---------------------------------------------------------------------------


def _as_date(name: str, value, errors: dict) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors[name] = [_("not a date: %(v)s; expected YYYY-MM-DD") % {"v": value}]
    return None


@dataclass(frozen=True)
class Period:
    start: dt.date | None  # None: from the beginning
    end: dt.date
    as_of: dt.date

    def q(self, field: str) -> Q:
        """Rows whose date `field` lies in the period."""
        q = Q(**{f"{field}__lte": self.end})
        return q & Q(**{f"{field}__gte": self.start}) if self.start else q

    def head(self) -> dict:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
        }


def period(date_from=None, date_to=None, as_of=None) -> Period:
    """The period asked for (dates or ISO strings); InvalidFilter names each bad field."""
    errors: dict = {}
    start = _as_date("from", date_from, errors)
    end = _as_date("to", date_to, errors)
    day = _as_date("as_of", as_of, errors)
    if errors:
        raise InvalidFilter(errors)
    day = day or timezone.localdate()
    end = min(end or day, day)
    if start is not None and start > end:
        raise InvalidFilter(
            {
                "from": [
                    _(
                        "%(f)s is after the end of the period %(t)s; accepted: a date on or before it"
                    )
                    % {"f": start.isoformat(), "t": end.isoformat()}
                ]
            }
        )
    return Period(start, end, day)


def _projects(scope: Scope | None):
    """The projects the scope may read (None: every project, for commands and benches)."""
    return Project.objects.all() if scope is None else access.visible(scope)


def _scoped_rows(model, scope: Scope | None):
    qs = model.objects.all()
    if scope is None or (access.sees_projects(scope) and scope.sensitive_org_ids is None):
        return qs
    return qs.filter(project__in=access.visible(scope).values("pk"))


def _day_start(d: dt.date) -> dt.datetime:
    """The first instant of day `d` in the current time zone (created_at is a timestamp)."""
    return timezone.make_aware(dt.datetime.combine(d, dt.time.min))


def _day_after(d: dt.date) -> dt.datetime:
    return _day_start(d + dt.timedelta(days=1))


def existing(as_of: dt.date, prefix: str = "") -> Q:
    """Projects that exist by `as_of`: lead date on or before it, or recorded by then."""
    return Q(**{f"{prefix}lead_on__lte": as_of}) | Q(
        **{f"{prefix}lead_on__isnull": True, f"{prefix}created_at__lt": _day_after(as_of)}
    )


def _entered(p: Period) -> Q:
    """Projects whose lead date (or, without one, the day recorded) lies in the period."""
    with_date = Q(lead_on__lte=p.end) & (Q(lead_on__gte=p.start) if p.start else Q())
    without = Q(lead_on__isnull=True, created_at__lt=_day_after(p.end))
    if p.start:
        without &= Q(created_at__gte=_day_start(p.start))
    return with_date | without


# --- group expressions --------------------------------------------------------------------


def _stage_at(as_of: dt.date, prefix: str):
    """The stage at `as_of`: the from_stage of the first move after it, else the current one."""
    if not StageChange.objects.filter(on__gt=as_of).exists():
        return F(f"{prefix}stage")
    ref = OuterRef("project_id") if prefix else OuterRef("pk")
    first_after = (
        StageChange.objects.filter(project_id=ref, on__gt=as_of)
        .order_by("on", "id")
        .values("from_stage")[:1]
    )
    return Coalesce(Subquery(first_after), F(f"{prefix}stage"))


def _division(prefix: str):
    """The first two digits of the industry code (after a section letter, if any)."""
    code = f"{prefix}industry_code"
    return Case(
        When(**{f"{code}__gte": "A"}, then=Substr(code, 2, 2)),
        default=Substr(code, 1, 2),
    )


def _group_expr(group_by: str, as_of: dt.date, prefix: str = ""):
    if group_by == "stage":
        return _stage_at(as_of, prefix)
    if group_by == "industry":
        return _division(prefix)
    column = {"category": "category", "chain": "chain_node"}.get(group_by, f"{group_by}_id")
    return F(f"{prefix}{column}")


def _normal_key(group_by: str, raw):
    if group_by == "industry":
        return raw if isinstance(raw, str) and len(raw) == 2 and raw.isdigit() else None
    if raw == "":
        return None
    return raw


def _labels(group_by: str, keys) -> dict:
    """Raw key → (public key, label). FK groups are keyed by the record's code."""
    none = (None, _("(none)"))
    keys = [k for k in keys if k is not None]
    out: dict = {None: none}
    if group_by == "stage":
        out.update({k: (k, str(Stage(k).label)) if k in Stage.values else (k, k) for k in keys})
    elif group_by == "category":
        out.update(
            {k: (k, str(Category(k).label)) if k in Category.values else (k, k) for k in keys}
        )
    elif group_by == "industry":
        names = industry_division_names()
        out.update({k: (k, names.get(k, k)) for k in keys})
    elif group_by == "chain":
        out.update({k: (k, k) for k in keys})
    elif group_by == "officer":
        for u in get_user_model().objects.filter(pk__in=keys):
            out[u.pk] = (u.username, u.get_full_name() or u.username)
    else:
        model = {"town": Town, "park": Park, "team": Team}[group_by]
        out.update(
            {
                pk: (code, name)
                for pk, code, name in model.objects.filter(pk__in=keys).values_list(
                    "pk", "code", "name"
                )
            }
        )
    return out


def _sort_key(group_by: str, key):
    if key is None:
        return (2, 0, "")
    if group_by == "stage":
        return (0, STAGE_ORDER.get(key, 99), key)
    if group_by == "category":
        order = {c: i for i, c in enumerate(Category.values)}
        return (0, order.get(key, 99), key)
    return (1, 0, str(key))


# --- stats --------------------------------------------------------------------------------

ADDITIVE = (
    "projects",
    "total_investment_wan",
    "missing_investment",
    "signed_wan",
    "signed_projects",
    "capital_wan",
    "started",
)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _empty() -> dict:
    return {
        "projects": 0,
        "total_investment_wan": None,
        "missing_investment": 0,
        "signed_wan": 0.0,
        "signed_projects": 0,
        "capital_wan": 0.0,
        "started": 0,
        "by_stage": dict.fromkeys(lifecycle.STAGES, 0),
    }


def _figures(scope: Scope | None, p: Period, group_by: str | None) -> dict:
    """Raw group key (None when not grouping: everything under None) → figures."""
    out: dict = {}

    def cell(raw):
        key = _normal_key(group_by, raw) if group_by else None
        if key not in out:
            out[key] = _empty()
        return out[key]

    g = (lambda prefix="": _group_expr(group_by, p.as_of, prefix)) if group_by else None
    projects = _projects(scope).filter(existing(p.as_of)).annotate(_s=_stage_at(p.as_of, ""))
    columns = ["_s"]
    if g is not None and group_by != "stage":  # by stage, the group is _s itself
        projects = projects.annotate(_g=g())
        columns.append("_g")
    rows = projects.values(*columns).annotate(
        n=Count("pk"),
        inv=Sum("total_investment_wan"),
        missing=Count("pk", filter=Q(total_investment_wan__isnull=True)),
        started=Count("pk", filter=p.q("construction_on")),
    )
    for r in rows.order_by():
        c = cell(r["_s"] if group_by == "stage" else r.get("_g"))
        c["projects"] += r["n"]
        c["total_investment_wan"] = _add(c["total_investment_wan"], r["inv"])
        c["missing_investment"] += r["missing"]
        c["started"] += r["started"]
        c["by_stage"][r["_s"]] = c["by_stage"].get(r["_s"], 0) + r["n"]

    for model, aggregates in (
        (
            SigningEvent,
            {"s": Sum("amount_wan"), "first": Count("pk", filter=Q(kind="first"))},
        ),
        (CapitalArrival, {"s": Sum("amount_wan")}),
    ):
        qs = _scoped_rows(model, scope).filter(p.q("on"))
        if g is not None:
            found = qs.annotate(_g=g("project__")).values("_g").annotate(**aggregates).order_by()
        else:
            found = [qs.aggregate(**aggregates)]
        for r in found:
            c = cell(r.get("_g"))
            if model is SigningEvent:
                c["signed_wan"] += r["s"] or 0.0
                c["signed_projects"] += r["first"]
            else:
                c["capital_wan"] += r["s"] or 0.0
    return out


def stats(
    *,
    scope: Scope | None,
    group_by: str,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    as_of: dt.date | str | None = None,
) -> dict:
    """Totals and amounts of the visible projects by `group_by`, with the district total.

    Per group: `projects` (existing by as_of), `total_investment_wan` (sum of the known
    amounts; None when none is known) and `missing_investment`, `signed_wan` (SigningEvent
    amounts in the period), `signed_projects` (first signings in the period), `capital_wan`
    (capital arrived in the period), `started` (construction start in the period) and
    `by_stage` (projects by their stage at as_of). The groups add up to `total`.
    """
    if group_by not in GROUP_BYS:
        raise InvalidFilter(
            {"group_by": [_("accepted values: %(ok)s") % {"ok": ", ".join(GROUP_BYS)}]}
        )
    p = period(date_from, date_to, as_of)
    grouped = _figures(scope, p, group_by)
    labels = _labels(group_by, list(grouped))
    groups = []
    for raw, figures in grouped.items():
        key, label = labels.get(raw, (raw, str(raw)))
        groups.append({"key": key, "label": label, **figures})
    groups.sort(key=lambda g: _sort_key(group_by, g["key"]))
    total = _figures(scope, p, None).get(None, _empty())
    return {"group_by": group_by, **p.head(), "groups": groups, "total": total}


# --- funnel -------------------------------------------------------------------------------


def funnel(
    *,
    scope: Scope | None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    as_of: dt.date | str | None = None,
) -> dict:
    """The funnel of the projects that came in during the period (lead date in it).

    Per stage of the path: `reached` — projects whose milestone date is set and on or before
    as_of (lead: every project of the cohort; `land_obtained` only counts projects whose
    category has it on its path); `conversion` — of the projects that reached the stage and
    whose path goes on, the share that reached the next stage on their own path (None when
    there are none); `days` — days between the stage's date (lead date for `lead`) and the
    next milestone on the project's path, where both are set, on or before as_of and in
    order: `n`, `median`, `mean`.
    """
    p = period(date_from, date_to, as_of)
    fields = ["category", "lead_on", *MILESTONE_FIELDS.values()]
    qs = _projects(scope).filter(existing(p.as_of)).filter(_entered(p)).values_list(*fields)
    reached = dict.fromkeys(lifecycle.PATH, 0)
    base = dict.fromkeys(lifecycle.PATH, 0)
    onward = dict.fromkeys(lifecycle.PATH, 0)
    days: dict[str, list[int]] = {s: [] for s in lifecycle.PATH}
    cohort = 0
    for row in qs.iterator(chunk_size=5000):
        category, lead_on = row[0], row[1]
        cohort += 1
        dates = dict(zip(MILESTONE_FIELDS, row[2:], strict=True))
        dates["lead"] = lead_on
        path = lifecycle.path(category)
        for i, stage in enumerate(path):
            d = dates.get(stage)
            if stage != "lead" and (d is None or d > p.as_of):
                continue
            reached[stage] += 1
            if i + 1 == len(path):
                continue
            base[stage] += 1
            nd = dates.get(path[i + 1])
            if nd is None or nd > p.as_of:
                continue
            onward[stage] += 1
            if d is not None and d <= p.as_of and nd >= d:
                days[stage].append((nd - d).days)
    stages = []
    for stage in lifecycle.PATH:
        spent = days[stage]
        stages.append(
            {
                "stage": stage,
                "label": str(Stage(stage).label),
                "reached": reached[stage],
                "continuing": base[stage],
                "converted": onward[stage],
                "conversion": (onward[stage] / base[stage]) if base[stage] else None,
                "days": {
                    "n": len(spent),
                    "median": statistics.median(spent) if spent else None,
                    "mean": statistics.fmean(spent) if spent else None,
                },
            }
        )
    return {**p.head(), "projects": cohort, "stages": stages}


# --- key projects and rankings ------------------------------------------------------------


def _row(pr: Project, **extra) -> dict:
    return {
        "code": pr.code,
        "name": pr.name,
        "stage": pr.stage,
        "stage_label": str(Stage(pr.stage).label) if pr.stage in Stage.values else pr.stage,
        "category": pr.category,
        "grade": pr.grade,
        "grade_label": str(Grade(pr.grade).label) if pr.grade in Grade.values else pr.grade,
        "strategic": pr.strategic,
        "total_investment_wan": pr.total_investment_wan,
        "town": pr.town.code if pr.town_id else None,
        "town_label": pr.town.name if pr.town_id else None,
        "park": pr.park.code if pr.park_id else None,
        "team": pr.team.code if pr.team_id else None,
        "team_label": pr.team.name if pr.team_id else None,
        "officer": pr.officer.username if pr.officer_id else None,
        **extra,
    }


_RELATED = ("town", "park", "team", "officer")


def _limit(limit) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidFilter({"limit": [_("accepted: a whole number from 1 to 1000")]})
    return limit


def key_projects(*, scope: Scope | None, as_of: dt.date | str | None = None, limit: int = 20):
    """Major and key projects and strategic ones (not dropped), largest investment first."""
    p = period(None, None, as_of)
    qs = (
        _projects(scope)
        .filter(existing(p.as_of))
        .filter(Q(grade__in=(Grade.MAJOR, Grade.KEY)) | Q(strategic=True))
        .exclude(stage=lifecycle.DROPPED)
        .select_related(*_RELATED)
        .order_by(F("total_investment_wan").desc(nulls_last=True), "code")
    )
    return [_row(pr) for pr in qs[: _limit(limit)]]


def ranking(
    *,
    scope: Scope | None,
    by: str = "total_investment_wan",
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    as_of: dt.date | str | None = None,
    limit: int = 20,
) -> list[dict]:
    """Projects ranked by total investment (those that came in during the period; unknown
    amounts are left out) or by the signed amount counted in the period."""
    if by not in RANK_BY:
        raise InvalidFilter({"by": [_("accepted values: %(ok)s") % {"ok": ", ".join(RANK_BY)}]})
    limit = _limit(limit)
    p = period(date_from, date_to, as_of)
    if by == "total_investment_wan":
        qs = (
            _projects(scope)
            .filter(existing(p.as_of), _entered(p), total_investment_wan__isnull=False)
            .select_related(*_RELATED)
            .order_by("-total_investment_wan", "code")
        )
        return [_row(pr, rank=i + 1) for i, pr in enumerate(qs[:limit])]
    sums = list(
        _scoped_rows(SigningEvent, scope)
        .filter(p.q("on"))
        .values("project_id")
        .annotate(s=Sum("amount_wan"))
        .order_by("-s", "project__code")[:limit]
    )
    projects = Project.objects.select_related(*_RELATED).in_bulk([r["project_id"] for r in sums])
    return [
        _row(projects[r["project_id"]], rank=i + 1, signed_wan=r["s"]) for i, r in enumerate(sums)
    ]


# --- team performance: the ruleset --------------------------------------------------------

RULESET_DIR = Path(__file__).resolve().parent / "rulesets"
PREFIX = "performance-"
INDICATORS = ("leads_converted", "signed_wan", "projects_started", "capital_wan", "overdue_starts")
METHODS = ("max", "efficacy", "target", "per_unit")
TOLERANCE = 1e-3
_TOP = {"name", "title", "title_en", "region", "year", "source", "notes", "indicators", "cases"}
_IND = {"code", "label", "label_en", "unit", "weight", "method", "base", "target", "cap", "note"}
_EXPECT = {"team", "score", "rank", "scores"}


@dataclass(frozen=True)
class Indicator:
    """One weighted indicator. Its score, with w = weight and v the team's figure:

    * max: v / (largest v of the teams) × w (0 for everyone when the largest is 0);
    * efficacy (功效系数法): w × (base + (1 − base) × (v − min) / (max − min)) over the
      teams; w × base for everyone when all figures are equal;
    * target: w × min(v / target, cap) (cap defaults to 1);
    * per_unit: w × v, its size at most `cap` when one is given (a deduction per case).
    """

    code: str
    label: str
    label_en: str
    weight: float
    method: str
    unit: str = ""
    base: float = 0.6
    target: float | None = None
    cap: float | None = None


@dataclass(frozen=True)
class PerformanceRuleset:
    name: str
    title: str
    title_en: str
    year: int | None
    source: dict
    notes: str
    indicators: tuple[Indicator, ...]
    cases: tuple[dict, ...]
    document: dict = field(repr=False)
    text: str = field(repr=False)
    digest: str = ""


def _indicator(c: _Checker, path: str, raw) -> Indicator | None:
    if not c.keys(path, raw, _IND, {"code", "label", "weight", "method"}):
        return None
    code = raw.get("code")
    if code not in INDICATORS:
        c.fail(f"{path}.code", f"unknown indicator {code!r}; accepted: {', '.join(INDICATORS)}")
    weight = c.number(f"{path}.weight", raw.get("weight"))
    if weight == 0:
        c.fail(f"{path}.weight", "must not be 0 (leave the indicator out instead)")
    method = raw.get("method")
    if method not in METHODS:
        c.fail(f"{path}.method", f"must be one of {', '.join(METHODS)}")
    base = c.number(f"{path}.base", raw.get("base", 0.6))
    if base is not None and not 0 <= base < 1:
        c.fail(f"{path}.base", f"must be at least 0 and below 1, got {base:g}")
    target = c.number(f"{path}.target", raw.get("target"), positive=True, allow_none=True)
    if method == "target" and raw.get("target") is None:
        c.fail(f"{path}.target", "is required by the method target")
    for key in ("base", "target"):
        wanted = {"base": "efficacy", "target": "target"}[key]
        if key in raw and method in METHODS and method != wanted:
            c.fail(f"{path}.{key}", f"is used only by the method {wanted}")
    cap = c.number(f"{path}.cap", raw.get("cap"), positive=True, allow_none=True)
    if raw.get("cap") is not None and method in ("max", "efficacy"):
        c.fail(f"{path}.cap", "is used only by the methods target and per_unit")
    if method == "target" and cap is not None and cap < 1:
        c.fail(f"{path}.cap", f"must be at least 1 for the method target, got {cap:g}")
    if code not in INDICATORS or weight in (None, 0) or method not in METHODS:
        return None
    return Indicator(
        code=code,
        label=c.text(f"{path}.label", raw.get("label")),
        label_en=str(raw.get("label_en") or code),
        weight=weight,
        method=method,
        unit=str(raw.get("unit") or ""),
        base=base if base is not None else 0.6,
        target=target,
        cap=cap,
    )


def _case(c: _Checker, path: str, raw, codes: list[str]) -> None:
    if not c.keys(path, raw, {"name", "teams", "expect", "note"}, {"name", "teams", "expect"}):
        return
    teams = raw.get("teams")
    names = set()
    if not isinstance(teams, list) or not teams:
        c.fail(f"{path}.teams", "must list the teams with their figures")
        teams = []
    for i, t in enumerate(teams):
        tp = f"{path}.teams[{i}]"
        if not c.keys(tp, t, {"team", *codes}, {"team", *codes}):
            continue
        names.add(t.get("team"))
        for code in codes:
            v = c.number(f"{tp}.{code}", t.get(code))
            if v is not None and v < 0:
                c.fail(f"{tp}.{code}", f"must not be negative, got {v:g}")
    expect = raw.get("expect")
    if not isinstance(expect, list) or not expect:
        c.fail(f"{path}.expect", "must list the expected results")
        expect = []
    for i, e in enumerate(expect):
        ep = f"{path}.expect[{i}]"
        if not c.keys(ep, e, _EXPECT, {"team"}):
            continue
        if e.get("team") not in names:
            c.fail(f"{ep}.team", f"{e.get('team')!r} is not one of the case's teams")
        if "score" in e:
            c.number(f"{ep}.score", e.get("score"))
        if "rank" in e and (not isinstance(e["rank"], int) or e["rank"] < 1):
            c.fail(f"{ep}.rank", "must be a whole number from 1")
        scores = e.get("scores")
        if scores is not None:
            if not isinstance(scores, dict):
                c.fail(f"{ep}.scores", "must map indicator codes to scores")
                continue
            for k, v in scores.items():
                if k not in codes:
                    c.fail(
                        f"{ep}.scores.{k}", f"not an indicator of the ruleset: {', '.join(codes)}"
                    )
                c.number(f"{ep}.scores.{k}", v)


def parse_ruleset(text: str, *, name_hint: str = "?") -> PerformanceRuleset:
    """Validate a performance ruleset (YAML); RulesetError lists every problem with its path."""
    doc, c, name = open_document(
        text,
        name_hint=name_hint,
        top=_TOP,
        required={"name", "title", "source", "indicators"},
        example="district-2025",
    )
    source = doc.get("source")
    if not isinstance(source, dict) or not source.get("title"):
        c.fail("source", "must name at least the title of the document the rules come from")
        source = {}
    year = doc.get("year")
    if year is not None and (not isinstance(year, int) or not 1990 <= year <= 2100):
        c.fail("year", "must be a year such as 2025")
    items = doc.get("indicators")
    if not isinstance(items, list) or not items:
        c.fail("indicators", f"must list at least one of {', '.join(INDICATORS)}")
        items = []
    indicators = [
        ind
        for i, raw in enumerate(items)
        if (ind := _indicator(c, f"indicators[{i}]", raw)) is not None
    ]
    # The codes named, even by an indicator with other problems (so cases are not blamed).
    codes = [r.get("code") for r in items if isinstance(r, dict) and r.get("code") in INDICATORS]
    if len(set(codes)) != len(codes):
        c.fail("indicators", "an indicator appears twice")
    cases = doc.get("cases") or []
    if not isinstance(cases, list):
        c.fail("cases", "must be a list of cases")
        cases = []
    for i, raw in enumerate(cases):
        _case(c, f"cases[{i}]", raw, codes)
    if c.problems:
        raise RulesetError(str(name), c.problems)
    return PerformanceRuleset(
        name=name,
        title=str(doc["title"]),
        title_en=str(doc.get("title_en") or doc["title"]),
        year=year,
        source=dict(source),
        notes=str(doc.get("notes") or ""),
        indicators=tuple(indicators),
        cases=tuple(cases),
        document=doc,
        text=text,
        digest=digest_of(doc),
    )


def rulesets() -> dict[str, Path]:
    """Performance ruleset name → its file."""
    if not RULESET_DIR.is_dir():
        return {}
    return {p.stem[len(PREFIX) :]: p for p in sorted(RULESET_DIR.glob(f"{PREFIX}*.yaml"))}


def load_ruleset(name: str) -> PerformanceRuleset:
    path = rulesets().get(name)
    if path is None:
        raise KeyError(name)
    ruleset = parse_ruleset(path.read_text(encoding="utf-8"), name_hint=name)
    if ruleset.name != name:
        raise RulesetError(
            name, [f"name: the file {path.name} must be named {PREFIX}{ruleset.name}.yaml"]
        )
    return ruleset


def _indicator_scores(ind: Indicator, values: dict[str, float]) -> dict[str, float]:
    if not values:
        return {}
    hi, lo = max(values.values()), min(values.values())
    out = {}
    for team, v in values.items():
        if ind.method == "max":
            s = v / hi * ind.weight if hi > 0 else 0.0
        elif ind.method == "efficacy":
            spread = (v - lo) / (hi - lo) if hi > lo else 0.0
            s = ind.weight * (ind.base + (1 - ind.base) * spread)
        elif ind.method == "target":
            s = ind.weight * min(v / ind.target, ind.cap or 1.0)
        else:  # per_unit
            s = ind.weight * v
            if ind.cap is not None and abs(s) > ind.cap:
                s = ind.cap if s > 0 else -ind.cap
        out[team] = s
    return out


def score_teams(ruleset: PerformanceRuleset, figures: dict[str, dict[str, float]]) -> list[dict]:
    """Team → its figures, scored: rows with scores per indicator, score and rank (ties share
    a rank), best first (ties by team)."""
    per = {
        ind.code: _indicator_scores(ind, {t: float(f[ind.code]) for t, f in figures.items()})
        for ind in ruleset.indicators
    }
    rows = []
    for team, f in figures.items():
        scores = {ind.code: per[ind.code][team] for ind in ruleset.indicators}
        total = sum(scores.values())
        rows.append({"team": team, "figures": dict(f), "scores": scores, "score": total})
    rows.sort(key=lambda r: (-round(r["score"], 9), str(r["team"])))
    for r in rows:
        r["rank"] = 1 + sum(1 for o in rows if round(o["score"], 9) > round(r["score"], 9))
    return rows


def _close(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) <= TOLERANCE


def check_ruleset(ruleset: PerformanceRuleset) -> list[str]:
    """Run the ruleset's own cases; the problems found (empty when all pass)."""
    problems = [] if ruleset.cases else [f"{ruleset.name}: ships no test cases"]
    codes = [i.code for i in ruleset.indicators]
    for case in ruleset.cases:
        figures = {t["team"]: {k: t[k] for k in codes} for t in case["teams"]}
        got = {r["team"]: r for r in score_teams(ruleset, figures)}
        for want in case["expect"]:
            where = f"{ruleset.name} / {case['name']} / {want['team']}"
            row = got[want["team"]]
            if "score" in want and not _close(row["score"], want["score"]):
                problems.append(f"{where}: score expected {want['score']}, got {row['score']:.4f}")
            if "rank" in want and row["rank"] != want["rank"]:
                problems.append(f"{where}: rank expected {want['rank']}, got {row['rank']}")
            for k, v in (want.get("scores") or {}).items():
                if not _close(row["scores"][k], v):
                    problems.append(f"{where}: scores.{k} expected {v}, got {row['scores'][k]:.4f}")
    return problems


def run_ruleset_cases(names=None) -> dict[str, list[str]]:
    """Every shipped performance ruleset (or those named) → the problems of its cases; a file
    that does not validate reports its validation problems."""
    out = {}
    for name in names or sorted(rulesets()):
        try:
            out[name] = check_ruleset(load_ruleset(name))
        except KeyError:
            out[name] = [f"{name}: no such ruleset; available: {', '.join(sorted(rulesets()))}"]
        except RulesetError as exc:
            out[name] = [f"{name}: {p}" for p in exc.problems]
    return out


def _ruleset(name: str | None) -> PerformanceRuleset:
    name = name or getattr(settings, "INVESTMAP_PROJECT_PERFORMANCE_RULESET", "district-2025")
    try:
        return load_ruleset(name)
    except KeyError:
        raise InvalidFilter(
            {
                "ruleset": _("unknown ruleset %(name)s; available: %(names)s")
                % {"name": name, "names": ", ".join(sorted(rulesets()))}
            }
        ) from None
    except RulesetError as exc:
        raise InvalidFilter({"ruleset": exc.problems}, _("The ruleset is not valid.")) from None


# --- team performance: the figures --------------------------------------------------------


def _per_team(qs, **aggregates) -> dict:
    return {r.pop("_t"): r for r in qs.values(_t=F("team_id")).annotate(**aggregates).order_by()}


def _own_teams(scope: Scope | None) -> set:
    """Teams listed even without figures: all of them for the district, else the user's units'."""
    if scope is None:
        return set(Team.objects.values_list("pk", flat=True))
    if not access.sees_projects(scope):
        return set()
    qs = Team.objects.all()
    if scope.sensitive_org_ids is not None:
        qs = qs.filter(org_unit_id__in=scope.sensitive_org_ids)
    return set(qs.values_list("pk", flat=True))


def team_figures(scope: Scope | None, p: Period) -> dict:
    """team id (None: projects without a team) → the five raw figures."""
    projects = _projects(scope)
    first = Least(
        *(Coalesce(f, Value(_FAR), output_field=DateField()) for f in MILESTONE_FIELDS.values())
    )
    land_days = int(getattr(settings, "INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS", 180))
    overdue = (
        Q(land_obtained_on__lt=p.as_of - dt.timedelta(days=land_days))
        & (Q(construction_on__isnull=True) | Q(construction_on__gt=p.as_of))
        & Q(stage__in=lifecycle.ACTIVE)  # as alerts.py's land_not_started
    )
    counts = _per_team(
        projects.annotate(_first=first),
        leads=Count("pk", filter=p.q("_first")),
        started=Count("pk", filter=p.q("construction_on")),
        overdue=Count("pk", filter=overdue),
    )
    sums = {}
    for model in (SigningEvent, CapitalArrival):
        rows = (
            _scoped_rows(model, scope)
            .filter(p.q("on"))
            .values(_t=F("project__team_id"))
            .annotate(s=Sum("amount_wan"))
            .order_by()
        )
        sums[model] = {r["_t"]: r["s"] or 0.0 for r in rows}
    teams = set(counts) | set(sums[SigningEvent]) | set(sums[CapitalArrival]) | _own_teams(scope)
    out = {}
    for t in teams:
        c = counts.get(t, {})
        out[t] = {
            "leads_converted": c.get("leads", 0),
            "signed_wan": sums[SigningEvent].get(t, 0.0),
            "projects_started": c.get("started", 0),
            "capital_wan": sums[CapitalArrival].get(t, 0.0),
            "overdue_starts": c.get("overdue", 0),
        }
    return out


def performance(
    *,
    scope: Scope | None,
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    as_of: dt.date | str | None = None,
    ruleset: str | None = None,
) -> dict:
    """Team performance in the period by a ruleset (default: the setting
    INVESTMAP_PROJECT_PERFORMANCE_RULESET).

    Raw figures per team over the projects the scope sees: `leads_converted` (first milestone
    — negotiating or later — in the period), `signed_wan` (signings counted in the period),
    `projects_started` (construction start in the period), `capital_wan` (capital arrived in
    the period), `overdue_starts` (land obtained more than INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS
    days before as_of, construction not started by as_of, in an active stage — not on hold or
    dropped, as the land_not_started alert). Teams: every team for
    a scope that sees the district, else the teams of the user's units and of the visible
    projects; projects without a team are reported under `unassigned`, not scored.
    """
    p = period(date_from, date_to, as_of)
    rs = _ruleset(ruleset)
    figures = team_figures(scope, p)
    unassigned = figures.pop(None, None)
    teams = {t.pk: t for t in Team.objects.filter(pk__in=list(figures))}
    names = {t.code: t.name for t in teams.values()}
    rows = [
        {"key": r["team"], "label": names.get(r["team"], r["team"]), **r}
        for r in score_teams(rs, {teams[t].code: f for t, f in figures.items()})
    ]
    for r in rows:
        del r["team"]
    return {
        "ruleset": {
            "name": rs.name,
            "title": rs.title,
            "title_en": rs.title_en,
            "version": rs.digest,
            "source": rs.source,
            "notes": rs.notes,
            "indicators": [
                {
                    "code": i.code,
                    "label": i.label,
                    "label_en": i.label_en,
                    "weight": i.weight,
                    "method": i.method,
                    "unit": i.unit,
                }
                for i in rs.indicators
            ],
        },
        **p.head(),
        "rows": rows,
        "unassigned": unassigned,
    }
