"""The resource library's service layer: the only place pages and the API go through.

Every function is keyword-only and takes the caller's `Scope` (core.scope); the
scope decides what is visible and editable, the presenters mask sensitive
values, so a page, an API call and an export can never disagree.

Errors are exceptions with a stable `code` and a translated message:
`Forbidden` (403), `NotFound` (404), `InvalidFilter` / `InvalidChange` (422,
with field errors), `Conflict` (409, with the current version).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from collections import defaultdict

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Floor
from django.utils import timezone
from django.utils.translation import gettext as _

from investmap.core import geo
from investmap.core.choices import OrgKind
from investmap.core.models import OrgUnit, audit, district_name
from investmap.core.scope import Scope, mask_text

from . import presenters
from .choices import (
    BuildingType,
    Certification,
    EnterpriseScale,
    LandUse,
    ParcelStatus,
    PoiCategory,
)
from .filters import FILTERS
from .models import Building, Enterprise, Parcel, Park, Poi, Town

KINDS = ("parcels", "buildings", "pois", "enterprises", "teams", "land-grants")
SHAPED_KINDS = ("parcels", "buildings")
POINT_KINDS = ("pois", "enterprises")
LAYERS = ("towns", "parks", "parcels", "buildings", "pois", "enterprises", "metro-lines")
LEVELS = ("district", "town", "park")
NEARBY_RADIUS_M = 1000.0

# Attribute fields an edit may change (never codes, geometry or derived figures).
EDITABLE: dict[str, tuple[str, ...]] = {
    "parcels": (
        "name",
        "land_use",
        "status",
        "plot_ratio_max",
        "plot_ratio_min",
        "height_limit_m",
        "price_wan",
        "owner",
        "min_investment_wan_per_mu",
        "min_tax_wan_per_mu",
        "max_energy_tce_per_wan",
    ),
    "buildings": (
        "name",
        "building_type",
        "floors",
        "height_m",
        "total_floor_m2",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
        "floor_load_kn_m2",
        "clear_height_m",
    ),
    "pois": ("name", "category", "address"),
    "enterprises": (
        "name",
        "industry_code",
        "scale",
        "founded_on",
        "address",
        "certifications",
        "contact_name",
        "contact_phone",
        "contact_email",
    ),
    "teams": ("name", "speciality"),
    "land-grants": (
        "contract_price_wan",
        "started_on",
        "built_ratio",
        "invested_ratio",
        "halted_since",
    ),
}
SENSITIVE_FIELDS = {"contact_name", "contact_phone", "contact_email"}


# --- errors ------------------------------------------------------------------


class ServiceError(Exception):
    """A refusal the caller can show: a stable `code`, an HTTP `status`, a message."""

    code = "error"
    status = 400

    def __init__(self, message: str = "", **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class Forbidden(ServiceError):
    code, status = "forbidden", 403

    def __init__(self, message: str | None = None, **extra):
        super().__init__(message or _("You do not have access to this data."), **extra)


class NotFound(ServiceError):
    code, status = "not_found", 404

    def __init__(self, message: str | None = None, **extra):
        super().__init__(message or _("Not found."), **extra)


class InvalidFilter(ServiceError):
    """Bad parameters; `errors` maps each field to a list of messages."""

    code, status = "invalid", 422

    def __init__(self, errors: dict, message: str | None = None):
        self.errors = {
            k: [str(m) for m in (v if isinstance(v, list | tuple) else [v])]
            for k, v in errors.items()
        }
        super().__init__(message or _("Some parameters are not valid."), errors=self.errors)


class InvalidChange(InvalidFilter):
    """An edit naming fields that cannot be changed or values that are not accepted."""

    def __init__(self, errors: dict, message: str | None = None):
        super().__init__(errors, message or _("The change is not valid."))


class Conflict(ServiceError):
    code, status = "conflict", 409

    def __init__(self, current_version: int):
        self.current_version = current_version
        super().__init__(
            _(
                "Someone else changed this record after you opened it (it is now at version %(v)s). "
                "Reload it and apply your change again."
            )
            % {"v": current_version},
            current_version=current_version,
        )


# --- helpers -----------------------------------------------------------------


def parse_as_of(value, *, field: str = "as_of") -> dt.date:
    """A date parameter ("today matters" here): blank is today, a date passes, else YYYY-MM-DD."""
    if value is None or value == "":
        return timezone.localdate()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidFilter(
            {field: [_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": value}]}
        ) from None


def _require_resources(scope: Scope) -> None:
    if not scope.sees_resources:
        raise Forbidden(_("Your role has no access to the resource library."))


def _check_kind(kind: str, allowed=KINDS) -> None:
    if kind not in allowed:
        raise NotFound(
            _("Unknown kind %(kind)s; accepted: %(ok)s") % {"kind": kind, "ok": ", ".join(allowed)}
        )


def _lookup(kind: str, code: str) -> Q:
    if kind == "enterprises":
        return Q(credit_code=code)
    if kind == "land-grants":
        parcel, _sep, credit = str(code).partition(":")
        return Q(parcel__code=parcel, enterprise__credit_code=credit)
    return Q(code=code)


def record_code(kind: str, obj) -> str:
    """The code a record is addressed by in URLs (land grants: 'PARCEL:CREDITCODE')."""
    if kind == "enterprises":
        return obj.credit_code
    if kind == "land-grants":
        return f"{obj.parcel.code}:{obj.enterprise.credit_code}"
    return obj.code


def _errors_dict(errors) -> dict:
    return {k: [str(m) for m in v] for k, v in errors.items()}


# --- search ------------------------------------------------------------------


def search(*, kind: str, params, scope: Scope):
    """(filterset, queryset) of `kind` filtered by `params`, optimised for rows()."""
    _require_resources(scope)
    _check_kind(kind)
    model = presenters.KIND_MODELS[kind]
    fs = FILTERS[kind](params if params is not None else {}, queryset=model.objects.all())
    if not fs.is_valid():
        raise InvalidFilter(_errors_dict(fs.errors))
    return fs, presenters.optimized(kind, fs.qs)


# --- detail ------------------------------------------------------------------


def _get(kind: str, code: str):
    model = presenters.KIND_MODELS[kind]
    obj = presenters.optimized(kind, model.objects.filter(_lookup(kind, code))).first()
    if obj is None:
        raise NotFound(_("No %(kind)s with code %(code)s.") % {"kind": kind, "code": code})
    return obj


def _metre_frame(lon0: float, lat0: float):
    kx = math.radians(1) * geo.EARTH_RADIUS_M * math.cos(math.radians(lat0))
    ky = math.radians(1) * geo.EARTH_RADIUS_M
    return kx, ky


def _rings(geometry: dict) -> list[list[list]]:
    """Polygons as lists of rings (the first ring is the shell)."""
    t, c = geometry["type"], geometry["coordinates"]
    if t == "Polygon":
        return [c]
    if t == "MultiPolygon":
        return list(c)
    return []


def _segments(geometry: dict) -> np.ndarray:
    """Every edge of the geometry as an (m, 4) array [x1, y1, x2, y2] in degrees."""
    t, c = geometry["type"], geometry["coordinates"]
    lines = []
    if t in ("Polygon", "MultiPolygon"):
        lines = [ring for poly in _rings(geometry) for ring in poly]
    elif t == "LineString":
        lines = [c]
    elif t == "MultiLineString":
        lines = list(c)
    segs = []
    for line in lines:
        pts = np.asarray([p[:2] for p in line], dtype=float)
        if len(pts) >= 2:
            segs.append(np.hstack([pts[:-1], pts[1:]]))
    return np.vstack(segs) if segs else np.zeros((0, 4))


def _in_ring(px: np.ndarray, py: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting of n points against one ring (vectorised over edges)."""
    x1, y1 = ring[:-1, 0][None, :], ring[:-1, 1][None, :]
    x2, y2 = ring[1:, 0][None, :], ring[1:, 1][None, :]
    pxc, pyc = px[:, None], py[:, None]
    crosses = (y1 > pyc) != (y2 > pyc)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = (x2 - x1) * (pyc - y1) / (y2 - y1) + x1
    return (
        np.logical_xor.reduce(crosses & (pxc < xint), axis=1)
        if ring.shape[0] > 1
        else np.zeros(len(px), bool)
    )


