"""Site matching services (SPEC M1–M3): the only place the API, pages and commands call.

match_sites() refreshes the derived tables if anything changed, takes the
process's match index for the current refresh, and answers from it;
surroundings() measures one site against every POI within a radius.
"""

import io
import json
import time

import numpy as np
import shapely
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from investmap.core.geo import degrees_for_metres
from investmap.core.models import audit
from investmap.core.scope import Scope, scope_root
from investmap.resources.choices import PoiCategory
from investmap.resources.models import Building, Parcel, Park, Poi, Town
from investmap.resources.services import Forbidden, InvalidChange, NotFound

from . import demand as demand_mod
from . import features, matcher
from . import geometry as geo
from . import index as index_mod
from .models import CandidateList

MAX_RADIUS_M = int(demand_mod.MAX_DISTANCE_M)  # as far as a demand's within_m may reach
DEFAULT_RADIUS_M = 3000
MAX_SURROUNDINGS = 5000
# Exports list at most this many results (a report, not a data dump).
EXPORT_MAX = 2000


def _require(scope: Scope) -> None:
    if not scope.sees_resources:
        raise Forbidden(_("Your role has no access to the resource library."))


def place_codes() -> dict[str, set[str]]:
    return {
        "towns": set(Town.objects.values_list("code", flat=True)),
        "parks": set(Park.objects.values_list("code", flat=True)),
    }


def parse_demand(data) -> demand_mod.Demand:
    return demand_mod.parse(data, place_codes=place_codes())


def current_index() -> index_mod.Index:
    features.ensure_fresh()
    st = features.state()
    if not st.token:  # never built (an empty library): build once
        features.rebuild()
        st = features.state()
    detail = st.detail or {}
    return index_mod.current(
        st.token,
        detail.get("packed_order"),
        previous_token=detail.get("previous_token"),
        touched=detail.get("touched"),
    )


