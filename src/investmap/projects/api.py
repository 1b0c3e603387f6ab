"""REST endpoints of the project library (thin: rules live in lifecycle.py and services.py).

Names fixed by issue 5 so every client can rely on them: POST /projects,
GET/PATCH /projects/{code} (ETag / If-Match), POST /projects/{code}/transitions,
POST /projects/{code}/activities, POST /projects/import (Idempotency-Key),
GET /projects/alerts, GET /projects/stats.
"""

import datetime as dt
from typing import Any

from django.http import JsonResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from investmap.core.scope import request_scope
from investmap.resources.api import ERRORS, download, int_param, json_body, service_errors
from investmap.resources.services import InvalidFilter

from . import services

router = Router(tags=["projects"])

FILTER_DOC = (
    "Filters: q (name, code, investor, external id), stage, category, grade (comma-separated), "
    "town, park, team (codes), officer (username), industry (code prefix), chain, tag, strategic, "
    "min_investment, max_investment (10k yuan); order = updated | code | investment | signed_on | name."
)
JSON = {200: dict[str, Any], **ERRORS}


def _params(request) -> dict:
    return {k: v for k, v in request.GET.items()}


def _date(request, name: str) -> dt.date | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidFilter(
            {name: [_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": raw}]}
        ) from None


def _with_etag(project, scope, status=200) -> JsonResponse:
    body = services.detail(code=project.code, scope=scope)
    response = JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    response["ETag"] = services.etag(project)
    return response


# --- fixed paths first (/projects/{code} would match them too) -------------------


@router.get("/projects", response=JSON, summary="List projects", description=FILTER_DOC)
@service_errors
def list_projects(request):
    scope = request_scope(request)
    params = _params(request)
    page = int_param(request, "page", 1, lo=1, hi=10**6)
    size = int_param(request, "size", 50, lo=1, hi=500)
    qs = services.search(params=params, scope=scope)
    total = qs.count()
    items = [services.row(p, scope) for p in qs[(page - 1) * size : page * size]]
    return {"count": total, "page": page, "size": size, "items": items}


@router.post(
    "/projects",
    response={201: dict[str, Any], **ERRORS},
    summary="Create a project",
    description=(
        "Body: name (required), code (generated as XM<year>-NNNN if absent), category "
        "(new_land | stock_space | expansion | hq_rd), industry_code, total_investment_wan, town, "
        "park, team (codes), officer (username) and the other fields of the file. 201 with the "
        "project and its ETag."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "name": "年产10万套新能源汽车零部件项目",
                        "category": "new_land",
                        "industry_code": "3670",
                        "total_investment_wan": 50000,
                        "town": "T01",
                    },
                }
            },
        }
    },
)
@service_errors
def create_project(request):
    body = json_body(request, None)
    scope = request_scope(request)
    project = services.create(
        data=body, scope=scope, user=request.user, as_of=request.GET.get("as_of")
    )
    return _with_etag(project, scope, status=201)


