"""REST endpoints of site matching (thin: the rules are in matcher.py and services.py)."""

import json
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router

from investmap.core.scope import request_scope
from investmap.resources.api import ERRORS
from investmap.resources.services import ServiceError

from . import features, services
from .demand import InvalidDemand

router = Router(tags=["matching"])

DEMAND_DOC = """A demand document (docs/matching.md). Example:

```json
{"area_mu_min": 40, "area_mu_max": 60, "land_use": ["M1", "M2"],
 "near": [{"category": "metro_station", "within_m": 3000},
          {"category": "school", "weight": 1}],
 "allow_combine": true, "max_parcels": 3, "limit": 20}
```

Fields: area_mu_min/area_mu_max (mu) or floor_m2_min/floor_m2_max (m²) —
at least one; floor_load_min_kn_m2, clear_height_min_m, building_type[],
max_rent_yuan_m2_day (floor space); land_use[], status[] (default available,
idle, low_efficiency), towns[], parks[], exclude_towns[], exclude_parks[],
max_price_wan, plot_ratio_min, investment_wan_per_mu, tax_wan_per_mu
(standard-land minimums), near[] ({category, within_m} hard, or {category,
weight[, within_m]} preferred), allow_combine, max_parcels (2–4, default 3),
adjacency_m (≤ the district's, default 1), limit (default 20), weights
({area, price, near, combine_penalty}). Unknown fields and impossible values
answer 422 with `errors` naming each field and what is accepted."""


EXAMPLE = {
    "area_mu_min": 40,
    "area_mu_max": 60,
    "land_use": ["M1", "M2"],
    "near": [{"category": "metro_station", "within_m": 3000}, {"category": "school", "weight": 1}],
}


def _body_doc(example) -> dict:
    """OpenAPI for a JSON-object body that the service validates itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


def _json_body(request):
    """The request's JSON body; bad JSON is a 422 naming the problem (never a 400 in English)."""
    try:
        return json.loads(request.body.decode("utf-8-sig") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidDemand(
            {"__all__": [_("the body is not valid JSON: %(e)s") % {"e": exc}]}
        ) from None


def _service(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        from investmap.api import ApiError

        try:
            return view(request, *args, **kwargs)
        except InvalidDemand as exc:
            raise ApiError(
                422, "invalid", _("The demand is not valid."), errors=exc.errors
            ) from None
        except ServiceError as exc:
            raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None

    return wrapper


@router.post(
    "/match/sites",
    response={200: dict[str, Any], **ERRORS},
    summary="Ranked candidate sites for a demand",
    description=DEMAND_DOC,
    openapi_extra=_body_doc(EXAMPLE),
)
@_service
def match_sites(request):
    return services.match_sites(data=_json_body(request), scope=request_scope(request))


def _download(content: bytes, name: str, ext: str, ctype: str) -> HttpResponse:
    response = HttpResponse(content, content_type=ctype)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}.{ext}"
    return response


@router.post(
    "/match/sites/export.xlsx",
    response={200: bytes, **ERRORS},
    summary="The ranked candidate sites as an Excel workbook (at most 2000)",
    openapi_extra=_body_doc(EXAMPLE),
)
@_service
def export_xlsx(request):
    content = services.export_xlsx(
        data=_json_body(request), scope=request_scope(request), user=request.user
    )
    return _download(
        content,
        _("candidate-sites"),
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.post(
    "/match/sites/export.pdf",
    response={200: bytes, **ERRORS},
    summary="The ranked candidate sites as a PDF report (at most 2000)",
    openapi_extra=_body_doc(EXAMPLE),
)
@_service
def export_pdf(request):
    content = services.export_pdf(
        data=_json_body(request), scope=request_scope(request), user=request.user
    )
    return _download(content, _("candidate-sites"), "pdf", "application/pdf")


@router.get(
    "/match/status",
    response={200: dict[str, Any], **ERRORS},
    summary="How fresh the matching features are",
)
@_service
def status(request):
    services._require(request_scope(request))
    st = features.state()
    return {
        "generation": st.generation,
        "built_at": st.built_at.isoformat() if st.built_at else None,
        "seconds": st.seconds,
        "epsg": st.epsg,
        "pending_changes": features.pending(),
        **(st.detail or {}),
    }


@router.post(
    "/match/candidate-lists",
    response={200: dict[str, Any], **ERRORS},
    summary="Save a demand and its candidate sites",
    description='Body: `{"name": "…", "demand": {…}}`.',
    openapi_extra=_body_doc({"name": "新能源电池项目", "demand": EXAMPLE}),
)
@_service
def save_list(request):
    body = _json_body(request)
    if not isinstance(body, dict):
        raise InvalidDemand({"__all__": [_('the body must be {"name": …, "demand": {…}}')]})
    extra = sorted(set(body) - {"name", "demand"})
    if extra:
        raise InvalidDemand({k: [_("unknown field; accepted fields: name, demand")] for k in extra})
    name = body.get("name")
    return services.save_candidates(
        name=name if isinstance(name, str) else "",
        data=body.get("demand"),
        scope=request_scope(request),
        user=request.user,
    )


@router.get(
    "/match/candidate-lists",
    response={200: list[dict[str, Any]], **ERRORS},
    summary="Saved candidate site lists (newest first)",
)
@_service
def lists(request):
    return services.candidate_lists(scope=request_scope(request))


@router.get(
    "/match/candidate-lists/{pk}",
    response={200: dict[str, Any], **ERRORS},
    summary="One saved candidate site list",
)
@_service
def one_list(request, pk: int):
    return services.candidate_list(pk=pk, scope=request_scope(request))


def _surroundings(request, kind, code, radius_m, category):
    return services.surroundings(
        kind=kind,
        code=code,
        radius_m=radius_m,
        categories=[c for v in (category or []) for c in str(v).split(",")],
        scope=request_scope(request),
    )


@router.get(
    "/parcels/{code}/surroundings",
    response={200: dict[str, Any], **ERRORS},
    summary="POIs within a radius of a parcel, nearest first (产城融合)",
)
@_service
def parcel_surroundings(
    request,
    code: str,
    radius_m: str = str(services.DEFAULT_RADIUS_M),
    category: list[str] = Query(None),
):
    """Distances in metres from the parcel's outline (0 inside); `category` repeatable."""
    return _surroundings(request, "parcels", code, radius_m, category)


@router.get(
    "/buildings/{code}/surroundings",
    response={200: dict[str, Any], **ERRORS},
    summary="POIs within a radius of a building, nearest first",
)
@_service
def building_surroundings(
    request,
    code: str,
    radius_m: str = str(services.DEFAULT_RADIUS_M),
    category: list[str] = Query(None),
):
    return _surroundings(request, "buildings", code, radius_m, category)