def match_sites(*, data, scope: Scope, outlines: bool = True) -> dict:
    """Ranked candidate sites for a demand document; raises InvalidDemand or Forbidden."""
    _require(scope)
    started = time.perf_counter()
    demand = parse_demand(data)
    idx = current_index()
    outcome = matcher.match(demand, idx)
    top = outcome.top(idx, demand.limit)
    shapes = _outlines(idx, top) if outlines else {}
    results = [_result(demand, idx, c, shapes, rank=i + 1) for i, c in enumerate(top)]
    return {
        "demand": demand.as_dict(),
        "total": sum(outcome.counted.values()),
        "counts": outcome.counted,
        "truncated": outcome.truncated,
        "results": results,
        "took_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _result(demand, idx, c, shapes, *, rank: int) -> dict:
    matcher.explain(demand, idx, c)
    area_mu, floor_m2 = matcher.area_of(idx, c)
    out = {"rank": rank, "kind": c.kind}
    if c.kind == "floor_space":
        i = c.members[0]
        b = idx.buildings
        out.update(
            building=str(b.codes[i]),
            name=str(b.names[i] or ""),
            town=str(b.town[i]),
            park=str(b.park[i]) or None,
            floor_m2=round(floor_m2, 1),
        )
        key = ("building", int(b.ids[i]))
    else:
        p = idx.parcels
        members = list(c.members)
        out.update(
            parcels=[str(x) for x in p.codes[members]],
            town=str(p.town[members[0]]),
            park=str(p.park[members[0]]) or None,
            land_use=[str(x) for x in p.land_use[members]],
            status=[str(x) for x in p.status[members]],
            name="、".join(str(n) for n in p.names[members] if n) or None,
            # Missing is not zero: one unknown price makes the total unknown.
            price_wan=(
                None
                if np.isnan(p.price_wan[members]).any()
                else round(float(p.price_wan[members].sum()), 2)
            ),
        )
        key = ("parcels", tuple(int(x) for x in p.ids[members]))
    out.update(
        area_mu=round(area_mu, 3),
        score=round(float(c.score), 4),
        distances=matcher.distances_dict(c.dist),
        reasons=matcher.reasons(demand, idx, c),
        geometry=shapes.get(key),
    )
    return out


def _outlines(idx, cands) -> dict:
    """GeoJSON outline per result: a building's, a parcel's, or a combination's union."""
    parcel_ids = {
        int(idx.parcels.ids[m]) for c in cands if c.kind != "floor_space" for m in c.members
    }
    building_ids = {int(idx.buildings.ids[c.members[0]]) for c in cands if c.kind == "floor_space"}
    pg = dict(Parcel.objects.filter(pk__in=parcel_ids).values_list("pk", "geometry"))
    bg = dict(Building.objects.filter(pk__in=building_ids).values_list("pk", "geometry"))
    out = {}
    for c in cands:
        if c.kind == "floor_space":
            bid = int(idx.buildings.ids[c.members[0]])
            if bid in bg:
                out[("building", bid)] = json.loads(bg[bid])
            continue
        ids = tuple(int(idx.parcels.ids[m]) for m in c.members)
        texts = [pg[i] for i in ids if i in pg]
        if len(texts) == 1:
            out[("parcels", ids)] = json.loads(texts[0])
        elif texts:
            merged = shapely.union_all(shapely.from_geojson(texts))
            out[("parcels", ids)] = json.loads(shapely.to_geojson(merged, indent=None))
    return out


# --- surroundings (SPEC M3) ---------------------------------------------------------


def _check_radius(radius_m) -> float:
    try:
        r = float(radius_m)
    except (TypeError, ValueError):
        r = -1
    if not 0 < r <= MAX_RADIUS_M:
        raise demand_mod.InvalidDemand(
            {
                "radius_m": [
                    _("must be a number of metres more than 0 and at most %(max)s")
                    % {"max": MAX_RADIUS_M}
                ]
            }
        )
    return r


def surroundings(
    *, kind: str, code: str, radius_m=DEFAULT_RADIUS_M, categories=(), scope: Scope
) -> dict:
    """Every POI within `radius_m` of the site's outline, nearest first, with counts by category."""
    _require(scope)
    radius = _check_radius(radius_m)
    cats = [c for c in (categories or []) if c]
    bad = [c for c in cats if c not in PoiCategory.values]
    if bad:
        raise demand_mod.InvalidDemand(
            {
                "category": [
                    _("unknown category '%(c)s'; accepted: %(ok)s")
                    % {"c": ", ".join(bad), "ok": ", ".join(PoiCategory.values)}
                ]
            }
        )
    model = {"parcels": Parcel, "buildings": Building}[kind]
    obj = model.objects.filter(code=code).first()
    if obj is None:
        raise NotFound(
            _("No %(kind)s with code %(code)s.") % {"kind": model._meta.verbose_name, "code": code}
        )
    epsg = features.state().epsg or features.district_epsg()
    sh = geo.shapes([obj.pk], [obj.geometry], epsg)
    dlon, dlat = degrees_for_metres(radius * 1.05 + 50, (obj.min_lat + obj.max_lat) / 2)
    qs = Poi.objects.filter(
        lon__gte=obj.min_lon - dlon,
        lon__lte=obj.max_lon + dlon,
        lat__gte=obj.min_lat - dlat,
        lat__lte=obj.max_lat + dlat,
    )
    if cats:
        qs = qs.filter(category__in=cats)
    rows = list(qs.values_list("code", "name", "category", "lon", "lat", "address"))
    if rows:
        xy = geo.project_xy([r[3] for r in rows], [r[4] for r in rows], epsg)
        dist = geo.distances_to(sh.geoms[0], xy)
    else:
        dist = np.zeros(0)
    inside = np.nonzero(dist <= radius + 1e-9)[0]
    order = sorted(inside.tolist(), key=lambda k: (dist[k], rows[k][0]))
    labels = dict(PoiCategory.choices)
    counts: dict[str, int] = {}
    items = []
    for k in order:
        code_, name, cat, lon, lat, address = rows[k]
        counts[cat] = counts.get(cat, 0) + 1
        if len(items) < MAX_SURROUNDINGS:
            items.append(
                {
                    "code": code_,
                    "name": name,
                    "category": cat,
                    "category_label": str(labels.get(cat, cat)),
                    "distance_m": round(float(dist[k]), 1),
                    "lon": lon,
                    "lat": lat,
                    "address": address,
                }
            )
    by_cat = [
        {
            "category": c,
            "label": str(labels[c]),
            "color": PoiCategory.color_map.get(c, "#888888"),
            "count": counts[c],
        }
        for c in PoiCategory.values
        if c in counts
    ]
    return {
        "kind": kind,
        "code": code,
        "radius_m": radius,
        "total": len(order),
        "truncated": len(order) > len(items),
        "counts": by_cat,
        "pois": items,
    }


# --- saved candidate lists and exports -------------------------------------------------


def save_candidates(*, name: str, data, scope: Scope, user) -> dict:
    """Run the demand and keep it with its results, for a project to pick a site from later."""
    _require(scope)
    name = (name or "").strip()
    if not name:
        raise InvalidChange({"name": [_("give the list a name")]})
    answer = match_sites(data=data, scope=scope, outlines=False)
    kept = [{k: v for k, v in r.items() if k != "geometry"} for r in answer["results"]]
    with transaction.atomic():
        obj = CandidateList.objects.create(
            name=name[:200],
            demand=answer["demand"],
            results=kept,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit(
            user=user, action="save_candidates", target="matching", list=obj.pk, results=len(kept)
        )
    return candidate_list(pk=obj.pk, scope=scope)


def candidate_list(*, pk: int, scope: Scope) -> dict:
    _require(scope)
    obj = _visible_lists(scope).filter(pk=pk).select_related("created_by").first()
    if obj is None:
        raise NotFound(_("No candidate list %(pk)s.") % {"pk": pk})
    return _list_dict(obj)


def candidate_lists(*, scope: Scope, limit: int = 50) -> list[dict]:
    _require(scope)
    return [
        _list_dict(o, brief=True)
        for o in _visible_lists(scope).select_related("created_by")[:limit]
    ]


def _visible_lists(scope: Scope):
    """District-wide roles see every saved list; others their own and their units' users'.

    "Their units": the subtree of the user's scope root (a team widens to its
    town or park), as for sensitive data (core.scope) — but for every role.
    """
    qs = CandidateList.objects.all()
    if scope.sensitive_org_ids is None:
        return qs
    user = get_user_model().objects.filter(pk=scope.user_id).select_related("org_unit").first()
    root = scope_root(user.org_unit) if user is not None else None
    units = root.descendant_ids() if root is not None else set()
    return qs.filter(Q(created_by_id=scope.user_id) | Q(created_by__org_unit_id__in=units))


def _list_dict(obj, brief=False) -> dict:
    out = {
        "id": obj.pk,
        "name": obj.name,
        "created_at": obj.created_at.isoformat(),
        "created_by": obj.created_by.get_username() if obj.created_by else None,
        "demand": obj.demand,
        "count": len(obj.results),
    }
    if not brief:
        out["results"] = obj.results
    return out


def _rows_for_export(answer: dict) -> tuple[list[str], list[list]]:
    labels = dict(PoiCategory.choices)
    kinds = {
        "parcel": _("Parcel"),
        "combination": _("Combination"),
        "floor_space": _("Floor space"),
    }
    header = [
        _("Rank"),
        _("Result type"),
        _("Site"),
        _("Town"),
        _("Park"),
        _("Area (mu)"),
        _("Floor area (m²)"),
        _("Score"),
        _("Reasons"),
    ]
    near_cats = [n["category"] for n in answer["demand"].get("near", [])]
    header += [_("Nearest %(what)s (m)") % {"what": labels[c]} for c in dict.fromkeys(near_cats)]
    rows = []
    for r in answer["results"]:
        site = r.get("building") or " + ".join(r.get("parcels", []))
        rows.append(
            [
                r["rank"],
                str(kinds[r["kind"]]),
                site,
                r.get("town"),
                r.get("park"),
                r["area_mu"],
                r.get("floor_m2"),
                r["score"],
                "；".join(x["text"] for x in r["reasons"]),
                *[r["distances"].get(c) for c in dict.fromkeys(near_cats)],
            ]
        )
    return [str(h) for h in header], rows


def _export_answer(data, scope: Scope) -> dict:
    demand = parse_demand(data)
    normalised = demand.as_dict()
    normalised["limit"] = min(demand.limit, EXPORT_MAX)
    return match_sites(data=normalised, scope=scope, outlines=False)


def _as_text(cell) -> None:
    """Keep imported text from being read as a spreadsheet formula (=, +, -, @)."""
    if isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"):
        cell.data_type = "s"


def export_xlsx(*, data, scope: Scope, user) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    answer = _export_answer(data, scope)
    header, rows = _rows_for_export(answer)
    wb = Workbook()
    ws = wb.active
    ws.title = str(_("Candidate sites"))[:31]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE7F0")
    for row in rows:
        ws.append(row)
        for cell in ws[ws.max_row]:
            _as_text(cell)
    widths = [6, 10, 28, 10, 10, 10, 12, 8, 80]
    for i in range(1, len(header) + 1):
        ws.column_dimensions[get_column_letter(i)].width = widths[i - 1] if i <= len(widths) else 16
    for row in ws.iter_rows(min_row=2, min_col=9, max_col=9):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    meta = wb.create_sheet(str(_("Demand"))[:31])
    for key, value in answer["demand"].items():
        meta.append(
            [
                key,
                json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value,
            ]
        )
    buf = io.BytesIO()
    wb.save(buf)
    audit(user=user, action="export", target="matching", format="xlsx", rows=len(rows))
    return buf.getvalue()


def export_pdf(*, data, scope: Scope, user) -> bytes:
    from .pdf import render

    answer = _export_answer(data, scope)
    header, rows = _rows_for_export(answer)
    out = render(answer=answer, header=header, rows=rows)
    audit(user=user, action="export", target="matching", format="pdf", rows=len(rows))
    return out
