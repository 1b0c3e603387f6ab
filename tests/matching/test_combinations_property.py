"""Property tests: on random layouts, the matcher returns exactly what brute force finds.

Layouts are grids of rectangles of random widths and heights where neighbours
touch or stand a little apart (adjacency measured by geometry.adjacency), and
random graphs for denser neighbourhoods. For random demands, the returned
single parcels and combinations equal a brute-force enumeration of every
qualifying, connected, minimal set of at most max_parcels parcels; each
returned combination is also checked on its own (soundness) against the
rectangles themselves.
"""

import itertools

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investmap.matching import geometry as geo
from investmap.matching import matcher
from investmap.matching.demand import parse
from investmap.matching.index import CAT_INDEX

from .test_matcher import explained, make_index

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
USES = ["M1", "M2", "R2"]
STATUSES = ["available", "idle", "in_use", "planned"]
GAPS = [0.0, 0.0, 0.0, 0.4, 0.9, 1.3, 4.0]  # how far a cell's right / top edge is pulled in


# --- layouts ---------------------------------------------------------------------------


@st.composite
def grid_layouts(draw):
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(20, 120), min_size=cols, max_size=cols))
    heights = draw(st.lists(st.integers(20, 120), min_size=rows, max_size=rows))
    xs = np.concatenate([[0], np.cumsum(widths)])
    ys = np.concatenate([[0], np.cumsum(heights)])
    geoms = []
    for r in range(rows):
        for c in range(cols):
            if not draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
                continue  # an empty cell, about one in eight
            gx, gy = draw(st.sampled_from(GAPS)), draw(st.sampled_from(GAPS))
            geoms.append(shapely.box(xs[c], ys[r], xs[c + 1] - gx, ys[r + 1] - gy))
    return geoms


def grid_edges(geoms):
    """Adjacency as the refresh computes it (district distance 1 m), by position."""
    n = len(geoms)
    arr = np.array(geoms, dtype=object)
    sh = geo.Shapes(np.arange(n, dtype=np.int64), arr, np.zeros((n, 2)), np.zeros(n))
    a, b, gaps = geo.adjacency(sh, gap_m=1.0)
    return [(int(x), int(y), round(float(g), 3)) for x, y, g in zip(a, b, gaps, strict=True)]


@st.composite
def graph_layouts(draw):
    """A random graph (up to 9 parcels, often dense) with gaps from GAPS."""
    n = draw(st.integers(2, 9))
    p = draw(st.sampled_from([0.3, 0.6, 1.0]))
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            if draw(st.floats(0, 1)) < p:
                edges.append((i, j, draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]))))
    return n, edges


@st.composite
def attributes(draw, n):
    area = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    return {
        "area": area,
        "land_use": draw(st.lists(st.sampled_from(["M1", *USES]), min_size=n, max_size=n)),
        "status": draw(
            st.lists(st.sampled_from(["available"] * 4 + STATUSES), min_size=n, max_size=n)
        ),
        "price": draw(st.lists(st.one_of(st.none(), st.integers(10, 200)), min_size=n, max_size=n)),
        "distances": {
            "metro_station": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 3000)), min_size=n, max_size=n)
            ),
            "school": draw(
                st.lists(st.one_of(st.none(), st.integers(0, 5000)), min_size=n, max_size=n)
            ),
        },
    }


