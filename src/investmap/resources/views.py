"""Pages of the resource library: the district map, lists, record and level pages.

Views are thin: data comes from `resources.services` (the same functions the
REST API calls, so scope and masking are the same), presentation of a record
from `presenters` (columns, labels, masking). The map and the small maps load
their features from the REST API (`/api/v1/map/<layer>`); the map's side panel
and popups are HTML fragments rendered here from the same services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Max, Min
from django.http import Http404, QueryDict
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language, gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from investmap.core.choices import OrgKind
from investmap.core.models import OrgUnit, district_name
from investmap.core.scope import request_scope
from investmap.core.views import resource_access_required

from . import presenters, services
from .choices import Certification, EnterpriseScale, ParcelStatus, PoiCategory
from .filters import FILTERS, MultiValueField

PAGE_SIZE = 50

# ---------------------------------------------------------------------------
# Strings the page scripts show, translated on the server and handed to the
# scripts in the page (json_script "im-config"), so every UI string lives in
# the one django.po catalogue.
JS_MSGIDS = [
    gettext_noop("Loading…"),
    gettext_noop("Could not load the map data."),
    gettext_noop("Could not load this panel."),
    gettext_noop("Parcel status"),
    gettext_noop("Planned land use"),
    gettext_noop("Building type"),
    gettext_noop("POI category"),
    gettext_noop("Enterprise scale"),
    gettext_noop("Metro lines"),
    gettext_noop("Town boundary"),
    gettext_noop("Park boundary"),
    gettext_noop(
        "Zoomed out, features are grouped by area: squares show the mix, circles the count. Zoom in to see them one by one."
    ),
    gettext_noop("Showing the first %(n)s of %(total)s features; zoom in to see all."),
    gettext_noop("Features on the map: %(n)s"),
    gettext_noop("%(n)s in this area"),
    gettext_noop("10k yuan"),
    gettext_noop("Employees"),
]

LAYER_LABELS = {
    "parcels": _("Parcels"),
    "buildings": _("Buildings"),
    "pois": _("POIs"),
    "enterprises": _("Enterprises"),
    "metro-lines": _("Metro lines"),
}


@dataclass(frozen=True)
class ListSpec:
    kind: str
    title: object
    description: object
    list_url: str
    detail_url: str
    key: str = "code"
    layer: str | None = None  # map layer of the small map (None: no map)
    point: bool = False
    sorts: dict = field(default_factory=dict)  # column key → order_by field
    hidden: frozenset = frozenset()  # columns shown inside another column


LISTS: dict[str, ListSpec] = {
    "parcels": ListSpec(
        "parcels",
        _("Parcels"),
        _("Land parcels with planned use, status, area and occupant."),
        "parcel-list",
        "parcel-detail",
        layer="parcels",
        sorts={
            "code": "code",
            "land_use": "land_use",
            "status": "status",
            "area_mu": "area_mu",
            "area_m2": "area_m2",
            "price_wan": "price_wan",
            "plot_ratio_max": "plot_ratio_max",
        },
        hidden=frozenset({"town_name", "enterprise_name"}),
    ),
    "buildings": ListSpec(
        "buildings",
        _("Buildings"),
        _("Office, factory and mixed-use buildings with vacant space and specifications."),
        "building-list",
        "building-detail",
        layer="buildings",
        sorts={
            "code": "code",
            "floors": "floors",
            "total_floor_m2": "total_floor_m2",
            "vacant_floor_m2": "vacant_floor_m2",
            "rent_yuan_m2_day": "rent_yuan_m2_day",
            "floor_load_kn_m2": "floor_load_kn_m2",
            "clear_height_m": "clear_height_m",
        },
    ),
    "pois": ListSpec(
        "pois",
        _("POIs"),
        _("Transport, public services and innovation resources."),
        "poi-list",
        "poi-detail",
        layer="pois",
        point=True,
        sorts={"code": "code", "name": "name", "category": "category"},
    ),
    "enterprises": ListSpec(
        "enterprises",
        _("Enterprises"),
        _("Enterprises with industry, scale, certifications and latest indicators."),
        "enterprise-list",
        "enterprise-detail",
        key="credit_code",
        layer="enterprises",
        point=True,
        sorts={
            "credit_code": "credit_code",
            "name": "name",
            "industry_code": "industry_code",
            "scale": "scale",
            "founded_on": "founded_on",
        },
    ),
    "teams": ListSpec(
        "teams",
        _("Teams"),
        _("Investment promotion teams of the towns, parks, bureau and state-owned enterprises."),
        "team-list",
        "team-detail",
        sorts={"code": "code", "name": "name"},
        hidden=frozenset({"unit_name"}),
    ),
}
DETAIL_URLS = {kind: spec.detail_url for kind, spec in LISTS.items()}

# Columns of the related-record tables on detail pages and panels.
RELATED_COLUMNS = {
    "buildings": (
        "code",
        "name",
        "building_type",
        "floors",
        "total_floor_m2",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
    ),
    "enterprises": (
        "credit_code",
        "name",
        "industry_code",
        "scale",
        "certifications",
        "latest_year",
        "output_wan",
        "tax_wan",
        "employees",
    ),
    "land-grants": (
        "enterprise",
        "contract_start_on",
        "contract_price_wan",
        "started_on",
        "built_ratio",
        "invested_ratio",
        "halted_since",
    ),
}
# Key attributes of a record in the map popup and side panel.
PANEL_COLUMNS = {
    "parcels": (
        "code",
        "town",
        "park",
        "land_use",
        "status",
        "area_mu",
        "plot_ratio_max",
        "price_wan",
        "enterprise",
    ),
    "buildings": (
        "code",
        "town",
        "park",
        "building_type",
        "floors",
        "total_floor_m2",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
    ),
    "enterprises": (
        "credit_code",
        "industry_code",
        "scale",
        "town",
        "park",
        "certifications",
        "latest_year",
        "output_wan",
        "tax_wan",
        "employees",
        "contact_name",
        "contact_phone",
    ),
    "pois": ("code", "category", "town", "park", "address"),
}
POPUP_COLUMNS = {
    "parcels": ("land_use", "status", "area_mu", "price_wan", "enterprise"),
    "buildings": ("building_type", "floors", "total_floor_m2", "vacant_floor_m2"),
    "enterprises": ("industry_code", "scale", "output_wan", "tax_wan", "employees"),
    "pois": ("category", "address"),
}


# --- helpers -------------------------------------------------------------------


def api_base() -> str:
    return f"{get_script_prefix()}api/v1/"


def js_config(request, **extra) -> dict:
    """What the page scripts need: language, API root, URLs, tiles, translated strings."""
    return {
        "lang": get_language() or settings.LANGUAGE_CODE,
        "api": api_base(),
        "tileUrl": settings.INVESTMAP_TILE_URL,
        "tileAttribution": settings.INVESTMAP_TILE_ATTRIBUTION,
        "panelUrl": reverse("map-panel"),
        "featurePanelUrl": reverse("map-feature-panel", args=["__kind__", "__code__"]),
        "detailUrls": {
            kind: reverse(name, args=["__code__"]) for kind, name in DETAIL_URLS.items()
        },
        "strings": {m: gettext(m) for m in JS_MSGIDS},
        **extra,
    }


def place_names(scope) -> dict:
    """{'towns': {code: name}, 'parks': {code: name}, 'park_town': {park code: town code}}."""
    towns = services.places(level="towns", scope=scope)
    parks = services.places(level="parks", scope=scope)
    district = (
        OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True)
        .order_by("pk")
        .values_list("name", flat=True)
        .first()
    )
    return {
        "district": district or district_name(),
        "towns": {t["code"]: t["name"] for t in towns},
        "parks": {p["code"]: p["name"] for p in parks},
        "park_town": {p["code"]: p.get("town") for p in parks},
        "town_list": towns,
        "park_list": parks,
    }


def fmt(value, digits: int = 0) -> str:
    """A figure with thousands separators ("12,345.6"), the same in every language.

    Django's zh-hans number format has no thousands separator, and the pages
    show large land areas and money sums, so figures are formatted here.
    """
    if value is None or value == "":
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if digits == 0:
        return f"{round(v):,}"
    return f"{v:,.{digits}f}".rstrip("0").rstrip(".")


def _choice_color(enum, value):
    try:
        return enum(value).color
    except ValueError:
        return "#888888"


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell(kind: str, column: presenters.Column, row: dict, names: dict) -> dict:
    """One table cell or attribute: display text, colour chip, link, masking."""
    value = row.get(column.key)
    c = {
        "key": column.key,
        "label": column.label,
        "value": value,
        "text": presenters.display(column, value),
        "num": _is_number(value) and column.key not in ("latest_year",),
        "masked": bool(column.sensitive and row.get("masked")),
        "color": None,
        "chips": None,
        "href": None,
        "title": None,
        "mono": column.key in ("code", "credit_code", "industry_code", "parcel", "building"),
    }
    if column.choices is not None and value not in (None, ""):
        c["color"] = _choice_color(column.choices, value)
    if column.key == "certifications" and value:
        c["chips"] = [
            {"label": presenters.display(column, [v]), "color": _choice_color(Certification, v)}
            for v in value
        ]
    if value in (None, ""):
        return c
    key = column.key
    if key == "town":
        c.update(
            text=names["towns"].get(value, value),
            title=value,
            href=reverse("town-detail", args=[value]),
        )
    elif key == "park":
        c.update(
            text=names["parks"].get(value, value),
            title=value,
            href=reverse("park-detail", args=[value]),
        )
    elif key == "unit":
        if value in names["towns"]:
            c["href"] = reverse("town-detail", args=[value])
        elif value in names["parks"]:
            c["href"] = reverse("park-detail", args=[value])
        c.update(text=row.get("unit_name") or value, title=value)
    elif key == "enterprise" and kind in ("parcels", "land-grants"):
        c.update(
            text=row.get("enterprise_name") or value,
            title=value,
            href=reverse("enterprise-detail", args=[value]),
        )
    elif key == "parcel" and kind != "parcels":
        c["href"] = reverse("parcel-detail", args=[value])
    elif key == "building" and kind != "buildings":
        c["href"] = reverse("building-detail", args=[value])
    elif kind in DETAIL_URLS and key == LISTS[kind].key:
        c["href"] = reverse(DETAIL_URLS[kind], args=[value])
    elif key == "name" and kind in DETAIL_URLS:
        code = row.get(LISTS[kind].key)
        if code:
            c["href"] = reverse(DETAIL_URLS[kind], args=[code])
    return c


def columns_for(kind: str, keys=None, hidden=frozenset()) -> list[presenters.Column]:
    cols = presenters.COLUMNS[kind]
    if keys is not None:
        by_key = {c.key: c for c in cols}
        return [by_key[k] for k in keys if k in by_key]
    return [c for c in cols if c.key not in hidden]


def table(kind: str, rows: list[dict], names: dict, keys=None) -> dict:
    hidden = LISTS[kind].hidden if kind in LISTS else frozenset()
    cols = columns_for(kind, keys, hidden)
    return {
        "kind": kind,
        "columns": cols,
        "rows": [
            {"cells": [cell(kind, c, r, names) for c in cols], "masked": r.get("masked", False)}
            for r in rows
        ],
    }


def attributes(kind: str, row: dict, names: dict, keys=None) -> list[dict]:
    """The record's own attributes (no links to the record itself)."""
    hidden = LISTS[kind].hidden if kind in LISTS else frozenset()
    cells = [cell(kind, c, row, names) for c in columns_for(kind, keys, hidden)]
    own = {"name", LISTS[kind].key} if kind in LISTS else set()
    for c in cells:
        if c["key"] in own:
            c["href"] = None
    return cells


