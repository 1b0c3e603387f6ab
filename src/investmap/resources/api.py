"""REST endpoints of the resource library (thin: every rule is in services.py).

Mounted at /api/v1 by investmap.api. Filters are the same query parameters as
the list pages (resources.filters); errors are JSON {"code", "message"}.
"""

import datetime as dt
import json
from enum import Enum, StrEnum
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Body, Query, Router, Schema
from pydantic import Field

from investmap.core.scope import request_scope

from . import services
from .filters import FILTERS

router = Router(tags=["resources"])


class Kind(StrEnum):
    parcels = "parcels"
    buildings = "buildings"
    pois = "pois"
    enterprises = "enterprises"
    teams = "teams"
    land_grants = "land-grants"


class Layer(StrEnum):
    towns = "towns"
    parks = "parks"
    parcels = "parcels"
    buildings = "buildings"
    pois = "pois"
    enterprises = "enterprises"
    metro_lines = "metro-lines"


class Level(StrEnum):
    district = "district"
    town = "town"
    park = "park"


# --- schemas (for the OpenAPI document) --------------------------------------


class ErrorOut(Schema):
    code: str = Field(
        description="stable machine code: unauthorized, forbidden, not_found, conflict, invalid"
    )
    message: str = Field(description="in the user's language")
    errors: dict[str, Any] | None = Field(None, description="field → messages (422)")
    current_version: int | None = Field(None, description="the record's current version (409)")


class PageOut(Schema):
    count: int = Field(description="records matching the filters")
    page: int
    page_size: int
    items: list[dict[str, Any]] = Field(
        description="rows with the kind's columns; sensitive values masked outside scope"
    )


class LegendItem(Schema):
    value: str
    label: str
    color: str


class LegendOut(Schema):
    parcel_status: list[LegendItem]
    land_use: list[LegendItem]
    building_type: list[LegendItem]
    poi_category: list[LegendItem]
    enterprise_scale: list[LegendItem]
    certification: list[LegendItem]


class PlaceOut(Schema):
    code: str
    name: str
    town: str | None = None
    area_mu: float
    bbox: list[float]
    lon: float
    lat: float


class StatusFigure(Schema):
    status: str
    label: str
    color: str
    area_mu: float
    count: int


class LandUseFigure(Schema):
    land_use: str
    label: str
    color: str
    area_mu: float
    count: int


class LandOut(Schema):
    total_mu: float
    by_status: list[StatusFigure]
    by_land_use: list[LandUseFigure]


class BuildingsOut(Schema):
    count: int
    total_floor_m2: float
    vacant_floor_m2: float


class EnterprisesOut(Schema):
    count: int
    above: int
    below: int


class EconomyOut(Schema):
    year: int | None
    output_wan: float | None
    revenue_wan: float | None
    tax_wan: float | None = Field(
        description="null when outside the viewer's scope (masked) or unknown"
    )
    masked: bool


class TeamsOut(Schema):
    count: int
    members: int


class CategoryFigure(Schema):
    category: str
    label: str
    color: str
    count: int


class PoisOut(Schema):
    by_category: list[CategoryFigure]


class ChildOut(Schema):
    level: str
    code: str
    name: str
    land_total_mu: float
    idle_mu: float
    vacant_floor_m2: float
    enterprises: int
    output_wan: float | None


class OverviewOut(Schema):
    level: str
    code: str
    name: str
    bbox: list[float] | None
    land: LandOut
    buildings: BuildingsOut
    enterprises: EnterprisesOut
    economy: EconomyOut
    teams: TeamsOut
    pois: PoisOut
    children: list[ChildOut]


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _filters_doc() -> str:
    lines = ["Filters (query parameters; several values by repeating or with commas):"]
    for kind, fs in FILTERS.items():
        lines.append(f"- {kind}: " + ", ".join(fs.base_filters))
    return "\n".join(lines)


FILTERS_DOC = _filters_doc()