@router.get(
    "/projects/export.xlsx",
    response={200: bytes, **ERRORS},
    summary="Export the filtered list to Excel",
    description=FILTER_DOC,
)
@service_errors
def export_xlsx(request):
    content = services.export_xlsx(
        params=_params(request), scope=request_scope(request), user=request.user
    )
    return download(
        content,
        _("projects"),
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get(
    "/projects/alerts",
    response=JSON,
    summary="Projects that are stale or show an anomaly",
    description=(
        "as_of (YYYY-MM-DD, default today). Each alert: project, name, type (stale, "
        "milestones_out_of_order, land_not_started, signed_not_registered), stage, days, "
        "limit_days, officer, since, town, key."
    ),
)
@service_errors
def alerts(request):
    scope = request_scope(request)
    services._require(scope)
    as_of = services.parse_as_of(request.GET.get("as_of"))
    from . import alerts as alerts_mod

    rows = alerts_mod.compute(as_of=as_of, scope=scope)
    return {"as_of": as_of.isoformat(), "count": len(rows), "alerts": rows}


@router.get(
    "/projects/stats",
    response=JSON,
    summary="Totals and amounts by a dimension, adding up to the district",
    description=(
        "group_by = stage | category | industry | chain | town | park | team | officer; from, to "
        "(YYYY-MM-DD) bound the period of signed investment (counted once, Sanming rules), capital "
        "and starts; as_of (default today)."
    ),
)
@service_errors
def project_stats(request):
    from . import stats

    scope = request_scope(request)
    services._require(scope)
    return stats.stats(
        scope=scope,
        group_by=request.GET.get("group_by") or "stage",
        date_from=_date(request, "from"),
        date_to=_date(request, "to"),
        as_of=services.parse_as_of(request.GET.get("as_of")),
    )


@router.get(
    "/projects/funnel", response=JSON, summary="Conversion between stages and time per stage"
)
@service_errors
def funnel(request):
    from . import stats

    scope = request_scope(request)
    services._require(scope)
    return stats.funnel(
        scope=scope,
        date_from=_date(request, "from"),
        date_to=_date(request, "to"),
        as_of=services.parse_as_of(request.GET.get("as_of")),
    )


@router.get(
    "/projects/performance", response=JSON, summary="Team performance by the versioned ruleset"
)
@service_errors
def performance(request):
    from . import stats

    scope = request_scope(request)
    services._require(scope)
    return stats.performance(
        scope=scope,
        date_from=_date(request, "from"),
        date_to=_date(request, "to"),
        as_of=services.parse_as_of(request.GET.get("as_of")),
        ruleset=request.GET.get("ruleset") or None,
    )


@router.get(
    "/projects/board",
    response=JSON,
    summary="Projects by stage (the board)",
    description=FILTER_DOC,
)
@service_errors
def board(request):
    return {"stages": services.board(params=_params(request), scope=request_scope(request))}


@router.get("/projects/approvals", response=JSON, summary="Pending approvals in your scope")
@service_errors
def approvals(request):
    return {"approvals": services.pending_approvals(scope=request_scope(request))}


@router.post(
    "/projects/import",
    response={200: dict[str, Any], 400: dict[str, Any], **ERRORS},
    summary="Push projects from OA and other systems (idempotent)",
    description=(
        'Header Idempotency-Key (required, unique per request). Body: {"projects": [{"external_id": …, '
        '<the create fields>, "stage": …, "milestones": {stage: "YYYY-MM-DD"}}]}. All or nothing. '
        "A repeated request with the same key returns the first response and creates nothing; "
        "the same key with another body is 422; a missing key is 400."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
@service_errors
def import_projects(request):
    scope = request_scope(request)
    services._require(scope)
    key = request.headers.get("Idempotency-Key")
    digest = services.body_digest(request.body)
    earlier = services.replay(endpoint="projects/import", key=key, digest=digest)
    if earlier is not None:
        return Status(earlier[0], earlier[1])
    body = json_body(request, {"projects"}, {"projects"})
    status, result = services.import_projects(
        body=body,
        key=key,
        digest=digest,
        scope=scope,
        user=request.user,
        as_of=request.GET.get("as_of"),
    )
    return Status(status, result)


# --- one project ------------------------------------------------------------------


@router.get("/projects/{code}", response=JSON, summary="A project's file (with ETag)")
@service_errors
def project(request, code: str):
    scope = request_scope(request)
    return _with_etag(services.get(code=code, scope=scope), scope)


@router.patch(
    "/projects/{code}",
    response={200: dict[str, Any], 412: dict[str, Any], 428: dict[str, Any], **ERRORS},
    summary="Edit a project (If-Match: the ETag you read)",
    description="A stale ETag gets 412, a missing one 428. Body: the fields to change.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
@service_errors
def patch_project(request, code: str):
    scope = request_scope(request)
    services.get(code=code, scope=scope, edit=True)
    if_match = request.headers.get("If-Match")
    if not if_match:
        raise services.PreconditionRequired()
    body = json_body(request, None)
    project = services.update(
        code=code,
        changes=body,
        if_match=if_match,
        scope=scope,
        user=request.user,
        as_of=request.GET.get("as_of"),
    )
    return _with_etag(project, scope)


@router.post(
    "/projects/{code}/transitions",
    response={200: dict[str, Any], 202: dict[str, Any], **ERRORS},
    summary="Move a project to another stage",
    description=(
        'Body: {"to": STAGE, "milestones": {STAGE: "YYYY-MM-DD", …}, "reason": …}. 200 with the project '
        "when moved; 202 with the approval when the move needs a bureau decision; 422 naming each "
        "missing, future or out-of-order milestone."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "to": "signed",
                        "milestones": {"negotiating": "2025-03-01", "signed": "2025-05-20"},
                    },
                }
            },
        }
    },
)
@service_errors
def transitions(request, code: str):
    body = json_body(request, {"to", "milestones", "reason"}, {"to"})
    scope = request_scope(request)
    result = services.transition(
        code=code,
        to=body["to"],
        milestones=body.get("milestones"),
        reason=body.get("reason") or "",
        scope=scope,
        user=request.user,
        as_of=request.GET.get("as_of"),
    )
    if result["approval"] is not None:
        return Status(
            202,
            {
                "code": "approval_required",
                "message": _("The move needs a decision by the bureau; it was sent for approval."),
                "approval": services._approval_row(result["approval"]),
            },
        )
    return _with_etag(result["project"], scope)


