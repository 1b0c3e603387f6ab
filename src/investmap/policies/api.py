"""REST endpoints of the policy library (thin: rules in conditions.py, engine.py, search.py)."""

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from investmap.core.scope import request_scope
from investmap.resources.api import ERRORS, int_param, service_errors
from investmap.resources.services import Forbidden, InvalidFilter

from . import push, search, services

router = Router(tags=["policies"])
JSON = {200: dict[str, Any], **ERRORS}
SEARCH_DOC = (
    "q (Chinese full text over title, text, interpretation; ranked, tolerant of a wrong "
    "character), tags (comma-separated), level, type, issuer (part of the name), industry (a "
    "GB/T 4754 code or prefix), validity (in_force | expiring | expired | not_yet), as_of "
    "(default today), limit, offset."
)
SEARCH_FILTERS = ("tags", "level", "type", "issuer", "industry", "validity")


@router.get("/policies", response=JSON, summary="Search policies", description=SEARCH_DOC)
@service_errors
def list_policies(request):
    scope = request_scope(request)
    services._require(scope)
    known = {"q", "as_of", "limit", "offset", *SEARCH_FILTERS}
    unknown = sorted(set(request.GET) - known)
    if unknown:
        raise InvalidFilter(
            {
                k: [_("unknown filter; accepted: %(f)s") % {"f": ", ".join(sorted(known))}]
                for k in unknown
            }
        )
    filters = {k: request.GET[k] for k in SEARCH_FILTERS if request.GET.get(k)}
    return search.search(
        q=request.GET.get("q", ""),
        filters=filters,
        as_of=services.search_as_of(request.GET.get("as_of")),
        limit=int_param(request, "limit", 50),
        offset=int_param(request, "offset", 0),
    )


@router.post(
    "/policies/import",
    response={**JSON, 422: dict[str, Any]},
    summary="Import a YAML or JSON file of policies (all or nothing; dry_run to check)",
    description="Multipart: file, dry_run (true/false). The report has created, updated, unchanged, errors, policies.",
)
@service_errors
def import_policies(request, file: UploadedFile = File(...), dry_run: bool = Form(False)):
    scope = request_scope(request)
    if not scope.can_import("enterprises"):
        raise Forbidden(_("Only bureau staff import policies."))
    report = services.import_policies(
        content=file.read(), filename=file.name, dry_run=dry_run, user=request.user
    )
    if report["errors"]:
        message = _("Nothing was imported: fix the problems listed and send the file again.")
        return Status(422, {"code": "invalid", "message": message, **report})
    return Status(200, report)


@router.get(
    "/policies/digest",
    response=JSON,
    summary="New matches and near misses of the current policies, grouped by policy",
    description="days (default 30): matches first seen in that many days.",
)
@service_errors
def digest(request):
    scope = request_scope(request)
    services._require(scope)
    days = int_param(request, "days", 30)
    since = timezone.now() - dt.timedelta(days=max(days, 0))
    return {"days": days, "policies": push.digest(scope=scope, since=since)}


@router.get(
    "/policies/{code}", response=JSON, summary="A policy: text, conditions in words, versions"
)
@service_errors
def policy(request, code: str):
    return services.detail(code=code, scope=request_scope(request), as_of=request.GET.get("as_of"))


@router.get(
    "/policies/{code}/versions/{number}", response=JSON, summary="One stored version's document"
)
@service_errors
def version(request, code: str, number: int):
    return services.version_document(code=code, number=number, scope=request_scope(request))


@router.get(
    "/policies/{code}/matches",
    response=JSON,
    summary="Every enterprise in your scope against the policy",
    description=(
        'as_of (default today), result (eligible | ineligible | insufficient_data). Answer: {"policy", '
        '"in_force", "results": [{"credit_code", "result", "near_miss", "failed", "unknown", "amount_wan"}]}.'
    ),
)
@service_errors
def matches(request, code: str):
    result = request.GET.get("result") or None
    if result not in (None, "eligible", "ineligible", "insufficient_data"):
        raise InvalidFilter({"result": [_("accepted: eligible, ineligible, insufficient_data")]})
    return services.matches(
        code=code, scope=request_scope(request), as_of=request.GET.get("as_of"), result=result
    )


@router.get(
    "/enterprises/{credit_code}/policies",
    response=JSON,
    summary="Every policy in force against one enterprise (the reverse view)",
)
@service_errors
def enterprise_policies(request, credit_code: str):
    return services.enterprise_policies(
        credit_code=credit_code, scope=request_scope(request), as_of=request.GET.get("as_of")
    )