def distances_m(geometry: dict, lons, lats) -> np.ndarray:
    """Distance in metres from each point to `geometry` (0 inside a polygon).

    A local equirectangular frame centred on the geometry: exact enough (well
    under 0.1 %) for the kilometre scale this is used at.
    """
    lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    if lons.size == 0:
        return np.zeros(0)
    # Points × edges matrices: bound them to ~1M cells (8 MB each) per chunk.
    edges = max(1, len(_segments(geometry)))
    step = max(1, 1_000_000 // edges)
    if lons.size > step:
        return np.concatenate(
            [
                distances_m(geometry, lons[i : i + step], lats[i : i + step])
                for i in range(0, lons.size, step)
            ]
        )
    box = geo.bbox(geometry)
    lon0, lat0 = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    kx, ky = _metre_frame(lon0, lat0)
    px, py = (lons - lon0) * kx, (lats - lat0) * ky
    if geometry["type"] in ("Point", "MultiPoint"):
        pts = np.asarray(
            [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"],
            dtype=float,
        )
        gx, gy = (pts[:, 0] - lon0) * kx, (pts[:, 1] - lat0) * ky
        return np.min(np.hypot(px[:, None] - gx[None, :], py[:, None] - gy[None, :]), axis=1)
    segs = _segments(geometry)
    ax, ay = (segs[:, 0] - lon0) * kx, (segs[:, 1] - lat0) * ky
    bx, by = (segs[:, 2] - lon0) * kx, (segs[:, 3] - lat0) * ky
    dx, dy = bx - ax, by - ay
    len2 = np.where(dx * dx + dy * dy == 0, 1e-12, dx * dx + dy * dy)
    t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / len2, 0, 1)
    d = np.min(np.hypot(px[:, None] - (ax + t * dx), py[:, None] - (ay + t * dy)), axis=1)
    inside = np.zeros(len(px), dtype=bool)
    for poly in _rings(geometry):
        shell = np.asarray([p[:2] for p in poly[0]], dtype=float)
        within = _in_ring(lons, lats, shell)
        for hole in poly[1:]:
            within &= ~_in_ring(lons, lats, np.asarray([p[:2] for p in hole], dtype=float))
        inside |= within
    d[inside] = 0.0
    return d


def nearby_pois(geometry: dict, radius_m: float = NEARBY_RADIUS_M) -> list[dict]:
    """POIs within `radius_m` of the geometry, nearest first (bbox prefilter, exact distance)."""
    box = geo.bbox(geometry)
    dlon, dlat = geo.degrees_for_metres(radius_m, max(abs(box[1]), abs(box[3])))
    candidates = list(
        Poi.objects.filter(
            lon__gte=box[0] - dlon,
            lon__lte=box[2] + dlon,
            lat__gte=box[1] - dlat,
            lat__lte=box[3] + dlat,
        ).values_list("code", "name", "category", "lon", "lat")
    )
    if not candidates:
        return []
    dist = distances_m(geometry, [c[3] for c in candidates], [c[4] for c in candidates])
    out = []
    for (code, name, category, _lon, _lat), d in zip(candidates, dist, strict=True):
        if d <= radius_m:
            try:
                cat = PoiCategory(category)
                label, color = str(cat.label), cat.color
            except ValueError:
                label, color = category, "#888888"
            out.append(
                {
                    "code": code,
                    "name": name,
                    "category": category,
                    "category_label": label,
                    "color": color,
                    "distance_m": round(float(d), 1),
                }
            )
    out.sort(key=lambda p: (p["distance_m"], p["code"]))
    return out


def _point(lon, lat) -> dict | None:
    if lon is None or lat is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


def _indicator_rows(enterprise, visible: bool) -> list[dict]:
    inds = getattr(enterprise, "all_indicators", None)
    if inds is None:
        inds = list(enterprise.indicators.all())
    out = []
    for i in sorted(inds, key=lambda i: i.year):
        out.append(
            {
                "year": i.year,
                "revenue_wan": i.revenue_wan,
                "output_wan": i.output_wan,
                "value_added_wan": i.value_added_wan,
                "tax_wan": i.tax_wan if visible else None,
                "employees": i.employees,
                "rd_spend_wan": i.rd_spend_wan,
                "energy_tce": i.energy_tce,
                "electricity_kwh": i.electricity_kwh,
                "emissions_t": i.emissions_t,
                "land_area_mu": i.land_area_mu,
            }
        )
    return out


def _enterprise_rows(qs, scope: Scope) -> list[dict]:
    return presenters.rows("enterprises", presenters.optimized("enterprises", qs), scope)


def detail(*, kind: str, code: str, scope: Scope) -> dict:
    """The record's row plus what is on and around it (see the module contract)."""
    _require_resources(scope)
    _check_kind(kind)
    obj = _get(kind, code)
    out = presenters.row(kind, obj, scope)
    out["version"] = obj.version
    if kind in SHAPED_KINDS:
        geometry = json.loads(obj.geometry)
        out.update(geometry=geometry, lon=obj.lon, lat=obj.lat)
        if kind == "buildings":
            ents = Enterprise.objects.filter(building=obj)
        else:
            # Located on the parcel, and the parcel's occupying enterprise.
            on_it = Q(parcel=obj) | Q(pk=obj.enterprise_id) if obj.enterprise_id else Q(parcel=obj)
            ents = Enterprise.objects.filter(on_it)
        out["enterprises"] = _enterprise_rows(ents, scope)
        if kind == "parcels":
            out["buildings"] = presenters.rows(
                "buildings", presenters.optimized("buildings", obj.buildings.all()), scope
            )
            out["grants"] = presenters.rows(
                "land-grants", presenters.optimized("land-grants", obj.grants.all()), scope
            )
        out["nearby_pois"] = nearby_pois(geometry)
    elif kind == "pois":
        out.update(geometry=_point(obj.lon, obj.lat), lon=obj.lon, lat=obj.lat, extra=obj.extra)
    elif kind == "enterprises":
        visible = scope.sensitive_visible(*presenters.owning_org_ids(kind, obj))
        out["indicators"] = _indicator_rows(obj, visible)
        out["parcel"] = (
            presenters.row(
                "parcels",
                presenters.optimized("parcels", Parcel.objects.filter(pk=obj.parcel_id)).first(),
                scope,
            )
            if obj.parcel_id
            else None
        )
        out["building"] = (
            presenters.row(
                "buildings",
                presenters.optimized(
                    "buildings", Building.objects.filter(pk=obj.building_id)
                ).first(),
                scope,
            )
            if obj.building_id
            else None
        )
        geometry = _point(obj.lon, obj.lat)
        if geometry is None and obj.building_id:
            geometry = json.loads(obj.building.geometry)
        elif geometry is None and obj.parcel_id:
            geometry = json.loads(obj.parcel.geometry)
        out.update(geometry=geometry, lon=obj.lon, lat=obj.lat)
        out["nearby_pois"] = nearby_pois(geometry) if geometry else []
    elif kind == "teams":
        visible = scope.sensitive_visible(*presenters.owning_org_ids(kind, obj))
        out["members"] = [
            {
                "name": m.name,
                "title": m.title,
                "phone": m.phone if visible else mask_text(m.phone),
                "speciality": m.speciality,
            }
            for m in obj.members.all()
        ]
        out["masked"] = not visible
    elif kind == "land-grants":
        out["code"] = record_code(kind, obj)
        out["geometry"] = json.loads(obj.parcel.geometry)
        out.update(lon=obj.parcel.lon, lat=obj.parcel.lat)
    return out


# --- places and legend -------------------------------------------------------


def places(*, level: str, scope: Scope, town: str | None = None) -> list[dict]:
    """Towns or parks: [{code, name, (town), area_mu, bbox, lon, lat}]."""
    _require_resources(scope)
    if level == "towns":
        qs = Town.objects.order_by("code").values(
            "code", "name", "area_m2", "min_lon", "min_lat", "max_lon", "max_lat", "lon", "lat"
        )
    elif level == "parks":
        qs = Park.objects.order_by("code")
        if town:
            qs = qs.filter(town__code=town)
        qs = qs.values(
            "code",
            "name",
            "town__code",
            "area_m2",
            "min_lon",
            "min_lat",
            "max_lon",
            "max_lat",
            "lon",
            "lat",
        )
    else:
        raise NotFound()
    out = []
    for p in qs:
        item = {"code": p["code"], "name": p["name"]}
        if "town__code" in p:
            item["town"] = p["town__code"]
        item.update(
            area_mu=round(p["area_m2"] / geo.M2_PER_MU, 2),
            bbox=[p["min_lon"], p["min_lat"], p["max_lon"], p["max_lat"]],
            lon=p["lon"],
            lat=p["lat"],
        )
        out.append(item)
    return out


def legend() -> dict:
    """Every enum with its value, translated label and colour (map legend, charts)."""
    return {
        "parcel_status": ParcelStatus.legend(),
        "land_use": LandUse.legend(),
        "building_type": BuildingType.legend(),
        "poi_category": PoiCategory.legend(),
        "enterprise_scale": EnterpriseScale.legend(),
        "certification": Certification.legend(),
    }


# --- overview (the drill-down figures, computed by the engine) ---------------


def _district_unit() -> OrgUnit | None:
    return OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True).order_by("pk").first()


