"""Per-level aggregates for the drill-down (district → town → park), in DuckDB.

A handful of set-based queries over the attached record store give the figures
of one level and of each of its children at once: the level's rows are
filtered, then grouped by the child key (town for the district, park for a
town). The level total is the sum over its groups, so a level and its
children can never disagree.

Nothing here masks: callers (resources.services.overview) decide what the
viewer's scope may see.

The queries run through engine.connection.run(): on a SQLite record store in
the engine's helper process (never in the web process; docs/adr/0004).
"""

from .connection import run, table

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
    return run(_figures, level, area_id, unit_id)


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
