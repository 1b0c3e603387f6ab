"""Read-only helpers of the project pages (views.py): what the services answer, in the
shape a page needs — badges with colours, form values of a project, the fields of
the edit form and which of them a POST changes, the lifecycle path with its dates,
the targets of a stage move, the outlines of the chosen site. Nothing here writes;
the rules stay in services.py and lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from investmap.core.choices import Role
from investmap.core.scope import Scope
from investmap.efficiency.presenters import PAGE_SIZE, page_links  # noqa: F401 (the same paging)
from investmap.resources import services as resource_services
from investmap.resources.models import Building, Parcel, Team
from investmap.resources.views import fmt

from . import lifecycle
from .choices import (
    ActivityKind,
    AlertType,
    ApprovalStatus,
    Category,
    DocumentType,
    Grade,
    Stage,
)
from .models import MILESTONE_FIELDS, Project


def badge(enum, value) -> dict:
    """{value, label, color} of an enum member; an unknown value keeps its code, in grey."""
    try:
        m = enum(value)
    except ValueError:
        return {"value": value, "label": value or "—", "color": "#888888"}
    return {"value": m.value, "label": str(m.label), "color": m.color}


def legends() -> dict:
    return {
        "stage": Stage.legend(),
        "category": Category.legend(),
        "grade": Grade.legend(),
        "activity": ActivityKind.legend(),
        "document": DocumentType.legend(),
        "alert": AlertType.legend(),
        "approval": ApprovalStatus.legend(),
    }


def wan(value) -> str:
    """An amount in 万元 with thousands separators, up to two decimals; None → —."""
    return fmt(value, 2) if value is not None else "—"


# --- filters ------------------------------------------------------------------------

LIST_KEYS = (
    "q",
    "stage",
    "category",
    "grade",
    "town",
    "team",
    "industry",
    "strategic",
    "min_investment",
    "max_investment",
    "park",
    "officer",
    "chain",
    "tag",
)
MULTI = ("stage", "category", "grade")


def filter_params(querydict) -> dict:
    """The list filters of the address as services.search takes them (several values
    of stage, category or grade comma-joined)."""
    params = {}
    for key in LIST_KEYS:
        values = [v.strip() for v in querydict.getlist(key) if v.strip()]
        if values:
            params[key] = ",".join(values) if key in MULTI else values[-1]
    return params


def filter_options(scope: Scope, params: dict) -> dict:
    """Choices of the filter form, with what is selected."""
    selected = {k: set((params.get(k) or "").split(",")) - {""} for k in MULTI}

    def opts(enum, key):
        return [{**b, "selected": b["value"] in selected[key]} for b in enum.legend()]

    return {
        "stages": opts(Stage, "stage"),
        "categories": opts(Category, "category"),
        "grades": opts(Grade, "grade"),
        "towns": resource_services.places(level="towns", scope=scope),
        "parks": resource_services.places(level="parks", scope=scope),
        "teams": list(Team.objects.order_by("code").values("code", "name")),
    }


def town_names(scope: Scope) -> dict[str, str]:
    return {t["code"]: t["name"] for t in resource_services.places(level="towns", scope=scope)}


def officers() -> list[dict]:
    """Users who can be a project's officer (town/park officers and bureau staff)."""
    qs = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(role=Role.TOWN_OFFICER) | Q(role=Role.BUREAU_STAFF))
        .order_by("username")
    )
    return [{"username": u.username, "name": u.get_full_name() or u.username} for u in qs]


def list_summary(qs) -> dict:
    """How many projects the filtered list has and their total investment (None: none known)."""
    from django.db.models import Count, Sum

    agg = qs.order_by().aggregate(n=Count("pk"), total=Sum("total_investment_wan"))
    return {"count": agg["n"], "total_wan": agg["total"]}


BOARD_CARDS = 30


