"""Geo helpers that need no engine: GeoJSON parsing, bboxes, GCJ-02, distances.

Coordinates are WGS84 / CGCS2000 lon-lat everywhere in the record store.
"""

import json
import math

import numpy as np

EARTH_RADIUS_M = 6371008.8
M2_PER_MU = 10000.0 / 15.0

GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


# How deeply each GeoJSON type nests its positions.
NESTING = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


class GeometryError(ValueError):
    pass


def _positions(geom: dict):
    t, c = geom.get("type"), geom.get("coordinates")
    if t not in GEOMETRY_TYPES:
        raise GeometryError(
            f"unsupported geometry type {t!r}; accepted: {', '.join(sorted(GEOMETRY_TYPES))}"
        )
    depth = NESTING[t]
    stack = [(c, depth)]
    while stack:
        node, d = stack.pop()
        if d == 0:
            if not isinstance(node, list | tuple) or len(node) < 2:
                raise GeometryError("a position must be [lon, lat]")
            yield node
        else:
            if not isinstance(node, list | tuple) or not node:
                raise GeometryError(f"empty or malformed coordinates in {t}")
            stack.extend((n, d - 1) for n in node)


def validate_lonlat(lon, lat) -> tuple[float, float]:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise GeometryError("coordinates must be numbers") from exc
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (
        -180 <= lon <= 180 and -90 <= lat <= 90
    ):
        raise GeometryError(f"({lon}, {lat}) is not a lon/lat position (lon −180…180, lat −90…90)")
    return lon, lat


def bbox(geom: dict) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat), validating every position."""
    xs, ys = [], []
    for p in _positions(geom):
        x, y = validate_lonlat(p[0], p[1])
        xs.append(x)
        ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def check_polygon_rings(geom: dict) -> None:
    """Closed rings of at least four positions, as GeoJSON requires."""
    if geom.get("type") not in ("Polygon", "MultiPolygon"):
        raise GeometryError(f"expected Polygon or MultiPolygon, got {geom.get('type')!r}")
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    for poly in polys:
        for ring in poly:
            if len(ring) < 4:
                raise GeometryError("a polygon ring needs at least 4 positions")
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise GeometryError("a polygon ring must be closed (first position = last)")


def dumps(geom: dict) -> str:
    return json.dumps(geom, separators=(",", ":"), ensure_ascii=False)


def map_positions(geom: dict, fn) -> dict:
    """A copy of `geom` with every position (lon, lat) replaced by fn(lon, lat)."""

    def walk(node, depth):
        if depth == 0:
            x, y = fn(node[0], node[1])
            return [x, y, *node[2:]]
        return [walk(n, depth - 1) for n in node]

    depth = NESTING[geom["type"]]
    return {"type": geom["type"], "coordinates": walk(geom["coordinates"], depth)}


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres; works on scalars and numpy arrays."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def degrees_for_metres(metres: float, lat: float) -> tuple[float, float]:
    """(dlon, dlat) spanning `metres` at latitude `lat` (for bbox pre-filters)."""
    dlat = metres / 111_320.0
    dlon = metres / (111_320.0 * max(math.cos(math.radians(lat)), 1e-6))
    return dlon, dlat


def utm_epsg(lon: float, lat: float = 30.0) -> str:
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


# --- GCJ-02 (the offset system of AMap / Tencent maps) -----------------------
# The published forward transform (Krasovsky 1940 ellipsoid parameters); the
# inverse is solved by fixed-point iteration to well under a centimetre.
_A = 6378245.0
_EE = 0.00669342162296594323


def _outside_china(lon, lat):
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    out = _outside_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_wgs84(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon, wlat = wlon - dlon, wlat - dlat
        if np.all(np.abs(dlon) < 1e-10) and np.all(np.abs(dlat) < 1e-10):
            break
    out = _outside_china(lon, lat)
    return np.where(out, lon, wlon), np.where(out, lat, wlat)


def gcj02_to_wgs84_point(lon: float, lat: float) -> tuple[float, float]:
    x, y = gcj02_to_wgs84(lon, lat)
    return float(x), float(y)