def _choice(enum, value) -> tuple[str, str]:
    try:
        m = enum(value)
        return str(m.label), m.color
    except ValueError:
        return str(value), "#888888"


def overview(*, level: str, code: str | None, scope: Scope) -> dict:
    """Key figures of the district, a town or a park, and of its children."""
    from investmap.engine import aggregates

    _require_resources(scope)
    if level not in LEVELS:
        raise InvalidFilter({"level": [_("accepted values: %(ok)s") % {"ok": ", ".join(LEVELS)}]})
    if level == "district":
        unit = _district_unit()
        if code and unit is not None and code != unit.code:
            raise NotFound(_("No district with code %(code)s.") % {"code": code})
        box = Town.objects.aggregate(
            a=Min("min_lon"), b=Min("min_lat"), c=Max("max_lon"), d=Max("max_lat")
        )
        area_id, unit_id = None, unit.pk if unit else None
        name = unit.name if unit else district_name()
        code = unit.code if unit else ""
        bbox = [box["a"], box["b"], box["c"], box["d"]] if box["a"] is not None else None
        children = [
            (t["pk"], "town", t["code"], t["name"])
            for t in Town.objects.order_by("code").values("pk", "code", "name")
        ]
    else:
        model = Town if level == "town" else Park
        place = model.objects.filter(code=code).first()
        if place is None:
            raise NotFound(_("No %(level)s with code %(code)s.") % {"level": level, "code": code})
        area_id, unit_id, name = place.pk, place.org_unit_id, place.name
        bbox = [place.min_lon, place.min_lat, place.max_lon, place.max_lat]
        children = (
            [
                (p["pk"], "park", p["code"], p["name"])
                for p in Park.objects.filter(town=place)
                .order_by("code")
                .values("pk", "code", "name")
            ]
            if level == "town"
            else []
        )
    figures = aggregates.area_figures(level=level, area_id=area_id, unit_id=unit_id)

    # Tax is sensitive: shown for the whole district only to district-wide scopes,
    # for a town or park only when that unit is inside the viewer's scope.
    tax_visible = (
        scope.sees_all_sensitive if level == "district" else scope.sensitive_visible(unit_id)
    )
    land = figures["land"]
    economy = dict(figures["economy"])
    economy["masked"] = not tax_visible
    if not tax_visible:
        economy["tax_wan"] = None
    child_figures = figures["children"]
    out_children = []
    for pk, child_level, child_code, child_name in children:
        f = child_figures.get(pk, {})
        out_children.append(
            {
                "level": child_level,
                "code": child_code,
                "name": child_name,
                "land_total_mu": round(f.get("land_total_mu", 0.0), 2),
                "idle_mu": round(f.get("idle_mu", 0.0), 2),
                "vacant_floor_m2": f.get("vacant_floor_m2", 0.0),
                "enterprises": f.get("enterprises", 0),
                "output_wan": f.get("output_wan"),
            }
        )
    return {
        "level": level,
        "code": code,
        "name": name,
        "bbox": bbox,
        "land": {
            "total_mu": round(land["total_mu"], 2),
            "by_status": [
                {
                    "status": s,
                    "label": _choice(ParcelStatus, s)[0],
                    "color": _choice(ParcelStatus, s)[1],
                    "area_mu": round(v["area_mu"], 2),
                    "count": v["count"],
                }
                for s, v in _ordered(land["by_status"], ParcelStatus)
            ],
            "by_land_use": [
                {
                    "land_use": u,
                    "label": _choice(LandUse, u)[0],
                    "color": _choice(LandUse, u)[1],
                    "area_mu": round(v["area_mu"], 2),
                    "count": v["count"],
                }
                for u, v in _ordered(land["by_land_use"], LandUse)
            ],
        },
        "buildings": figures["buildings"],
        "enterprises": figures["enterprises"],
        "economy": economy,
        "teams": figures["teams"],
        "pois": {
            "by_category": [
                {
                    "category": c,
                    "label": _choice(PoiCategory, c)[0],
                    "color": _choice(PoiCategory, c)[1],
                    "count": n,
                }
                for c, n in _ordered(figures["pois"], PoiCategory)
            ]
        },
        "children": out_children,
    }