@router.post(
    "/projects/{code}/approvals/{approval_id}",
    response=JSON,
    summary="Decide on a pending approval (bureau staff, never your own request)",
    description='Body: {"decision": "approve" | "reject", "reason": …} (a rejection needs a reason).',
)
@service_errors
def decide(request, code: str, approval_id: int):
    body = json_body(request, {"decision", "reason"}, {"decision"})
    approval = services.decide(
        code=code,
        approval_id=approval_id,
        decision=body["decision"],
        reason=body.get("reason") or "",
        scope=request_scope(request),
        user=request.user,
        as_of=request.GET.get("as_of"),
    )
    return services._approval_row(approval)


@router.post(
    "/projects/{code}/activities",
    response={201: dict[str, Any], **ERRORS},
    summary="Log a visit, call, meeting or note",
    description='Body: {"kind": "visit" | "call" | "meeting" | "note", "on": "YYYY-MM-DD", "text": …}. A future date is a scheduled activity (it does not reset the alert clock).',
)
@service_errors
def add_activity(request, code: str):
    body = json_body(request, {"kind", "on", "text"}, {"kind", "on", "text"})
    a = services.add_activity(
        code=code,
        kind=body["kind"],
        on=body["on"],
        text=body["text"],
        scope=request_scope(request),
        user=request.user,
    )
    return Status(201, {"id": a.pk, "kind": a.kind, "on": a.on.isoformat(), "text": a.text})


@router.post(
    "/projects/{code}/documents",
    response={201: dict[str, Any], **ERRORS},
    summary="Attach a document (multipart: file, doc_type, title, on)",
)
@service_errors
def add_document(
    request,
    code: str,
    file: UploadedFile = File(...),
    doc_type: str = Form("other"),
    title: str = Form(""),
    on: str = Form(""),
):
    doc = services.add_document(
        code=code,
        upload=file,
        doc_type=doc_type,
        title=title,
        on=on or None,
        scope=request_scope(request),
        user=request.user,
    )
    return Status(
        201,
        {
            "id": doc.pk,
            "title": doc.title,
            "doc_type": doc.doc_type,
            "on": doc.on.isoformat(),
            "size": doc.size,
        },
    )


@router.post(
    "/projects/{code}/capital",
    response={201: dict[str, Any], **ERRORS},
    summary="Record capital that arrived (到位资金)",
    description='Body: {"on": "YYYY-MM-DD", "amount_wan": 1200, "note": …}.',
)
@service_errors
def add_capital(request, code: str):
    body = json_body(request, {"on", "amount_wan", "note"}, {"on", "amount_wan"})
    c = services.record_capital(
        code=code,
        on=body["on"],
        amount_wan=body["amount_wan"],
        note=body.get("note") or "",
        scope=request_scope(request),
        user=request.user,
    )
    return Status(201, {"id": c.pk, "on": c.on.isoformat(), "amount_wan": c.amount_wan})


@router.post(
    "/projects/{code}/site",
    response=JSON,
    summary="Link saved candidate sites and choose one",
    description='Body: {"candidates": <candidate list id or null>, "index": <position of the chosen site, optional>}.',
)
@service_errors
def choose_site(request, code: str):
    body = json_body(request, {"candidates", "index"}, {"candidates"})
    scope = request_scope(request)
    project = services.choose_site(
        code=code,
        candidates=body["candidates"],
        index=body.get("index"),
        scope=scope,
        user=request.user,
    )
    return _with_etag(project, scope)