@st.composite
def demands(draw, areas):
    # Mostly above the median parcel, where combinations are needed; sometimes anywhere.
    if draw(st.integers(0, 2)) == 2:
        lo = draw(st.integers(1, 70))
    else:
        median = sorted(areas)[len(areas) // 2]
        lo = draw(st.integers(median + 1, max(median + 1, 2 * max(areas))))
    span = draw(st.one_of(st.none(), st.integers(0, 60)))
    data = {
        "area_mu_min": lo,
        "max_parcels": draw(st.integers(2, 4)),
        "adjacency_m": draw(st.sampled_from([0, 0.5, 1.0])),
    }
    if span is not None:
        data["area_mu_max"] = lo + span
    # Each filter about one time in three, so that combinations stay common.
    if draw(st.integers(0, 2)) == 2:
        data["land_use"] = draw(st.lists(st.sampled_from(USES), min_size=1, unique=True))
    if draw(st.integers(0, 2)) == 2:
        data["status"] = draw(st.lists(st.sampled_from(STATUSES), min_size=1, unique=True))
    if draw(st.integers(0, 2)) == 2:
        data["max_price_wan"] = draw(st.integers(50, 600))
    near = []
    if draw(st.integers(0, 2)) == 2:
        near.append({"category": "metro_station", "within_m": draw(st.integers(300, 2500))})
    if draw(st.booleans()):
        near.append({"category": "school", "weight": draw(st.sampled_from([0.5, 1, 3]))})
    if near:
        data["near"] = near
    if draw(st.booleans()):
        data["weights"] = {
            "area": draw(st.sampled_from([0.2, 1, 2])),
            "price": draw(st.sampled_from([0, 0.5, 2])),
            "near": draw(st.sampled_from([0, 1, 2])),
            "combine_penalty": draw(st.sampled_from([0, 0.1, 0.3, 0.5])),
        }
    return data


# --- brute force ---------------------------------------------------------------------------


class Brute:
    """The rules of the product issue, one set at a time."""

    def __init__(self, demand, attrs, edges):
        self.d = demand
        self.a = attrs
        self.n = len(attrs["area"])
        self.adj = {i: set() for i in range(self.n)}
        for i, j, gap in edges:
            if gap <= demand.adjacency_m:
                self.adj[i].add(j)
                self.adj[j].add(i)
        self.hard = [(x.category, x.within_m) for x in demand.near if x.hard]
        self._cache = {}

    def member(self, i) -> bool:
        d, a = self.d, self.a
        if d.land_use and a["land_use"][i] not in d.land_use:
            return False
        if a["status"][i] not in d.status:
            return False
        return d.max_price_wan is None or a["price"][i] is not None

    def connected(self, s) -> bool:
        s = set(s)
        start = next(iter(s))
        seen, todo = {start}, [start]
        while todo:
            for j in self.adj[todo.pop()] & s:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen == s

    def qualifies(self, s) -> bool:
        s = tuple(sorted(s))
        if s not in self._cache:
            self._cache[s] = self._qualifies(s)
        return self._cache[s]

    def _qualifies(self, s) -> bool:
        d, a = self.d, self.a
        if not all(self.member(i) for i in s):
            return False
        if len(s) > 1 and not self.connected(s):
            return False
        area = sum(a["area"][i] for i in s)
        if d.area_mu_min is not None and area < d.area_mu_min:
            return False
        if d.area_mu_max is not None and area > d.area_mu_max:
            return False
        if d.max_price_wan is not None and sum(a["price"][i] for i in s) > d.max_price_wan:
            return False
        for cat, limit in self.hard:
            known = [a["distances"][cat][i] for i in s if a["distances"][cat][i] is not None]
            if not known or min(known) > limit:
                return False
        return True

    def minimal(self, s) -> bool:
        return not any(
            self.qualifies(sub)
            for size in range(1, len(s))
            for sub in itertools.combinations(sorted(s), size)
        )

    def singles(self) -> list[int]:
        return [i for i in range(self.n) if self.qualifies((i,))]

    def combinations(self) -> set[tuple[int, ...]]:
        if not self.d.allow_combine or self.d.area_mu_min is None:
            return set()
        pool = [i for i in range(self.n) if self.member(i)]
        out = set()
        for k in range(2, self.d.max_parcels + 1):
            for s in itertools.combinations(pool, k):
                if self.qualifies(s) and self.minimal(s):
                    out.add(s)
        return out


# --- the checks --------------------------------------------------------------------------


def check(data, attrs, edges, geoms=None):
    demand = parse(data)
    idx = make_index(edges=edges, **attrs)
    out = matcher.match(demand, idx)
    brute = Brute(demand, attrs, edges)
    got_singles = sorted(c.members[0] for c in out.candidates if c.kind == "parcel")
    got = [tuple(c.members) for c in out.candidates if c.kind == "combination"]
    assert not out.truncated
    assert len(got) == len(set(got))  # no duplicates
    assert all(list(c) == sorted(c) for c in got)

    # soundness, each returned combination on its own
    for c in got:
        assert 2 <= len(c) <= demand.max_parcels
        assert all(brute.member(i) for i in c)
        assert brute.connected(c)
        if geoms is not None:  # connected by the rectangles themselves, not only the table
            near = {
                (i, j)
                for i, j in itertools.combinations(c, 2)
                if shapely.distance(geoms[i], geoms[j]) <= demand.adjacency_m + 1e-9
            }
            sub = Brute(demand, attrs, [(i, j, 0.0) for i, j in near])
            assert sub.connected(c)
        area = sum(attrs["area"][i] for i in c)
        assert area >= demand.area_mu_min
        assert demand.area_mu_max is None or area <= demand.area_mu_max
        assert brute.qualifies(c) and brute.minimal(c)

    # completeness: exactly the brute-force sets
    assert got_singles == brute.singles()
    assert set(got) == brute.combinations()
    assert out.counted["parcel"] == len(got_singles)
    assert out.counted["combination"] == len(got)

    # scores, reasons, ranking
    cands = explained(demand, idx, out)
    for c in cands:
        assert 0.0 <= c.score <= 1.0
        reasons = matcher.reasons(demand, idx, c)
        total = sum(r["added"] for r in reasons)
        assert total == pytest.approx(c.score, abs=1e-4 * len(reasons) + 1e-9)
        if c.kind == "combination":
            assert c.factor < 1.0 or demand.weights.get("combine_penalty") == 0
            price = [r for r in reasons if r["criterion"] == "price"]
            if price:
                assert price[0]["value"] == sum(attrs["price"][i] for i in c.members)
        metro = c.dist[CAT_INDEX["metro_station"]]
        known = [
            attrs["distances"]["metro_station"][i]
            for i in c.members
            if attrs["distances"]["metro_station"][i] is not None
        ]
        assert (np.isnan(metro) and not known) or metro == min(known)
    ranked = matcher.rank(out.candidates, idx)
    limit = max(1, len(ranked) // 2)
    assert [(c.kind, c.members) for c in out.top(idx, limit)] == [
        (c.kind, c.members) for c in ranked[:limit]
    ]
    # with a large enough limit, every single parcel is there
    every = out.top(idx, 100_000)
    assert len(every) == len(ranked)
    assert sorted(c.members[0] for c in every if c.kind == "parcel") == brute.singles()
    return out


@SETTINGS
@given(data=st.data())
def test_grid_layouts_match_brute_force(data):
    geoms = data.draw(grid_layouts())
    if not geoms:
        return
    attrs = data.draw(attributes(len(geoms)))
    check(data.draw(demands(attrs["area"])), attrs, grid_edges(geoms), geoms)


@SETTINGS
@given(data=st.data())
def test_random_graphs_match_brute_force(data):
    n, edges = data.draw(graph_layouts())
    attrs = data.draw(attributes(n))
    check(data.draw(demands(attrs["area"])), attrs, edges)


@SETTINGS
@given(data=st.data())
def test_small_parcels_many_combinations(data):
    """Small areas against a large minimum: most answers are 3–4 parcel combinations."""
    n, edges = data.draw(graph_layouts())
    attrs = data.draw(attributes(n))
    attrs["area"] = data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    lo = data.draw(st.integers(10, 30))
    demand = {
        "area_mu_min": lo,
        "area_mu_max": lo + data.draw(st.integers(0, 15)),
        "max_parcels": 4,
        "status": STATUSES,
    }
    check(demand, attrs, edges)


def test_brute_force_sees_a_known_answer():
    """The reference itself, on a layout worked out by hand: a 2 × 2 block."""
    geoms = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]
    geoms += [shapely.box(0, 10, 10, 20), shapely.box(10, 10, 20, 20)]
    attrs = {
        "area": [10, 10, 10, 25],
        "land_use": ["M1"] * 4,
        "status": ["available"] * 4,
        "price": [None] * 4,
        "distances": {"metro_station": [None] * 4, "school": [None] * 4},
    }
    edges = grid_edges(geoms)
    assert len(edges) == 6  # the diagonals touch at the centre
    out = check({"area_mu_min": 20, "area_mu_max": 30}, attrs, edges, geoms)
    got = {tuple(c.members) for c in out.candidates}
    assert got == {(3,), (0, 1), (0, 2), (1, 2)}