def _ordered(mapping: dict, enum):
    """Items of `mapping` in the enum's declared order, unknown values last."""
    order = {m.value: i for i, m in enumerate(enum)}
    return sorted(mapping.items(), key=lambda kv: (order.get(kv[0], len(order)), str(kv[0])))


# --- map ---------------------------------------------------------------------

_MAP_LAYERS = {
    # layer: (kind, colour field, enum, properties, zoom below which we aggregate)
    "parcels": (
        "parcels",
        "status",
        ParcelStatus,
        ("code", "name", "status", "land_use", "area_mu"),
        14,
    ),
    "buildings": (
        "buildings",
        "building_type",
        BuildingType,
        ("code", "name", "building_type", "vacant_floor_m2"),
        14,
    ),
    "pois": ("pois", "category", PoiCategory, ("code", "name", "category"), 13),
    "enterprises": (
        "enterprises",
        "scale",
        EnterpriseScale,
        ("credit_code", "name", "scale", "industry_code"),
        13,
    ),
}
# From this zoom on the map never aggregates: an over-full viewport is truncated.
MAP_DETAIL_ZOOM = 17
SIMPLE_BELOW_ZOOM = 16
METRO_COLORS = (
    "#d32f2f",
    "#1565c0",
    "#2e7d32",
    "#f9a825",
    "#6a1b9a",
    "#00838f",
    "#ef6c00",
    "#4e342e",
)