def http_error(exc: services.ServiceError):
    """A service refusal on a page: 404 for not found, 403 for forbidden, else re-raised."""
    if isinstance(exc, services.NotFound):
        raise Http404(exc.message) from None
    if isinstance(exc, services.Forbidden):
        raise PermissionDenied(exc.message) from None
    raise exc


def query_string(**items) -> str:
    """A query string of the items that have a value (lists repeat their key)."""
    return urlencode({k: v for k, v in items.items() if v not in (None, "", [])}, doseq=True)


def page_number(request) -> int:
    try:
        return max(1, int(request.GET.get("page") or 1))
    except ValueError:
        return 1


def as_of_param(request):
    """The `as_of` of the address (default today); a bad date is shown and today used."""
    raw = request.GET.get("as_of") or ""
    try:
        return services.parse_as_of(raw)
    except services.InvalidFilter:
        messages.error(
            request,
            gettext("“%(value)s” is not a date (YYYY-MM-DD); today is shown.") % {"value": raw},
        )
        return services.parse_as_of(None)


def _query_without(params: QueryDict, *drop: str) -> str:
    q = params.copy()
    for k in drop:
        q.pop(k, None)
    # Empty values say nothing; leaving them out keeps export and map URLs tidy.
    return urlencode([(k, v) for k, vs in q.lists() for v in vs if v != ""])


