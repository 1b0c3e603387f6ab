"""Spatial jobs over many geometries at once, in DuckDB."""

from investmap.core.geo import utm_epsg

from .connection import load_rows, session

# Simplification tolerance (degrees) for the low-zoom copy of polygons: ~5 m.
SIMPLIFY_DEG = 0.00005


def measure(geojsons: list[str]) -> list[dict]:
    """For each GeoJSON text: validity, area in m² (projected UTM), centroid, simplified copy.

    Returns one dict per input, in order: {valid, reason, area_m2, lon, lat,
    simple}. Invalid or unparsable geometries get valid=False and a reason.
    """
    if not geojsons:
        return []
    with session(attach=False) as con:
        load_rows(
            con,
            "g_in",
            [{"i": i, "g": g} for i, g in enumerate(geojsons)],
            {"i": "INTEGER", "g": "VARCHAR"},
        )
        con.execute("CREATE TEMP TABLE g AS SELECT i, TRY(ST_GeomFromGeoJSON(g)) AS geom FROM g_in")
        lon0 = con.execute(
            "SELECT avg(ST_X(ST_Centroid(geom))) FROM g WHERE geom IS NOT NULL"
        ).fetchone()[0]
        lat0 = con.execute(
            "SELECT avg(ST_Y(ST_Centroid(geom))) FROM g WHERE geom IS NOT NULL"
        ).fetchone()[0]
        epsg = utm_epsg(lon0 or 121.0, lat0 or 31.0)
        rows = con.execute(
            f"""
            SELECT i,
                   geom IS NOT NULL AS parsed,
                   CASE WHEN geom IS NULL THEN NULL ELSE ST_IsValid(geom) END AS valid,
                   CASE WHEN geom IS NULL OR NOT ST_IsValid(geom) THEN NULL
                        ELSE ST_Area(ST_Transform(geom, 'EPSG:4326', '{epsg}', always_xy := true)) END AS area,
                   CASE WHEN geom IS NULL THEN NULL ELSE ST_X(ST_PointOnSurface(geom)) END AS lon,
                   CASE WHEN geom IS NULL THEN NULL ELSE ST_Y(ST_PointOnSurface(geom)) END AS lat,
                   CASE WHEN geom IS NULL OR NOT ST_IsValid(geom) THEN NULL
                        ELSE ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, {SIMPLIFY_DEG})) END AS simple,
                   CASE WHEN geom IS NULL THEN NULL ELSE ST_IsEmpty(geom) END AS empty
            FROM g ORDER BY i
            """
        ).fetchall()
    out = []
    for _i, parsed, valid, area, lon, lat, simple, empty in rows:
        if not parsed:
            out.append({"valid": False, "reason": "not a parsable GeoJSON geometry"})
        elif empty:
            out.append({"valid": False, "reason": "empty geometry"})
        elif not valid:
            out.append(
                {
                    "valid": False,
                    "reason": "invalid geometry (self-intersecting or malformed rings)",
                }
            )
        else:
            out.append(
                {
                    "valid": True,
                    "reason": "",
                    "area_m2": area,
                    "lon": lon,
                    "lat": lat,
                    "simple": simple,
                }
            )
    return out


def locate_points(
    points: list[tuple[float, float]], polygons: list[tuple[str, str]]
) -> list[str | None]:
    """For each (lon, lat), the key of the first polygon (key, GeoJSON) containing it."""
    if not points:
        return []
    with session(attach=False) as con:
        load_rows(
            con,
            "pts",
            [{"i": i, "x": x, "y": y} for i, (x, y) in enumerate(points)],
            {"i": "INTEGER", "x": "DOUBLE", "y": "DOUBLE"},
        )
        load_rows(
            con,
            "polys_in",
            [{"k": k, "g": g} for k, g in polygons],
            {"k": "VARCHAR", "g": "VARCHAR"},
        )
        con.execute(
            "CREATE TEMP TABLE polys AS SELECT k, ST_GeomFromGeoJSON(g) AS geom FROM polys_in"
        )
        rows = con.execute(
            """
            SELECT p.i, min(q.k) FROM pts p
            LEFT JOIN polys q ON ST_Contains(q.geom, ST_Point(p.x, p.y))
            GROUP BY p.i ORDER BY p.i
            """
        ).fetchall()
    return [k for _i, k in rows]
