"""Site matching: our feature build against PostGIS's best, and match latency through the API.

    .venv/bin/python bench/matching.py --scale district          # seed 42, 100 requests
    .venv/bin/python bench/matching.py --scale city --requests 200
    .venv/bin/python bench/matching.py --scale district --pg postgres://postgres@127.0.0.1:54329/investmap_bench --keep
    .venv/bin/python bench/matching.py --scale district --no-pg    # skip the PostGIS half

One run, one data set (the demo district of --scale and --seed):

1. The record store is a SQLite file per scale, var/bench/<scale>.sqlite3,
   migrated, and filled with the demo district only when it is empty (or with
   --fresh), so repeated runs are cheap.
2. Our engine (matching.geometry): the accessibility features (exact nearest
   POI per category, POI counts within the standard radii of the point on the
   surface) of every parcel and building, and the parcel adjacency. Timed as
   read from the store / prepare (parse, project, points on surface, KD-trees)
   / compute, then once more as the full features.rebuild() that also writes
   the derived tables.
3. PostGIS doing its best for the same result, in a schema bm_<scale> of the
   --pg database (created with postgis when missing; dropped afterwards unless
   --keep): projected geometry and point-on-surface columns, GiST indexes, a
   POI table per category, ANALYZE (the load is printed, not counted). Then,
   each as CREATE TABLE AS: nearest per category (CROSS JOIN LATERAL … ORDER
   BY poi.geom <-> parcel.geom LIMIT 1 — since PostGIS 2.2 on PostgreSQL ≥ 9.5
   `<->` is the true distance between the geometries, so the first row is the
   nearest POI and ST_Distance gives the exact metres), counts with
   ST_DWithin on the indexed points, adjacency with ST_DWithin(a, b, 1 m),
   a.id < b.id. A sample of parcels (--sample) is compared with our distances
   (±1 m) and counts; the adjacency pairs are compared in full.
4. --requests varied demands through django.test.Client against
   /api/v1/match/sites with a bureau user's Bearer token, after one warm-up
   request (which loads the process's match index; printed separately).

Every PostgreSQL statement runs under statement_timeout (--pg-timeout); a step
that times out is printed as such and its ratio as a lower bound.
"""

import argparse
import json
import os
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import benchkit  # noqa: E402  (beside this script)

ROOT = benchkit.ROOT
DEFAULT_PG = "postgres://postgres@127.0.0.1:54329/investmap_bench"


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", default="district", choices=["tiny", "district", "city", "province"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument(
        "--pg", default=DEFAULT_PG, help=f"PostgreSQL with PostGIS (default {DEFAULT_PG})"
    )
    p.add_argument("--no-pg", action="store_true", help="skip the PostGIS comparison")
    p.add_argument("--keep", action="store_true", help="keep the PostGIS schema bm_<scale>")
    p.add_argument("--fresh", action="store_true", help="regenerate the demo district")
    p.add_argument("--sample", type=int, default=2000, help="parcels compared with PostGIS")
    p.add_argument(
        "--pg-timeout", type=int, default=1800, help="statement_timeout per PostGIS step (s)"
    )
    p.add_argument(
        "--kinds",
        default="parcels,buildings",
        help="whose accessibility to build: parcels,buildings (as rebuild does) or parcels",
    )
    return p.parse_args()


class Clock:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


# --- our engine ------------------------------------------------------------------------


