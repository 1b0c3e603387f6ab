"""geometry.py against brute force: exact polygon distances, counts, adjacency."""

import json
import math

import numpy as np
import pytest
import shapely

from investmap.matching import geometry as geo

EPSG = "EPSG:32651"  # UTM 51N: 120–126°E
LON0, LAT0 = 121.2, 31.1
M_PER_DEG_LAT = 110_900.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


def lonlat(x, y):
    """Approximate metres east/north of (LON0, LAT0) → lon/lat (exactness is not needed:
    the tests measure everything after the same projection)."""
    return LON0 + np.asarray(x) / M_PER_DEG_LON, LAT0 + np.asarray(y) / M_PER_DEG_LAT


def polygon_geojson(ring_m) -> str:
    ring = np.asarray(ring_m, float)
    lon, lat = lonlat(ring[:, 0], ring[:, 1])
    coords = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    if coords[0] != coords[-1]:
        coords.append(coords[0])
    return json.dumps({"type": "Polygon", "coordinates": [coords]})


def rect(x, y, w, h):
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def l_shape(x, y, w, h, t):
    """An L: a w × h box without its top-right (w − t) × (h − t) corner (concave)."""
    return [(x, y), (x + w, y), (x + w, y + t), (x + t, y + t), (x + t, y + h), (x, y + h)]


def star(cx, cy, r_out, r_in, n, phase):
    out = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = phase + math.pi * k / n
        out.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return out


def random_polygons(rng, n, extent=3000.0):
    rings = []
    for k in range(n):
        x, y = rng.uniform(0, extent, 2)
        kind = k % 4
        if kind == 0:
            rings.append(rect(x, y, *rng.uniform(20, 400, 2)))
        elif kind == 1:
            w, h = rng.uniform(100, 500, 2)
            rings.append(l_shape(x, y, w, h, rng.uniform(15, min(w, h) * 0.6)))
        elif kind == 2:
            r = rng.uniform(50, 300)
            rings.append(star(x, y, r, r * rng.uniform(0.2, 0.6), int(rng.integers(3, 8)), 1.0))
        else:
            pts = rng.uniform(0, 300, (12, 2)) + (x, y)
            hull = shapely.convex_hull(shapely.multipoints(pts))
            rings.append(list(shapely.get_coordinates(hull.exterior))[:-1])
    return rings


def build(ids, rings) -> geo.Shapes:
    return geo.shapes(ids, [polygon_geojson(r) for r in rings], EPSG)


def pointset(ids, xy_m) -> geo.PointSet:
    lon, lat = lonlat(xy_m[:, 0], xy_m[:, 1])
    return geo.PointSet.build(ids, geo.project_xy(lon, lat, EPSG))


def brute_nearest(sh, ps):
    d = np.array([[shapely.distance(g, p) for p in ps.points] for g in sh.geoms])
    return d


# --- shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_representative_point_is_inside_and_reach_bounds_the_outline(seed):
    rng = np.random.default_rng(seed)
    rings = random_polygons(rng, 24)
    sh = build(np.arange(100, 124), rings)
    assert len(sh) == 24 and sh.ids.dtype == np.int64
    for k, g in enumerate(sh.geoms):
        p = shapely.Point(sh.points[k])
        assert g.is_valid
        assert shapely.distance(g, p) == 0
        coords = shapely.get_coordinates(g)
        far = np.hypot(coords[:, 0] - p.x, coords[:, 1] - p.y).max()
        assert sh.reach[k] == pytest.approx(far)
        # Every point of the polygon is within reach of the representative point.
        boundary = shapely.get_coordinates(shapely.segmentize(g.exterior, 5.0))
        assert (np.hypot(boundary[:, 0] - p.x, boundary[:, 1] - p.y) <= sh.reach[k] + 1e-6).all()


def test_projection_is_metric():
    # 0.01° of latitude is about 1.11 km; the projected polygon area matches.
    xy = geo.project_xy([121.0, 121.0], [31.0, 31.01], EPSG)
    assert math.hypot(*(xy[1] - xy[0])) == pytest.approx(1109, abs=3)
    sh = geo.shapes([1], [polygon_geojson(rect(0, 0, 100, 200))], EPSG)
    assert sh.geoms[0].area == pytest.approx(100 * 200, rel=0.01)


