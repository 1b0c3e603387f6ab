"""Per-level aggregates for the drill-down (district → town → park), in DuckDB.

A handful of set-based queries over the attached record store give the figures
of one level and of each of its children at once: the level's rows are
filtered, then grouped by the child key (town for the district, park for a
town). The level total is the sum over its groups, so a level and its
children can never disagree.

Nothing here masks: callers (resources.services.overview) decide what the
viewer's scope may see.

SQLite record store: the queries run in a helper process, never in the web
process. DuckDB's sqlite extension carries its own copy of the SQLite library;
two copies in one process do not see each other's POSIX locks, so DuckDB's
copy believes it is the file's only user and resets the WAL index (-shm) that
Django's connection has mapped: the web process then dies of SIGBUS on its
next write (reproduced with a 40 MB WAL; https://sqlite.org/howtocorrupt.html
§2.2, duckdb/duckdb-sqlite#82). Across processes the locks work as SQLite
intends. PostgreSQL is attached in-process.
"""

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from django.conf import settings
from django.db import connection as django_connection

from .connection import RECORD_STORE, session, table

# The filter and the child key of each level. Both are fixed strings chosen
# here; the area id is always bound as a parameter.
_LEVELS = {
    "district": ("TRUE", "town_id"),
    "town": ("town_id = $area", "park_id"),
    "park": ("park_id = $area", "NULL::BIGINT"),
}

_LAND = """
SELECT {child} AS child, status, land_use, count(*) AS n, coalesce(sum(area_mu), 0) AS mu
FROM {parcel} WHERE {where}
GROUP BY ALL
"""

_BUILDINGS = """
SELECT {child} AS child, count(*) AS n, coalesce(sum(total_floor_m2), 0) AS total,
       coalesce(sum(vacant_floor_m2), 0) AS vacant
FROM {building} WHERE {where}
GROUP BY ALL
"""

# Economy = the latest year any enterprise of the level reported a figure for;
# sums skip unknown values (a blank is unknown, never zero).
_ENTERPRISES = """
WITH e AS (SELECT id, {child} AS child, scale FROM {enterprise} WHERE {where}),
     y AS (SELECT max(i.year) AS year FROM {indicator} i JOIN e ON i.enterprise_id = e.id
           WHERE i.output_wan IS NOT NULL OR i.revenue_wan IS NOT NULL OR i.tax_wan IS NOT NULL)
SELECT e.child, count(*) AS n,
       count(*) FILTER (WHERE e.scale = 'above') AS above,
       count(*) FILTER (WHERE e.scale = 'below') AS below,
       (SELECT year FROM y) AS year,
       sum(i.output_wan) AS output, sum(i.revenue_wan) AS revenue, sum(i.tax_wan) AS tax
FROM e LEFT JOIN {indicator} i ON i.enterprise_id = e.id AND i.year = (SELECT year FROM y)
GROUP BY e.child
"""

_POIS = """
SELECT category, count(*) AS n FROM {poi} WHERE {where} GROUP BY category
"""

# Teams of every unit below the level's org unit (parks sit under their town).
# The org tree is materialised first: a recursive step that scans an attached
# PostgreSQL table directly stops after one level (DuckDB 1.5.5's postgres scanner).
_TEAMS = """
WITH RECURSIVE ou AS MATERIALIZED (SELECT id, parent_id FROM {orgunit}),
sub(id) AS (
    SELECT id FROM ou WHERE id = $unit
    UNION ALL
    SELECT ou.id FROM ou JOIN sub ON ou.parent_id = sub.id
)
SELECT count(DISTINCT t.id) AS teams, count(m.id) AS members
FROM {team} t JOIN sub ON t.org_unit_id = sub.id
LEFT JOIN {member} m ON m.team_id = t.id
"""

_TABLES = {
    "parcel": "resources_parcel",
    "building": "resources_building",
    "enterprise": "resources_enterprise",
    "indicator": "resources_indicatoryear",
    "poi": "resources_poi",
    "orgunit": "core_orgunit",
    "team": "resources_team",
    "member": "resources_teammember",
}


def _sql(template: str, level: str) -> str:
    where, child = _LEVELS[level]
    return template.format(where=where, child=child, **{k: table(v) for k, v in _TABLES.items()})


def _params(sql: str, **values) -> dict:
    return {k: v for k, v in values.items() if f"${k}" in sql}


# --- the helper process for a SQLite record store ------------------------------

_pool: ProcessPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()
_worker_con = None  # the helper process's DuckDB connection (sqlite extension loaded)


