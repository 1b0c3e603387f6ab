"""The district's land: towns, street grids, blocks, parks and parcels (in metres).

Each town gets its own street grid, centred on its seat (镇政府所在地) and
turned by a few degrees: road lines are denser near the seat (small urban
blocks) and sparser outside (large industrial blocks). Roads have widths by
class (arterial, secondary, branch); a block is the quad between four road
lines, its corners the jittered intersections pulled in by half the road
widths, so blocks never overlap and neighbours across a road have parallel
edges. Blocks that cross a town boundary are dropped (the boundary runs along
a strip without parcels, like a border road or creek). Some branch roads end:
two blocks merge. Parks are rectangles of whole blocks. Blocks are cut into
1–6 parcels by straight cuts between opposite edges.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from . import vocab
from .geometry import Projection, TownLattice, quad_area, quad_sides, split_quad

# Share of blocks by land use in each kind of zone.
LAND_USE_MIX = {
    "park:nev": {"M1": 0.62, "M2": 0.08, "M0": 0.12, "W1": 0.09, "B2": 0.03, "G1": 0.04, "U": 0.02},
    "park:equip": {
        "M1": 0.62,
        "M2": 0.10,
        "M0": 0.12,
        "W1": 0.07,
        "B2": 0.03,
        "G1": 0.04,
        "U": 0.02,
    },
    "park:ic": {"M1": 0.52, "M0": 0.28, "M2": 0.04, "W1": 0.05, "B2": 0.05, "G1": 0.04, "U": 0.02},
    "park:bio": {"M1": 0.48, "M0": 0.32, "M2": 0.03, "W1": 0.04, "B2": 0.06, "G1": 0.05, "U": 0.02},
    "park:services": {"M0": 0.46, "B2": 0.24, "M1": 0.14, "B1": 0.05, "G1": 0.07, "R2": 0.04},
    "belt": {"M1": 0.56, "M2": 0.12, "W1": 0.12, "M0": 0.08, "B1": 0.03, "G1": 0.06, "U": 0.03},
    "centre": {
        "R2": 0.44,
        "B1": 0.17,
        "B2": 0.11,
        "A": 0.09,
        "G1": 0.12,
        "S": 0.02,
        "U": 0.02,
        "M0": 0.03,
    },
    "rural": {
        "R2": 0.40,
        "M1": 0.22,
        "G1": 0.18,
        "A": 0.04,
        "W1": 0.06,
        "U": 0.03,
        "B1": 0.04,
        "S": 0.01,
        "M2": 0.02,
    },
}
INDUSTRIAL = frozenset({"M1", "M2", "M3", "M0", "W1"})
# Typical parcel area by land use (m²); a block is cut into area / target parcels.
TARGET_M2 = {
    "M1": 24000,
    "M2": 30000,
    "M0": 14000,
    "W1": 34000,
    "R2": 42000,
    "B1": 13000,
    "B2": 10000,
    "A": 18000,
    "G1": 50000,
    "S": 16000,
    "U": 11000,
}
MIN_PARCEL_M2 = 3500.0  # 5.25 mu
MAX_PARCEL_M2 = 100000.0  # 150 mu


@dataclass
class Road:
    name: str
    width: float
    kind: str  # arterial / secondary / branch


@dataclass
class TownGrid:
    index: int
    col: int
    row: int
    code: str
    name: str
    stem: str
    ring: np.ndarray  # metres
    seat: np.ndarray
    theta: float
    size: float  # √area, metres
    u_lines: np.ndarray
    v_lines: np.ndarray
    u_roads: list[Road]
    v_roads: list[Road]
    nodes: np.ndarray  # (nu, nv, 2) jittered intersections, local (u, v)
    villages: list[str]
    belts: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (centre xy, radius)
    core_radius: float = 0.0

    def to_xy(self, u, v) -> np.ndarray:
        c, s = math.cos(self.theta), math.sin(self.theta)
        u, v = np.asarray(u, float), np.asarray(v, float)
        return np.stack([self.seat[0] + u * c - v * s, self.seat[1] + u * s + v * c], axis=-1)

    def to_uv(self, xy) -> np.ndarray:
        c, s = math.cos(self.theta), math.sin(self.theta)
        d = np.asarray(xy, float) - self.seat
        return np.stack([d[..., 0] * c + d[..., 1] * s, -d[..., 0] * s + d[..., 1] * c], axis=-1)


@dataclass
class Block:
    town: int
    k: int
    j: int
    quad: np.ndarray  # 4 × 2, metres, counter-clockwise [c00, c10, c11, c01]
    park: int | None = None
    zone: str = "rural"
    land_use: str = ""
    merged: bool = False


@dataclass
class ParkPlan:
    index: int
    code: str
    name: str
    town: int
    theme: str
    ring: np.ndarray
    blocks: list[int]


@dataclass
class Plot:
    """A parcel in metres, before it becomes a ParcelRec."""

    block: int
    seq: int
    quad: np.ndarray
    land_use: str
    area: float
    code: str = ""
    status: str = ""
    owner: str = ""


class NamePool:
    """Unique names drawn without replacement from a shuffled product of characters."""

    def __init__(self, rng, first, second, extra_first=()):
        self.rng = rng
        pairs = [a + b for a in first for b in second if a != b]
        order = rng.permutation(len(pairs))
        self.items = [pairs[i] for i in order]
        self.extra_first = list(extra_first) or list(first)
        self.used: set[str] = set()
        self.pos = 0

    def take(self) -> str:
        while self.pos < len(self.items):
            name = self.items[self.pos]
            self.pos += 1
            if name not in self.used:
                self.used.add(name)
                return name
        # Exhausted (city and province scales): three characters.
        while True:
            a = self.extra_first[int(self.rng.integers(0, len(self.extra_first)))]
            name = a + self.items[int(self.rng.integers(0, len(self.items)))]
            if name not in self.used:
                self.used.add(name)
                return name


def town_names(rng, n: int) -> list[str]:
    pool = NamePool(rng, vocab.TOWN_FIRST, sorted(set(vocab.TOWN_SECOND)))
    return [pool.take() for _ in range(n)]


def make_lattice(rng, cols, rows, width, height) -> TownLattice:
    return TownLattice(rng, cols, rows, width, height)


def _grid_lines(
    rng, lo: float, hi: float, s_core: float, s_outer: float, r_core: float
) -> np.ndarray:
    def spacing(d):
        t = min(1.0, d / r_core)
        t = t * t * (3 - 2 * t)
        return s_core + (s_outer - s_core) * t

    pos = [float(rng.uniform(-0.5, 0.5) * s_core)]
    while pos[-1] < hi:
        pos.append(pos[-1] + spacing(abs(pos[-1])) * float(rng.uniform(0.8, 1.25)))
    neg = []
    p = pos[0]
    while p > lo:
        p -= spacing(abs(p)) * float(rng.uniform(0.8, 1.25))
        neg.append(p)
    return np.array(neg[::-1] + pos)


def _roads(rng, lines: np.ndarray, road_names: NamePool, direction: str) -> list[Road]:
    k0 = int(np.argmin(np.abs(lines)))
    phase = int(rng.integers(0, 4))
    roads = []
    for k in range(len(lines)):
        step = (k - k0 + phase) % 4
        if step == 0:
            kind, width = "arterial", float(rng.uniform(40, 50))
            suffix = "公路" if rng.random() < 0.5 else ("大道" if rng.random() < 0.3 else "路")
        elif step == 2:
            kind, width, suffix = "secondary", float(rng.uniform(24, 32)), "路"
        else:
            kind, width = "branch", float(rng.uniform(16, 20))
            suffix = "路" if rng.random() < 0.8 else "街"
        roads.append(Road(road_names.take() + suffix, width, kind))
    return roads


def build_grids(
    rng, lattice: TownLattice, names: list[str], kinds: list[str], block_scale: float
) -> list[TownGrid]:
    road_names = NamePool(rng, vocab.ROAD_FIRST, vocab.ROAD_SECOND, extra_first=vocab.TOWN_FIRST)
    village_pool = NamePool(rng, vocab.TOWN_FIRST + vocab.ROAD_FIRST, vocab.VILLAGE_SECOND)
    grids = []
    cols, rows = lattice.cols, lattice.rows
    for t in range(cols * rows):
        # T01 is the north-west town; codes run west→east, north→south.
        row = rows - 1 - t // cols
        col = t % cols
        ring = lattice.cell_ring(col, row)
        area = abs(
            0.5
            * float(
                np.dot(ring[:, 0], np.roll(ring[:, 1], -1))
                - np.dot(ring[:, 1], np.roll(ring[:, 0], -1))
            )
        )
        size = math.sqrt(area)
        centre = ring[:-1].mean(axis=0)
        seat = centre + rng.uniform(-0.08, 0.08, 2) * size
        theta = math.radians(float(rng.uniform(-16, 16)))
        grid = TownGrid(
            index=t,
            col=col,
            row=row,
            code=f"T{t + 1:02d}",
            name=names[t] + kinds[t],
            stem=names[t],
            ring=ring,
            seat=seat,
            theta=theta,
            size=size,
            u_lines=np.empty(0),
            v_lines=np.empty(0),
            u_roads=[],
            v_roads=[],
            nodes=np.empty((0, 0, 2)),
            villages=[],
        )
        uv = grid.to_uv(ring)
        s_core = float(rng.uniform(150, 190)) * block_scale
        s_outer = float(rng.uniform(340, 460)) * block_scale
        grid.core_radius = 0.24 * size
        r_core = max(0.30 * size, 2.0 * s_core)
        grid.u_lines = _grid_lines(
            rng, uv[:, 0].min() - s_outer, uv[:, 0].max() + s_outer, s_core, s_outer, r_core
        )
        grid.v_lines = _grid_lines(
            rng, uv[:, 1].min() - s_outer, uv[:, 1].max() + s_outer, s_core, s_outer, r_core
        )
        grid.u_roads = _roads(rng, grid.u_lines, road_names, "u")
        grid.v_roads = _roads(rng, grid.v_lines, road_names, "v")
        nu, nv = len(grid.u_lines), len(grid.v_lines)
        jit = np.clip(rng.normal(0, 2.5, (nu, nv, 2)), -5, 5)
        grid.nodes = np.stack(np.meshgrid(grid.u_lines, grid.v_lines, indexing="ij"), axis=-1) + jit
        grid.villages = [village_pool.take() + "村" for _ in range(int(rng.integers(8, 20)))]
        # Industrial belts: one or two clusters away from the seat.
        for _ in range(int(rng.integers(1, 3))):
            ang = float(rng.uniform(0, 2 * math.pi))
            dist = float(rng.uniform(0.28, 0.42)) * size
            grid.belts.append(
                (
                    seat + dist * np.array([math.cos(ang), math.sin(ang)]),
                    float(rng.uniform(0.20, 0.32)) * size,
                )
            )
        grids.append(grid)
    return grids


def grid_blocks(grid: TownGrid) -> tuple[np.ndarray, np.ndarray]:
    """All candidate block quads of a town grid in metres: (nu-1, nv-1, 4, 2), and their (k, j)."""
    n = grid.nodes
    wu = np.array([r.width for r in grid.u_roads])
    wv = np.array([r.width for r in grid.v_roads])
    c00 = n[:-1, :-1] + np.stack(np.broadcast_arrays(wu[:-1, None] / 2, wv[None, :-1] / 2), axis=-1)
    c10 = n[1:, :-1] + np.stack(np.broadcast_arrays(-wu[1:, None] / 2, wv[None, :-1] / 2), axis=-1)
    c11 = n[1:, 1:] + np.stack(np.broadcast_arrays(-wu[1:, None] / 2, -wv[None, 1:] / 2), axis=-1)
    c01 = n[:-1, 1:] + np.stack(np.broadcast_arrays(wu[:-1, None] / 2, -wv[None, 1:] / 2), axis=-1)
    quads_uv = np.stack([c00, c10, c11, c01], axis=2)
    return grid.to_xy(quads_uv[..., 0], quads_uv[..., 1]), quads_uv


def valid_blocks(
    lattice: TownLattice, grid: TownGrid, quads: np.ndarray, margin: float
) -> np.ndarray:
    nk, nl = quads.shape[:2]
    flat = quads.reshape(nk * nl, 4, 2)
    box = np.column_stack(
        [flat[:, :, 0].min(1), flat[:, :, 1].min(1), flat[:, :, 0].max(1), flat[:, :, 1].max(1)]
    )
    ok = lattice.boxes_inside(grid.col, grid.row, box, margin)
    sides_ok = np.array([min(quad_sides(q)) > 45 for q in flat])
    return (ok & sides_ok).reshape(nk, nl)


def park_ring(quads: np.ndarray, k0: int, k1: int, l0: int, l1: int) -> np.ndarray:
    """The outline of blocks [k0..k1] × [l0..l1]: their outer corners, walked counter-clockwise."""
    pts = []
    for k in range(k0, k1 + 1):
        pts += [quads[k, l0, 0], quads[k, l0, 1]]
    for j in range(l0, l1 + 1):
        pts += [quads[k1, j, 1], quads[k1, j, 2]]
    for k in range(k1, k0 - 1, -1):
        pts += [quads[k, l1, 2], quads[k, l1, 3]]
    for j in range(l1, l0 - 1, -1):
        pts += [quads[k0, j, 3], quads[k0, j, 0]]
    ring = [pts[0]]
    for p in pts[1:]:
        if not np.allclose(p, ring[-1]):
            ring.append(p)
    if not np.allclose(ring[0], ring[-1]):
        ring.append(ring[0])
    return np.array(ring)


def find_park_rect(
    rng,
    grid: TownGrid,
    valid: np.ndarray,
    quads: np.ndarray,
    dims: tuple[int, int],
    taken: np.ndarray,
):
    """A rectangle of valid, untaken blocks near a point away from the seat, or None."""
    nk, nl = valid.shape
    centres = quads.mean(axis=2)
    ang = float(rng.uniform(0, 2 * math.pi))
    target = grid.seat + float(rng.uniform(0.15, 0.35)) * grid.size * np.array(
        [math.cos(ang), math.sin(ang)]
    )
    d = np.hypot(centres[..., 0] - target[0], centres[..., 1] - target[1])
    order = np.argsort(d, axis=None)
    for shrink in range(0, max(dims)):
        dk, dl = max(2, dims[0] - shrink), max(2, dims[1] - shrink)
        for flat in order[:400]:
            ck, cl = divmod(int(flat), nl)
            k0, l0 = ck - dk // 2, cl - dl // 2
            k1, l1 = k0 + dk - 1, l0 + dl - 1
            if k0 < 0 or l0 < 0 or k1 >= nk or l1 >= nl:
                continue
            if valid[k0 : k1 + 1, l0 : l1 + 1].all() and not taken[k0 : k1 + 1, l0 : l1 + 1].any():
                return k0, k1, l0, l1
    return None


def subdivide(rs, quad: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut a block into n parcels (1–6) with slightly skewed straight cuts."""
    if n <= 1:
        return [quad]
    ls, lt = quad_sides(quad)
    axis = 0 if ls >= lt else 1
    aspect = max(ls, lt) / max(min(ls, lt), 1.0)

    def strips(q, ax, parts):
        out, rest = [], q
        for m in range(parts, 1, -1):
            f = min(0.88, max(0.12, rs.uniform(0.82, 1.18) / m))
            d = rs.uniform(-0.035, 0.035)
            a, rest = split_quad(rest, ax, f - d, f + d)
            out.append(a)
        out.append(rest)
        return out

    if n == 2:
        return strips(quad, axis, 2)
    if n == 3:
        if aspect > 2.0:
            return strips(quad, axis, 3)
        a, b = strips(quad, axis, 2)
        return (
            ([a] + strips(b, 1 - axis, 2)) if rs.random() < 0.5 else (strips(a, 1 - axis, 2) + [b])
        )
    if n == 4:
        if aspect > 2.8:
            return strips(quad, axis, 4)
        a, b = strips(quad, axis, 2)
        return strips(a, 1 - axis, 2) + strips(b, 1 - axis, 2)
    thirds = strips(quad, axis, 3)
    out = []
    for i, q in enumerate(thirds):
        out += [q] if (n == 5 and i == 1) else strips(q, 1 - axis, 2)
    return out


