"""The matching features and matches, checked independently against PostGIS.

Runs on the PostgreSQL pass of CI (DATABASE_URL=postgres://…, the postgis
extension installed); skipped on SQLite. The tiny demo district is written,
features.rebuild() computes the derived tables with our engine (pyproj +
KD-tree + shapely), and PostGIS recomputes the same answers from the raw
records in the same database, by brute force where that is cheap:

* nearest POI distance per parcel / building and category (min of ST_Distance
  over every POI of the category), the nearest POI's id, the point on the
  surface (inside the polygon), its reach (ST_MaxDistance) and the counts
  within the standard radii of that point;
* the adjacency pairs (ST_DWithin(a, b, 1 m), a < b) and their gaps;
* the feasible single parcels of ~10 varied demands (SQL WHERE + EXISTS …
  ST_DWithin) against services.match_sites(), with the returned distances;
* every combination match_sites() returns: connected under ST_DWithin, areas
  (ST_Area / (10000/15)) agreeing with area_mu, range and hard limits met.

Tolerances: ±1 m on distances; pairs and limits whose PostGIS distance lies
within a few millimetres of the threshold are not counted either way (two PROJ
builds and two GEOS builds may round them to different sides).
"""

import functools
from collections import defaultdict

import pytest
from django.conf import settings
from django.db import connection

from investmap.core.choices import Role
from investmap.core.scope import Scope
from investmap.demo.generator import generate
from investmap.demo.writer import write
from investmap.matching import features, services
from investmap.matching.models import Adjacency, BuildingFeature, ParcelFeature
from investmap.resources.choices import ParcelStatus
from investmap.resources.models import Building, Parcel, Poi

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

pytestmark = [
    pytest.mark.skipif(
        not IS_POSTGRES,
        reason="PostGIS reference check: needs PostgreSQL with postgis "
        "(DATABASE_URL=postgres://…; runs in CI's PostgreSQL pass), not SQLite",
    ),
    pytest.mark.django_db(transaction=True),
]

M2_PER_MU = 10000 / 15
TOL_M = 1.0  # metres, distances
EDGE_M = 0.005  # metres: a threshold this close is a tie, not a disagreement
ALL_STATUSES = list(ParcelStatus.values)
FULL_ACCESS = Scope(
    user_id=None, role=Role.BUREAU_STAFF, sees_resources=True, sensitive_org_ids=None
)


@functools.cache
def tiny_district():
    return generate(seed=7, scale="tiny")