# --- filter form ---------------------------------------------------------------


def filter_fields(kind: str, filterset, names: dict) -> list[dict]:
    """The FilterSet's form as field specs the template lays out horizontally."""
    form = filterset.form
    out = []
    for bf in form:
        name, f = bf.name, bf.field
        raw = bf.value() if form.is_bound else None
        spec = {
            "name": name,
            "label": bf.label,
            "id": f"f-{name}",
            "errors": bf.errors,
            "type": "text",
            "value": "",
            "options": [],
            "multiple": False,
            "wide": False,
        }
        if isinstance(f, MultiValueField):
            values = list(raw or [])
            spec["value"] = values
            if name in ("town", "park", "unit"):
                spec.update(
                    type="select",
                    multiple=len(values) > 1,
                    options=_place_options(name, names, values),
                    groups=name == "park",
                )
            elif f.allowed:
                enum = _enum_for(kind, name)
                spec.update(
                    type="checks",
                    options=[
                        {
                            "value": v,
                            "label": label,
                            "color": _choice_color(enum, v) if enum else None,
                            "selected": v in values,
                        }
                        for v, label in f.allowed
                    ],
                )
            else:
                spec.update(type="text", value=",".join(values))
        elif name == "certification":
            value = raw or ""
            spec.update(
                type="select",
                value=value,
                options=[
                    {"value": c.value, "label": c.label, "selected": c.value == value}
                    for c in Certification
                ],
            )
        elif isinstance(f, forms.DateField):
            spec.update(type="date", value=raw or "")
        elif isinstance(f, forms.DecimalField | forms.FloatField | forms.IntegerField):
            spec.update(type="number", value="" if raw in (None, "") else raw)
        else:
            spec.update(type="search" if name == "q" else "text", value=raw or "", wide=name == "q")
        out.append(spec)
    # Free-text search first, then places, then the rest as declared.
    order = {"q": 0, "town": 1, "park": 2, "unit": 1}
    out.sort(key=lambda s: order.get(s["name"], 3 if s["type"] != "checks" else 4))
    return out


