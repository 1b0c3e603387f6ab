"""Plane geometry for the generator, in local metres (x east, y north).

* `Projection`: local metres ↔ lon/lat around the district centre
  (equirectangular; under 0.5 % scale error across a province-sized extent).
* `TownLattice`: a jittered lattice of towns whose shared edges are subdivided
  by midpoint displacement. A vertical edge is displaced in x only and a
  horizontal one in y only, so each boundary stays a function (x = f(y) or
  y = g(x)): town membership of any point is then two vectorised `np.interp`
  counts, and neighbouring towns share their boundary vertex for vertex.
* Quadrilateral helpers for blocks, parcels and building footprints.
"""

import math

import numpy as np


class Projection:
    def __init__(self, lon0: float, lat0: float):
        self.lon0, self.lat0 = lon0, lat0
        phi = math.radians(lat0)
        self.m_per_deg_lat = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
        self.m_per_deg_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)

    def lonlat(self, x, y):
        return self.lon0 + np.asarray(x) / self.m_per_deg_lon, self.lat0 + np.asarray(
            y
        ) / self.m_per_deg_lat

    def xy(self, lon, lat):
        return (np.asarray(lon) - self.lon0) * self.m_per_deg_lon, (
            np.asarray(lat) - self.lat0
        ) * self.m_per_deg_lat


def displaced(
    rng: np.random.Generator, p0, p1, depth: int, axis: int, amp_frac: float
) -> np.ndarray:
    """Points from p0 to p1 (2**depth segments), midpoint-displaced along `axis` only."""
    n = 2**depth
    t = np.linspace(0.0, 1.0, n + 1)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    pts = p0[None, :] + (p1 - p0)[None, :] * t[:, None]
    offs = np.zeros(n + 1)
    amp = amp_frac * float(np.hypot(*(p1 - p0)))
    step = n
    while step > 1:
        half = step // 2
        mids = np.arange(half, n, step)
        offs[mids] = (offs[mids - half] + offs[mids + half]) / 2 + rng.uniform(-amp, amp, len(mids))
        amp *= 0.5
        step = half
    pts[:, axis] += offs
    return pts