def ours(kinds: list[str]) -> dict:
    """Read, prepare and compute with matching.geometry; returns timings and the results."""
    import numpy as np

    from investmap.matching import features
    from investmap.matching import geometry as geo
    from investmap.resources.choices import PoiCategory
    from investmap.resources.models import Building, Parcel, Poi

    models = {"parcels": Parcel, "buildings": Building}
    radii = features.radii()
    t = {}
    epsg = features.district_epsg()
    c = Clock()
    poi_rows = list(Poi.objects.order_by("pk").values_list("pk", "category", "lon", "lat"))
    shape_rows = {
        k: list(models[k].objects.order_by("pk").values_list("pk", "geometry")) for k in kinds
    }
    t["read"] = c.lap()
    c = Clock()
    pois = {}
    cats = np.array([r[1] for r in poi_rows], dtype=object)
    ids = np.array([r[0] for r in poi_rows], dtype=np.int64)
    xy = geo.project_xy([r[2] for r in poi_rows], [r[3] for r in poi_rows], epsg)
    for cat in PoiCategory.values:
        m = cats == cat
        if m.any():
            pois[cat] = geo.PointSet.build(ids[m], xy[m])
    shapes = {
        k: geo.shapes([r[0] for r in rows], [r[1] for r in rows], epsg)
        for k, rows in shape_rows.items()
    }
    t["prepare"] = c.lap()
    out = {"epsg": epsg, "shapes": shapes, "dist": {}, "counts": {}, "pois": pois}
    for k, sh in shapes.items():
        c = Clock()
        out["dist"][k] = {cat: geo.nearest(sh, ps) for cat, ps in pois.items()}
        t[f"{k} nearest"] = c.lap()
        c = Clock()
        out["counts"][k] = {cat: geo.counts_within(sh, ps, radii) for cat, ps in pois.items()}
        t[f"{k} counts"] = c.lap()
    c = Clock()
    out["adjacency"] = geo.adjacency(shapes["parcels"], gap_m=features.adjacency_m())
    t["adjacency"] = c.lap()
    out["t"] = t
    return out


# --- PostGIS ---------------------------------------------------------------------------


def pg_connect(url: str, timeout_s: int):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "investmap_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute(f"SET statement_timeout = '{int(timeout_s)}s'")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '512MB'")
    return conn


def pg_step(conn, label: str, sql: str, params=None, *, quiet=False) -> float | None:
    """Run one statement, print and return its seconds (None: timed out)."""
    import psycopg

    t = time.perf_counter()
    try:
        conn.execute(sql, params)
    except psycopg.errors.QueryCanceled:
        secs = time.perf_counter() - t
        print(f"  {label:<38}TIMED OUT after {secs:,.1f} s")
        return None
    secs = time.perf_counter() - t
    if not quiet:
        print(f"  {label:<38}{secs:9.2f} s")
    return secs