def parse_bbox(bbox) -> tuple[float, float, float, float] | None:
    """'minLon,minLat,maxLon,maxLat' (or a sequence) → floats; None stays None."""
    if bbox in (None, "", []):
        return None
    try:
        parts = bbox.split(",") if isinstance(bbox, str) else list(bbox)
        vals = tuple(float(v) for v in parts)
        if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidFilter(
            {"bbox": [_("expected minLon,minLat,maxLon,maxLat (four numbers)")]}
        ) from None
    if vals[0] > vals[2] or vals[1] > vals[3]:
        raise InvalidFilter(
            {"bbox": [_("the minimum must not exceed the maximum (minLon,minLat,maxLon,maxLat)")]}
        )
    return vals


def cell_size(zoom: int) -> float:
    """Grid cell in degrees: a sixth of a web-map tile's width at this zoom (~43 px)."""
    return 360.0 / (2 ** max(0, min(int(zoom), 22))) / 6


def _bbox_filter(qs, bbox, point: bool):
    if bbox is None:
        return qs
    a, b, c, d = bbox
    if point:
        return qs.filter(lon__gte=a, lon__lte=c, lat__gte=b, lat__lte=d)
    return qs.filter(max_lon__gte=a, min_lon__lte=c, max_lat__gte=b, min_lat__lte=d)