def parcel_count(rs, area: float, land_use: str) -> int:
    n = int(round(area / TARGET_M2[land_use] * rs.uniform(0.75, 1.3)))
    n = max(1, min(4, n))
    while n < 6 and area / n > MAX_PARCEL_M2:
        n += 1
    while n > 1 and area / n < MIN_PARCEL_M2 * 1.4:
        n -= 1
    return n


def smooth_noise(rng, size: float, waves: int = 7):
    """A smooth random field f(x, y) ~ [-1, 1] with wavelengths of 0.2–0.8 × size."""
    k = rng.uniform(2 * math.pi / (0.8 * size), 2 * math.pi / (0.2 * size), waves)
    ang = rng.uniform(0, 2 * math.pi, waves)
    phase = rng.uniform(0, 2 * math.pi, waves)
    kx, ky = k * np.cos(ang), k * np.sin(ang)

    def f(x, y):
        x, y = np.asarray(x, float)[..., None], np.asarray(y, float)[..., None]
        return np.sin(x * kx + y * ky + phase).sum(axis=-1) / math.sqrt(waves / 2)

    return f


def to_lonlat_ring(proj: Projection, ring: np.ndarray) -> list[list[float]]:
    lon, lat = proj.lonlat(ring[:, 0], ring[:, 1])
    pts = np.round(np.column_stack([lon, lat]), 7).tolist()
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    return pts


def to_lonlat_quads(proj: Projection, quads: np.ndarray) -> list[list[list[float]]]:
    """Closed lon/lat rings of many quads (N × 4 × 2 metres) at once."""
    if len(quads) == 0:
        return []
    lon, lat = proj.lonlat(quads[..., 0], quads[..., 1])
    pts = np.round(np.stack([lon, lat], axis=-1), 7)
    return np.concatenate([pts, pts[:, :1]], axis=1).tolist()


__all__ = [
    "INDUSTRIAL",
    "LAND_USE_MIX",
    "Block",
    "NamePool",
    "ParkPlan",
    "Plot",
    "Road",
    "TownGrid",
    "build_grids",
    "find_park_rect",
    "grid_blocks",
    "make_lattice",
    "park_ring",
    "parcel_count",
    "quad_area",
    "smooth_noise",
    "subdivide",
    "to_lonlat_quads",
    "to_lonlat_ring",
    "town_names",
    "valid_blocks",
]
