"""Accessibility and adjacency over projected shapes: pure numpy / scipy / shapely.

Nothing here touches the database, so the same code serves the batch build,
the incremental refresh, the surroundings endpoint and the tests.

The algorithm (chosen by measurement, docs/adr/0006-matching-features.md):

* Shapes are projected once to metres (UTM zone of the district, PROJ via
  pyproj). Each polygon gets a representative point `p` that lies inside it
  (point on surface) and its *reach* `r`, the largest distance from `p` to a
  vertex. For every POI q: |q − p| − r ≤ dist(polygon, q) ≤ |q − p|.
* Nearest POI of a category, exactly, from the polygon: the KD-tree's nearest
  POI to `p` gives an upper bound u (its exact polygon distance); only POIs
  with |q − p| ≤ u + r can beat it, so the tree lists those few and shapely
  measures them exactly on the polygon.
* Counts within standard radii use the representative point (documented):
  counting every POI within 3 km exactly on the polygon means millions of
  polygon distances per category, while the tree counts from the point
  without listing them.
* Adjacency: shapely's STRtree with the `dwithin` predicate, then the exact gap.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree


@lru_cache(maxsize=8)
def _transformer(epsg: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", epsg, always_xy=True)


def project_xy(lon, lat, epsg: str) -> np.ndarray:
    """(n, 2) metres for lon/lat arrays (WGS84)."""
    x, y = _transformer(epsg).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])


def project_geoms(geoms, epsg: str):
    """Project an array of shapely geometries (lon/lat) to metres in `epsg`."""
    tf = _transformer(epsg)

    def fn(coords):
        x, y = tf.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


@dataclass
class Shapes:
    """Projected polygons with their representative points and reaches."""

    ids: np.ndarray  # int64 record ids
    geoms: np.ndarray  # shapely geometries in metres
    points: np.ndarray  # (n, 2) representative point inside each polygon
    reach: np.ndarray  # (n,) largest distance from the point to the outline

    def __len__(self):
        return len(self.ids)


def shapes(ids, geojsons: list[str], epsg: str) -> Shapes:
    ids = np.asarray(ids, dtype=np.int64)
    if not len(ids):
        return Shapes(ids, np.array([], dtype=object), np.zeros((0, 2)), np.zeros(0))
    geoms = project_geoms(shapely.from_geojson(list(geojsons)), epsg)
    pos = shapely.get_coordinates(shapely.point_on_surface(geoms))
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    reach = np.zeros(len(ids))
    np.maximum.at(
        reach, owner, np.hypot(coords[:, 0] - pos[owner, 0], coords[:, 1] - pos[owner, 1])
    )
    shapely.prepare(geoms)
    return Shapes(ids, geoms, pos, reach)


@dataclass
class PointSet:
    """The POIs of one category, projected, with their KD-tree."""

    ids: np.ndarray
    xy: np.ndarray
    tree: cKDTree | None
    points: np.ndarray  # shapely points (for exact polygon distances)

    @classmethod
    def build(cls, ids, xy) -> "PointSet":
        ids = np.asarray(ids, dtype=np.int64)
        xy = np.asarray(xy, float).reshape(-1, 2)
        tree = cKDTree(xy) if len(ids) else None
        return cls(ids, xy, tree, shapely.points(xy) if len(ids) else np.array([], dtype=object))


def _pairs(lists) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    owner = np.repeat(np.arange(len(lists)), lens)
    flat = np.concatenate(lists).astype(np.int64) if lens.sum() else np.zeros(0, np.int64)
    return owner, flat


def nearest(sh: Shapes, ps: PointSet) -> tuple[np.ndarray, np.ndarray]:
    """Exact metres from each polygon to its nearest point of `ps` (0 inside), and its id.

    No points: distances are NaN and ids −1.
    """
    n = len(sh)
    if not n or ps.tree is None:
        return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    _, first = ps.tree.query(sh.points, k=1, workers=-1)
    upper = shapely.distance(sh.geoms, ps.points[first])
    # Slightly widened so floating error never drops the true nearest.
    lists = ps.tree.query_ball_point(sh.points, upper + sh.reach + 1e-6, workers=-1)
    owner, cand = _pairs(lists)
    exact = shapely.distance(sh.geoms[owner], ps.points[cand])
    best = upper.copy()
    best_idx = first.astype(np.int64).copy()
    # Smallest distance per polygon; ties go to the lowest POI id for stability.
    order = np.lexsort((ps.ids[cand], exact, owner))
    owner_sorted = owner[order]
    firsts = np.ones(len(order), dtype=bool)
    firsts[1:] = owner_sorted[1:] != owner_sorted[:-1]
    pick = order[firsts]
    best[owner[pick]] = exact[pick]
    best_idx[owner[pick]] = cand[pick]
    return best, ps.ids[best_idx]


def counts_within(sh: Shapes, ps: PointSet, radii) -> dict[int, np.ndarray]:
    """POIs within each radius of each polygon's representative point."""
    n = len(sh)
    if not n or ps.tree is None:
        return {int(r): np.zeros(n, dtype=np.int64) for r in radii}
    return {
        int(r): np.asarray(
            ps.tree.query_ball_point(sh.points, r, return_length=True, workers=-1), np.int64
        )
        for r in radii
    }


def adjacency(sh: Shapes, other: Shapes | None = None, gap_m: float = 1.0):
    """Pairs of polygons within `gap_m` metres: (ids_a, ids_b, gaps) with a < b.

    With `other`, pairs between `sh` and `other` (an incremental refresh: the
    changed parcels against all); otherwise pairs within `sh`.
    """
    base = sh if other is None else other
    if not len(sh) or not len(base):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    tree = shapely.STRtree(base.geoms)
    i, j = tree.query(sh.geoms, predicate="dwithin", distance=gap_m)
    a, b = sh.ids[i], base.ids[j]
    keep = a != b
    i, j, a, b = i[keep], j[keep], a[keep], b[keep]
    gaps = shapely.distance(sh.geoms[i], base.geoms[j])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.column_stack([lo, hi]), axis=0, return_index=True)[1]
    return lo[pairs], hi[pairs], gaps[pairs]


def distances_to(geom, xy: np.ndarray) -> np.ndarray:
    """Exact metres from one projected polygon to many projected points."""
    if not len(xy):
        return np.zeros(0)
    return shapely.distance(geom, shapely.points(xy))