def _collection(features, *, total, truncated=False, aggregated=False, **extra) -> dict:
    return {
        "type": "FeatureCollection",
        "features": features,
        "total": total,
        "truncated": truncated,
        "aggregated": aggregated,
        **extra,
    }


def _aggregate(qs, *, field: str, enum, size: float) -> list[dict]:
    """Grid cells of `size` degrees, counted by `field`, in the database (GROUP BY cell)."""
    cells: dict[tuple, dict] = {}
    rows = (
        qs.order_by()
        .annotate(cx=Floor(F("lon") / size), cy=Floor(F("lat") / size))
        .values("cx", "cy", field)
        .annotate(n=Count("pk"), sx=Sum("lon"), sy=Sum("lat"))
    )
    for r in rows:
        key = (int(r["cx"]), int(r["cy"]))
        cell = cells.setdefault(key, {"count": 0, "by": {}, "sx": 0.0, "sy": 0.0})
        cell["count"] += r["n"]
        cell["by"][r[field]] = cell["by"].get(r[field], 0) + r["n"]
        cell["sx"] += r["sx"]
        cell["sy"] += r["sy"]
    features = []
    for (cx, cy), cell in sorted(cells.items()):
        dominant = max(cell["by"].items(), key=lambda kv: (kv[1], str(kv[0])))[0]
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [cell["sx"] / cell["count"], cell["sy"] / cell["count"]],
                },
                "properties": {
                    "count": cell["count"],
                    "by": cell["by"],
                    "color": _choice(enum, dominant)[1],
                    "cell": [cx * size, cy * size, (cx + 1) * size, (cy + 1) * size],
                },
            }
        )
    return features


def _places_layer(model, bbox, zoom) -> dict:
    qs = _bbox_filter(model.objects.order_by("code"), bbox, point=False)
    geom_field = "geom_simple" if zoom < SIMPLE_BELOW_ZOOM else "geometry"
    extra = ("town__code",) if model is Park else ()
    features = []
    for r in qs.values("code", "name", geom_field, "geometry", *extra):
        props = {"code": r["code"], "name": r["name"]}
        if extra:
            props["town"] = r["town__code"]
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(r[geom_field] or r["geometry"]),
                "properties": props,
            }
        )
    return _collection(features, total=len(features))


def _metro_layer(bbox) -> dict:
    lines: dict[str, list] = defaultdict(list)
    for p in Poi.objects.filter(category=PoiCategory.METRO_STATION).values(
        "code", "name", "lon", "lat", "extra"
    ):
        extra = p["extra"] or {}
        line = extra.get("line")
        if line:
            lines[str(line)].append(
                (extra.get("seq") if isinstance(extra.get("seq"), int | float) else math.inf, p)
            )
    features = []
    for i, (line, stations) in enumerate(sorted(lines.items())):
        stations.sort(key=lambda s: (s[0], s[1]["code"]))
        coords = [[s[1]["lon"], s[1]["lat"]] for s in stations]
        if len(coords) < 2:
            continue
        xs, ys = [c[0] for c in coords], [c[1] for c in coords]
        if bbox is not None and (
            max(xs) < bbox[0] or min(xs) > bbox[2] or max(ys) < bbox[1] or min(ys) > bbox[3]
        ):
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "line": line,
                    "name": line,
                    "color": METRO_COLORS[i % len(METRO_COLORS)],
                    "stations": [s[1]["code"] for s in stations],
                },
            }
        )
    return _collection(features, total=len(features))