def service_errors(view):
    """Turn service refusals into API errors with their stable code (every app's endpoints)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        from investmap.api import ApiError

        try:
            return view(request, *args, **kwargs)
        except services.ServiceError as exc:
            raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None

    return wrapper


def json_body(request, allowed: set[str] | None, required: set[str] = frozenset()) -> dict:
    """The request's JSON object; unknown and missing fields refused with what is accepted
    (`allowed=None`: the service checks the fields, reporting every problem at once)."""
    try:
        body = json.loads(request.body.decode("utf-8-sig") or "null")
    except (UnicodeDecodeError, ValueError) as exc:
        raise services.InvalidFilter(
            {"__all__": [_("the body is not valid JSON: %(e)s") % {"e": exc}]}
        ) from None
    if not isinstance(body, dict):
        raise services.InvalidFilter({"__all__": [_("the body must be a JSON object")]})
    errors = {
        k: [_("unknown field; accepted fields: %(f)s") % {"f": ", ".join(sorted(allowed))}]
        for k in sorted(set(body) - (set(body) if allowed is None else allowed))
    }
    errors.update({k: [_("this field is required")] for k in sorted(set(required) - set(body))})
    if errors:
        raise services.InvalidFilter(errors)
    return body


def int_param(request, name: str, default=None, *, lo=None, hi=None):
    """A whole-number query parameter, refused with what is accepted."""
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise services.InvalidFilter({name: [_("must be a whole number")]}) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise services.InvalidFilter(
            {name: [_("must be between %(lo)s and %(hi)s") % {"lo": lo, "hi": hi}]}
        )
    return value


def _kind(kind) -> str:
    return kind.value if isinstance(kind, Enum) else str(kind)


# --- endpoints (specific paths first: /{kind} would match them too) ----------


@router.get(
    "/meta/legend", response={200: LegendOut, 401: ErrorOut}, summary="Legend of every enum"
)
def legend(request):
    """Value, translated label and colour of parcel status, land use, building type,
    POI category, enterprise scale and certification."""
    return services.legend()


@router.get("/towns", response={200: list[PlaceOut], **ERRORS}, summary="Towns")
@service_errors
def towns(request):
    return services.places(level="towns", scope=request_scope(request))


@router.get("/parks", response={200: list[PlaceOut], **ERRORS}, summary="Parks")
@service_errors
def parks(request, town: str | None = None):
    return services.places(level="parks", town=town, scope=request_scope(request))


@router.get("/overview", response={200: OverviewOut, **ERRORS}, summary="Key figures of a level")
@service_errors
def overview(request, level: Level = Level.district, code: str | None = None):
    """Land by status and use, buildings, enterprises, the latest year's output and
    tax (tax null outside the viewer's scope), teams, POIs, and each child's figures
    (towns of the district, parks of a town)."""
    return services.overview(level=level.value, code=code, scope=request_scope(request))


@router.get(
    "/map/{layer}", response={200: dict[str, Any], **ERRORS}, summary="Map features in a viewport"
)
@service_errors
def map_layer(request, layer: Layer, bbox: str | None = None, zoom: int | None = None):
    """A GeoJSON FeatureCollection with `total`, `truncated` and `aggregated`.

    `bbox=minLon,minLat,maxLon,maxLat`, `zoom` 0–22. At low zoom, or when the
    viewport holds more than the configured maximum, features are grid cells
    (Point, properties count / by / color / cell). The list filters apply.
    """
    return services.map_features(
        layer=layer.value, params=request.GET, bbox=bbox, zoom=zoom, scope=request_scope(request)
    )


@router.get(
    "/{kind}",
    response={200: PageOut, **ERRORS},
    summary="List with filters",
    description=FILTERS_DOC,
)
@service_errors
def list_resources(
    request,
    kind: Kind,
    page: int = Query(1, ge=1, le=1_000_000),
    page_size: int = Query(50, ge=1, le=500),
):
    _fs, qs = services.search(kind=_kind(kind), params=request.GET, scope=request_scope(request))
    count = qs.count()
    start = (page - 1) * page_size
    items = services.presenters.rows(
        _kind(kind), qs[start : start + page_size], request_scope(request)
    )
    return {"count": count, "page": page, "page_size": page_size, "items": items}


def download(content: bytes, stem: str, ext: str, content_type: str) -> HttpResponse:
    """An attachment named `<stem>-<yyyymmdd>.<ext>` (UTF-8 name, ASCII fallback)."""
    name = f"{stem}-{dt.date.today():%Y%m%d}.{ext}"
    fallback = name.encode("ascii", "replace").decode()
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    )
    return response


@router.get(
    "/{kind}/export.xlsx",
    response={200: bytes, **ERRORS},
    summary="Export the filtered list to Excel",
    description=FILTERS_DOC,
)
@service_errors
def export_xlsx(request, kind: Kind):
    content = services.export_xlsx(
        kind=_kind(kind), params=request.GET, scope=request_scope(request), user=request.user
    )
    return download(
        content,
        _kind(kind),
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get(
    "/{kind}/export.geojson",
    response={200: dict[str, Any], **ERRORS},
    summary="Export the filtered list to GeoJSON",
    description=FILTERS_DOC,
)
@service_errors
def export_geojson(request, kind: Kind):
    content = services.export_geojson(
        kind=_kind(kind), params=request.GET, scope=request_scope(request), user=request.user
    )
    return download(content, _kind(kind), "geojson", "application/geo+json")


@router.get(
    "/{kind}/{code}",
    response={200: dict[str, Any], **ERRORS},
    summary="One record with its surroundings",
)
@service_errors
def detail(request, kind: Kind, code: str):
    """The record's row, its geometry, and what is on and around it (buildings,
    enterprises, land grants, POIs within 1 km with distances, yearly indicators,
    team members). Land grants are addressed as `PARCEL:CREDITCODE`."""
    return services.detail(kind=_kind(kind), code=code, scope=request_scope(request))


@router.patch(
    "/{kind}/{code}",
    response={200: dict[str, Any], 409: ErrorOut, **ERRORS},
    summary="Change attribute fields (optimistic lock)",
)
@service_errors
def update(request, kind: Kind, code: str, payload: dict[str, Any] = Body(...)):
    """Body: `{"version": n, "field": value, ...}` where `version` is the version the
    change started from; a different current version answers 409 conflict."""
    changes = dict(payload)
    version = changes.pop("version", None)
    return services.update(
        kind=_kind(kind),
        code=code,
        version=version,
        changes=changes,
        scope=request_scope(request),
        user=request.user,
    )