def rows(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def run(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)


@pytest.fixture
def postgis():
    """The tiny district written and its features built; projected copies in PostGIS."""
    if not rows("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"):
        pytest.skip("the postgis extension is not installed on this PostgreSQL server")
    created = not rows("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
    run("CREATE EXTENSION IF NOT EXISTS postgis")
    write(tiny_district(), history=False)
    features.rebuild()
    epsg = features.state().epsg
    srid = int(epsg.split(":")[1])
    q = connection.ops.quote_name
    for name, model in (("ref_parcel", Parcel), ("ref_building", Building)):
        extra = ", land_use, status, area_mu, price_wan" if model is Parcel else ""
        run(
            f"CREATE TEMP TABLE {name} AS SELECT id, code{extra}, "
            f"ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326), %s) AS geom "
            f"FROM {q(model._meta.db_table)}",
            [srid],
        )
        run(f"CREATE INDEX ON {name} USING gist (geom)")
    run(
        "CREATE TEMP TABLE ref_poi AS SELECT id, category, "
        "ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), %s) AS geom "
        f"FROM {q(Poi._meta.db_table)}",
        [srid],
    )
    run("CREATE INDEX ON ref_poi USING gist (geom)")
    run("CREATE INDEX ON ref_poi (category)")
    run("ANALYZE ref_parcel; ANALYZE ref_building; ANALYZE ref_poi")
    yield {"epsg": epsg, "srid": srid}
    run("DROP TABLE IF EXISTS ref_parcel, ref_building, ref_poi, ref_pick, ref_pt")
    if created:  # leave the test database as the other tests know it
        run("DROP EXTENSION IF EXISTS postgis CASCADE")


def brute_nearest(table: str) -> dict[tuple[int, str], float]:
    """(record id, category) → min ST_Distance over every POI of the category."""
    return {
        (i, cat): d
        for i, cat, d in rows(
            f"SELECT s.id, q.category, min(ST_Distance(s.geom, q.geom)) "
            f"FROM {table} s CROSS JOIN ref_poi q GROUP BY s.id, q.category"
        )
    }


@pytest.mark.parametrize(
    ("table", "feature_model", "key"),
    [("ref_parcel", ParcelFeature, "parcel_id"), ("ref_building", BuildingFeature, "building_id")],
)
def test_nearest_distances_points_and_counts_agree_with_postgis(postgis, table, feature_model, key):
    ref = brute_nearest(table)
    cats = {c for _, c in ref}
    feats = {
        r[0]: r[1:]
        for r in feature_model.objects.values_list(key, "distances", "nearest", "x", "y", "reach_m")
    }
    ids = {r[0] for r in rows(f"SELECT id FROM {table}")}
    assert ids and set(feats) == ids, "every record has its features row"
    bad = []
    for (i, cat), d in ref.items():
        ours = feats[i][0].get(cat)
        if ours is None or abs(ours - d) > TOL_M:
            bad.append((i, cat, ours, round(d, 3)))
    assert not bad, f"{len(bad)} nearest distances differ (id, category, ours, PostGIS): {bad[:20]}"
    extra = [(i, c) for i, f in feats.items() for c in f[0] if c not in cats]
    assert not extra, f"distances for categories without POIs: {extra[:10]}"

    # The nearest POI's id names a POI at that distance (ties may pick another id).
    pairs = [(i, cat, poi) for i, f in feats.items() for cat, poi in f[1].items()]
    assert len(pairs) == len(ref)
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE ref_pick (sid bigint, category text, poi bigint)")
        cur.executemany("INSERT INTO ref_pick VALUES (%s, %s, %s)", pairs)
        cur.execute(
            f"SELECT k.sid, k.category, q.category, ST_Distance(s.geom, q.geom) "
            f"FROM ref_pick k JOIN {table} s ON s.id = k.sid LEFT JOIN ref_poi q ON q.id = k.poi"
        )
        picked = cur.fetchall()
        cur.execute("DROP TABLE ref_pick")
    wrong = [
        (i, cat, qcat, d)
        for i, cat, qcat, d in picked
        if qcat != cat or d is None or abs(d - ref[(i, cat)]) > TOL_M
    ]
    assert not wrong, f"nearest ids that are not the nearest POI: {wrong[:20]}"

    # The representative point lies in the polygon; its reach is the farthest vertex.
    outside, reach_bad = [], []
    with connection.cursor() as cur:
        for i, f in feats.items():
            x, y, reach = f[2], f[3], f[4]
            cur.execute(
                f"SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), %s), 1e-6), "
                f"ST_MaxDistance(ST_SetSRID(ST_MakePoint(%s, %s), %s), geom) FROM {table} WHERE id = %s",
                [x, y, postgis["srid"], x, y, postgis["srid"], i],
            )
            inside, far = cur.fetchone()
            if not inside:
                outside.append(i)
            if abs(far - reach) > 0.01:
                reach_bad.append((i, reach, far))
    assert not outside, f"points on surface outside their polygon: {outside[:20]}"
    assert not reach_bad, f"reach differs from ST_MaxDistance: {reach_bad[:20]}"

    # Counts within each radius of the representative point (the documented choice).
    count_bad = []
    radii = features.radii()
    model_counts = dict(feature_model.objects.values_list(key, "counts"))
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE ref_pt (sid bigint, geom geometry)")
        cur.executemany(
            "INSERT INTO ref_pt VALUES (%s, ST_SetSRID(ST_MakePoint(%s, %s), %s))",
            [(i, f[2], f[3], postgis["srid"]) for i, f in feats.items()],
        )
        for r in radii:
            cur.execute(
                "SELECT p.sid, q.category, "
                "count(*) FILTER (WHERE ST_DWithin(p.geom, q.geom, %s)), "
                "count(*) FILTER (WHERE ST_DWithin(p.geom, q.geom, %s)) "
                "FROM ref_pt p JOIN ref_poi q ON ST_DWithin(p.geom, q.geom, %s) "
                "GROUP BY p.sid, q.category",
                [r - EDGE_M, r + EDGE_M, r + EDGE_M],
            )
            got = {(i, c): (lo, hi) for i, c, lo, hi in cur.fetchall()}
            for i in feats:
                ours_r = model_counts[i].get(str(r), {})
                for cat in cats:
                    lo, hi = got.get((i, cat), (0, 0))
                    n = ours_r.get(cat, 0)
                    if not lo <= n <= hi:
                        count_bad.append((i, r, cat, n, lo, hi))
        cur.execute("DROP TABLE ref_pt")
    assert not count_bad, f"counts differ (id, radius, category, ours, PostGIS): {count_bad[:20]}"


def test_adjacency_agrees_with_postgis(postgis):
    gap = features.adjacency_m()
    ref = {
        (a, b): d
        for a, b, d in rows(
            "SELECT a.id, b.id, ST_Distance(a.geom, b.geom) FROM ref_parcel a "
            "JOIN ref_parcel b ON a.id < b.id AND ST_DWithin(a.geom, b.geom, %s)",
            [gap + EDGE_M],
        )
    }
    ours = {(a, b): g for a, b, g in Adjacency.objects.values_list("a_id", "b_id", "gap_m")}
    assert ref, "the tiny district has adjacent parcels"
    missing = [(p, d) for p, d in ref.items() if p not in ours and d <= gap - EDGE_M]
    extra = [p for p in ours if p not in ref]
    assert not missing, f"pairs PostGIS finds within {gap} m that we miss: {missing[:20]}"
    assert not extra, f"pairs we list that PostGIS does not find within {gap} m: {extra[:20]}"
    gaps = [(p, g, ref[p]) for p, g in ours.items() if abs(g - ref[p]) > 0.01]
    assert not gaps, f"gaps differ (pair, ours, PostGIS): {gaps[:20]}"


SINGLE_DEMANDS = [
    {"area_mu_min": 10, "area_mu_max": 40, "status": ALL_STATUSES},
    {
        "area_mu_min": 5,
        "area_mu_max": 100,
        "land_use": ["M1", "M2", "M0"],
        "status": ["available", "idle", "low_efficiency", "planned"],
    },
    {
        "area_mu_min": 10,
        "area_mu_max": 60,
        "status": ["in_use", "planned", "available"],
        "near": [{"category": "metro_station", "within_m": 1500}],
    },
    {
        "area_mu_min": 10,
        "area_mu_max": 60,
        "status": ["in_use", "planned", "available"],
        "near": [{"category": "metro_station", "within_m": 3000}],
    },
    {
        "area_mu_max": 30,
        "status": ALL_STATUSES,
        "near": [
            {"category": "school", "within_m": 300},
            {"category": "hospital", "within_m": 800},
        ],
    },
    {"area_mu_min": 1, "area_mu_max": 200, "status": ALL_STATUSES, "max_price_wan": 20000},
    {
        "area_mu_max": 50,
        "land_use": ["R2", "B1", "B2"],
        "status": ALL_STATUSES,
        "near": [
            {"category": "bus_stop", "within_m": 100},
            {"category": "shopping", "weight": 2},
        ],
    },
    {
        "area_mu_min": 20,
        "status": ALL_STATUSES,
        "near": [
            {"category": "expressway_ramp", "within_m": 3000},
            {"category": "university", "within_m": 5000},
        ],
    },
    {"area_mu_min": 10, "area_mu_max": 80},
    {
        "area_mu_min": 15,
        "land_use": ["M1", "M0"],
        "status": ["in_use", "renewal", "idle"],
        "near": [
            {"category": "rd_center", "within_m": 500},
            {"category": "park_green", "within_m": 1000, "weight": 2},
        ],
    },
    {
        "area_mu_min": 5,
        "area_mu_max": 70,
        "status": ALL_STATUSES,
        "near": [
            {"category": "talent_housing", "within_m": 250},
            {"category": "key_lab", "within_m": 600},
        ],
    },
]


def sql_feasible(d: dict, nearest: dict) -> tuple[set[str], set[str]]:
    """(codes feasible in PostGIS, codes too close to a near limit to call)."""
    where, params = [], []
    if d.get("land_use"):
        where.append("p.land_use = ANY(%s)")
        params.append(d["land_use"])
    where.append("p.status = ANY(%s)")
    params.append(d.get("status") or ["available", "idle", "low_efficiency"])
    if d.get("area_mu_min") is not None:
        where.append("p.area_mu >= %s")
        params.append(d["area_mu_min"])
    if d.get("area_mu_max") is not None:
        where.append("p.area_mu <= %s")
        params.append(d["area_mu_max"])
    if d.get("max_price_wan") is not None:
        where.append("p.price_wan IS NOT NULL AND p.price_wan <= %s")
        params.append(d["max_price_wan"])
    hard = [n for n in d.get("near", []) if "weight" not in n]
    for n in hard:
        where.append(
            "EXISTS (SELECT 1 FROM ref_poi q WHERE q.category = %s "
            "AND ST_DWithin(p.geom, q.geom, %s))"
        )
        params += [n["category"], n["within_m"]]
    found = rows(f"SELECT p.id, p.code FROM ref_parcel p WHERE {' AND '.join(where)}", params)
    codes = dict(rows("SELECT id, code FROM ref_parcel"))
    edge = {
        codes[i]
        for (i, cat), dist in nearest.items()
        for n in hard
        if n["category"] == cat and abs(dist - n["within_m"]) <= EDGE_M
    }
    return {c for _, c in found}, edge


def test_single_parcel_matches_agree_with_postgis(postgis):
    nearest = brute_nearest("ref_parcel")
    code_id = dict(rows("SELECT code, id FROM ref_parcel"))
    sizes = []
    for d in SINGLE_DEMANDS:
        data = {**d, "limit": 100000, "allow_combine": False}
        answer = services.match_sites(data=data, scope=FULL_ACCESS, outlines=False)
        assert not answer["truncated"]
        assert {r["kind"] for r in answer["results"]} <= {"parcel"}
        ours = {r["parcels"][0] for r in answer["results"]}
        assert len(ours) == len(answer["results"]) == answer["total"]
        ref, edge = sql_feasible(d, nearest)
        only_ours = sorted((ours - ref) - edge)
        only_ref = sorted((ref - ours) - edge)
        assert not only_ours and not only_ref, (
            f"demand {d}: only ours {only_ours[:20]}, only PostGIS {only_ref[:20]}"
        )
        bad = []
        for r in answer["results"]:
            i = code_id[r["parcels"][0]]
            for cat, dist in r["distances"].items():
                want = nearest.get((i, cat))
                if (dist is None) != (want is None) or (
                    want is not None and abs(dist - want) > TOL_M
                ):
                    bad.append((r["parcels"][0], cat, dist, want))
        assert not bad, f"demand {d}: distances differ (code, category, ours, PostGIS): {bad[:20]}"
        sizes.append(len(ref))
    # Not a vacuous comparison: most demands find parcels, and not all the same ones.
    assert sum(1 for n in sizes if n) >= 7, sizes
    assert len(set(sizes)) >= 5, sizes


COMBINE_DEMANDS = [
    {"area_mu_min": 100, "area_mu_max": 160, "status": ALL_STATUSES, "max_parcels": 3},
    {
        "area_mu_min": 60,
        "area_mu_max": 90,
        "land_use": ["M1", "M2", "M0", "W1", "B1", "B2", "R2"],
        "status": ALL_STATUSES,
        "max_parcels": 2,
    },
    {
        "area_mu_min": 120,
        "status": ALL_STATUSES,
        "max_parcels": 4,
        "near": [{"category": "metro_station", "within_m": 3000}],
    },
    {
        "area_mu_min": 50,
        "area_mu_max": 80,
        "status": ALL_STATUSES,
        "max_parcels": 4,
        "near": [
            {"category": "bus_stop", "within_m": 150},
            {"category": "school", "weight": 1},
        ],
    },
]


def test_combinations_hold_in_postgis_terms(postgis):
    gap = features.adjacency_m()
    info = {
        code: (i, lu, st, mu, price)
        for i, code, lu, st, mu, price in rows(
            "SELECT id, code, land_use, status, area_mu, price_wan FROM ref_parcel"
        )
    }
    area = dict(rows("SELECT code, ST_Area(geom) / %s FROM ref_parcel", [M2_PER_MU]))
    nearest = brute_nearest("ref_parcel")
    seen = 0
    for d in COMBINE_DEMANDS:
        data = {**d, "limit": 100000, "allow_combine": True}
        answer = services.match_sites(data=data, scope=FULL_ACCESS, outlines=False)
        combos = [r for r in answer["results"] if r["kind"] == "combination"]
        seen += len(combos)
        for r in combos:
            codes = r["parcels"]
            assert 2 <= len(codes) <= d["max_parcels"]
            ids = [info[c][0] for c in codes]
            links = rows(
                "SELECT a.id, b.id FROM ref_parcel a JOIN ref_parcel b "
                "ON a.id < b.id AND ST_DWithin(a.geom, b.geom, %s) "
                "WHERE a.id = ANY(%s) AND b.id = ANY(%s)",
                [gap + EDGE_M, ids, ids],
            )
            graph = defaultdict(set)
            for a, b in links:
                graph[a].add(b)
                graph[b].add(a)
            reached, todo = {ids[0]}, [ids[0]]
            while todo:
                for nb in graph[todo.pop()] - reached:
                    reached.add(nb)
                    todo.append(nb)
            assert reached == set(ids), f"{codes} is not connected within {gap} m: {links}"
            total = sum(area[c] for c in codes)
            assert total == pytest.approx(r["area_mu"], rel=0.005), (codes, total, r["area_mu"])
            stored = sum(info[c][3] for c in codes)
            lo, hi = d.get("area_mu_min"), d.get("area_mu_max")
            assert lo is None or stored >= lo - 1e-6, (codes, stored)
            assert hi is None or stored <= hi + 1e-6, (codes, stored)
            for c in codes:
                _, lu, st, _, price = info[c]
                assert st in d["status"], (c, st)
                assert not d.get("land_use") or lu in d["land_use"], (c, lu)
                if d.get("max_price_wan") is not None:
                    assert price is not None, c
            if d.get("max_price_wan") is not None:
                assert sum(info[c][4] for c in codes) <= d["max_price_wan"] + 1e-6
            for n in d.get("near", []):
                # A combination's distance is its nearest member's.
                best = min(nearest.get((i, n["category"]), float("inf")) for i in ids)
                assert r["distances"][n["category"]] == pytest.approx(best, abs=TOL_M)
                if "weight" not in n:  # a hard limit
                    assert best <= n["within_m"] + EDGE_M, (codes, n, best)
    assert seen, "the combination demands found no combination to check"