def map_features(*, layer: str, params, bbox, zoom, scope: Scope) -> dict:
    """A GeoJSON FeatureCollection of the layer's features in the viewport.

    Low zoom or an over-full viewport gives grid-cell points instead
    ("aggregated": true), counted in the database; at street zoom an over-full
    viewport is cut at INVESTMAP_MAP_MAX_FEATURES ("truncated": true).
    """
    _require_resources(scope)
    if layer not in LAYERS:
        raise NotFound(
            _("Unknown layer %(layer)s; accepted: %(ok)s")
            % {"layer": layer, "ok": ", ".join(LAYERS)}
        )
    bbox = parse_bbox(bbox)
    try:
        zoom = 18 if zoom in (None, "") else int(zoom)
    except (TypeError, ValueError):
        raise InvalidFilter({"zoom": [_("expected a whole number from 0 to 22")]}) from None
    if not 0 <= zoom <= 22:
        raise InvalidFilter({"zoom": [_("expected a whole number from 0 to 22")]})
    if layer == "towns":
        return _places_layer(Town, bbox, zoom)
    if layer == "parks":
        return _places_layer(Park, bbox, zoom)
    if layer == "metro-lines":
        return _metro_layer(bbox)

    kind, field, enum, props, agg_zoom = _MAP_LAYERS[layer]
    _fs, qs = search(kind=kind, params=params, scope=scope)
    point = kind in POINT_KINDS
    if kind == "enterprises":
        qs = qs.filter(lon__isnull=False, lat__isnull=False)
    qs = _bbox_filter(qs, bbox, point=point)
    limit = settings.INVESTMAP_MAP_MAX_FEATURES
    size = cell_size(zoom)
    if zoom < agg_zoom:
        features = _aggregate(qs, field=field, enum=enum, size=size)
        return _collection(
            features,
            total=sum(f["properties"]["count"] for f in features),
            aggregated=True,
            cell_size=size,
        )
    total = qs.order_by().count()
    if total > limit and zoom < MAP_DETAIL_ZOOM:
        features = _aggregate(qs, field=field, enum=enum, size=size)
        return _collection(features, total=total, aggregated=True, cell_size=size)
    truncated = total > limit
    geom_field = None if point else ("geom_simple" if zoom < SIMPLE_BELOW_ZOOM else "geometry")
    fields = set(props) | {field} | ({"lon", "lat"} if point else {geom_field, "geometry"})
    # Only a truncated answer needs a stable order (the first `limit` by id).
    values = (qs.order_by("pk") if truncated else qs.order_by()).values(*fields)
    features = []
    for r in values[:limit]:
        if point:
            geometry = {"type": "Point", "coordinates": [r["lon"], r["lat"]]}
        else:
            geometry = json.loads(r[geom_field] or r["geometry"])
        p = {k: r[k] for k in props}
        if "area_mu" in p and p["area_mu"] is not None:
            p["area_mu"] = round(p["area_mu"], 2)
        p["color"] = _choice(enum, r[field])[1]
        features.append({"type": "Feature", "geometry": geometry, "properties": p})
    return _collection(features, total=total, truncated=truncated)


# --- exports -----------------------------------------------------------------


def _export_rows(kind: str, params, scope: Scope):
    _fs, qs = search(kind=kind, params=params, scope=scope)
    return qs


def _iterate(kind: str, qs):
    # Chunks keep memory flat on large exports; prefetches run per chunk.
    return qs.iterator(chunk_size=2000)


def _params_for_audit(params) -> dict:
    if params is None:
        return {}
    if hasattr(params, "lists"):
        return {k: v if len(v) > 1 else v[0] for k, v in params.lists()}
    return {k: v for k, v in dict(params).items()}


def _sheet_title(kind: str) -> str:
    model = presenters.KIND_MODELS[kind]
    title = str(model._meta.verbose_name_plural)
    for ch in "[]:*?/\\":
        title = title.replace(ch, " ")
    return title[:31] or kind


def export_xlsx(*, kind: str, params, scope: Scope, user) -> bytes:
    """The filtered, scoped, masked list as an Excel workbook (one sheet)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    qs = _export_rows(kind, params, scope)
    columns = presenters.COLUMNS[kind]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(kind))
    ws.freeze_panes = "A2"
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(
            10, min(40, len(str(c.label)) * 2 + 4)
        )
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDE7F0")
    header = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=str(c.label))
        cell.font, cell.fill = bold, fill
        header.append(cell)
    ws.append(header)
    n = 0
    for obj in _iterate(kind, qs):
        r = presenters.row(kind, obj, scope)
        ws.append(
            [
                r[c.key]
                if isinstance(r[c.key], int | float)
                and not isinstance(r[c.key], bool)
                and c.choices is None
                else (presenters.display(c, r[c.key]) or None)
                for c in columns
            ]
        )
        n += 1
    buf = io.BytesIO()
    wb.save(buf)
    audit(
        user=user,
        action="export",
        target=kind,
        format="xlsx",
        count=n,
        params=_params_for_audit(params),
    )
    return buf.getvalue()


def export_geojson(*, kind: str, params, scope: Scope, user) -> bytes:
    """The filtered, scoped, masked list as a GeoJSON FeatureCollection."""
    qs = _export_rows(kind, params, scope)
    parts, n = [], 0
    for obj in _iterate(kind, qs):
        r = presenters.row(kind, obj, scope)
        if kind in SHAPED_KINDS:
            geometry = obj.geometry
        elif kind in POINT_KINDS:
            geometry = json.dumps(_point(obj.lon, obj.lat))
        elif kind == "land-grants":
            geometry = obj.parcel.geometry
        else:
            geometry = "null"
        parts.append(
            '{"type":"Feature","geometry":'
            + geometry
            + ',"properties":'
            + json.dumps(r, ensure_ascii=False, default=str)
            + "}"
        )
        n += 1
    audit(
        user=user,
        action="export",
        target=kind,
        format="geojson",
        count=n,
        params=_params_for_audit(params),
    )
    return ('{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}").encode("utf-8")


# --- update ------------------------------------------------------------------


def _validate_extra(kind: str, obj) -> dict:
    errors = {}
    if kind == "enterprises":
        certs = obj.certifications
        allowed = [c.value for c in Certification]
        if not isinstance(certs, list) or any(c not in allowed for c in certs):
            errors["certifications"] = [
                _("expected a list of: %(ok)s") % {"ok": ", ".join(allowed)}
            ]
    if kind == "buildings" and obj.vacant_floor_m2 is not None and obj.total_floor_m2 is not None:
        if obj.vacant_floor_m2 > obj.total_floor_m2:
            errors["vacant_floor_m2"] = [_("cannot exceed the total floor area")]
    if kind == "land-grants":
        for f in ("built_ratio", "invested_ratio"):
            v = getattr(obj, f)
            if v is not None and not 0 <= v <= 1:
                errors[f] = [_("a share from 0 to 1")]
    if kind == "parcels" and obj.plot_ratio_min is not None and obj.plot_ratio_max is not None:
        if obj.plot_ratio_min > obj.plot_ratio_max:
            errors["plot_ratio_min"] = [_("cannot exceed the max plot ratio")]
    return errors


def _checked_number(name: str, value, *, integer: bool):
    """A finite, non-negative number (every numeric attribute here is a size, price or count)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidChange({name: [_("not a number")]}) from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidChange({name: [_("not a finite number")]})
    if value < 0:
        raise InvalidChange({name: [_("must not be negative")]})
    if integer:
        if value != int(value):
            raise InvalidChange({name: [_("must be a whole number")]})
        return int(value)
    return float(value)


