"""The project library's service layer: the only writer of projects (SPEC P1–P7).

Every function is keyword-only and runs in one transaction. Pages, the API and
the command call these; none of them holds a rule of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from investmap.core.choices import Role
from investmap.core.models import User, audit, notify
from investmap.core.scope import Scope, mask_text
from investmap.matching.models import CandidateList
from investmap.resources.models import Building, Enterprise, Parcel, Park, Team, Town
from investmap.resources.services import (
    Forbidden,
    InvalidChange,
    InvalidFilter,
    NotFound,
    ServiceError,
    parse_as_of,
)

from . import access, lifecycle
from .choices import (
    USER_ACTIVITY_KINDS,
    ActivityKind,
    ApprovalStatus,
    Category,
    CheckPhase,
    DocumentType,
    Grade,
    SigningKind,
    Stage,
)
from .models import (
    MILESTONE_FIELDS,
    Activity,
    Approval,
    CapitalArrival,
    Document,
    IdempotentRequest,
    Project,
    SigningEvent,
    StageChange,
    StandardCheck,
)


class PreconditionFailed(ServiceError):
    code, status = "precondition_failed", 412

    def __init__(self, current: str):
        super().__init__(
            _(
                "The project changed after you read it (its ETag is now %(etag)s). "
                "Read it again and apply your change to the new version."
            )
            % {"etag": current},
            etag=current,
        )


class PreconditionRequired(ServiceError):
    code, status = "precondition_required", 428

    def __init__(self):
        super().__init__(
            _(
                "Send the If-Match header with the ETag of the project as you read it, "
                "so that concurrent edits are detected."
            )
        )


class BadRequest(ServiceError):
    code, status = "bad_request", 400


class IdempotencyMismatch(InvalidFilter):
    def __init__(self):
        super().__init__(
            {
                "Idempotency-Key": [
                    _(
                        "this key was already used with a different body; use a new key for a new request"
                    )
                ]
            },
            _("The Idempotency-Key was used before with another request."),
        )


# --- reading --------------------------------------------------------------------

EDITABLE = {
    "name": "text",
    "investor_name": "text",
    "investor": "enterprise",
    "contact_name": "text",
    "contact_phone": "text",
    "contact_email": "text",
    "industry_code": "industry",
    "chain_node": "text",
    "category": "category",
    "total_investment_wan": "amount",
    "fixed_asset_investment_wan": "amount",
    "foreign_investment_wan": "amount",
    "registered_capital_wan": "amount",
    "expected_output_wan": "amount",
    "expected_tax_wan": "amount",
    "expected_jobs": "count",
    "land_area_mu": "amount",
    "expected_rd_share": "share",
    "expected_energy_tce_per_wan": "amount",
    "actual_investment_wan": "amount",
    "actual_output_wan": "amount",
    "actual_tax_wan": "amount",
    "actual_rd_share": "share",
    "actual_energy_tce_per_wan": "amount",
    "town": "town",
    "park": "park",
    "team": "team",
    "officer": "user",
    "strategic": "bool",
    "tags": "tags",
    "lead_on": "date",
    **{f: "date" for f in MILESTONE_FIELDS.values()},
}
CREATE_FIELDS = set(EDITABLE) | {"code"}
SENSITIVE = ("contact_name", "contact_phone", "contact_email")
AMOUNTS = [k for k, v in EDITABLE.items() if v == "amount"]


def today() -> dt.date:
    return timezone.localdate()


def _require(scope: Scope) -> None:
    if not access.sees_projects(scope):
        raise Forbidden(_("Your role has no access to the project library."))


def get(*, code: str, scope: Scope, edit: bool = False) -> Project:
    _require(scope)
    project = (
        access.visible(scope)
        .select_related("town", "park", "team", "officer", "investor", "building", "candidates")
        .filter(code=code)
        .first()
    )
    if project is None:
        raise NotFound(_("No project with code %(code)s.") % {"code": code})
    if edit and not access.can_edit(scope, project):
        raise Forbidden(_("You may read this project but not change it."))
    return project


def etag(project: Project) -> str:
    return f'"{project.pk}-{project.version}"'


def _label(enum, value) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value or ""


def stage_label(stage: str) -> str:
    return _label(Stage, stage)


def row(project: Project, scope: Scope) -> dict:
    """The list view of a project (contacts masked by scope)."""
    visible = access.contacts_visible(scope, project)
    return {
        "code": project.code,
        "name": project.name,
        "external_id": project.external_id,
        "investor": project.investor.credit_code if project.investor_id else None,
        "investor_name": project.investor_name
        or (project.investor.name if project.investor_id else ""),
        **{
            f: (getattr(project, f) if visible else mask_text(getattr(project, f)))
            for f in SENSITIVE
        },
        "industry_code": project.industry_code,
        "chain_node": project.chain_node,
        "category": project.category,
        "category_label": _label(Category, project.category),
        **{f: getattr(project, f) for f in AMOUNTS},
        "expected_jobs": project.expected_jobs,
        "town": project.town.code if project.town_id else None,
        "town_name": project.town.name if project.town_id else "",
        "park": project.park.code if project.park_id else None,
        "park_name": project.park.name if project.park_id else "",
        "team": project.team.code if project.team_id else None,
        "team_name": project.team.name if project.team_id else "",
        "officer": project.officer.username if project.officer_id else None,
        "officer_name": (project.officer.get_full_name() or project.officer.username)
        if project.officer_id
        else "",
        "strategic": project.strategic,
        "grade": project.grade,
        "grade_label": _label(Grade, project.grade),
        "tags": list(project.tags or []),
        "stage": project.stage,
        "stage_label": stage_label(project.stage),
        "stage_color": Stage(project.stage).color,
        "held_from": project.held_from or None,
        "drop_reason": project.drop_reason,
        "lead_on": _iso(project.lead_on),
        "milestones": {s: _iso(d) for s, d in project.milestones().items()},
        "last_touched_on": _iso(project.last_touched_on),
        "version": project.version,
        "updated_at": project.updated_at.isoformat() if project.updated_at else None,
    }


def _iso(d):
    return d.isoformat() if d else None


def detail(*, code: str, scope: Scope) -> dict:
    """Everything on one project's file: fields, space, timeline, documents, signings,
    capital, approvals, standard-land checks, history, what the user may do."""
    project = get(code=code, scope=scope)
    out = row(project, scope)
    out["etag"] = etag(project)
    out["can_edit"] = access.can_edit(scope, project)
    out["can_decide"] = access.can_decide(scope)
    out["allowed_moves"] = lifecycle.allowed_targets(
        project.stage, project.category, project.held_from or None
    )
    out["path"] = list(lifecycle.path(project.category))
    out["parcels"] = [
        {"code": p.code, "area_mu": p.area_mu, "status": p.status}
        for p in project.parcels.order_by("code")
    ]
    out["building"] = project.building.code if project.building_id else None
    out["candidates"] = (
        {
            "id": project.candidates.pk,
            "name": project.candidates.name,
            "demand": project.candidates.demand,
            "results": project.candidates.results,
        }
        if project.candidates_id
        else None
    )
    out["activities"] = [
        {
            "id": a.pk,
            "kind": a.kind,
            "kind_label": _label(ActivityKind, a.kind),
            "color": ActivityKind(a.kind).color,
            "on": a.on.isoformat(),
            "text": a.text,
            "user": a.user.username if a.user_id else None,
            "scheduled": a.on > today(),
        }
        for a in project.activities.select_related("user")
    ]
    out["documents"] = [
        {
            "id": d.pk,
            "doc_type": d.doc_type,
            "doc_type_label": _label(DocumentType, d.doc_type),
            "title": d.title,
            "on": d.on.isoformat(),
            "size": d.size,
            "url": f"/projects/{project.code}/documents/{d.pk}/",
        }
        for d in project.documents.all()
    ]
    out["stage_changes"] = [
        {
            "from": c.from_stage,
            "to": c.to_stage,
            "to_label": stage_label(c.to_stage),
            "on": c.on.isoformat(),
            "reason": c.reason,
            "user": c.user.username if c.user_id else None,
        }
        for c in project.stage_changes.select_related("user")
    ]
    out["signings"] = [
        {
            "kind": s.kind,
            "kind_label": _label(SigningKind, s.kind),
            "on": s.on.isoformat(),
            "amount_wan": s.amount_wan,
            "investor_name": s.investor_name,
            "note": s.note,
        }
        for s in project.signings.all()
    ]
    out["capital"] = [
        {"on": c.on.isoformat(), "amount_wan": c.amount_wan, "note": c.note}
        for c in project.capital.all()
    ]
    out["approvals"] = [
        _approval_row(a) for a in project.approvals.select_related("requested_by", "decided_by")
    ]
    out["standard_checks"] = [
        {
            "phase": c.phase,
            "phase_label": _label(CheckPhase, c.phase),
            "ruleset": c.ruleset,
            "passed": c.passed,
            "items": c.items,
            "on": c.on.isoformat(),
        }
        for c in project.standard_checks.all()
    ]
    out["history"] = _history(project)
    return out


def _history(project: Project) -> list[dict]:
    """Field changes, newest first: who, when, which fields from → to."""
    records = list(project.history.select_related("history_user").order_by("-history_id")[:200])
    out = []
    for newer, older in zip(records, records[1:] + [None], strict=False):
        changes = []
        if older is not None:
            delta = newer.diff_against(older, excluded_fields=["updated_at", "version"])
            changes = [
                {"field": c.field, "old": _plain(c.old), "new": _plain(c.new)}
                for c in delta.changes
            ]
        out.append(
            {
                "at": newer.history_date.isoformat(),
                "user": newer.history_user.username if newer.history_user_id else None,
                "type": newer.history_type,
                "changes": changes,
            }
        )
    return out


def _plain(v):
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, list | dict | str | int | float | bool) or v is None:
        return v
    return str(v)


def _approval_row(a: Approval) -> dict:
    return {
        "id": a.pk,
        "to": a.to_stage,
        "to_label": stage_label(a.to_stage),
        "status": a.status,
        "status_label": _label(ApprovalStatus, a.status),
        "requested_by": a.requested_by.username if a.requested_by_id else None,
        "requested_at": a.requested_at.isoformat(),
        "decided_by": a.decided_by.username if a.decided_by_id else None,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "reason": a.decision_reason,
        "request": a.request,
    }


# --- list, filters, export ------------------------------------------------------

FILTERS = (
    "q",
    "stage",
    "category",
    "grade",
    "town",
    "park",
    "team",
    "officer",
    "industry",
    "chain",
    "tag",
    "strategic",
    "min_investment",
    "max_investment",
)
ORDERINGS = {
    "updated": "-updated_at",
    "code": "code",
    "investment": "-total_investment_wan",
    "signed_on": "-signed_on",
    "name": "name",
}


def _csv(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def search(*, params: dict, scope: Scope):
    """The filtered, scoped project queryset (one filter spec for page, API and export)."""
    _require(scope)
    unknown = sorted(set(params) - set(FILTERS) - {"order", "page", "size", "as_of", "format"})
    errors: dict[str, list[str]] = {}
    for k in unknown:
        errors[k] = [_("unknown filter; accepted: %(f)s") % {"f": ", ".join(FILTERS)}]
    qs = access.visible(scope).select_related("town", "park", "team", "officer", "investor")
    for field, enum in (("stage", Stage), ("category", Category), ("grade", Grade)):
        values = _csv(params.get(field))
        bad = [v for v in values if v not in enum.values]
        if bad:
            errors[field] = [
                _("unknown value %(v)s; accepted: %(ok)s")
                % {"v": ", ".join(bad), "ok": ", ".join(enum.values)}
            ]
        elif values:
            qs = qs.filter(**{f"{field}__in": values})
    for field, lookup in (
        ("town", "town__code__in"),
        ("park", "park__code__in"),
        ("team", "team__code__in"),
        ("officer", "officer__username__in"),
        ("chain", "chain_node__in"),
    ):
        values = _csv(params.get(field))
        if values:
            qs = qs.filter(**{lookup: values})
    industry = _csv(params.get("industry"))
    if industry:
        q = Q()
        for prefix in industry:
            q |= Q(industry_code__startswith=prefix)
        qs = qs.filter(q)
    tag = params.get("tag")
    if tag:
        # Tags are a JSON list; a portable contains-check on the JSON text.
        # (SQLite keeps the JSON text \u-escaped, PostgreSQL as UTF-8: match either).
        qs = qs.filter(
            Q(tags__icontains=json.dumps(tag))
            | Q(tags__icontains=json.dumps(tag, ensure_ascii=False))
        )
    strategic = params.get("strategic")
    if strategic not in (None, ""):
        if str(strategic).lower() not in ("true", "false", "1", "0"):
            errors["strategic"] = [_("use true or false")]
        else:
            qs = qs.filter(strategic=str(strategic).lower() in ("true", "1"))
    for field, lookup in (
        ("min_investment", "total_investment_wan__gte"),
        ("max_investment", "total_investment_wan__lte"),
    ):
        value = params.get(field)
        if value not in (None, ""):
            try:
                qs = qs.filter(**{lookup: float(value)})
            except ValueError:
                errors[field] = [_("'%(v)s' is not a number") % {"v": value}]
    q = (params.get("q") or "").strip()
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(code__icontains=q)
            | Q(investor_name__icontains=q)
            | Q(external_id=q)
        )
    order = params.get("order") or "updated"
    if order not in ORDERINGS:
        errors["order"] = [_("accepted: %(ok)s") % {"ok": ", ".join(ORDERINGS)}]
    if errors:
        raise InvalidFilter(errors)
    return qs.order_by(ORDERINGS[order], "code")


def export_xlsx(*, params: dict, scope: Scope, user=None) -> bytes:
    """The filtered list as an Excel workbook (Chinese headers, masked contacts)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    qs = search(params=params, scope=scope)
    columns = [
        ("code", _("code")),
        ("name", _("name")),
        ("investor_name", _("investor")),
        ("contact_name", _("contact person")),
        ("contact_phone", _("contact phone")),
        ("category_label", _("category")),
        ("stage_label", _("stage")),
        ("grade_label", _("grade")),
        ("industry_code", _("industry code (GB/T 4754)")),
        ("chain_node", _("industrial chain node")),
        ("total_investment_wan", _("total investment (10k yuan)")),
        ("fixed_asset_investment_wan", _("fixed-asset investment (10k yuan)")),
        ("foreign_investment_wan", _("foreign investment (10k yuan)")),
        ("registered_capital_wan", _("registered capital (10k yuan)")),
        ("expected_output_wan", _("expected yearly output (10k yuan)")),
        ("expected_tax_wan", _("expected yearly tax (10k yuan)")),
        ("expected_jobs", _("expected jobs")),
        ("town_name", _("town")),
        ("park_name", _("park")),
        ("team_name", _("team")),
        ("officer", _("officer")),
        *((f"m:{s}", f"{lifecycle.MILESTONES[s]}") for s in lifecycle.MILESTONES),
        ("last_touched_on", _("last activity")),
    ]
    wb = Workbook()
    ws = wb.active
    ws.title = _("Projects")[:31]
    ws.append([str(h) for _k, h in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    count = 0
    for project in qs.iterator(chunk_size=2000):
        r = row(project, scope)
        ws.append(
            [r["milestones"].get(k[2:]) if k.startswith("m:") else r.get(k) for k, _h in columns]
        )
        count += 1
    for i, (_k, h) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(str(h)) * 2 + 2))
    ws.freeze_panes = "C2"
    buf = io.BytesIO()
    wb.save(buf)
    audit(user=user, action="export", target="projects", rows=count, filters=dict(params))
    return buf.getvalue()