def postgis(conn, schema: str, kinds: list[str], epsg: str) -> dict:
    """Load the same records into PostGIS (printed) and build the same result (timed)."""
    from investmap.matching import features
    from investmap.resources.choices import PoiCategory
    from investmap.resources.models import Building, Parcel, Poi

    srid = int(epsg.split(":")[1])
    radii = sorted(features.radii())
    gap = features.adjacency_m()
    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path = {schema}, public")
    settings = {
        k: conn.execute(f"SHOW {k}").fetchone()[0]
        for k in ("server_version", "max_parallel_workers_per_gather", "work_mem", "jit")
    }
    postgis_version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    print(
        f"\nPostGIS {postgis_version} on PostgreSQL {settings['server_version']} "
        f"(schema {schema}; max_parallel_workers_per_gather "
        f"{settings['max_parallel_workers_per_gather']}, work_mem {settings['work_mem']}, "
        f"jit {settings['jit']})"
    )
    print("load (not counted)")
    load = {}
    t = time.perf_counter()
    models = {"parcels": Parcel, "buildings": Building}
    with conn.cursor() as cur:
        for k in kinds:
            cur.execute(f"CREATE UNLOGGED TABLE raw_{k} (id bigint, g text)")
            with cur.copy(f"COPY raw_{k} (id, g) FROM STDIN") as copy:
                for row in (
                    models[k]
                    .objects.order_by("pk")
                    .values_list("pk", "geometry")
                    .iterator(chunk_size=5000)
                ):
                    copy.write_row(row)
        cur.execute(
            "CREATE UNLOGGED TABLE raw_poi (id bigint, category text, lon float8, lat float8)"
        )
        with cur.copy("COPY raw_poi (id, category, lon, lat) FROM STDIN") as copy:
            for row in (
                Poi.objects.order_by("pk")
                .values_list("pk", "category", "lon", "lat")
                .iterator(chunk_size=20000)
            ):
                copy.write_row(row)
    load["copy records"] = time.perf_counter() - t
    print(f"  {'copy records from the store':<38}{load['copy records']:9.2f} s")
    for k in kinds:
        load[f"{k} geometry"] = pg_step(
            conn,
            f"{k}: project + point on surface",
            f"CREATE TABLE {k} AS SELECT id, geom, ST_PointOnSurface(geom) AS pt FROM ("
            f"SELECT id, ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(g), 4326), {srid}) AS geom "
            f"FROM raw_{k}) s",
        )
        load[f"{k} indexes"] = pg_step(
            conn,
            f"{k}: primary key + GiST (geom, pt)",
            f"ALTER TABLE {k} ADD PRIMARY KEY (id); "
            f"CREATE INDEX ON {k} USING gist (geom); CREATE INDEX ON {k} USING gist (pt)",
        )
    cats = [c for (c,) in conn.execute("SELECT DISTINCT category FROM raw_poi ORDER BY 1")]
    cats = [c for c in PoiCategory.values if c in cats]
    load["poi geometry"] = pg_step(
        conn,
        "pois: project (+ one table per cat.)",
        f"CREATE TABLE poi AS SELECT id, category, "
        f"ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), {srid}) AS geom FROM raw_poi; "
        + "".join(
            f"CREATE TABLE poi_{c} AS SELECT id, geom FROM poi WHERE category = '{c}'; "
            for c in cats
        ),
    )
    load["poi indexes"] = pg_step(
        conn,
        "pois: GiST indexes",
        "CREATE INDEX ON poi USING gist (geom); "
        + "".join(f"CREATE INDEX ON poi_{c} USING gist (geom); " for c in cats),
    )
    load["analyze"] = pg_step(conn, "ANALYZE", "ANALYZE")
    done = [v for v in load.values() if v is not None]
    print(f"  {'load total':<38}{sum(done):9.2f} s")

    print("build (counted)")
    build = {}
    for k in kinds:
        union = " UNION ALL ".join(
            f"SELECT s.id, '{c}'::text AS category, n.poi, n.d FROM {k} s CROSS JOIN LATERAL ("
            f"SELECT q.id AS poi, ST_Distance(q.geom, s.geom) AS d FROM poi_{c} q "
            f"ORDER BY q.geom <-> s.geom LIMIT 1) n"
            for c in cats
        )
        build[f"{k} nearest"] = pg_step(
            conn, f"{k}: nearest per category", f"CREATE TABLE {k}_nearest AS {union}"
        )
        # One lateral count per category table (no GROUP BY over the pairs): the fastest
        # form measured (a join on the single POI table grouped by category took ~1.4×).
        rmax = radii[-1]
        filters = "".join(
            f"count(*) FILTER (WHERE ST_DWithin(s.pt, q.geom, {r})) AS n{r}, " for r in radii[:-1]
        )
        union = " UNION ALL ".join(
            f"SELECT s.id, '{c}'::text AS category, n.* FROM {k} s CROSS JOIN LATERAL ("
            f"SELECT {filters}count(*) AS n{rmax} FROM poi_{c} q "
            f"WHERE ST_DWithin(s.pt, q.geom, {rmax})) n"
            for c in cats
        )
        build[f"{k} counts"] = pg_step(
            conn,
            f"{k}: counts within {'/'.join(map(str, radii))} m",
            f"CREATE TABLE {k}_counts AS {union}",
        )
    build["adjacency"] = pg_step(
        conn,
        f"adjacency (ST_DWithin {gap:g} m)",
        f"CREATE TABLE adjacency AS SELECT a.id AS a, b.id AS b, ST_Distance(a.geom, b.geom) AS gap "
        f"FROM parcels a JOIN parcels b ON a.id < b.id AND ST_DWithin(a.geom, b.geom, {gap})",
    )
    finished = [v for v in build.values() if v is not None]
    timed_out = [k for k, v in build.items() if v is None]
    print(
        f"  {'build total':<38}{sum(finished):9.2f} s"
        + (f"  (+ timed out: {', '.join(timed_out)} — a lower bound)" if timed_out else "")
    )
    return {"load": load, "build": build, "cats": cats, "timed_out": timed_out}