class TownLattice:
    """cols × rows towns over a W × H rectangle centred on (0, 0)."""

    def __init__(
        self,
        rng: np.random.Generator,
        cols: int,
        rows: int,
        width: float,
        height: float,
        depth: int = 5,
    ):
        self.cols, self.rows, self.depth = cols, rows, depth
        cw, ch = width / cols, height / rows
        vx = (
            np.linspace(-width / 2, width / 2, cols + 1)[:, None]
            + rng.uniform(-0.2, 0.2, (cols + 1, rows + 1)) * cw
        )
        vy = (
            np.linspace(-height / 2, height / 2, rows + 1)[None, :]
            + rng.uniform(-0.2, 0.2, (cols + 1, rows + 1)) * ch
        )
        self.vx, self.vy = vx, vy
        # vertical boundaries: x = f_i(y), points ordered by increasing y
        self.vb = []
        for i in range(cols + 1):
            parts = [
                displaced(rng, (vx[i, j], vy[i, j]), (vx[i, j + 1], vy[i, j + 1]), depth, 0, 0.07)
                for j in range(rows)
            ]
            self.vb.append(np.vstack([parts[0]] + [p[1:] for p in parts[1:]]))
        # horizontal boundaries: y = g_j(x), points ordered by increasing x
        self.hb = []
        for j in range(rows + 1):
            parts = [
                displaced(rng, (vx[i, j], vy[i, j]), (vx[i + 1, j], vy[i + 1, j]), depth, 1, 0.07)
                for i in range(cols)
            ]
            self.hb.append(np.vstack([parts[0]] + [p[1:] for p in parts[1:]]))

    def cell_ring(self, i: int, j: int) -> np.ndarray:
        """The closed counter-clockwise ring of town (i, j) (column i from the west, row j from the south)."""
        n = 2**self.depth
        bottom = self.hb[j][i * n : (i + 1) * n + 1]
        right = self.vb[i + 1][j * n : (j + 1) * n + 1]
        top = self.hb[j + 1][i * n : (i + 1) * n + 1][::-1]
        left = self.vb[i][j * n : (j + 1) * n + 1][::-1]
        return np.vstack([bottom, right[1:], top[1:], left[1:]])

    def locate(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """(column, row) of each point; -1 in both when outside the district."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        col = np.full(x.shape, -1)
        for b in self.vb:
            col += x > np.interp(y, b[:, 1], b[:, 0])
        row = np.full(y.shape, -1)
        for b in self.hb:
            row += y > np.interp(x, b[:, 0], b[:, 1])
        ok = (col >= 0) & (col < self.cols) & (row >= 0) & (row < self.rows)
        return np.where(ok, col, -1), np.where(ok, row, -1)

    def boxes_inside(self, i: int, j: int, box: np.ndarray, margin: float) -> np.ndarray:
        """Which boxes (N × [xmin, ymin, xmax, ymax]) lie inside town (i, j), `margin` metres clear."""
        xmin, ymin, xmax, ymax = box.T
        left = _extreme(self.vb[i], 1, 0, ymin, ymax, np.max)
        right = _extreme(self.vb[i + 1], 1, 0, ymin, ymax, np.min)
        below = _extreme(self.hb[j], 0, 1, xmin, xmax, np.max)
        above = _extreme(self.hb[j + 1], 0, 1, xmin, xmax, np.min)
        return (
            (left < xmin - margin)
            & (right > xmax + margin)
            & (below < ymin - margin)
            & (above > ymax + margin)
        )


def _extreme(poly: np.ndarray, a: int, b: int, lo: np.ndarray, hi: np.ndarray, fn) -> np.ndarray:
    """fn (max or min) of coordinate b of a polyline over the stretch where coordinate a is in [lo, hi]."""
    ends = fn(
        np.vstack([np.interp(lo, poly[:, a], poly[:, b]), np.interp(hi, poly[:, a], poly[:, b])]),
        axis=0,
    )
    if len(lo) == 0:
        return ends
    inside = (poly[None, :, a] > lo[:, None]) & (poly[None, :, a] < hi[:, None])
    fill = -np.inf if fn is np.max else np.inf
    mid = fn(np.where(inside, poly[None, :, b], fill), axis=1)
    return fn(np.vstack([ends, mid]), axis=0)


def shoelace(ring: np.ndarray) -> float:
    """Signed area of a ring (closed or not); positive when counter-clockwise."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def quad_area(q) -> float:
    """Area of a simple quadrilateral: half the cross product of its diagonals."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = q.tolist() if hasattr(q, "tolist") else q
    return abs((x2 - x0) * (y3 - y1) - (x3 - x1) * (y2 - y0)) / 2


def lerp(p, q, t):
    return p + (q - p) * t


def split_quad(q: np.ndarray, axis: int, f0: float, f1: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut a convex quad [c00, c10, c11, c01] across `axis` (0: s, 1: t) at fractions f0 / f1
    of its two opposite edges; both halves are convex quads sharing the cut."""
    c00, c10, c11, c01 = q
    if axis == 0:
        a, b = lerp(c00, c10, f0), lerp(c01, c11, f1)
        return np.array([c00, a, b, c01]), np.array([a, c10, c11, b])
    a, b = lerp(c00, c01, f0), lerp(c10, c11, f1)
    return np.array([c00, c10, b, a]), np.array([a, b, c11, c01])


def quad_sides(q: np.ndarray) -> tuple[float, float]:
    """Mean lengths along s (c00→c10) and t (c00→c01)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = q.tolist() if hasattr(q, "tolist") else q
    ls = (math.hypot(x1 - x0, y1 - y0) + math.hypot(x2 - x3, y2 - y3)) / 2
    lt = (math.hypot(x3 - x0, y3 - y0) + math.hypot(x2 - x1, y2 - y1)) / 2
    return ls, lt


def bilinear(q: np.ndarray, s, t) -> np.ndarray:
    """Points at parameters (s, t) ∈ [0, 1]² of a quad."""
    c00, c10, c11, c01 = q
    s, t = np.asarray(s, float)[..., None], np.asarray(t, float)[..., None]
    return (1 - s) * (1 - t) * c00 + s * (1 - t) * c10 + s * t * c11 + (1 - s) * t * c01


def bilinear_many(quads: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at (s[i], t[i]) of quads[i] (N × 4 × 2) → N × 2."""
    s, t = np.asarray(s, float)[:, None], np.asarray(t, float)[:, None]
    c00, c10, c11, c01 = quads[:, 0], quads[:, 1], quads[:, 2], quads[:, 3]
    return (1 - s) * (1 - t) * c00 + s * (1 - t) * c10 + s * t * c11 + (1 - s) * t * c01


def sub_quad(q: np.ndarray, s0: float, s1: float, t0: float, t1: float) -> np.ndarray:
    return bilinear(q, np.array([s0, s1, s1, s0]), np.array([t0, t0, t1, t1]))


def point_in_ring(x: np.ndarray, y: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd test of many points against one ring (vectorised over points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    inside = np.zeros(x.shape, bool)
    xs, ys = ring[:, 0], ring[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    for k in range(len(xs)):
        xi, yi, xk, yk = xs[k], ys[k], xj[k], yj[k]
        if yi == yk:
            continue
        cond = (yi > y) != (yk > y)
        xint = (xk - xi) * (y - yi) / (yk - yi) + xi
        inside ^= cond & (x < xint)
    return inside