def _enum_for(kind: str, name: str):
    for c in presenters.COLUMNS[kind]:
        if c.key == name and c.choices is not None:
            return c.choices
    return None


def _place_options(name: str, names: dict, values: list) -> list[dict]:
    if name == "town":
        return [
            {"value": t["code"], "label": t["name"], "selected": t["code"] in values}
            for t in names["town_list"]
        ]
    if name == "park":
        groups: dict[str, dict] = {}
        for p in names["park_list"]:
            town = p.get("town")
            g = groups.setdefault(
                town, {"group": names["towns"].get(town, town or ""), "options": []}
            )
            g["options"].append(
                {"value": p["code"], "label": p["name"], "selected": p["code"] in values}
            )
        return list(groups.values())
    units = (
        OrgUnit.objects.filter(children__kind=OrgKind.TEAM)
        .distinct()
        .order_by("code")
        .values("code", "name")
    )
    return [
        {"value": u["code"], "label": u["name"], "selected": u["code"] in values} for u in units
    ]


# --- map -----------------------------------------------------------------------


@resource_access_required
def map_page(request):
    """The district map with layers, legend and the drill-down side panel."""
    level = request.GET.get("level", "district")
    code = request.GET.get("code", "")
    if level not in services.LEVELS:
        level, code = "district", ""
    # ?feature=parcels:P-001 opens that record's popup once the level is shown.
    feature_kind, _sep, feature_code = request.GET.get("feature", "").partition(":")
    feature = (
        {"kind": feature_kind, "code": feature_code}
        if feature_kind in PANEL_COLUMNS and feature_code
        else None
    )
    poi_categories = [{"value": c.value, "label": c.label, "color": c.color} for c in PoiCategory]
    return render(
        request,
        "resources/map.html",
        {
            "im_config": js_config(
                request, start={"level": level, "code": code, "feature": feature}
            ),
            "poi_categories": poi_categories,
            "parcel_statuses": ParcelStatus.legend(),
            "scales": EnterpriseScale.legend(),
        },
    )