def test_empty_inputs():
    sh = geo.shapes([], [], EPSG)
    assert len(sh) == 0
    ps = geo.PointSet.build([], np.zeros((0, 2)))
    assert ps.tree is None
    d, i = geo.nearest(sh, ps)
    assert len(d) == 0 and len(i) == 0
    a, b, g = geo.adjacency(sh)
    assert len(a) == len(b) == len(g) == 0
    some = build([1, 2], [rect(0, 0, 10, 10), rect(20, 0, 10, 10)])
    d, i = geo.nearest(some, ps)
    assert np.isnan(d).all() and (i == -1).all()
    counts = geo.counts_within(some, ps, (1000, 3000))
    assert set(counts) == {1000, 3000} and all((v == 0).all() for v in counts.values())
    assert len(geo.distances_to(some.geoms[0], np.zeros((0, 2)))) == 0
    a, b, g = geo.adjacency(some, sh)
    assert len(a) == 0


# --- nearest -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_nearest_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_poly = int(rng.integers(5, 40))
    rings = random_polygons(rng, n_poly)
    sh = build(rng.permutation(10_000)[:n_poly] + 1, rings)
    n_pts = int(rng.integers(1, 120))
    pts = rng.uniform(-500, 3500, (n_pts, 2))
    # Some POIs inside polygons (distance 0), some in the notch of an L (outside, close).
    lon, lat = lonlat(pts[:, 0], pts[:, 1])
    xy = geo.project_xy(lon, lat, EPSG)
    inside = rng.choice(n_poly, size=min(5, n_poly), replace=False)
    xy = np.vstack([xy, sh.points[inside]])
    poi_ids = rng.permutation(100_000)[: len(xy)] + 1
    ps = geo.PointSet.build(poi_ids, xy)
    dist, ids = geo.nearest(sh, ps)
    brute = brute_nearest(sh, ps)
    best = brute.min(axis=1)
    np.testing.assert_allclose(dist, best, atol=1e-6)
    for k in range(n_poly):
        ties = poi_ids[brute[k] <= best[k] + 1e-9]
        assert ids[k] == ties.min()
    assert (dist[inside] == 0).all()


def test_points_inside_concave_polygons_are_zero_and_notch_points_are_not():
    ring = l_shape(0, 0, 400, 400, 100)
    sh = build([7], [ring])
    # (50, 50) is inside the L; (300, 300) is in the missing corner: 200 m from the arms.
    pts_m = np.array([[300.0, 300.0], [50.0, 50.0], [350.0, 50.0]])
    lon, lat = lonlat(pts_m[:, 0], pts_m[:, 1])
    xy = geo.project_xy(lon, lat, EPSG)
    ps = geo.PointSet.build([11, 12, 13], xy)
    dist, ids = geo.nearest(sh, ps)
    assert dist[0] == 0 and ids[0] == 12
    # Only the notch point: the exact distance to the inner corner, not to the bounding box.
    ps1 = geo.PointSet.build([11], xy[:1])
    dist1, _ = geo.nearest(sh, ps1)
    assert dist1[0] == pytest.approx(shapely.distance(sh.geoms[0], ps1.points[0]))
    assert dist1[0] == pytest.approx(200, rel=0.01)


def test_ties_go_to_the_lowest_poi_id():
    sh = build([1], [rect(0, 0, 100, 100)])
    inner = sh.points[0]
    xy = np.array([inner, inner + 1, [1e6, 1e6]])
    ps = geo.PointSet.build([30, 20, 10], xy)
    dist, ids = geo.nearest(sh, ps)
    assert dist[0] == 0 and ids[0] == 20
    # Two POIs at the same spot outside.
    lon, lat = lonlat([500.0], [50.0])
    p = geo.project_xy(lon, lat, EPSG)[0]
    ps = geo.PointSet.build([9, 4, 8], np.array([p, p, p + 100]))
    dist, ids = geo.nearest(sh, ps)
    assert ids[0] == 4


def test_nearest_beats_the_first_kd_guess():
    """The POI nearest to the representative point is not the nearest to the polygon."""
    # A long thin rectangle: its point is near the middle; a POI just off the far
    # end is nearer to the polygon than one 60 m from the middle.
    sh = build([1], [rect(0, 0, 2000, 20)])
    mid = sh.points[0]
    lon, lat = lonlat([2005.0], [10.0])
    end = geo.project_xy(lon, lat, EPSG)[0]
    xy = np.array([mid + (0, 70), end])
    ps = geo.PointSet.build([1, 2], xy)
    dist, ids = geo.nearest(sh, ps)
    assert ids[0] == 2 and dist[0] == pytest.approx(5, abs=0.2)