def _executor() -> ProcessPoolExecutor:
    """One helper process per web process, started on first use (spawned, not forked:
    a fork would inherit this process's open SQLite descriptors and threads)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            _pool_pid = os.getpid()
        return _pool


def _reset_executor() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def _sqlite_figures(path: str, level: str, area_id, unit_id) -> dict:
    """Runs in the helper process: attach the SQLite file read-only, query, detach."""
    global _worker_con
    import duckdb
    import duckdb_extensions

    if _worker_con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        duckdb_extensions.import_extension("sqlite", con=con)
        con.execute("LOAD sqlite")
        _worker_con = con
    con = _worker_con
    quoted = path.replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {RECORD_STORE} (TYPE sqlite, READ_ONLY)")
    try:
        return _figures(con, level, area_id, unit_id)
    finally:
        # Detaching closes DuckDB's SQLite connections: no lock or read mark is held
        # between requests.
        con.execute(f"DETACH {RECORD_STORE}")


def _run_sqlite(level, area_id, unit_id) -> dict:
    if django_connection.in_atomic_block:
        # The helper would not see this transaction's rows (as engine.session refuses).
        raise RuntimeError("engine aggregates inside a transaction would miss its uncommitted rows")
    path = str(settings.DATABASES["default"]["NAME"])
    for attempt in (1, 2):
        try:
            return _executor().submit(_sqlite_figures, path, level, area_id, unit_id).result()
        except BrokenProcessPool:
            _reset_executor()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def area_figures(*, level: str, area_id: int | None, unit_id: int | None) -> dict:
    """Figures of one level and its children.

    `level` is district, town or park; `area_id` the town's or park's primary
    key (None for the district); `unit_id` the org unit whose subtree owns the
    level's teams. Returns {"land": {"total_mu", "by_status": {status:
    {area_mu, count}}, "by_land_use": {...}}, "buildings": {...},
    "enterprises": {...}, "economy": {...}, "teams": {...}, "pois": {category:
    count}, "children": {child_id: {...}}}.
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return _run_sqlite(level, area_id, unit_id)
    with session() as con:
        return _figures(con, level, area_id, unit_id)


def _figures(con, level: str, area_id, unit_id) -> dict:
    children: dict = {}

    def child(key):
        return children.setdefault(
            key,
            {
                "land_total_mu": 0.0,
                "idle_mu": 0.0,
                "vacant_floor_m2": 0.0,
                "enterprises": 0,
                "output_wan": None,
            },
        )

    land = {"total_mu": 0.0, "by_status": {}, "by_land_use": {}}
    buildings = {"count": 0, "total_floor_m2": 0.0, "vacant_floor_m2": 0.0}
    enterprises = {"count": 0, "above": 0, "below": 0}
    economy = {"year": None, "output_wan": None, "revenue_wan": None, "tax_wan": None}
    pois: dict = {}
    teams = {"count": 0, "members": 0}

    def add(a, b):
        return b if a is None else (a if b is None else a + b)

    sql = _sql(_LAND, level)
    for key, status, land_use, n, area in con.execute(sql, _params(sql, area=area_id)).fetchall():
        land["total_mu"] += area
        s = land["by_status"].setdefault(status, {"area_mu": 0.0, "count": 0})
        s["area_mu"] += area
        s["count"] += n
        u = land["by_land_use"].setdefault(land_use, {"area_mu": 0.0, "count": 0})
        u["area_mu"] += area
        u["count"] += n
        if key is not None:
            c = child(key)
            c["land_total_mu"] += area
            if status == "idle":
                c["idle_mu"] += area

    sql = _sql(_BUILDINGS, level)
    for key, n, total, vacant in con.execute(sql, _params(sql, area=area_id)).fetchall():
        buildings["count"] += n
        buildings["total_floor_m2"] += total
        buildings["vacant_floor_m2"] += vacant
        if key is not None:
            child(key)["vacant_floor_m2"] += vacant

    sql = _sql(_ENTERPRISES, level)
    for key, n, above, below, year, output, revenue, tax in con.execute(
        sql, _params(sql, area=area_id)
    ).fetchall():
        enterprises["count"] += n
        enterprises["above"] += above
        enterprises["below"] += below
        economy["year"] = year
        economy["output_wan"] = add(economy["output_wan"], output)
        economy["revenue_wan"] = add(economy["revenue_wan"], revenue)
        economy["tax_wan"] = add(economy["tax_wan"], tax)
        if key is not None:
            c = child(key)
            c["enterprises"] += n
            c["output_wan"] = add(c["output_wan"], output)

    sql = _sql(_POIS, level)
    for category, n in con.execute(sql, _params(sql, area=area_id)).fetchall():
        pois[category] = n

    if unit_id is not None:
        sql = _sql(_TEAMS, level)
        n_teams, n_members = con.execute(sql, _params(sql, unit=unit_id)).fetchone()
        teams = {"count": n_teams, "members": n_members}

    for key in ("total_floor_m2", "vacant_floor_m2"):
        buildings[key] = round(buildings[key], 1)
    for c in children.values():
        c["vacant_floor_m2"] = round(c["vacant_floor_m2"], 1)
    for k in ("output_wan", "revenue_wan", "tax_wan"):
        if economy[k] is not None:
            economy[k] = round(economy[k], 2)
    return {
        "land": land,
        "buildings": buildings,
        "enterprises": enterprises,
        "economy": economy,
        "pois": pois,
        "teams": teams,
        "children": children,
    }