def _overview_context(ov: dict, scope, names: dict | None = None) -> dict:
    by_status = {s["status"]: s for s in ov["land"]["by_status"]}
    buildings = ov["buildings"]
    total_floor = buildings.get("total_floor_m2") or 0
    vacant = buildings.get("vacant_floor_m2") or 0
    crumbs = [
        {
            "level": "district",
            "code": "",
            "name": names["district"] if names else district_name(),
            "href": reverse("map"),
        }
    ]
    if ov["level"] == "district":
        crumbs[0]["name"] = ov["name"] or crumbs[0]["name"]
    if ov["level"] == "park" and names is not None:
        town = names["park_town"].get(ov["code"])
        if town:
            crumbs.append(
                {
                    "level": "town",
                    "code": town,
                    "name": names["towns"].get(town, town),
                    "href": reverse("town-detail", args=[town]),
                }
            )
    if ov["level"] != "district":
        crumbs.append({"level": ov["level"], "code": ov["code"], "name": ov["name"], "href": None})
    economy, ents, teams = ov["economy"], ov["enterprises"], ov["teams"]
    figures = {
        "land_mu": fmt(ov["land"]["total_mu"]),
        "idle_mu": fmt(by_status.get("idle", {}).get("area_mu", 0)),
        "available_mu": fmt(by_status.get("available", {}).get("area_mu", 0)),
        "vacant_m2": fmt(vacant),
        "total_floor_m2": fmt(total_floor),
        "vacancy_pct": fmt(100.0 * vacant / total_floor, 1) if total_floor else None,
        "enterprises": fmt(ents.get("count")),
        "above": fmt(ents.get("above")),
        "below": fmt(ents.get("below")),
        "output": fmt(economy.get("output_wan")) if economy.get("output_wan") is not None else None,
        "revenue": fmt(economy.get("revenue_wan"))
        if economy.get("revenue_wan") is not None
        else None,
        "tax": fmt(economy.get("tax_wan")) if economy.get("tax_wan") is not None else None,
        "teams": fmt(teams.get("count")),
        "members": teams.get("members") or 0,
    }
    status_rows = [
        {**s, "count_fmt": fmt(s["count"]), "area_fmt": fmt(s["area_mu"])}
        for s in ov["land"]["by_status"]
    ]
    pois = [{**p, "count_fmt": fmt(p["count"])} for p in ov["pois"]["by_category"]]
    children = [
        {
            **c,
            "land_fmt": fmt(c["land_total_mu"]),
            "idle_fmt": fmt(c["idle_mu"]),
            "vacant_fmt": fmt(c["vacant_floor_m2"]),
            "enterprises_fmt": fmt(c["enterprises"]),
            "output_fmt": fmt(c["output_wan"]),
        }
        for c in ov["children"]
    ]
    chart_id = f"ov-{ov['level']}-{ov['code'] or 'root'}"
    return {
        "ov": ov,
        "crumbs": crumbs,
        "f": figures,
        "status_rows": status_rows,
        "poi_counts": pois,
        "children": children,
        "chart_id": chart_id,
        "status_chart": {
            "type": "pie",
            "unit": gettext("mu"),
            "data": [
                {
                    "name": s["label"],
                    "value": s["area_mu"],
                    "color": s["color"],
                    "count": s["count"],
                }
                for s in ov["land"]["by_status"]
            ],
        },
        "land_use_chart": {
            "type": "bar",
            "unit": gettext("mu"),
            "data": [
                {
                    "name": s["label"],
                    "value": s["area_mu"],
                    "color": s["color"],
                    "count": s["count"],
                }
                for s in ov["land"]["by_land_use"]
            ],
        },
        "bbox": ov.get("bbox"),
    }


def _overview_or_404(level: str, code: str | None, scope) -> dict:
    try:
        return services.overview(level=level, code=code, scope=scope)
    except services.NotFound as exc:
        raise Http404(str(exc)) from exc
    except services.InvalidFilter as exc:
        raise Http404(str(exc)) from exc
    except services.Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc


@resource_access_required
def map_panel(request):
    """Side-panel fragment of the map: the key figures of one level and its children."""
    scope = request_scope(request)
    level = request.GET.get("level", "district")
    code = request.GET.get("code") or None
    names = place_names(scope)
    ov = _overview_or_404(level, code, scope)
    return render(
        request,
        "resources/_overview.html",
        {**_overview_context(ov, scope, names), "mode": "panel"},
    )