# --- counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_counts_within_from_the_representative_point(seed):
    rng = np.random.default_rng(100 + seed)
    rings = random_polygons(rng, 15)
    sh = build(np.arange(1, 16), rings)
    ps = pointset(np.arange(1, 301), rng.uniform(-3000, 6000, (300, 2)))
    counts = geo.counts_within(sh, ps, (500, 1000, 3000))
    assert set(counts) == {500, 1000, 3000}
    for r, values in counts.items():
        gap = np.hypot(
            ps.xy[None, :, 0] - sh.points[:, None, 0], ps.xy[None, :, 1] - sh.points[:, None, 1]
        )
        np.testing.assert_array_equal(values, (gap <= r).sum(axis=1))
    assert (counts[500] <= counts[1000]).all() and (counts[1000] <= counts[3000]).all()


# --- adjacency -------------------------------------------------------------------------


def grid_layout(rng, rows, cols, cell=100.0):
    """Rectangles on a grid; each shrinks from its cell's right/top edge by 0, a hair or
    a few metres, so neighbours touch, nearly touch or stand apart."""
    rings = []
    for r in range(rows):
        for c in range(cols):
            shrink = rng.choice([0.0, 0.0, 0.3, 0.9, 1.4, 3.0], size=2)
            rings.append(rect(c * cell, r * cell, cell - shrink[0], cell - shrink[1]))
    return rings


def brute_pairs(sh, gap, among=None):
    out = {}
    for i in range(len(sh)):
        for j in range(len(sh)):
            if i == j:
                continue
            if among is not None and sh.ids[i] not in among and sh.ids[j] not in among:
                continue
            d = shapely.distance(sh.geoms[i], sh.geoms[j])
            if d <= gap:
                a, b = sorted((int(sh.ids[i]), int(sh.ids[j])))
                out[(a, b)] = d
    return out


def as_dict(a, b, g):
    assert (a < b).all()
    pairs = list(zip(a.tolist(), b.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs)
    return dict(zip(pairs, g.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gap", [0.0, 1.0, 2.0])
def test_adjacency_equals_brute_force(seed, gap):
    rng = np.random.default_rng(200 + seed)
    rings = grid_layout(rng, 5, 6) + random_polygons(rng, 6, extent=600)
    ids = rng.permutation(5000)[: len(rings)] + 1
    sh = build(ids, rings)
    got = as_dict(*geo.adjacency(sh, gap_m=gap))
    want = brute_pairs(sh, gap)
    assert set(got) == set(want)
    for key, d in want.items():
        assert got[key] == pytest.approx(d, abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_adjacency_of_a_subset_against_all(seed):
    rng = np.random.default_rng(300 + seed)
    rings = grid_layout(rng, 4, 5)
    ids = np.arange(1, len(rings) + 1) * 3
    sh = build(ids, rings)
    pick = np.sort(rng.choice(len(rings), size=5, replace=False))
    sub = geo.Shapes(sh.ids[pick], sh.geoms[pick], sh.points[pick], sh.reach[pick])
    got = as_dict(*geo.adjacency(sub, sh, gap_m=1.0))
    want = brute_pairs(sh, 1.0, among=set(sh.ids[pick].tolist()))
    assert set(got) == set(want)
    for key, d in want.items():
        assert got[key] == pytest.approx(d, abs=1e-9)


def test_touching_squares_have_zero_gap():
    sh = build([5, 3, 9], [rect(0, 0, 100, 100), rect(100, 0, 100, 100), rect(300, 0, 50, 50)])
    got = as_dict(*geo.adjacency(sh, gap_m=1.0))
    assert got == {(3, 5): 0.0}


def test_distances_to():
    sh = build([1], [l_shape(0, 0, 300, 300, 50)])
    rng = np.random.default_rng(5)
    xy = sh.points[0] + rng.uniform(-800, 800, (50, 2))
    got = geo.distances_to(sh.geoms[0], xy)
    want = [shapely.distance(sh.geoms[0], shapely.Point(p)) for p in xy]
    np.testing.assert_allclose(got, want)
