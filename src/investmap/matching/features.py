"""Build and refresh the derived tables: accessibility per parcel/building, adjacency.

`rebuild()` recomputes everything (`investmap match rebuild`); `refresh()`
consumes the StaleMarks left by edits and imports and recomputes only what
they touch:

* a parcel or building mark → that record's features (and a parcel's edges);
* a POI mark → the parcels and buildings whose nearest POI of the category was
  that POI, or that the POI's old or new position could now be nearest to, or
  whose counts it may enter or leave;
* a mark without a record (an import, the demo writer) → the whole kind.

Every refresh bumps FeatureState.generation, which is how web processes know
their match index is out of date.
"""

import json
import logging
import time
import uuid
from collections import defaultdict

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Q
from django.utils import timezone

from investmap.core.geo import utm_epsg
from investmap.resources.choices import PoiCategory
from investmap.resources.models import Building, Parcel, Poi

from . import geometry as geo
from .models import Adjacency, BuildingFeature, FeatureState, ParcelFeature, StaleMark

log = logging.getLogger(__name__)

BATCH = 2000
# The category order of ParcelFeature.packed / BuildingFeature.packed.
PACKED_ORDER = tuple(PoiCategory.values)


def radii() -> tuple[int, ...]:
    return tuple(int(r) for r in getattr(settings, "INVESTMAP_MATCH_RADII", (1000, 3000)))


def adjacency_m() -> float:
    return float(getattr(settings, "INVESTMAP_MATCH_ADJACENCY_M", 1.0))


def state() -> FeatureState:
    return FeatureState.objects.get_or_create(pk=1)[0]


def district_epsg() -> str:
    """The UTM zone of the district, from the mean bbox centre of its parcels (or POIs).

    Deterministic: the same data always gives the same zone, so a refresh never
    flips the projection and forces a full rebuild.
    """
    mean = Parcel.objects.aggregate(
        x0=Avg("min_lon"), x1=Avg("max_lon"), y0=Avg("min_lat"), y1=Avg("max_lat")
    )
    if mean["x0"] is not None:
        return utm_epsg((mean["x0"] + mean["x1"]) / 2, (mean["y0"] + mean["y1"]) / 2)
    mean = Poi.objects.aggregate(lon=Avg("lon"), lat=Avg("lat"))
    if mean["lon"] is not None:
        return utm_epsg(float(mean["lon"]), float(mean["lat"]))
    return utm_epsg(121.4, 31.2)


# --- loading ------------------------------------------------------------------


def load_shapes(model, epsg: str, ids=None) -> geo.Shapes:
    qs = model.objects.order_by("pk")
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    rows = list(qs.values_list("pk", "geometry"))
    return geo.shapes([r[0] for r in rows], [r[1] for r in rows], epsg)


def load_pois(epsg: str) -> dict[str, geo.PointSet]:
    rows = list(Poi.objects.order_by("pk").values_list("pk", "category", "lon", "lat"))
    by_cat: dict[str, list] = defaultdict(list)
    for row in rows:
        by_cat[row[1]].append(row)
    out = {}
    for cat in PoiCategory.values:
        items = by_cat.get(cat, [])
        ids = [r[0] for r in items]
        xy = geo.project_xy([r[2] for r in items], [r[3] for r in items], epsg) if items else []
        out[cat] = geo.PointSet.build(ids, xy)
    return out


# --- computing ------------------------------------------------------------------


def feature_rows(sh: geo.Shapes, pois: dict[str, geo.PointSet], generation: int) -> list[dict]:
    """One dict per shape: x, y, reach_m, distances, nearest, counts."""
    n = len(sh)
    dist = {}
    near = {}
    cnt = {str(r): {} for r in radii()}
    for cat, ps in pois.items():
        if ps.tree is None:
            continue
        dist[cat], near[cat] = geo.nearest(sh, ps)
        for r, values in geo.counts_within(sh, ps, radii()).items():
            cnt[str(r)][cat] = values
    packed = np.full((n, len(PACKED_ORDER)), np.nan)
    for j, cat in enumerate(PACKED_ORDER):
        if cat in dist:
            packed[:, j] = np.round(dist[cat], 2)
    rows = []
    for k in range(n):
        rows.append(
            {
                "id": int(sh.ids[k]),
                "x": float(sh.points[k, 0]),
                "y": float(sh.points[k, 1]),
                "reach_m": float(sh.reach[k]),
                "distances": {c: round(float(v[k]), 2) for c, v in dist.items()},
                "nearest": {c: int(v[k]) for c, v in near.items()},
                "counts": {r: {c: int(v[k]) for c, v in by.items()} for r, by in cnt.items()},
                "packed": packed[k].tobytes(),
                "generation": generation,
            }
        )
    return rows