@resource_access_required
def map_feature_panel(request, kind: str, code: str):
    """Side-panel (or, with ?compact=1, popup) fragment of one parcel, building, POI or enterprise."""
    if kind not in PANEL_COLUMNS:
        raise Http404(kind)
    scope = request_scope(request)
    d = _detail_or_404(kind, code, scope)
    names = place_names(scope)
    compact = request.GET.get("compact") == "1"
    keys = POPUP_COLUMNS[kind] if compact else PANEL_COLUMNS[kind]
    ctx = {
        "kind": kind,
        "d": d,
        "code": code,
        "title": d.get("name") or code,
        "attrs": attributes(kind, _row_of(d), names, keys),
        "detail_href": reverse(DETAIL_URLS[kind], args=[code]),
        "crumbs": _record_crumbs(kind, d, names),
        "nearby": (d.get("nearby_pois") or [])[:8],
        "nearby_total": len(d.get("nearby_pois") or []),
        "status": _status_chip(kind, d),
    }
    if not compact and kind == "parcels":
        ctx["related"] = [
            (
                _("Enterprises"),
                table(
                    "enterprises", d.get("enterprises", []), names, ("name", "scale", "output_wan")
                ),
            ),
            (
                _("Buildings"),
                table(
                    "buildings",
                    d.get("buildings", []),
                    names,
                    ("name", "building_type", "vacant_floor_m2"),
                ),
            ),
        ]
    elif not compact and kind == "buildings":
        ctx["related"] = [
            (
                _("Enterprises"),
                table(
                    "enterprises", d.get("enterprises", []), names, ("name", "scale", "output_wan")
                ),
            ),
        ]
    template = "resources/_popup.html" if compact else "resources/_feature_panel.html"
    return render(request, template, ctx)


# --- lists ---------------------------------------------------------------------


@resource_access_required
def resource_list(request, kind: str):
    """A filterable, sortable, paginated list with exports and a small map of the results.

    An htmx request (the filter form, sort and page links) gets only the results
    fragment; the address bar follows (hx-push-url), so every view is a link.
    """
    spec = LISTS[kind]
    scope = request_scope(request)
    names = place_names(scope)
    params = request.GET.copy()
    sort = params.get("sort", "")
    errors = None
    try:
        filterset, qs = services.search(kind=kind, params=params, scope=scope)
    except services.InvalidFilter as exc:
        errors = exc.errors
        filterset = FILTERS[kind](params, queryset=presenters.KIND_MODELS[kind].objects.none())
        filterset.is_valid()
        qs = presenters.KIND_MODELS[kind].objects.none()
    sort_field = spec.sorts.get(sort.lstrip("-"))
    if sort_field:
        qs = qs.order_by(("-" if sort.startswith("-") else "") + sort_field, "pk")
    else:
        sort = ""
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = presenters.rows(kind, page.object_list, scope)
    filter_query = _query_without(params, "page", "sort")
    base_query = _query_without(params, "page")

    def with_query(**kw):
        q = QueryDict(mutable=True)
        q.update(QueryDict(filter_query))
        for k, v in kw.items():
            if v:
                q[k] = v
        return "?" + q.urlencode() if q else "?"

    tbl = table(kind, rows, names)
    headers = []
    for col in tbl["columns"]:
        h = {
            "key": col.key,
            "label": col.label,
            "sortable": col.key in spec.sorts,
            "dir": None,
            "href": None,
            "num": False,
        }
        if h["sortable"]:
            current = sort.lstrip("-") == col.key
            h["dir"] = ("desc" if sort.startswith("-") else "asc") if current else None
            h["href"] = with_query(
                sort=("" if sort.startswith("-") else "-") + col.key if current else col.key
            )
        headers.append(h)
    # Numeric columns are right-aligned: judge by the first non-blank value.
    for i, _col in enumerate(tbl["columns"]):
        for r in tbl["rows"]:
            c = r["cells"][i]
            if c["value"] not in (None, "") or c["masked"]:
                headers[i]["num"] = c["num"]
                break
    pages = []
    if paginator.num_pages > 1:
        for n in paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1):
            pages.append(
                {
                    "n": n,
                    "gap": n == paginator.ELLIPSIS,
                    "current": n == page.number,
                    "href": with_query(sort=sort, page=str(n)) if n != paginator.ELLIPSIS else None,
                }
            )
    ctx = {
        "spec": spec,
        "kind": kind,
        "title": spec.title,
        "fields": filter_fields(kind, filterset, names),
        "errors": errors,
        "table": tbl,
        "headers": headers,
        "page": page,
        "pages": pages,
        "prev_href": with_query(sort=sort, page=str(page.previous_page_number()))
        if page.has_previous()
        else None,
        "next_href": with_query(sort=sort, page=str(page.next_page_number()))
        if page.has_next()
        else None,
        "count": paginator.count,
        "count_fmt": fmt(paginator.count),
        "filter_query": filter_query,
        "base_query": base_query,
        "export_xlsx": f"{api_base()}{kind}/export.xlsx"
        + (f"?{filter_query}" if filter_query else ""),
        "export_geojson": f"{api_base()}{kind}/export.geojson"
        + (f"?{filter_query}" if filter_query else ""),
        "bbox": _result_bbox(spec, qs) if spec.layer and paginator.count else None,
        "sort": sort,
        "any_masked": any(r.get("masked") for r in rows),
    }
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render(request, "resources/_results.html", ctx)
    ctx["im_config"] = js_config(request)
    return render(request, "resources/list.html", ctx)