def compare(conn, mine: dict, pg: dict, sample: int, seed: int) -> None:
    """Sampled nearest distances and counts, and every adjacency pair, ours vs PostGIS."""
    import numpy as np

    from investmap.matching import features

    print("\nagreement")
    sh = mine["shapes"]["parcels"]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(sh), size=min(sample, len(sh)), replace=False))
    ids = sh.ids[pick]
    pos = {int(i): k for k, i in enumerate(sh.ids)}
    if pg["build"].get("parcels nearest") is not None:
        rows = conn.execute(
            "SELECT id, category, d FROM parcels_nearest WHERE id = ANY(%s)", [ids.tolist()]
        ).fetchall()
        diffs = []
        worst = (0.0, None)
        for i, cat, d in rows:
            v = float(mine["dist"]["parcels"][cat][0][pos[i]])
            diff = abs(v - d)
            diffs.append(diff)
            if diff > worst[0]:
                worst = (diff, (i, cat, v, d))
        diffs = np.array(diffs)
        print(
            f"  nearest distances, {len(pick):,} parcels × {len(pg['cats'])} categories "
            f"({len(diffs):,} pairs): max |ours − PostGIS| {diffs.max():.6f} m, "
            f"{int((diffs > 1.0).sum())} beyond 1 m"
            + (f"; worst {worst[1]}" if worst[0] > 1.0 else "")
        )
    if pg["build"].get("parcels counts") is not None:
        radii = sorted(features.radii())
        cols = ", ".join(f"n{r}" for r in radii)
        got = {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                f"SELECT id, category, {cols} FROM parcels_counts WHERE id = ANY(%s)",
                [ids.tolist()],
            ).fetchall()
        }
        pts = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(
                "SELECT id, ST_X(pt), ST_Y(pt) FROM parcels WHERE id = ANY(%s)", [ids.tolist()]
            ).fetchall()
        )
        off = max(float(np.hypot(*(np.array(pts[int(i)]) - sh.points[pos[int(i)]]))) for i in ids)
        bad = 0
        total = 0
        for i in ids:
            for cat in pg["cats"]:
                want = got.get((int(i), cat), (0,) * len(radii))
                for j, r in enumerate(radii):
                    total += 1
                    if int(mine["counts"]["parcels"][cat][r][pos[int(i)]]) != want[j]:
                        bad += 1
        print(
            f"  counts, the same parcels × categories × {len(radii)} radii ({total:,}): "
            f"{bad} differ; points on surface ours vs ST_PointOnSurface: max {off:.6f} m apart"
        )
    if pg["build"].get("adjacency") is not None:
        a, b, g = mine["adjacency"]
        ours_pairs = dict(zip(zip(a.tolist(), b.tolist(), strict=True), g.tolist(), strict=True))
        theirs = {(x, y): d for x, y, d in conn.execute("SELECT a, b, gap FROM adjacency")}
        common = ours_pairs.keys() & theirs.keys()
        gap_diff = max((abs(ours_pairs[p] - theirs[p]) for p in common), default=0.0)
        print(
            f"  adjacency: ours {len(ours_pairs):,} pairs, PostGIS {len(theirs):,}; "
            f"only ours {len(ours_pairs.keys() - theirs.keys())}, "
            f"only PostGIS {len(theirs.keys() - ours_pairs.keys())}; max gap difference "
            f"{gap_diff:.6f} m"
        )


# --- matching through the API ----------------------------------------------------------