def _write_features(model, key: str, rows: list[dict], ids=None) -> None:
    """Replace the rows of `ids` (None: all) with `rows`, in plain batched INSERTs.

    Model instances and bulk_create cost more than the computation here; the
    JSON columns are serialised once and cast on PostgreSQL (jsonb).
    """
    qs = model.objects.all()
    if ids is not None:
        ids = list(ids)
        for start in range(0, len(ids), BATCH):
            qs.filter(**{f"{key}_id__in": ids[start : start + BATCH]}).delete()
    else:
        qs.delete()
    quote = connection.ops.quote_name
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    columns = [
        f"{key}_id",
        "x",
        "y",
        "reach_m",
        "distances",
        "nearest",
        "counts",
        "packed",
        "generation",
    ]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES (%s, %s, %s, %s, %s{cast}, %s{cast}, %s{cast}, %s, %s)"
    )
    values = [
        (
            r["id"],
            r["x"],
            r["y"],
            r["reach_m"],
            json.dumps(r["distances"], separators=(",", ":")),
            json.dumps(r["nearest"], separators=(",", ":")),
            json.dumps(r["counts"], separators=(",", ":")),
            r["packed"],
            r["generation"],
        )
        for r in rows
    ]
    with connection.cursor() as cur:
        for start in range(0, len(values), BATCH):
            cur.executemany(sql, values[start : start + BATCH])


def _write_edges(a, b, gaps, ids=None) -> int:
    if ids is not None:
        ids = list(ids)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            Adjacency.objects.filter(a_id__in=chunk).delete()
            Adjacency.objects.filter(b_id__in=chunk).delete()
    else:
        Adjacency.objects.all().delete()
    Adjacency.objects.bulk_create(
        [
            Adjacency(a_id=int(x), b_id=int(y), gap_m=round(float(g), 3))
            for x, y, g in zip(a, b, gaps, strict=True)
        ],
        batch_size=BATCH,
    )
    return len(a)


def _neighbour_shapes(sh: geo.Shapes, epsg: str) -> geo.Shapes:
    """Parcels whose bbox comes within the adjacency distance of any shape in `sh`."""
    if not len(sh):
        return sh
    pad = max(adjacency_m(), 1.0) * 2 / 100_000  # degrees, generous
    rows = list(
        Parcel.objects.filter(pk__in=[int(i) for i in sh.ids]).values_list(
            "min_lon", "min_lat", "max_lon", "max_lat"
        )
    )
    ids = set()
    # OR-ed a few hundred boxes at a time: SQLite refuses expression trees
    # deeper than 1000, which one OR per changed parcel soon exceeds.
    for start in range(0, len(rows), 200):
        near = Q()
        for x0, y0, x1, y1 in rows[start : start + 200]:
            near |= Q(
                min_lon__lte=x1 + pad,
                max_lon__gte=x0 - pad,
                min_lat__lte=y1 + pad,
                max_lat__gte=y0 - pad,
            )
        ids.update(Parcel.objects.filter(near).values_list("pk", flat=True))
    return load_shapes(Parcel, epsg, ids)


# --- refresh -----------------------------------------------------------------------


def rebuild(*, progress=None) -> dict:
    """Recompute every derived table; returns the timings."""
    StaleMark.objects.create(kind="parcel")
    StaleMark.objects.create(kind="building")
    return refresh(progress=progress, full=True)


def pending() -> bool:
    return StaleMark.objects.exists()


def ensure_fresh() -> None:
    """Refresh now if anything changed since the last refresh (cheap when nothing did)."""
    if pending():
        refresh()


def refresh(*, progress=None, full: bool = False) -> dict:
    say = progress or (lambda msg: None)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    with transaction.atomic():
        state()  # the row exists before it is locked, so two first refreshes serialise
        st = FeatureState.objects.select_for_update().get(pk=1)
        marks = list(StaleMark.objects.order_by("pk"))
        if not marks and not full:
            return {"refreshed": False}
        epsg = district_epsg()
        if st.epsg != epsg:
            full = True
        generation = st.generation + 1
        plan = _plan(marks, full)
        if plan["parcel"] == set() and plan["building"] == set() and not plan["poi_marks"]:
            pois = {}  # attribute edits only: nothing to recompute
        else:
            t = time.perf_counter()
            pois = load_pois(epsg)
            timings["load_pois"] = time.perf_counter() - t
        if plan["poi_marks"]:
            _affected_by_pois(plan, pois, epsg)
        touched = _touched(plan)
        counts = {}
        for model, feature_model, key in (
            (Parcel, ParcelFeature, "parcel"),
            (Building, BuildingFeature, "building"),
        ):
            ids = plan[key]
            if ids is not None and not ids:
                continue
            t = time.perf_counter()
            sh = load_shapes(model, epsg, ids)
            timings[f"load_{key}s"] = time.perf_counter() - t
            say(f"{key}s: {len(sh)} to compute")
            t = time.perf_counter()
            rows = feature_rows(sh, pois, generation)
            timings[f"{key}_features"] = time.perf_counter() - t
            t = time.perf_counter()
            _write_features(feature_model, key, rows, ids)
            timings[f"write_{key}_features"] = time.perf_counter() - t
            counts[key] = len(rows)
            if key == "parcel" and plan["edges"] is not False:
                t = time.perf_counter()
                if ids is None:
                    a, b, g = geo.adjacency(sh, gap_m=adjacency_m())
                else:
                    a, b, g = geo.adjacency(sh, _neighbour_shapes(sh, epsg), gap_m=adjacency_m())
                timings["adjacency"] = time.perf_counter() - t
                t = time.perf_counter()
                counts["edges"] = _write_edges(a, b, g, ids)
                timings["write_adjacency"] = time.perf_counter() - t
        # Delete exactly the marks read: on PostgreSQL a mark with a lower id may
        # commit after they were read, and must survive for the next refresh.
        done = [m.pk for m in marks]
        for start in range(0, len(done), BATCH):
            StaleMark.objects.filter(pk__in=done[start : start + BATCH]).delete()
        st.generation = generation
        previous_token = st.token
        st.token = uuid.uuid4().hex
        st.epsg = epsg
        st.built_at = timezone.now()
        st.seconds = round(time.perf_counter() - t_all, 3)
        st.detail = {
            "counts": counts,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "full": plan["parcel"] is None,
            "packed_order": list(PACKED_ORDER),
            # what changed since the previous token, for index.current() to patch
            "previous_token": previous_token,
            "touched": touched,
        }
        st.save()
    say(f"refreshed in {st.seconds:.2f} s (generation {generation})")
    return {"refreshed": True, "generation": generation, "seconds": st.seconds, **st.detail}