def update(*, kind: str, code: str, version, changes: dict, scope: Scope, user) -> dict:
    """Change attribute fields of one record under an optimistic lock; returns the new detail."""
    _require_resources(scope)
    _check_kind(kind)
    if not scope.can_edit(kind):
        raise Forbidden(_("Your role cannot edit %(kind)s.") % {"kind": kind})
    allowed = EDITABLE[kind]
    changes = dict(changes or {})
    changes.pop("version", None)
    unknown = sorted(k for k in changes if k not in allowed)
    if unknown:
        raise InvalidChange(
            {
                k: [
                    _("cannot be changed here; editable fields: %(ok)s")
                    % {"ok": ", ".join(allowed)}
                ]
                for k in unknown
            }
        )
    if not changes:
        raise InvalidChange(
            {
                "__all__": [
                    _("nothing to change; editable fields: %(ok)s") % {"ok": ", ".join(allowed)}
                ]
            }
        )
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidChange(
            {"version": [_("the version you started from (a whole number) is required")]}
        )
    model = presenters.KIND_MODELS[kind]
    with transaction.atomic():
        obj = model.objects.select_for_update().filter(_lookup(kind, code)).first()
        if obj is None:
            raise NotFound(_("No %(kind)s with code %(code)s.") % {"kind": kind, "code": code})
        if obj.version != version:
            raise Conflict(obj.version)
        if SENSITIVE_FIELDS & set(changes):
            full = presenters.optimized(kind, model.objects.filter(pk=obj.pk)).first()
            if not scope.sensitive_visible(*presenters.owning_org_ids(kind, full)):
                raise Forbidden(_("These contact fields are outside your data scope."))
        for name, value in changes.items():
            field = model._meta.get_field(name)
            if (
                value is None
                and isinstance(field, models.CharField | models.TextField)
                and not field.null
            ):
                value = ""
            if isinstance(value, bool) and not isinstance(field, models.BooleanField):
                raise InvalidChange({name: [_("'%(v)s' is not a valid value") % {"v": value}]})
            if isinstance(value, list | dict) and not isinstance(field, models.JSONField):
                raise InvalidChange({name: [_("'%(v)s' is not a valid value") % {"v": value}]})
            if isinstance(field, models.FloatField | models.IntegerField) and value is not None:
                value = _checked_number(name, value, integer=isinstance(field, models.IntegerField))
            setattr(obj, name, value)
        try:
            obj.full_clean(
                exclude=[f.name for f in model._meta.fields if f.name not in changes],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            raise InvalidChange(exc.message_dict) from None
        except (TypeError, ValueError) as exc:
            raise InvalidChange({"__all__": [str(exc)]}) from None
        errors = _validate_extra(kind, obj)
        if errors:
            raise InvalidChange(errors)
        obj.version = version + 1
        obj._history_user = user if getattr(user, "is_authenticated", False) else None
        obj.save()
        if kind == "teams" and "name" in changes and obj.org_unit.name != obj.name:
            # The team's org unit carries its name in the org tree (as imports keep it).
            obj.org_unit.name = obj.name
            obj.org_unit.save(update_fields=["name"])
    return detail(kind=kind, code=record_code(kind, obj), scope=scope)