def _result_bbox(spec: ListSpec, qs):
    qs = qs.order_by()
    if spec.point:
        box = qs.filter(lon__isnull=False).aggregate(
            a=Min("lon"), b=Min("lat"), c=Max("lon"), d=Max("lat")
        )
    else:
        box = qs.aggregate(a=Min("min_lon"), b=Min("min_lat"), c=Max("max_lon"), d=Max("max_lat"))
    if box["a"] is None:
        return None
    return [box["a"], box["b"], box["c"], box["d"]]


# --- record pages --------------------------------------------------------------


def _detail_or_404(kind: str, code: str, scope) -> dict:
    try:
        return services.detail(kind=kind, code=code, scope=scope)
    except services.NotFound as exc:
        raise Http404(str(exc)) from exc
    except services.Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc


def _row_of(d: dict) -> dict:
    """The detail's own row: the enterprise detail nests its parcel and building rows
    under the keys of their code columns; the attribute list shows the codes."""
    row = dict(d)
    for key in ("parcel", "building"):
        if isinstance(row.get(key), dict):
            row[key] = row[key].get("code")
    return row


def _record_crumbs(kind: str, d: dict, names: dict) -> list[dict]:
    crumbs = [
        {
            "name": names["district"],
            "href": reverse("map"),
            "level": "district",
            "code": "",
        }
    ]
    town, park = d.get("town"), d.get("park")
    if kind == "teams":
        unit = d.get("unit")
        if unit in names["towns"]:
            town = unit
        elif unit in names["parks"]:
            park = unit
            town = names["park_town"].get(unit)
    if park and not town:
        town = names["park_town"].get(park)
    if town:
        crumbs.append(
            {
                "name": names["towns"].get(town, town),
                "href": reverse("town-detail", args=[town]),
                "level": "town",
                "code": town,
            }
        )
    if park:
        crumbs.append(
            {
                "name": names["parks"].get(park, park),
                "href": reverse("park-detail", args=[park]),
                "level": "park",
                "code": park,
            }
        )
    return crumbs


def _status_chip(kind: str, d: dict):
    for c in presenters.COLUMNS[kind]:
        if c.choices is not None and c.key in ("status", "scale", "building_type", "category"):
            v = d.get(c.key)
            if v:
                return {"label": presenters.display(c, v), "color": _choice_color(c.choices, v)}
    return None


def _nearby_context(d: dict) -> dict:
    nearby = d.get("nearby_pois") or []
    by_cat: dict[str, dict] = {}
    for p in nearby:
        g = by_cat.setdefault(
            p["category"],
            {
                "label": p["category_label"],
                "color": p["color"],
                "count": 0,
                "nearest_m": p["distance_m"],
            },
        )
        g["count"] += 1
        g["nearest_m"] = min(g["nearest_m"], p["distance_m"])
    return {
        "nearby": nearby,
        "nearby_by_category": sorted(by_cat.values(), key=lambda g: g["nearest_m"]),
    }


POI_EXTRA_LABELS = {"line": _("Metro line"), "seq": _("Station number")}

INDICATOR_FIELDS = [
    ("year", _("Year")),
    ("output_wan", _("Output (10k yuan)")),
    ("revenue_wan", _("Revenue (10k yuan)")),
    ("value_added_wan", _("Value added (10k yuan)")),
    ("tax_wan", _("Tax (10k yuan)")),
    ("employees", _("Employees")),
    ("rd_spend_wan", _("R&D spend (10k yuan)")),
    ("energy_tce", _("Energy use (tce)")),
    ("electricity_kwh", _("Electricity (kWh)")),
    ("emissions_t", _("Emissions (t)")),
    ("land_area_mu", _("Land area (mu)")),
]