def demands(n: int, seed: int) -> list[dict]:
    """Varied demands: land use, area (small to combination-sized), statuses, near, floor space."""
    import numpy as np

    from investmap.resources.models import Park, Town

    rng = np.random.default_rng(seed)
    towns = list(Town.objects.values_list("code", flat=True))
    parks = list(Park.objects.values_list("code", flat=True))
    industrial = ["M1", "M2", "M3", "M0", "W1"]
    statuses = ["available", "idle", "low_efficiency", "planned", "renewal"]
    near_cats = [
        "metro_station",
        "bus_stop",
        "expressway_ramp",
        "school",
        "hospital",
        "talent_housing",
        "university",
        "rd_center",
        "incubator",
        "park_green",
        "shopping",
    ]

    def subset(items, lo, hi):
        k = int(rng.integers(lo, hi + 1))
        return [str(x) for x in rng.choice(items, size=min(k, len(items)), replace=False)]

    def near():
        out = []
        for cat in subset(near_cats, 0, 3):
            kind = rng.random()
            if kind < 0.4:
                out.append(
                    {"category": cat, "within_m": float(rng.choice([500, 1000, 1500, 3000]))}
                )
            elif kind < 0.8:
                out.append({"category": cat, "weight": float(rng.choice([0.5, 1, 2]))})
            else:
                out.append(
                    {
                        "category": cat,
                        "within_m": float(rng.choice([2000, 3000, 5000])),
                        "weight": 1.0,
                    }
                )
        return out

    out = []
    for k in range(n):
        kind = ("small", "medium", "large", "combine", "floor", "price")[k % 6]
        d: dict = {}
        if kind == "floor":
            lo = float(rng.choice([300, 800, 2000, 5000]))
            d.update(floor_m2_min=lo, floor_m2_max=lo * float(rng.choice([2, 4, 10])))
            if rng.random() < 0.5:
                d["building_type"] = subset(["office", "factory", "mixed"], 1, 2)
            if rng.random() < 0.4:
                d["floor_load_min_kn_m2"] = float(rng.choice([3, 5, 8]))
            if rng.random() < 0.3:
                d["clear_height_min_m"] = float(rng.choice([4, 6, 8]))
            if rng.random() < 0.3:
                d["max_rent_yuan_m2_day"] = float(rng.choice([1.5, 3, 5]))
        else:
            lo, hi = {
                "small": (float(rng.uniform(3, 10)), None),
                "medium": (float(rng.uniform(15, 40)), None),
                "large": (float(rng.uniform(60, 120)), None),
                "combine": (float(rng.uniform(100, 300)), None),
                "price": (float(rng.uniform(10, 50)), None),
            }[kind]
            hi = lo * float(rng.choice([1.5, 2, 3]))
            d.update(area_mu_min=round(lo, 1), area_mu_max=round(hi, 1))
            if rng.random() < 0.7:
                d["land_use"] = subset(industrial, 1, 3)
            if rng.random() < 0.6:
                d["status"] = subset(statuses, 1, 4)
            if kind in ("large", "combine"):
                d["allow_combine"] = True
                d["max_parcels"] = int(rng.integers(2, 5))
            elif rng.random() < 0.5:
                d["allow_combine"] = False
            if kind == "price":
                d["max_price_wan"] = float(rng.choice([500, 2000, 8000]))
            if rng.random() < 0.2:
                d["plot_ratio_min"] = float(rng.choice([1.0, 1.5, 2.0]))
        d["near"] = near()
        if rng.random() < 0.25 and towns:
            d["towns"] = subset(towns, 1, 3)
        elif rng.random() < 0.1 and parks:
            d["parks"] = subset(parks, 1, 2)
        if not d["near"]:
            del d["near"]
        out.append(d)
    return out


def api_latency(n: int, seed: int) -> None:
    import numpy as np
    from django.test import Client
    from django.test.utils import setup_test_environment

    from investmap.core.choices import Role
    from investmap.core.models import ApiToken, User

    setup_test_environment()
    user = User.objects.filter(username="bench-bureau").first()
    if user is None:
        user = User.objects.create_user(
            username="bench-bureau", password=os.urandom(16).hex(), role=Role.BUREAU_STAFF
        )
    _, raw = ApiToken.issue(user=user, name="bench/matching.py")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def post(d):
        t = time.perf_counter()
        r = client.post("/api/v1/match/sites", data=json.dumps(d), content_type="application/json")
        ms = (time.perf_counter() - t) * 1000
        body = r.json()
        if r.status_code != 200:
            raise SystemExit(f"HTTP {r.status_code} for {d}: {body}")
        return ms, body

    print(f"\nmatch requests through /api/v1/match/sites ({n} demands, seed {seed})")
    warm = {"area_mu_min": 20, "area_mu_max": 40}
    ms, body = post(warm)
    print(
        f"  warm-up (loads the match index): {ms:,.0f} ms wall, service took "
        f"{body['took_ms']:,.0f} ms, {body['total']} candidates"
    )
    wall, took, totals = [], [], []
    kinds = {"parcel": 0, "combination": 0, "floor_space": 0}
    truncated = 0
    slow = []
    for d in demands(n, seed):
        ms, body = post(d)
        wall.append(ms)
        took.append(body["took_ms"])
        totals.append(body["total"])
        truncated += bool(body["truncated"])
        for r in body["results"]:
            kinds[r["kind"]] += 1
        slow.append((ms, body["total"], body["counts"], d))
    wall, took = np.array(wall), np.array(took)
    print(
        f"  wall ms: p50 {np.percentile(wall, 50):.1f}, p95 {np.percentile(wall, 95):.1f}, "
        f"max {wall.max():.1f}, mean {wall.mean():.1f}"
    )
    print(
        f"  service took_ms: p50 {np.percentile(took, 50):.1f}, p95 {np.percentile(took, 95):.1f}, "
        f"max {took.max():.1f}"
    )
    print(
        f"  candidates per demand: min {min(totals)}, median {int(np.median(totals))}, "
        f"max {max(totals):,}; {sum(1 for x in totals if not x)} with none; "
        f"results returned by kind {kinds}; truncated searches {truncated}"
    )
    slow.sort(key=lambda x: -x[0])
    for ms, total, counts, d in slow[:3]:
        print(f"  slowest: {ms:,.0f} ms, {total:,} candidates {counts}: {json.dumps(d)}")