# --- writing: fields -------------------------------------------------------------


def grade_for(total_investment_wan: float | None, strategic: bool) -> str:
    grade = Grade.GENERAL.value
    if total_investment_wan is not None:
        for name, floor in settings.INVESTMAP_PROJECT_GRADE_BANDS:
            if total_investment_wan >= floor:
                grade = name
                break
    order = [name for name, _f in settings.INVESTMAP_PROJECT_GRADE_BANDS]
    if strategic and order.index(grade) > order.index("key"):
        grade = "key"
    return grade


def _parse_value(field: str, kind: str, value, errors: dict):
    def bad(msg):
        errors[field] = [msg]

    if kind == "text":
        if value is None:
            return ""
        if not isinstance(value, str):
            return bad(_("must be text"))
        return value.strip()
    if kind in ("amount", "share", "count"):
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return bad(_("must be a number"))
        try:
            number = float(value)
        except ValueError:
            return bad(_("'%(v)s' is not a number") % {"v": value})
        if number < 0:
            return bad(_("must not be negative"))
        if kind == "share" and number > 1:
            return bad(_("a share between 0 and 1 (e.g. 0.03 for 3%%)"))
        if kind == "count":
            if number != int(number):
                return bad(_("must be a whole number"))
            return int(number)
        return number
    if kind == "date":
        if value in (None, ""):
            return None
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            return bad(_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": value})
    if kind == "bool":
        if not isinstance(value, bool):
            return bad(_("use true or false"))
        return value
    if kind == "tags":
        if value is None:
            return []
        if isinstance(value, str):
            value = _csv(value)
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            return bad(_("a list of tags"))
        return sorted({t.strip() for t in value if t.strip()})
    if kind == "category":
        if value not in Category.values:
            return bad(_("accepted: %(ok)s") % {"ok": ", ".join(Category.values)})
        return value
    if kind == "industry":
        if value in (None, ""):
            return ""
        if not re.fullmatch(r"[A-Z]?\d{2,4}", str(value)):
            return bad(_("a GB/T 4754 code: 2 to 4 digits, e.g. 3670"))
        return str(value)
    lookups = {
        "town": (Town, "code"),
        "park": (Park, "code"),
        "team": (Team, "code"),
        "user": (User, "username"),
        "enterprise": (Enterprise, "credit_code"),
    }
    if kind in lookups:
        if value in (None, ""):
            return None
        model, key = lookups[kind]
        obj = model.objects.filter(**{key: value}).first()
        if obj is None:
            return bad(_("no %(what)s '%(v)s'") % {"what": model._meta.verbose_name, "v": value})
        return obj
    raise AssertionError(kind)


def _clean(data: dict, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    errors: dict[str, list[str]] = {
        k: [_("this field is required")] for k in required if data.get(k) in (None, "")
    }
    for k in sorted(set(data) - allowed):
        errors[k] = [_("unknown field; accepted fields: %(f)s") % {"f": ", ".join(sorted(allowed))}]
    values = {}
    for k, v in data.items():
        if k in EDITABLE:
            parsed = _parse_value(k, EDITABLE[k], v, errors)
            if k not in errors:
                values[k] = parsed
    if "name" in values and not values["name"]:
        errors["name"] = [_("this field is required")]
    if errors:
        raise InvalidChange(errors)
    return values


def _check_consistency(project: Project, changed: set[str]) -> None:
    errors = {}
    if project.park_id and project.town_id and project.park.town_id != project.town_id:
        errors["park"] = [
            _("park %(p)s is not in town %(t)s") % {"p": project.park.code, "t": project.town.code}
        ]
    if project.park_id and not project.town_id:
        project.town = project.park.town
    order = lifecycle.check_order(project.category, project.milestones())
    touched = {s for s, f in MILESTONE_FIELDS.items() if f in changed}
    if order and touched:
        for s in order:
            errors[f"milestones.{s}"] = [_("%(s)s is earlier than a previous milestone") % {"s": s}]
    future = [
        s
        for s, f in MILESTONE_FIELDS.items()
        if f in changed and getattr(project, f) and getattr(project, f) > today()
    ]
    for s in future:
        errors[f"milestones.{s}"] = [_("a milestone date cannot be in the future")]
    if errors:
        raise InvalidChange(errors)


def _default_unit(values: dict, scope: Scope) -> None:
    """A town officer's new project belongs to their town, park or team unless it says otherwise."""
    from investmap.core.scope import scope_root

    user = User.objects.select_related("org_unit").get(pk=scope.user_id)
    unit = user.org_unit
    team = Team.objects.filter(org_unit=unit).first() if unit else None
    root = scope_root(unit)
    if team is not None:
        values["team"] = team
    if root is not None:
        park = Park.objects.filter(org_unit=root).select_related("town").first()
        town = Town.objects.filter(org_unit=root).first()
        if park is not None:
            values["park"], values["town"] = park, park.town
        elif town is not None:
            values["town"] = town


def _touch(project: Project, *, kind: str, on: dt.date, text: str = "", user=None) -> Activity:
    """A timeline entry; a day that has come moves the rot clock (a scheduled one does not)."""
    activity = Activity.objects.create(
        project=project, kind=kind, on=on, text=text, user=user if _real(user) else None
    )
    if on <= today() and (project.last_touched_on is None or on > project.last_touched_on):
        Project.objects.filter(pk=project.pk).update(last_touched_on=on)
        project.last_touched_on = on
    return activity


def _real(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _next_code(on: dt.date) -> str:
    prefix = f"XM{on.year}-"
    last = (
        Project.objects.filter(code__startswith=prefix)
        .order_by("-code")
        .values_list("code", flat=True)
        .first()
    )
    n = int(last[len(prefix) :]) + 1 if last and last[len(prefix) :].isdigit() else 1
    return f"{prefix}{n:04d}"


def _save(project: Project, user) -> None:
    project._history_user = user if _real(user) else None
    project.save()


@transaction.atomic
def create(
    *, data: dict, scope: Scope, user=None, as_of=None, external_id: str | None = None
) -> Project:
    """A new project at stage lead (or the stage the data names, for imports)."""
    _require(scope)
    if not access.can_create(scope):
        raise Forbidden(_("Your role cannot create projects."))
    on = parse_as_of(as_of)
    values = _clean(data, CREATE_FIELDS, required=("name",))
    if scope.role == Role.TOWN_OFFICER and not any(values.get(k) for k in ("town", "park", "team")):
        _default_unit(values, scope)
    code = (data.get("code") or "").strip() or _next_code(on)
    if Project.objects.filter(code=code).exists():
        raise InvalidChange({"code": [_("code %(c)s is taken") % {"c": code}]})
    values.pop("code", None)
    project = Project(code=code, external_id=external_id, lead_on=values.pop("lead_on", None) or on)
    for k, v in values.items():
        setattr(project, k, v)
    if project.officer is None and scope.role == Role.TOWN_OFFICER:
        project.officer = User.objects.get(pk=scope.user_id)
    _check_consistency(project, set(values))
    if scope.sensitive_org_ids is not None and not access.edits_all(scope):
        # An officer creates projects inside their own unit.
        if not any(i in scope.sensitive_org_ids for i in project.org_unit_ids()):
            raise Forbidden(_("You can create projects only for your own town, park or team."))
    project.grade = grade_for(project.total_investment_wan, project.strategic)
    try:
        with transaction.atomic():
            _save(project, user)
    except IntegrityError:
        raise InvalidChange({"code": [_("code %(c)s is taken") % {"c": code}]}) from None
    _touch(project, kind=ActivityKind.CREATED, on=min(on, today()), user=user)
    return project


@transaction.atomic
def update(
    *, code: str, changes: dict, if_match: str | None, scope: Scope, user=None, as_of=None
) -> Project:
    """Edit fields with optimistic locking (If-Match: the ETag read earlier)."""
    project = get(code=code, scope=scope, edit=True)
    if not if_match:
        raise PreconditionRequired()
    project = (
        Project.objects.select_for_update(of=("self",))
        .select_related("town", "park", "team", "investor")
        .get(pk=project.pk)
    )
    if if_match.strip() not in (etag(project), f"W/{etag(project)}"):
        raise PreconditionFailed(etag(project))
    on = parse_as_of(as_of)
    values = _clean(changes, set(EDITABLE))
    before = {k: getattr(project, k) for k in values}
    old_investor = (project.investor_id, project.investor_name)
    old_total = project.total_investment_wan
    for k, v in values.items():
        setattr(project, k, v)
    changed = {k for k in values if before[k] != values[k]}
    if not changed:
        return project
    _check_consistency(project, changed)
    project.grade = grade_for(project.total_investment_wan, project.strategic)
    project.version += 1
    _save(project, user)
    _count_signing_changes(project, old_total, old_investor, on)
    _touch(
        project,
        kind=ActivityKind.EDIT,
        on=on,
        text=", ".join(str(Project._meta.get_field(f).verbose_name) for f in sorted(changed)),
        user=user,
    )
    return project


def _signed(project: Project) -> bool:
    return project.signed_on is not None and project.stage not in (Stage.LEAD, Stage.NEGOTIATING)


def _count_signing_changes(project: Project, old_total, old_investor, on: dt.date) -> None:
    """Sanming counting: after signing, an increase counts its delta when it happens; a new
    investor is a new signing (full amount); a decrease is not counted."""
    if not _signed(project):
        return
    if not project.signings.exists():
        # Signed without a known amount: the amount, once known, belongs to the signing.
        if project.total_investment_wan:
            SigningEvent.objects.create(
                project=project,
                kind=SigningKind.FIRST,
                on=project.signed_on,
                amount_wan=project.total_investment_wan,
                investor_name=_investor_name(project),
                note=_("amount recorded after signing"),
            )
        return
    new_investor = (project.investor_id, project.investor_name) != old_investor
    if new_investor and project.total_investment_wan:
        SigningEvent.objects.create(
            project=project,
            kind=SigningKind.NEW_INVESTOR,
            on=on,
            amount_wan=project.total_investment_wan,
            investor_name=_investor_name(project),
        )
    elif (
        old_total is not None
        and project.total_investment_wan is not None
        and project.total_investment_wan > old_total
    ):
        SigningEvent.objects.create(
            project=project,
            kind=SigningKind.INCREASE,
            on=on,
            amount_wan=project.total_investment_wan - old_total,
            investor_name=_investor_name(project),
        )


def _investor_name(project: Project) -> str:
    return project.investor_name or (project.investor.name if project.investor_id else "")


# --- writing: lifecycle ---------------------------------------------------------


def _parse_milestones(raw) -> dict[str, dt.date]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise InvalidChange({"milestones": [_("an object: stage → YYYY-MM-DD")]})
    errors, out = {}, {}
    for stage, value in raw.items():
        if stage not in lifecycle.MILESTONES:
            errors[f"milestones.{stage}"] = [
                _("not a stage with a milestone; accepted: %(ok)s")
                % {"ok": ", ".join(lifecycle.MILESTONES)}
            ]
            continue
        try:
            out[stage] = dt.date.fromisoformat(str(value))
        except ValueError:
            errors[f"milestones.{stage}"] = [
                _("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": value}
            ]
    if errors:
        raise InvalidChange(errors)
    return out


def needs_approval(project: Project, to: str) -> bool:
    return (
        to in (Stage.SIGNED, Stage.DROPPED)
        and project.grade in settings.INVESTMAP_PROJECT_APPROVAL_GRADES
    )


def _plan(project: Project, to: str, milestones: dict, reason: str, on: dt.date) -> lifecycle.Move:
    try:
        return lifecycle.plan(
            current=project.stage,
            to=to,
            category=project.category,
            recorded=project.milestones(),
            given=milestones,
            held_from=project.held_from or None,
            reason=reason or "",
            today=on,
            labels=stage_label,
        )
    except lifecycle.Refused as exc:
        raise InvalidChange(exc.errors, _("The move is not allowed.")) from None


def _passes_signed(project: Project, move: lifecycle.Move) -> bool:
    if move.kind != lifecycle.ADVANCE:
        return False
    p = lifecycle.path(project.category)
    return p.index(move.to) >= p.index("signed")


@transaction.atomic
def transition(
    *, code: str, to: str, milestones=None, reason: str = "", scope: Scope, user=None, as_of=None
) -> dict:
    """Move a project to another stage (the table in lifecycle.py decides).

    Returns {"project": Project, "approval": Approval | None}: a move that needs a
    bureau decision is checked now and stored as a pending approval."""
    project = get(code=code, scope=scope, edit=True)
    project = (
        Project.objects.select_for_update(of=("self",))
        .select_related("town", "park", "team", "investor")
        .get(pk=project.pk)
    )
    on = parse_as_of(as_of)
    given = _parse_milestones(milestones)
    if to not in Stage.values:
        raise InvalidChange(
            {"to": [_("unknown stage; accepted: %(ok)s") % {"ok": ", ".join(Stage.values)}]}
        )
    move = _plan(project, to, given, reason, on)
    # Jumping from lead/negotiating past signed needs the signing decision too.
    crosses_signing = _passes_signed(project, move) and project.stage in (
        Stage.LEAD,
        Stage.NEGOTIATING,
    )
    if needs_approval(project, to) or (crosses_signing and needs_approval(project, "signed")):
        if project.approvals.filter(status=ApprovalStatus.PENDING).exists():
            raise InvalidChange(
                {"to": [_("a decision on this project is pending; wait for it or ask the bureau")]}
            )
        approval = Approval.objects.create(
            project=project,
            to_stage=to,
            request={
                "to": to,
                "milestones": {s: d.isoformat() for s, d in given.items()},
                "reason": reason or "",
                "as_of": on.isoformat(),
            },
            requested_by=user if _real(user) else None,
        )
        _touch(
            project,
            kind=ActivityKind.APPROVAL,
            on=on,
            text=_("approval requested: %(s)s") % {"s": stage_label(to)},
            user=user,
        )
        _notify_deciders(project, approval)
        return {"project": project, "approval": approval}
    _apply(project, move, reason=reason, on=on, user=user)
    return {"project": project, "approval": None}


def _notify_deciders(project: Project, approval: Approval) -> None:
    for decider in User.objects.filter(role=Role.BUREAU_STAFF, is_active=True).exclude(
        pk=approval.requested_by_id
    ):
        notify(
            user=decider,
            key=f"project-approval:{approval.pk}",
            kind="approval",
            title=_("Decision needed: %(p)s → %(s)s")
            % {"p": project.name, "s": stage_label(approval.to_stage)},
            url=f"/projects/{project.code}/",
        )


def _apply(project: Project, move: lifecycle.Move, *, reason: str, on: dt.date, user) -> None:
    before = project.stage
    first_signing = _passes_signed(project, move) and before in (Stage.LEAD, Stage.NEGOTIATING)
    if move.kind == lifecycle.ADVANCE:
        for stage, d in move.milestones.items():
            setattr(project, MILESTONE_FIELDS[stage], d)
        project.stage = move.to
        change_on = move.milestones.get(move.to, on)
    elif move.kind == lifecycle.HOLD:
        project.held_from = project.stage
        project.stage = Stage.ON_HOLD
        change_on = on
    elif move.kind == lifecycle.RESUME:
        project.stage = project.held_from
        project.held_from = ""
        change_on = on
    else:
        project.held_from = ""
        project.stage = Stage.DROPPED
        project.drop_reason = reason.strip()
        change_on = on
    project.version += 1
    _save(project, user)
    StageChange.objects.create(
        project=project,
        from_stage=before,
        to_stage=project.stage,
        on=change_on,
        reason=reason or "",
        user=user if _real(user) else None,
    )
    _touch(
        project,
        kind=ActivityKind.STAGE,
        on=on,
        text=f"{stage_label(before)} → {stage_label(project.stage)}"
        + (f" ({reason.strip()})" if reason and reason.strip() else ""),
        user=user,
    )
    if first_signing and project.total_investment_wan is not None:
        SigningEvent.objects.create(
            project=project,
            kind=SigningKind.FIRST,
            on=project.signed_on,
            amount_wan=project.total_investment_wan,
            investor_name=_investor_name(project),
        )
    if first_signing and project.category == Category.NEW_LAND:
        run_standard_check(project=project, phase=CheckPhase.SIGNING, on=project.signed_on)
    if move.kind == lifecycle.ADVANCE and move.to == Stage.PRODUCTION:
        run_standard_check(project=project, phase=CheckPhase.PRODUCTION, on=project.production_on)


# --- approvals --------------------------------------------------------------------


@transaction.atomic
def decide(
    *,
    code: str,
    approval_id: int,
    decision: str,
    reason: str = "",
    scope: Scope,
    user=None,
    as_of=None,
) -> Approval:
    _require(scope)
    if not access.can_decide(scope):
        raise Forbidden(_("Only bureau staff decide on approvals."))
    project = get(code=code, scope=scope)
    approval = (
        Approval.objects.select_for_update(of=("self",))
        .filter(pk=approval_id, project=project)
        .first()
    )
    if approval is None:
        raise NotFound(_("No approval %(id)s on this project.") % {"id": approval_id})
    if approval.status != ApprovalStatus.PENDING:
        raise InvalidChange({"decision": [_("this request was already decided")]})
    if approval.requested_by_id is not None and approval.requested_by_id == scope.user_id:
        raise Forbidden(_("You cannot decide on your own request; another bureau member must."))
    if decision not in ("approve", "reject"):
        raise InvalidChange({"decision": [_("accepted: approve, reject")]})
    if decision == "reject" and not (reason or "").strip():
        raise InvalidChange({"reason": [_("say why the request is rejected")]})
    on = parse_as_of(as_of)
    project = (
        Project.objects.select_for_update(of=("self",))
        .select_related("investor")
        .get(pk=project.pk)
    )
    if decision == "approve":
        req = approval.request
        move = _plan(
            project, req["to"], _parse_milestones(req.get("milestones")), req.get("reason", ""), on
        )
        _apply(project, move, reason=req.get("reason", ""), on=on, user=approval.requested_by)
    approval.status = ApprovalStatus.APPROVED if decision == "approve" else ApprovalStatus.REJECTED
    approval.decided_by = user if _real(user) else None
    approval.decided_at = timezone.now()
    approval.decision_reason = (reason or "").strip()
    approval.save()
    _touch(
        project,
        kind=ActivityKind.APPROVAL,
        on=on,
        text=_("%(d)s: %(s)s")
        % {"d": _label(ApprovalStatus, approval.status), "s": stage_label(approval.to_stage)}
        + (f" — {approval.decision_reason}" if approval.decision_reason else ""),
        user=user,
    )
    if approval.requested_by_id:
        notify(
            user=approval.requested_by,
            key=f"project-approval-decided:{approval.pk}",
            kind="approval",
            title=_("%(d)s: %(p)s → %(s)s")
            % {
                "d": _label(ApprovalStatus, approval.status),
                "p": project.name,
                "s": stage_label(approval.to_stage),
            },
            body=approval.decision_reason,
            url=f"/projects/{project.code}/",
        )
    return approval


def pending_approvals(*, scope: Scope) -> list[dict]:
    _require(scope)
    qs = Approval.objects.filter(
        status=ApprovalStatus.PENDING, project__in=access.visible(scope)
    ).select_related("project", "requested_by", "decided_by")
    return [
        {**_approval_row(a), "project": a.project.code, "project_name": a.project.name} for a in qs
    ]


# --- standard land ------------------------------------------------------------------


def _figures(project: Project, phase: str) -> dict:
    mu = project.land_area_mu
    if not mu and project.pk:
        mu = sum(p.area_mu for p in project.parcels.all()) or None

    def per_mu(v):
        return None if v is None or not mu else v / mu

    if phase == CheckPhase.SIGNING:
        return {
            "investment_intensity_wan_per_mu": per_mu(project.fixed_asset_investment_wan),
            "tax_wan_per_mu": per_mu(project.expected_tax_wan),
            "output_wan_per_mu": per_mu(project.expected_output_wan),
            "rd_share": project.expected_rd_share,
            "energy_tce_per_wan": project.expected_energy_tce_per_wan,
        }
    return {
        "investment_intensity_wan_per_mu": per_mu(project.actual_investment_wan),
        "tax_wan_per_mu": per_mu(project.actual_tax_wan),
        "output_wan_per_mu": per_mu(project.actual_output_wan),
        "rd_share": project.actual_rd_share,
        "energy_tce_per_wan": project.actual_energy_tce_per_wan,
    }


def run_standard_check(*, project: Project, phase: str, on: dt.date) -> StandardCheck | None:
    """Check the project's figures against 标准地 control indicators; the result stays on file."""
    from investmap.efficiency import standard_land

    if project.category != Category.NEW_LAND:
        return None
    result = standard_land.check(
        industry_code=project.industry_code or "", figures=_figures(project, phase)
    )
    return StandardCheck.objects.create(
        project=project,
        phase=phase,
        ruleset=result["ruleset"],
        passed=result["passed"],
        items=result["items"],
        on=on or today(),
    )


# --- timeline, documents, capital, site -------------------------------------------


@transaction.atomic
def add_activity(*, code: str, kind: str, on, text: str, scope: Scope, user=None) -> Activity:
    project = get(code=code, scope=scope, edit=True)
    errors = {}
    if kind not in USER_ACTIVITY_KINDS:
        errors["kind"] = [_("accepted: %(ok)s") % {"ok": ", ".join(USER_ACTIVITY_KINDS)}]
    try:
        day = dt.date.fromisoformat(str(on))
    except ValueError:
        errors["on"] = [_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": on}]
    if not (text or "").strip():
        errors["text"] = [_("this field is required")]
    if errors:
        raise InvalidChange(errors)
    return _touch(project, kind=kind, on=day, text=text.strip(), user=user)


MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@transaction.atomic
def add_document(
    *, code: str, upload, doc_type: str, title: str = "", on=None, scope: Scope, user=None
) -> Document:
    project = get(code=code, scope=scope, edit=True)
    errors = {}
    if doc_type not in DocumentType.values:
        errors["doc_type"] = [_("accepted: %(ok)s") % {"ok": ", ".join(DocumentType.values)}]
    if upload is None:
        errors["file"] = [_("choose a file")]
    elif upload.size > MAX_DOCUMENT_BYTES:
        errors["file"] = [
            _("the file is larger than %(n)s MB") % {"n": MAX_DOCUMENT_BYTES // 2**20}
        ]
    day = today()
    if on not in (None, ""):
        try:
            day = dt.date.fromisoformat(str(on))
        except ValueError:
            errors["on"] = [_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": on}]
    if errors:
        raise InvalidChange(errors)
    name = re.sub(r"[^\w.\-\u4e00-\u9fff]+", "_", upload.name)[-120:] or "file"
    doc = Document(
        project=project,
        doc_type=doc_type,
        title=(title or upload.name)[:200],
        on=day,
        size=upload.size,
        uploaded_by=user if _real(user) else None,
    )
    doc.file.save(name, upload, save=False)
    doc.save()
    _touch(project, kind=ActivityKind.DOCUMENT, on=min(day, today()), text=doc.title, user=user)
    return doc


def document(*, code: str, doc_id: int, scope: Scope) -> Document:
    project = get(code=code, scope=scope)
    doc = project.documents.filter(pk=doc_id).first()
    if doc is None:
        raise NotFound(_("No such document."))
    return doc


@transaction.atomic
def record_capital(
    *, code: str, on, amount_wan, note: str = "", scope: Scope, user=None
) -> CapitalArrival:
    project = get(code=code, scope=scope, edit=True)
    errors = {}
    try:
        day = dt.date.fromisoformat(str(on))
        if day > today():
            errors["on"] = [_("a date that has passed")]
    except ValueError:
        errors["on"] = [_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": on}]
    try:
        amount = float(amount_wan)
        if amount <= 0:
            errors["amount_wan"] = [_("must be positive")]
    except (TypeError, ValueError):
        errors["amount_wan"] = [_("must be a number")]
    if errors:
        raise InvalidChange(errors)
    arrival = CapitalArrival.objects.create(
        project=project,
        on=day,
        amount_wan=amount,
        note=(note or "")[:200],
        user=user if _real(user) else None,
    )
    _touch(project, kind=ActivityKind.CAPITAL, on=day, text=f"{amount:g} 万元", user=user)
    return arrival


@transaction.atomic
def choose_site(
    *,
    code: str,
    candidates: int | None,
    index: int | None = None,
    scope: Scope,
    user=None,
    as_of=None,
) -> Project:
    """Link a saved candidate list to the project and, with `index`, take that candidate
    as the project's site (its parcels, or its building)."""
    project = get(code=code, scope=scope, edit=True)
    clist = CandidateList.objects.filter(pk=candidates).first() if candidates else None
    if candidates and clist is None:
        raise InvalidChange(
            {"candidates": [_("no saved candidate list %(id)s") % {"id": candidates}]}
        )
    project.candidates = clist
    text = clist.name if clist else _("candidate sites removed")
    if index is not None:
        results = clist.results if clist else []
        if not isinstance(index, int) or not 0 <= index < len(results):
            raise InvalidChange(
                {
                    "index": [
                        _("a position in the candidate list, 0 to %(n)s") % {"n": len(results) - 1}
                    ]
                }
            )
        chosen = results[index]
        if chosen.get("building"):
            project.building = Building.objects.filter(code=chosen["building"]).first()
            project.parcels.clear()
            text = _("site chosen: building %(b)s") % {"b": chosen["building"]}
        else:
            codes = list(chosen.get("parcels") or [])
            project.parcels.set(Parcel.objects.filter(code__in=codes))
            project.building = None
            if project.land_area_mu is None and chosen.get("area_mu"):
                project.land_area_mu = chosen["area_mu"]
            text = _("site chosen: parcels %(p)s") % {"p": ", ".join(codes)}
    project.version += 1
    _save(project, user)
    _touch(project, kind=ActivityKind.EDIT, on=parse_as_of(as_of), text=text, user=user)
    return project


# --- exchange: idempotent import ---------------------------------------------------

IMPORT_FIELDS = CREATE_FIELDS | {"external_id", "stage", "milestones"}


def body_digest(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, ensure_ascii=False)
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def replay(*, endpoint: str, key: str | None, digest: str) -> tuple[int, dict] | None:
    """The stored response of an earlier request with this key, or None for a new key."""
    if not key:
        raise BadRequest(
            _("The Idempotency-Key header is required: a unique string per request, e.g. a UUID.")
        )
    if len(key) > 200:
        raise BadRequest(_("The Idempotency-Key is longer than 200 characters."))
    earlier = IdempotentRequest.objects.filter(endpoint=endpoint, key=key).first()
    if earlier is None:
        return None
    if earlier.body_sha256 != digest:
        raise IdempotencyMismatch()
    return earlier.status, earlier.response


def import_projects(
    *, body: dict, key: str | None, digest: str, scope: Scope, user=None, as_of=None
) -> tuple[int, dict]:
    """OA pushes: create or update projects by external id, all or nothing.

    The first response to a key is stored and returned again for a repeat."""
    endpoint = "projects/import"
    earlier = replay(endpoint=endpoint, key=key, digest=digest)
    if earlier is not None:
        return earlier
    with transaction.atomic():
        result = _import(body=body, scope=scope, user=user, as_of=as_of)
        try:
            with transaction.atomic():
                IdempotentRequest.objects.create(
                    key=key,
                    user=user if _real(user) else None,
                    endpoint=endpoint,
                    body_sha256=digest,
                    status=200,
                    response=result,
                )
        except IntegrityError:
            # A concurrent request with the same key won: undo ours, answer with theirs.
            transaction.set_rollback(True)
            earlier = replay(endpoint=endpoint, key=key, digest=digest)
            if earlier is not None:
                return earlier
            raise
    return 200, result


def _import(*, body: dict, scope: Scope, user, as_of) -> dict:
    _require(scope)
    if (
        not isinstance(body, dict)
        or set(body) != {"projects"}
        or not isinstance(body["projects"], list)
    ):
        raise InvalidChange({"projects": [_('the body is {"projects": [ … ]}')]})
    on = parse_as_of(as_of)
    errors: dict[str, list[str]] = {}
    out = []
    for i, item in enumerate(body["projects"]):
        try:
            out.append(_import_one(item, scope=scope, user=user, on=on))
        except ServiceError as exc:
            for k, msgs in getattr(exc, "errors", {"__all__": [exc.message]}).items():
                errors[f"projects[{i}].{k}"] = msgs
    if errors:
        raise InvalidChange(errors, _("Nothing was imported: fix these items and send again."))
    return {
        "created": sum(1 for r in out if r["action"] == "created"),
        "updated": sum(1 for r in out if r["action"] == "updated"),
        "unchanged": sum(1 for r in out if r["action"] == "unchanged"),
        "projects": out,
    }


def _import_one(item, *, scope: Scope, user, on: dt.date) -> dict:
    if not isinstance(item, dict):
        raise InvalidChange({"__all__": [_("each project is an object")]})
    unknown = sorted(set(item) - IMPORT_FIELDS)
    if unknown:
        raise InvalidChange(
            {
                k: [
                    _("unknown field; accepted fields: %(f)s")
                    % {"f": ", ".join(sorted(IMPORT_FIELDS))}
                ]
                for k in unknown
            }
        )
    ext = str(item.get("external_id") or "").strip()
    if not ext:
        raise InvalidChange({"external_id": [_("this field is required")]})
    fields = {k: v for k, v in item.items() if k in EDITABLE}
    stage = item.get("stage")
    milestones = item.get("milestones") or {}
    existing = Project.objects.filter(external_id=ext).first()
    if existing is None:
        if "code" in item:
            fields["code"] = item["code"]
        project = create(data=fields, scope=scope, user=user, as_of=on, external_id=ext)
        action = "created"
    else:
        project = get(code=existing.code, scope=scope, edit=True)
        changed = {k: v for k, v in fields.items() if _differs(project, k, v)}
        if changed:
            project = update(
                code=project.code,
                changes=changed,
                if_match=etag(project),
                scope=scope,
                user=user,
                as_of=on,
            )
        action = "updated" if changed else "unchanged"
    approval = None
    if stage and stage != project.stage:
        given = {
            s: d
            for s, d in milestones.items()
            if not (
                s in MILESTONE_FIELDS
                and getattr(project, MILESTONE_FIELDS[s])
                and getattr(project, MILESTONE_FIELDS[s]).isoformat() == str(d)
            )
        }
        result = transition(
            code=project.code,
            to=stage,
            milestones=given,
            reason=item.get("reason", "") or "",
            scope=scope,
            user=user,
            as_of=on,
        )
        approval = result["approval"]
        project = result["project"]
        if action == "unchanged":
            action = "updated"
    return {
        "external_id": ext,
        "code": project.code,
        "action": action,
        "stage": project.stage,
        "approval": approval.pk if approval else None,
    }


def _differs(project: Project, field: str, value) -> bool:
    errors = {}
    parsed = _parse_value(field, EDITABLE[field], value, errors)
    if errors:
        return True
    return getattr(project, field) != parsed


# --- overview helpers ------------------------------------------------------------


def board(*, params: dict, scope: Scope, per_stage: int = 50) -> list[dict]:
    """The board by stage: every stage with its count, amount and its first cards."""
    qs = search(params=params, scope=scope)
    from django.db.models import Count, Sum

    totals = {
        r["stage"]: r
        for r in qs.order_by()
        .values("stage")
        .annotate(n=Count("id"), amount=Sum("total_investment_wan"))
    }
    out = []
    for stage in Stage:
        t = totals.get(stage.value, {})
        cards = [row(p, scope) for p in qs.filter(stage=stage.value)[:per_stage]] if t else []
        out.append(
            {
                "stage": stage.value,
                "label": str(stage.label),
                "color": stage.color,
                "count": t.get("n", 0),
                "amount_wan": t.get("amount"),
                "cards": cards,
            }
        )
    return out


def last_touch(*, project_ids, as_of: dt.date) -> dict[int, dt.date]:
    """The rot clock per project: the latest timeline date on or before `as_of`."""
    return dict(
        Activity.objects.filter(project_id__in=project_ids, on__lte=as_of)
        .values("project_id")
        .annotate(last=Max("on"))
        .values_list("project_id", "last")
    )