def _plan(marks, full: bool) -> dict:
    """Which parcels / buildings to recompute: a set of ids, or None for all."""
    plan = {"parcel": set(), "building": set(), "poi_marks": [], "edges": True}
    # Every record whose row in a match index is out of date (recomputed or only
    # edited); None: all of the kind. Web processes patch their index with it.
    plan["touched"] = {"parcel": set(), "building": set()}
    if full:
        plan["parcel"] = plan["building"] = None
        plan["touched"] = {"parcel": None, "building": None}
        return plan
    for m in marks:
        if m.kind == "place":  # a town or park renamed: the index reloads its codes
            plan["touched"] = {"parcel": None, "building": None}
            continue
        if m.kind in ("parcel", "building"):
            touched = plan["touched"]
            if touched[m.kind] is not None:
                if m.ref_id is None:
                    touched[m.kind] = None
                else:
                    touched[m.kind].add(m.ref_id)
            if m.ref_id is not None and not m.shape:
                continue
            if m.ref_id is None:
                plan[m.kind] = None
            elif plan[m.kind] is not None:
                plan[m.kind].add(m.ref_id)
        elif m.kind == "poi":
            if m.ref_id is None:
                plan["parcel"] = plan["building"] = None
            else:
                plan["poi_marks"].append(m)
    return plan


# Above this many touched records a process reloads its index instead of patching.
PATCH_MAX = 20_000


def _touched(plan) -> dict | None:
    """{"parcel": [ids], "building": [ids]} out of date in a match index, or None (all)."""
    out = {}
    for key in ("parcel", "building"):
        touched, computed = plan["touched"][key], plan[key]
        if touched is None or computed is None:
            return None
        ids = sorted(touched | computed)
        if len(ids) > PATCH_MAX:
            return None
        out[key] = ids
    return out


def _affected_by_pois(plan: dict, pois: dict[str, geo.PointSet], epsg: str) -> None:
    """Add to the plan every record a changed POI can affect (see the module doc)."""
    rmax = max(radii(), default=0)
    where = defaultdict(list)  # category → [(poi id, [projected positions now / before])]
    for m in plan["poi_marks"]:
        cats = [m.category] if m.category else list(pois)
        for cat in cats:
            pts = []
            ps = pois.get(cat)
            if ps is not None and len(ps.ids):
                hit = np.nonzero(ps.ids == m.ref_id)[0]
                if len(hit):
                    pts.append(ps.xy[int(hit[0])])
            if m.old_lon is not None and m.old_lat is not None:
                pts.append(geo.project_xy([m.old_lon], [m.old_lat], epsg)[0])
            where[cat].append((m.ref_id, pts))
    for key, feature_model in (("parcel", ParcelFeature), ("building", BuildingFeature)):
        if plan[key] is None:
            continue
        rows = list(
            feature_model.objects.values_list(
                f"{key}_id", "x", "y", "reach_m", "distances", "nearest"
            )
        )
        if not rows:
            continue
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        xy = np.array([(r[1], r[2]) for r in rows])
        reach = np.array([r[3] for r in rows])
        for cat, changes in where.items():
            d_cat = np.array([r[4].get(cat, np.inf) for r in rows], dtype=float)
            n_cat = np.array([r[5].get(cat, -1) for r in rows], dtype=np.int64)
            for poi_id, pts in changes:
                hit = n_cat == poi_id
                for p in pts:
                    gap = np.hypot(xy[:, 0] - p[0], xy[:, 1] - p[1])
                    # could now be (or have been) the nearest; stored distances are rounded
                    hit |= gap - reach <= d_cat + 0.02
                    hit |= gap <= rmax + 0.02  # enters or leaves a count
                plan[key].update(ids[hit].tolist())