# --- main ---------------------------------------------------------------------------------


def fmt(t: tuple[float, float]) -> str:
    return f"{t[0]:9.2f} s  (CPU {t[1]:.2f} s)"


def main() -> int:
    args = parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if "parcels" not in kinds or not set(kinds) <= {"parcels", "buildings"}:
        raise SystemExit("--kinds: parcels or parcels,buildings")
    benchkit.setup_django(args.scale)
    from investmap.matching import features

    load0 = os.getloadavg()
    print(
        f"InvestMap site-matching bench: scale {args.scale}, seed {args.seed}, "
        f"{os.cpu_count()} CPUs, load average {load0[0]:.1f}; code {benchkit.code_version('matching')}"
    )
    # The URL conf (and with it the services and the index) loads at the first request:
    # import them now so the whole run uses the code of one moment.
    from django.urls import resolve

    resolve("/api/v1/match/sites")
    benchkit.ensure_demo(
        scale=args.scale,
        seed=args.seed,
        fresh=args.fresh,
        show=("parcels", "buildings", "pois"),
        note=" (+ features refreshed on commit)",
    )

    print(f"\nour engine ({', '.join(kinds)}; one process, as features.rebuild() runs it)")
    mine = ours(kinds)
    t = mine["t"]
    sizes = ", ".join(f"{k} {len(s):,}" for k, s in mine["shapes"].items())
    n_pois = sum(len(ps.ids) for ps in mine["pois"].values())
    print(f"  {sizes}, POIs {n_pois:,} in {len(mine['pois'])} categories, {mine['epsg']}")
    print(f"  {'read from the store':<38}{fmt(t['read'])}")
    print(f"  {'prepare (parse, project, KD-trees)':<38}{fmt(t['prepare'])}")
    compute_keys = [k for k in t if k not in ("read", "prepare")]
    for k in compute_keys:
        print(f"  {k:<38}{fmt(t[k])}")
    compute = sum(t[k][0] for k in compute_keys)
    compute_cpu = sum(t[k][1] for k in compute_keys)
    print(f"  {'compute total':<38}{compute:9.2f} s  (CPU {compute_cpu:.2f} s)")
    print(f"  {'prepare + compute':<38}{compute + t['prepare'][0]:9.2f} s")
    print(f"  adjacency pairs {len(mine['adjacency'][0]):,}")

    c = Clock()
    info = features.rebuild()
    full = c.lap()
    print(f"  {'features.rebuild() incl. writing':<38}{fmt(full)}")
    print(f"    its own timings: {json.dumps(info.get('timings'))}")

    if not args.no_pg:
        schema = f"bm_{args.scale}"
        conn = pg_connect(args.pg, args.pg_timeout)
        try:
            pg = postgis(conn, schema, kinds, mine["epsg"])
            compare(conn, mine, pg, args.sample, args.seed)
            build = pg["build"]
            finished = sum(v for v in build.values() if v is not None)
            bound = " (at least: a step timed out)" if pg["timed_out"] else ""
            print("\nPostGIS / ours")
            for k in compute_keys:
                if build.get(k) is not None and t[k][0] > 0:
                    print(f"  {k:<38}{build[k] / t[k][0]:8.1f}×")
            print(f"  {'build vs our compute':<38}{finished / compute:8.1f}×{bound}")
            print(
                f"  {'build vs our prepare + compute':<38}"
                f"{finished / (compute + t['prepare'][0]):8.1f}×{bound}"
            )
            print(f"  {'build vs our full rebuild':<38}{finished / full[0]:8.1f}×{bound}")
            pk = [k for k in build if k.startswith("parcels") or k == "adjacency"]
            if len(kinds) > 1 and all(build[k] is not None for k in pk):
                ours_p = sum(t[k][0] for k in pk)
                print(
                    f"  {'parcels only (nearest+counts+adj.)':<38}"
                    f"{sum(build[k] for k in pk) / ours_p:8.1f}×"
                )
        finally:
            if not args.keep:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            else:
                print(f"kept schema {schema} in {args.pg}")
            conn.close()

    api_latency(args.requests, args.seed)
    load1 = os.getloadavg()
    print(f"\nload average now {load1[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