def board_column(c: dict, params: dict) -> dict:
    """A column of services.board() with its cards' badges and the link to the rest."""
    from urllib.parse import urlencode

    from django.urls import reverse

    more = c["count"] - len(c["cards"])
    return {
        **c,
        "amount_fmt": wan(c["amount_wan"]),
        "cards": [list_row(r) for r in c["cards"]],
        "more": more if more > 0 else 0,
        "more_href": reverse("projects:list") + "?" + urlencode({**params, "stage": c["stage"]}),
        "side": c["stage"] in (Stage.ON_HOLD, Stage.DROPPED),
    }


def list_row(r: dict) -> dict:
    """services.row() with the badges and formatted amounts the table shows."""
    return {
        **r,
        "stage_info": badge(Stage, r["stage"]),
        "grade_info": badge(Grade, r["grade"]),
        "category_info": badge(Category, r["category"]),
        "total_fmt": wan(r["total_investment_wan"]),
        "latest_milestone": _latest_milestone(r),
    }


def _latest_milestone(r: dict) -> dict | None:
    latest = None
    for stage in lifecycle.path(r["category"]):
        d = (r.get("milestones") or {}).get(stage)
        if d:
            latest = {"stage": stage, "name": lifecycle.MILESTONES[stage], "on": d}
    return latest


# --- the edit form ------------------------------------------------------------------

# (group title, [(field, input type)]); labels come from the model's verbose names.
EDIT_GROUPS = (
    (
        gettext_lazy("Project"),
        [
            ("name", "text"),
            ("category", "category"),
            ("industry_code", "text"),
            ("chain_node", "text"),
            ("strategic", "bool"),
            ("tags", "text"),
        ],
    ),
    (
        gettext_lazy("Investor"),
        [
            ("investor_name", "text"),
            ("investor", "text"),
            ("contact_name", "text"),
            ("contact_phone", "text"),
            ("contact_email", "text"),
        ],
    ),
    (
        gettext_lazy("Place and people"),
        [("town", "town"), ("park", "park"), ("team", "team"), ("officer", "officer")],
    ),
    (
        gettext_lazy("Amounts (10k yuan)"),
        [
            ("total_investment_wan", "number"),
            ("fixed_asset_investment_wan", "number"),
            ("foreign_investment_wan", "number"),
            ("registered_capital_wan", "number"),
            ("expected_output_wan", "number"),
            ("expected_tax_wan", "number"),
            ("expected_jobs", "number"),
        ],
    ),
    (
        gettext_lazy("Commitments and actual figures (standard land)"),
        [
            ("land_area_mu", "number"),
            ("expected_rd_share", "number"),
            ("expected_energy_tce_per_wan", "number"),
            ("actual_investment_wan", "number"),
            ("actual_output_wan", "number"),
            ("actual_tax_wan", "number"),
            ("actual_rd_share", "number"),
            ("actual_energy_tce_per_wan", "number"),
        ],
    ),
    (
        gettext_lazy("Milestone dates"),
        [("lead_on", "date"), *((f, "date") for f in MILESTONE_FIELDS.values())],
    ),
)
CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email")
HINTS = {
    "industry_code": gettext_lazy("GB/T 4754, 2 to 4 digits, e.g. 3670"),
    "tags": gettext_lazy("comma-separated"),
    "investor": gettext_lazy("credit code of an enterprise in the library (optional)"),
    "expected_rd_share": gettext_lazy("a share between 0 and 1 (0.03 = 3%)"),
    "actual_rd_share": gettext_lazy("a share between 0 and 1 (0.03 = 3%)"),
    "officer": gettext_lazy("user name"),
}


def form_value(project: Project, field: str):
    """The value of a field as the form shows it (strings; a bool for the checkbox)."""
    v = getattr(project, field)
    if field == "strategic":
        return bool(v)
    if field == "tags":
        return ", ".join(v or [])
    if field in ("town", "park", "team"):
        return v.code if v is not None else ""
    if field == "officer":
        return v.username if v is not None else ""
    if field == "investor":
        return v.credit_code if v is not None else ""
    return _plain(v)