@resource_access_required
def resource_detail(request, kind: str, code: str):
    """All attributes of one record, a map of it and what is on and around it."""
    spec = LISTS[kind]
    scope = request_scope(request)
    d = _detail_or_404(kind, code, scope)
    names = place_names(scope)
    row = _row_of(d)
    ctx = {
        "spec": spec,
        "kind": kind,
        "code": code,
        "d": d,
        "title": d.get("name") or code,
        "attrs": attributes(kind, row, names),
        "crumbs": _record_crumbs(kind, d, names),
        "status": _status_chip(kind, d),
        "masked": d.get("masked", False),
        "related": [],
        **_nearby_context(d),
    }
    map_data = {
        "layer": spec.layer,
        "geometry": d.get("geometry"),
        "kind": kind,
        "code": code,
        "lon": d.get("lon"),
        "lat": d.get("lat"),
        "nearbyRadius": services.NEARBY_RADIUS_M,
    }
    if kind == "parcels":
        ctx["related"] = [
            (
                "buildings",
                _("Buildings on this parcel"),
                table("buildings", d.get("buildings", []), names, RELATED_COLUMNS["buildings"]),
            ),
            (
                "enterprises",
                _("Enterprises on this parcel"),
                table(
                    "enterprises", d.get("enterprises", []), names, RELATED_COLUMNS["enterprises"]
                ),
            ),
            (
                "grants",
                _("Land grants"),
                table("land-grants", d.get("grants", []), names, RELATED_COLUMNS["land-grants"]),
            ),
        ]
    elif kind == "buildings":
        ctx["related"] = [
            (
                "enterprises",
                _("Enterprises in this building"),
                table(
                    "enterprises", d.get("enterprises", []), names, RELATED_COLUMNS["enterprises"]
                ),
            ),
        ]
        if d.get("parcel"):
            map_data["parcel"] = d["parcel"]
    elif kind == "enterprises":
        indicators = d.get("indicators") or []
        tax_masked = bool(d.get("masked"))
        fields = [
            (k, label) for k, label in INDICATOR_FIELDS if not (k == "tax_wan" and tax_masked)
        ]
        ctx["indicator_fields"] = fields
        ctx["indicator_rows"] = [
            [
                {
                    "key": k,
                    "value": row.get(k),
                    "text": str(row.get(k)) if k == "year" else fmt(row.get(k), 2),
                    "year": k == "year",
                }
                for k, _label in fields
            ]
            for row in indicators
        ]
        ctx["tax_masked"] = tax_masked
        ctx["indicator_chart"] = {
            "years": [r["year"] for r in indicators],
            "series": [
                {"key": k, "name": str(label), "data": [r.get(k) for r in indicators]}
                for k, label in INDICATOR_FIELDS
                if k in ("output_wan", "revenue_wan", "tax_wan", "employees")
                and not (k == "tax_wan" and tax_masked)
            ],
        }
        for key, title in (("parcel", _("Parcel")), ("building", _("Building"))):
            if d.get(key):
                sub = "parcels" if key == "parcel" else "buildings"
                ctx["related"].append((key, title, table(sub, [d[key]], names, PANEL_COLUMNS[sub])))
    elif kind == "teams":
        ctx["members"] = d.get("members", [])
    elif kind == "pois":
        ctx["extra_attrs"] = [
            (POI_EXTRA_LABELS.get(k, k), v) for k, v in sorted((d.get("extra") or {}).items())
        ]
    if kind == "enterprises":
        certs = next((c for c in ctx["attrs"] if c["key"] == "certifications"), None)
        ctx["cert_chips"] = (certs or {}).get("chips") or []
    ctx["map_data"] = map_data
    ctx["map_feature"] = kind in PANEL_COLUMNS
    ctx["has_map"] = kind != "teams" and d.get("geometry") is not None
    ctx["im_config"] = js_config(request)
    return render(
        request,
        f"resources/detail_{kind}.html"
        if kind in ("enterprises", "teams")
        else "resources/detail.html",
        ctx,
    )


@resource_access_required
def place_detail(request, level: str, code: str):
    """A town or park page: its key figures, its parks, a map of it."""
    scope = request_scope(request)
    names = place_names(scope)
    ov = _overview_or_404(level, code, scope)
    ctx = {
        **_overview_context(ov, scope, names),
        "mode": "page",
        "level": level,
        "code": code,
        "title": ov["name"],
    }
    ctx["im_config"] = js_config(request)
    ctx["map_data"] = {"level": level, "code": code, "bbox": ov.get("bbox")}
    ctx["list_links"] = [
        (LISTS[k].title, reverse(LISTS[k].list_url) + "?" + urlencode({level: code}))
        for k in ("parcels", "buildings", "pois", "enterprises")
    ]
    if level == "town":
        ctx["list_links"].append(
            (LISTS["teams"].title, reverse("team-list") + "?" + urlencode({"unit": code}))
        )
    return render(request, "resources/place.html", ctx)
