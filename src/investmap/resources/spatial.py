"""Shape fields of spatial records, computed by the engine in one batch.

`shape_fields(geometries)` validates GeoJSON, computes area (m², mu) in a
projected CRS, bbox, a point on the surface and the simplified copy for low
zoom; importers, the demo generator and edits all go through it.
"""

import json

from investmap.core import geo
from investmap.engine.geo import measure


def shape_fields(geometries: list[dict | str]) -> list[dict]:
    """One dict per geometry: either {"error": reason} or the model fields to set."""
    texts, out, todo = [], [], []
    for g in geometries:
        try:
            obj = json.loads(g) if isinstance(g, str) else g
            if not isinstance(obj, dict):
                raise geo.GeometryError("geometry must be a GeoJSON object")
            if obj.get("type") in ("Polygon", "MultiPolygon"):
                geo.check_polygon_rings(obj)
            box = geo.bbox(obj)
        except (geo.GeometryError, ValueError, TypeError, KeyError, IndexError) as exc:
            out.append({"error": str(exc) or "malformed geometry"})
            continue
        text = geo.dumps(obj)
        todo.append(len(out))
        out.append(
            {
                "geometry": text,
                "min_lon": box[0],
                "min_lat": box[1],
                "max_lon": box[2],
                "max_lat": box[3],
            }
        )
        texts.append(text)
    for idx, m in zip(todo, measure(texts), strict=True):
        if not m["valid"]:
            out[idx] = {"error": m["reason"]}
            continue
        out[idx].update(
            area_m2=m["area_m2"],
            lon=m["lon"],
            lat=m["lat"],
            geom_simple=m["simple"] or out[idx]["geometry"],
        )
    return out


def mu(area_m2: float) -> float:
    return area_m2 / geo.M2_PER_MU