def _plain(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


EDIT_FIELDS = [f for _t, fields in EDIT_GROUPS for f, _k in fields]


def posted_value(post, field: str):
    if field == "strategic":
        return post.get("strategic") in ("on", "true", "1")
    return (post.get(field) or "").strip()


def changes_from_post(project: Project, post, *, contacts: bool) -> dict:
    """The fields whose posted value differs from the project's (as the form showed it).

    Only those go to services.update, so a save never rewrites fields the user did
    not touch. Values stay strings (the service parses them); strategic is a bool."""
    out = {}
    for field in EDIT_FIELDS:
        if field in CONTACT_FIELDS and not contacts:
            continue
        if field not in post and field != "strategic":
            continue
        new = posted_value(post, field)
        if new != form_value(project, field):
            out[field] = new
    return out


def changed_since(project: Project, version: int | None) -> dict:
    """{field: {"then": value as read, "now": value now}} for the fields someone changed
    after `version` (the one the user read), as the form shows them."""
    if version is None:
        return {}
    old = project.history.filter(version=version).order_by("-history_id").first()
    if old is None:
        return {}
    out = {}
    for field in EDIT_FIELDS:
        then, now = form_value(old, field), form_value(project, field)
        if then != now:
            out[field] = {"then": then, "now": now}
    return out


def version_of(etag: str) -> int | None:
    """The version in an ETag '"<pk>-<version>"' (None when it is not one of ours)."""
    try:
        return int(etag.strip().removeprefix("W/").strip('"').rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def edit_groups(
    project: Project,
    *,
    contacts: bool,
    posted=None,
    errors: dict | None = None,
    changed: dict | None = None,
) -> list[dict]:
    """The edit form: groups of fields with label, input type, value, error, hint.

    After a conflict (`changed`: what someone else changed since the user read the
    project), a field the user left as it was takes the new value; a field both
    changed keeps the user's input and shows the other value next to it."""
    errors = errors or {}
    changed = changed or {}
    groups = []
    for title, fields in EDIT_GROUPS:
        items = []
        for field, kind in fields:
            if field in CONTACT_FIELDS and not contacts:
                continue
            value = (
                posted_value(posted, field) if posted is not None else form_value(project, field)
            )
            theirs = changed.get(field)
            both = False
            if theirs is not None:
                if value == theirs["then"]:
                    value = theirs["now"]
                else:
                    both = True
            msgs = list(errors.get(field, []))
            stage = next((s for s, f in MILESTONE_FIELDS.items() if f == field), None)
            if stage:
                msgs += errors.get(f"milestones.{stage}", [])
            items.append(
                {
                    "name": field,
                    "kind": kind,
                    "label": str(Project._meta.get_field(field).verbose_name),
                    "value": value,
                    "errors": msgs,
                    "hint": HINTS.get(field, ""),
                    "changed": theirs is not None,
                    "conflict": both,
                    "now": theirs["now"] if theirs else None,
                }
            )
        groups.append({"title": title, "fields": items})
    return groups


# --- the project file ------------------------------------------------------------------


def lifecycle_steps(d: dict) -> list[dict]:
    """The full path with each stage's date and state: done, current, todo or skipped
    (land_obtained for stock_space / hq_rd projects)."""
    own_path = d["path"]
    stage = d["stage"]
    at = stage if stage in own_path else (d.get("held_from") or None)
    reached = own_path.index(at) if at in own_path else None
    if stage == Stage.DROPPED:
        # How far the project got before it was dropped: the last milestone on record.
        reached = max(
            [i for i, s in enumerate(own_path) if (d["milestones"].get(s) or s == "lead")],
            default=0,
        )
    steps = []
    for s in lifecycle.PATH:
        if s not in own_path:
            steps.append({"stage": s, "label": badge(Stage, s)["label"], "state": "skipped"})
            continue
        i = own_path.index(s)
        date = d["lead_on"] if s == "lead" else d["milestones"].get(s)
        if reached is None:
            state = "todo"
        elif i < reached:
            state = "done"
        elif i == reached:
            state = "current" if stage in own_path else "paused"
        else:
            state = "todo"
        steps.append(
            {
                "stage": s,
                "label": badge(Stage, s)["label"],
                "milestone": lifecycle.MILESTONES.get(s, ""),
                "date": date,
                "state": state,
                "color": Stage(s).color,
            }
        )
    return steps


def move_options(d: dict, category: str) -> dict:
    """The stage-move form: the allowed targets (labels, kind) and date inputs for the
    milestones still missing on the path, each knowing the targets that need it."""
    targets = []
    for to in d["allowed_moves"]:
        kind = lifecycle.kind_of(d["stage"], to, category, d.get("held_from"))
        needed = lifecycle.milestone_stages(category, to) if kind == lifecycle.ADVANCE else []
        targets.append(
            {
                "value": to,
                "label": badge(Stage, to)["label"],
                "kind": kind,
                "needs": [s for s in needed if not d["milestones"].get(s)],
            }
        )
    needed_any = {s for t in targets for s in t["needs"]}
    dates = [
        {
            "stage": s,
            "label": badge(Stage, s)["label"],
            "milestone": lifecycle.MILESTONES[s],
            "for": " ".join(t["value"] for t in targets if s in t["needs"]),
        }
        for s in lifecycle.path(category)
        if s in needed_any
    ]
    return {"targets": targets, "dates": dates}


def move_request(post, category: str) -> tuple[str, dict, str]:
    """(to, milestones, reason) of a posted move: only the dates the target needs."""
    to = (post.get("to") or "").strip()
    milestones = {}
    if to in lifecycle.PATH:
        for s in lifecycle.milestone_stages(category, to):
            v = (post.get(f"milestone_{s}") or "").strip()
            if v:
                milestones[s] = v
    return to, milestones, (post.get("reason") or "").strip()


def site_map(d: dict) -> dict | None:
    """GeoJSON of the chosen parcels or building (what the small map shows), or None."""
    features = []
    codes = [p["code"] for p in d.get("parcels") or []]
    for code, geometry in Parcel.objects.filter(code__in=codes).values_list("code", "geometry"):
        features.append(_feature(geometry, kind="parcel", code=code))
    if d.get("building"):
        for code, geometry in Building.objects.filter(code=d["building"]).values_list(
            "code", "geometry"
        ):
            features.append(_feature(geometry, kind="building", code=code))
    features = [f for f in features if f is not None]
    if not features:
        return None
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: str, **props) -> dict | None:
    try:
        return {"type": "Feature", "geometry": json.loads(geometry), "properties": props}
    except (TypeError, ValueError):
        return None


def candidate_rows(d: dict) -> list[dict]:
    """The saved candidate sites with what the table shows, the chosen one marked."""
    if not d.get("candidates"):
        return []
    chosen_parcels = sorted(p["code"] for p in d.get("parcels") or [])
    out = []
    for i, r in enumerate(d["candidates"].get("results") or []):
        parcels = list(r.get("parcels") or [])
        chosen = (r.get("building") and r.get("building") == d.get("building")) or (
            parcels and sorted(parcels) == chosen_parcels
        )
        out.append(
            {
                "index": i,
                "rank": r.get("rank", i + 1),
                "kind": r.get("kind"),
                "site": r.get("building") or "、".join(parcels),
                "name": r.get("name") or "",
                "town": r.get("town"),
                "area_mu": fmt(r.get("area_mu"), 2) if r.get("area_mu") is not None else "—",
                "floor_m2": fmt(r.get("floor_m2")) if r.get("floor_m2") is not None else "—",
                "score": r.get("score"),
                "chosen": bool(chosen),
            }
        )
    return out


def check_rows(d: dict) -> list[dict]:
    """The 标准地 checks with each item's value, limit and whether it is met."""
    out = []
    for c in d.get("standard_checks") or []:
        items = []
        for it in c.get("items") or []:
            op = it.get("op")
            items.append(
                {
                    **it,
                    "op_text": "≥" if op == "ge" else ("≤" if op == "le" else op or ""),
                    "value_fmt": _figure(it.get("value")),
                    "limit_fmt": _figure(it.get("limit")) or "—",
                }
            )
        out.append({**c, "items": items})
    return out


HIDDEN_HISTORY = {"last_touched_on"}  # the rot clock: bookkeeping, not an edit


def _figure(v) -> str | None:
    """A checked figure: two decimals, four below 10 (shares, energy per value added)."""
    if v is None:
        return None
    return fmt(v, 2 if abs(v) >= 10 else 4)


def history_rows(d: dict) -> list[dict]:
    """The change history with field labels, and linked records by their code or name
    instead of their database id (the site's parcels by code)."""
    from django.db.models import ForeignKey

    changes_by_row = []
    wanted: dict = {}  # related model → ids to name
    for h in d.get("history") or []:
        changes = []
        for c in h["changes"]:
            if c["field"] in HIDDEN_HISTORY:
                continue
            try:
                field = Project._meta.get_field(c["field"])
            except Exception:
                changes.append({**c, "label": c["field"], "model": None})
                continue
            model = None
            if isinstance(field, ForeignKey):
                model = field.related_model
                ids = [c["old"], c["new"]]
            elif c["field"] == "parcels":
                model = Parcel
                ids = [m.get("parcel") for v in (c["old"], c["new"]) for m in (v or [])]
            if model is not None:
                wanted.setdefault(model, set()).update(i for i in ids if i is not None)
            changes.append({**c, "label": str(field.verbose_name), "model": model})
        if changes or not h["changes"]:
            changes_by_row.append((h, changes))
    names = {model: _names(model, ids) for model, ids in wanted.items()}

    def show(model, value):
        if model is None:
            return value
        if model is Parcel:
            return "、".join(names[Parcel].get(m.get("parcel"), "?") for m in value or []) or None
        return None if value is None else names[model].get(value, f"#{value}")

    out = []
    for h, changes in changes_by_row:
        shown = [
            {**c, "old": show(c["model"], c["old"]), "new": show(c["model"], c["new"])}
            for c in changes
        ]
        out.append({**h, "changes": shown, "at_fmt": local_time(h["at"])})
    return out


def _names(model, ids) -> dict:
    """id → what a person recognises: code (and name), user name, list name."""
    out = {}
    for obj in model.objects.filter(pk__in=list(ids)):
        if hasattr(obj, "code"):
            name = getattr(obj, "name", "")
            out[obj.pk] = f"{obj.code} {name}".strip() if model is not Parcel else obj.code
        elif hasattr(obj, "get_username"):
            out[obj.pk] = obj.get_username()
        elif hasattr(obj, "credit_code"):
            out[obj.pk] = obj.name or obj.credit_code
        else:
            out[obj.pk] = str(obj)
    return out


def local_time(iso: str | None) -> str:
    """An ISO timestamp as local 'YYYY-MM-DD HH:MM' ('' for None)."""
    if not iso:
        return ""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(iso)
    if moment is None:
        return iso
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M")


def approvals_rows(d: dict, scope: Scope) -> list[dict]:
    """Approvals with their badge and whether this viewer may decide now."""
    me = get_user_model().objects.filter(pk=scope.user_id).values_list("username", flat=True)
    me = me.first()
    return [
        {
            **a,
            "requested_fmt": local_time(a.get("requested_at")),
            "milestone_list": milestone_list(a),
            "decided_fmt": local_time(a.get("decided_at")),
            "status_info": badge(ApprovalStatus, a["status"]),
            "may_decide": d.get("can_decide")
            and a["status"] == "pending"
            and a.get("requested_by") != me,
            "own": a.get("requested_by") == me,
        }
        for a in d.get("approvals") or []
    ]


def milestone_list(approval: dict) -> list[tuple[str, str]]:
    """(milestone name, date) of the dates sent with an approval request, in path order."""
    given = (approval.get("request") or {}).get("milestones") or {}
    order = {s: i for i, s in enumerate(lifecycle.PATH)}
    return [
        (lifecycle.MILESTONES.get(s, s), day)
        for s, day in sorted(given.items(), key=lambda kv: order.get(kv[0], 99))
    ]


def key_facts(d: dict) -> list[tuple[str, str]]:
    """(label, value) pairs of the header and the PDF sheet."""
    return [
        (_("Investor"), d.get("investor_name") or "—"),
        (_("Category"), d.get("category_label") or "—"),
        (
            _("industry code (GB/T 4754)"),
            " ".join(x for x in (d.get("industry_code"), d.get("chain_node")) if x) or "—",
        ),
        (_("Total investment"), _amount(d.get("total_investment_wan"))),
        (_("Fixed-asset investment"), _amount(d.get("fixed_asset_investment_wan"))),
        (_("Foreign investment"), _amount(d.get("foreign_investment_wan"))),
        (_("Registered capital"), _amount(d.get("registered_capital_wan"))),
        (_("Expected yearly output"), _amount(d.get("expected_output_wan"))),
        (_("Expected yearly tax"), _amount(d.get("expected_tax_wan"))),
        (
            _("Expected jobs"),
            fmt(d.get("expected_jobs")) if d.get("expected_jobs") is not None else "—",
        ),
        (
            _("Land area"),
            f"{fmt(d['land_area_mu'], 2)} {_('mu')}" if d.get("land_area_mu") is not None else "—",
        ),
        (
            _("Town / park"),
            " / ".join(x for x in (d.get("town_name"), d.get("park_name")) if x) or "—",
        ),
        (_("Team"), d.get("team_name") or "—"),
        (_("Officer"), d.get("officer_name") or "—"),
    ]


def _amount(v) -> str:
    return f"{wan(v)} {_('10k yuan')}" if v is not None else "—"


# --- the overview ---------------------------------------------------------------------------

OVERVIEW_GROUPS = ("stage", "category", "town", "team")
OVERVIEW_TITLES = {
    "stage": gettext_lazy("By stage"),
    "category": gettext_lazy("By category"),
    "town": gettext_lazy("By town"),
    "team": gettext_lazy("By team"),
}
PALETTE = (
    "#1d5fb4",
    "#26a69a",
    "#f9a825",
    "#8e24aa",
    "#ef6c00",
    "#5c6bc0",
    "#43a047",
    "#d81b60",
    "#00897b",
    "#6d4c41",
)
NONE_COLOR = "#b0b7c3"


def _group_color(group_by: str, key, i: int) -> str:
    if key is None:
        return NONE_COLOR
    if group_by == "stage":
        return badge(Stage, key)["color"]
    if group_by == "category":
        return badge(Category, key)["color"]
    return PALETTE[i % len(PALETTE)]


def _no_minus_zero(v):
    """-0.0 (a deduction of nothing) shown as 0."""
    return round(v, 9) + 0.0 if isinstance(v, float) else v


def _pct(share) -> str | None:
    return None if share is None else f"{100 * share:.1f}"


def overview(*, groups: dict, funnel: dict, key: list, ranking: dict, performance: dict) -> dict:
    """stats.stats / funnel / key_projects / ranking / performance answers with what the
    overview shows: tables with formatted figures, chart series, badges."""
    tables = []
    charts = {}
    for g in OVERVIEW_GROUPS:
        answer = groups[g]
        rows = []
        for i, r in enumerate(answer["groups"]):
            rows.append(
                {
                    **r,
                    "color": _group_color(g, r["key"], i),
                    "investment_fmt": wan(r["total_investment_wan"]),
                    "signed_fmt": wan(r["signed_wan"]),
                    "capital_fmt": wan(r["capital_wan"]),
                }
            )
        t = answer["total"]
        tables.append(
            {
                "by": g,
                "title": OVERVIEW_TITLES[g],
                "rows": rows,
                "total": {
                    **t,
                    "investment_fmt": wan(t["total_investment_wan"]),
                    "signed_fmt": wan(t["signed_wan"]),
                    "capital_fmt": wan(t["capital_wan"]),
                },
            }
        )
        charts[g] = [
            {
                "key": r["key"],
                "label": r["label"],
                "color": r["color"],
                "projects": r["projects"],
                "investment": r["total_investment_wan"],
                "signed": r["signed_wan"],
            }
            for r in rows
        ]
    total = groups[OVERVIEW_GROUPS[0]]["total"]
    figures = [
        {
            "key": "projects",
            "label": _("Projects"),
            "value": fmt(total["projects"]),
            "unit": "",
            "accent": "#1d5fb4",
            "sub": _("%(n)s without an amount") % {"n": total["missing_investment"]}
            if total["missing_investment"]
            else "",
        },
        {
            "key": "investment",
            "label": _("Total investment"),
            "value": wan(total["total_investment_wan"]),
            "unit": _("10k yuan"),
            "accent": "#26a69a",
            "sub": "",
        },
        {
            "key": "signed",
            "label": _("Signed in the period"),
            "value": wan(total["signed_wan"]),
            "unit": _("10k yuan"),
            "accent": "#1e88e5",
            "sub": _("%(n)s first signings") % {"n": total["signed_projects"]},
        },
        {
            "key": "capital",
            "label": _("Capital arrived in the period"),
            "value": wan(total["capital_wan"]),
            "unit": _("10k yuan"),
            "accent": "#2e7d32",
            "sub": "",
        },
        {
            "key": "started",
            "label": _("Construction started in the period"),
            "value": fmt(total["started"]),
            "unit": "",
            "accent": "#fb8c00",
            "sub": "",
        },
    ]
    stages = []
    for s in funnel["stages"]:
        stages.append(
            {
                **s,
                "color": badge(Stage, s["stage"])["color"],
                "conversion_pct": _pct(s["conversion"]),
                "median_fmt": fmt(s["days"]["median"], 1)
                if s["days"]["median"] is not None
                else "—",
                "milestone": lifecycle.MILESTONES.get(s["stage"], ""),
            }
        )
    charts["funnel"] = [
        {
            "stage": s["stage"],
            "label": s["label"],
            "color": s["color"],
            "reached": s["reached"],
            "conversion": s["conversion"],
            "median": s["days"]["median"],
        }
        for s in stages
    ]

    def project_rows(rows):
        return [
            {
                **r,
                "stage_info": badge(Stage, r["stage"]),
                "grade_info": badge(Grade, r["grade"]),
                "investment_fmt": wan(r.get("total_investment_wan")),
                "signed_fmt": wan(r.get("signed_wan")),
            }
            for r in rows
        ]

    indicators = performance["ruleset"]["indicators"]
    perf_rows = [
        {
            **r,
            "cells": [
                {
                    "code": i["code"],
                    "figure": fmt(_no_minus_zero(r["figures"].get(i["code"])), 2),
                    "score": fmt(_no_minus_zero(r["scores"].get(i["code"])), 2),
                }
                for i in indicators
            ],
            "score_fmt": fmt(_no_minus_zero(r["score"]), 2),
        }
        for r in performance["rows"]
    ]
    return {
        "figures": figures,
        "tables": tables,
        "charts": charts,
        "funnel": {**funnel, "stages": stages},
        "key_projects": project_rows(key),
        "ranking": {k: project_rows(v) for k, v in ranking.items()},
        "performance": {**performance, "rows": perf_rows},
        "period": {"from": groups["stage"]["from"], "to": groups["stage"]["to"]},
    }
