"""REST endpoints of the efficiency app (thin: the rules live in rulesets/, evaluation.py, idle.py)."""

from typing import Any
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Router, Status

from investmap.core.scope import request_scope
from investmap.resources.api import ERRORS, int_param, json_body, service_errors
from investmap.resources.services import InvalidFilter

from . import services

router = Router(tags=["efficiency"])

FILTER_DOC = (
    "Filters: population, grade (A,B,… comma-separated), status (scored | insufficient_data), "
    "town, park (codes), industry (code prefix), group, q (name or credit code)."
)


def _filters(request) -> dict:
    return {k: request.GET.get(k) for k in services.RESULT_FILTERS if k in request.GET}


@router.post(
    "/efficiency/evaluations",
    response={200: dict[str, Any], 201: dict[str, Any], **ERRORS},
    summary="Evaluate a year with a ruleset and store the results",
    description=(
        'Body: `{"year": 2024, "ruleset": "huangyan-2022"}` (ruleset defaults to the setting; '
        '`"results": false` answers with the evaluation and its summary only). '
        "201 with the results when stored; 200 when the same ruleset version already evaluated "
        "the same inputs (the stored results are returned, never rewritten)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"year": 2024, "ruleset": "huangyan-2022"},
                }
            },
        }
    },
)
@service_errors
def evaluate(request):
    body = json_body(request, {"year", "ruleset", "results"}, {"year"})
    scope = request_scope(request)
    ruleset = body.get("ruleset")
    if ruleset is not None and not isinstance(ruleset, str):
        raise InvalidFilter({"ruleset": _("must be a ruleset name")})
    ev, created = services.evaluate(
        year=body.get("year"), ruleset=ruleset, scope=scope, user=request.user
    )
    if body.get("results", True) is False:  # the evaluation and its summary only
        answer = {"evaluation": services.describe_evaluation(ev), "count": ev.results.count()}
    else:
        answer = services.results(
            year=ev.year,
            ruleset=ev.ruleset.name,
            version=ev.ruleset.version,
            scope=scope,
            order="code",
        )
    answer["created"] = created
    return Status(201 if created else 200, answer)


@router.get(
    "/efficiency/evaluations",
    response={200: dict[str, Any], **ERRORS},
    summary="Stored results of a year and ruleset (the latest version unless `version` is given)",
    description=FILTER_DOC + " Paging: limit (≤ 10000), offset. order=code for credit-code order.",
)
@service_errors
def evaluations(request, year: int, ruleset: str | None = None, version: int | None = None):
    return services.results(
        year=year,
        ruleset=ruleset,
        version=version,
        scope=request_scope(request),
        params=_filters(request),
        order=request.GET.get("order"),
        limit=int_param(request, "limit", None, lo=1, hi=10000),
        offset=int_param(request, "offset", 0, lo=0, hi=10**9),
    )


@router.get(
    "/efficiency/evaluations/export.xlsx",
    response={200: bytes, **ERRORS},
    summary="Stored results as an Excel workbook (a sheet per population)",
    description=FILTER_DOC,
)
@service_errors
def export(request, year: int, ruleset: str | None = None):
    content = services.export_xlsx(
        year=year,
        ruleset=ruleset,
        scope=request_scope(request),
        user=request.user,
        params=_filters(request),
    )
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"{_('efficiency-evaluation')}-{year}"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}.xlsx"
    return response


@router.get(
    "/efficiency/summary",
    response={200: dict[str, Any], **ERRORS},
    summary="Grade distribution and mean score by town, park, industry or population",
)
@service_errors
def summary(request, year: int, ruleset: str | None = None, by: str = "town"):
    return services.summary(year=year, ruleset=ruleset, scope=request_scope(request), by=by)


@router.get(
    "/efficiency/trend",
    response={200: dict[str, Any], **ERRORS},
    summary="Grade counts and mean score year by year",
)
@service_errors
def trend(request, ruleset: str | None = None):
    return services.trend(ruleset=ruleset, scope=request_scope(request))


@router.get(
    "/efficiency/enterprises/{credit_code}",
    response={200: dict[str, Any], **ERRORS},
    summary="One enterprise's results by year, each indicator against its benchmark",
)
@service_errors
def enterprise(request, credit_code: str, ruleset: str | None = None):
    return services.enterprise_history(
        credit_code=credit_code, ruleset=ruleset, scope=request_scope(request)
    )


@router.get(
    "/efficiency/rulesets",
    response={200: list[dict[str, Any]], **ERRORS},
    summary="The rulesets, their sources and versions",
)
@service_errors
def rulesets(request):
    return services.list_rulesets(scope=request_scope(request))


@router.get(
    "/efficiency/rulesets/{name}",
    response={200: dict[str, Any], **ERRORS},
    summary="One ruleset: populations, indicators, benchmarks, grading, deductions, text",
)
@service_errors
def ruleset(request, name: str, version: int | None = None):
    return services.ruleset_detail(name=name, version=version, scope=request_scope(request))


@router.get(
    "/efficiency/standard-land",
    response={200: dict[str, Any], **ERRORS},
    summary="标准地 control-indicator rulesets (checked at a project's signing and production)",
)
@service_errors
def standard_land_rulesets(request):
    from . import standard_land

    return {"default": standard_land.default_name(), "rulesets": standard_land.rulesets()}


@router.get(
    "/efficiency/standard-land/{name}",
    response={200: dict[str, Any], **ERRORS},
    summary="One 标准地 ruleset: its source and the limits per industry",
)
@service_errors
def standard_land_ruleset(request, name: str):
    from . import standard_land

    return standard_land.describe(name)


@router.get(
    "/efficiency/idle-land",
    response={200: dict[str, Any], **ERRORS},
    summary="Idle land grants as of a date (闲置土地处置办法, 2012)",
    description=(
        "`results`: parcel, enterprise, reason (not_started_1y | halted_1y), idle_since, "
        "fee_estimate_wan (20% of the contract price), recoverable (two years). "
        "`undetermined`: halted grants whose built or invested share is unknown."
    ),
)
@service_errors
def idle_land(request, as_of: str):
    return services.idle_land(as_of=as_of, scope=request_scope(request))


@router.get(
    "/efficiency/low-efficiency-land",
    response={200: dict[str, Any], **ERRORS},
    summary="Occupied parcels graded low in the latest evaluation or built far below the plot ratio",
)
@service_errors
def low_efficiency_land(request, ruleset: str | None = None):
    return services.low_efficiency_land(scope=request_scope(request), ruleset=ruleset)


@router.post(
    "/efficiency/land-status",
    response={200: dict[str, Any], **ERRORS},
    summary="Feed idle and low-efficiency findings into parcel status (bureau staff)",
    description='Body: `{"as_of": "2026-03-31", "dry_run": true}`.',
)
@service_errors
def land_status(request):
    body = json_body(request, {"as_of", "dry_run"}, {"as_of"})
    return services.apply_land_status(
        as_of=body["as_of"],
        scope=request_scope(request),
        user=request.user,
        dry_run=bool(body.get("dry_run", False)),
    )


@router.get(
    "/efficiency/map",
    response={200: dict[str, Any], **ERRORS},
    summary="Parcels coloured by their occupant's grade and by idle status (GeoJSON)",
)
@service_errors
def map_layer(
    request, year: int | None = None, ruleset: str | None = None, as_of: str | None = None
):
    return services.map_layer(
        year=year,
        ruleset=ruleset,
        as_of=as_of,
        bbox=request.GET.get("bbox"),
        scope=request_scope(request),
    )
