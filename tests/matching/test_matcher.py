"""matcher.py on hand-built indexes: hard constraints, combinations, scores, reasons, ranking.

`make_index` builds index.Index directly (no database); test_combinations_property
imports it.
"""

import dataclasses
import math

import numpy as np
import pytest

from investmap.core.geo import M2_PER_MU
from investmap.matching import features, matcher
from investmap.matching import index as index_mod
from investmap.matching.demand import parse
from investmap.matching.index import CAT_INDEX, CATEGORIES, BuildingIndex, Index, ParcelIndex

NAN = float("nan")


def _col(values, n, default, dtype):
    if values is None:
        values = [default] * n
    assert len(values) == n
    if dtype is float:
        return np.array([NAN if v is None else v for v in values], dtype=float)
    return np.array(values, dtype=dtype)


def _complete(cls, n, **columns):
    """The dataclass with every column given, and blank text for any other (new) column."""
    for f in dataclasses.fields(cls):
        columns.setdefault(f.name, np.array([""] * n, dtype=object))
    return cls(**columns)


def make_index(
    area,
    *,
    land_use=None,
    status=None,
    price=None,
    town=None,
    park=None,
    plot=None,
    investment=None,
    tax=None,
    distances=None,
    edges=(),
    codes=None,
    buildings=None,
) -> Index:
    """An Index of len(area) parcels; `distances` {category: [metres or None]};
    `edges` [(i, j, gap_m)] by position; `buildings` a dict of BuildingIndex columns."""
    n = len(area)
    dist = np.full((n, len(CATEGORIES)), NAN)
    for cat, values in (distances or {}).items():
        dist[:, CAT_INDEX[cat]] = _col(values, n, None, float)
    edges = list(edges)
    parcels = _complete(
        ParcelIndex,
        n,
        ids=np.arange(1, n + 1, dtype=np.int64) * 10,
        codes=_col(codes or [f"P{i:03d}" for i in range(n)], n, "", object),
        names=np.array([f"parcel {i}" for i in range(n)], dtype=object),
        town=_col(town, n, "T01", object),
        park=_col(park, n, "", object),
        land_use=_col(land_use, n, "M1", object),
        status=_col(status, n, "available", object),
        area_mu=_col(area, n, None, float),
        price_wan=_col(price, n, None, float),
        plot_ratio_max=_col(plot, n, None, float),
        min_investment=_col(investment, n, None, float),
        min_tax=_col(tax, n, None, float),
        distances=dist,
        edge_a=np.array([e[0] for e in edges], dtype=np.int64),
        edge_b=np.array([e[1] for e in edges], dtype=np.int64),
        edge_gap=np.array([e[2] for e in edges], dtype=float),
    )
    return Index("test", parcels, make_buildings(**(buildings or {})))


def make_buildings(
    vacant=(),
    *,
    building_type=None,
    rent=None,
    floor_load=None,
    clear_height=None,
    town=None,
    park=None,
    distances=None,
) -> BuildingIndex:
    n = len(vacant)
    dist = np.full((n, len(CATEGORIES)), NAN)
    for cat, values in (distances or {}).items():
        dist[:, CAT_INDEX[cat]] = _col(values, n, None, float)
    return _complete(
        BuildingIndex,
        n,
        ids=np.arange(1, n + 1, dtype=np.int64) * 100,
        codes=np.array([f"B{i:03d}" for i in range(n)], dtype=object),
        names=np.array([f"building {i}" for i in range(n)], dtype=object),
        town=_col(town, n, "T01", object),
        park=_col(park, n, "", object),
        building_type=_col(building_type, n, "factory", object),
        vacant_m2=_col(list(vacant), n, None, float),
        rent=_col(rent, n, None, float),
        floor_load=_col(floor_load, n, None, float),
        clear_height=_col(clear_height, n, None, float),
        distances=dist,
    )


def singles(outcome) -> list[int]:
    return sorted(c.members[0] for c in outcome.candidates if c.kind == "parcel")


def combos(outcome) -> set[tuple[int, ...]]:
    return {tuple(sorted(c.members)) for c in outcome.candidates if c.kind == "combination"}


def floors(outcome) -> list[int]:
    return sorted(c.members[0] for c in outcome.candidates if c.kind == "floor_space")


def run(data, idx):
    return matcher.match(parse(data), idx)


def explained(demand, idx, outcome) -> list:
    """The outcome's candidates with their scored criteria and distances filled in."""
    return [matcher.explain(demand, idx, c) for c in outcome.candidates]


def check_scores(demand, idx, outcome):
    """Score in [0, 1]; reasons' `added` sum to it; the factor of a combination."""
    w = {"combine_penalty": 0.1, **demand.weights}
    for c in explained(demand, idx, outcome):
        assert 0.0 <= c.score <= 1.0 + 1e-12, c
        reasons = matcher.reasons(demand, idx, c)
        assert all(r["met"] in (True, False) and r["text"] for r in reasons)
        total = sum(r["added"] for r in reasons)
        assert total == pytest.approx(c.score, abs=5e-4 * max(1, len(reasons))), reasons
        if c.kind == "combination":
            assert c.factor == pytest.approx(
                max(0.0, 1 - w["combine_penalty"] * (len(c.members) - 1))
            )
        else:
            assert c.factor == 1.0


# --- single parcels: every hard constraint ---------------------------------------------


@pytest.fixture
def six():
    return make_index(
        [50, 50, 50, 20, 50, 50],
        land_use=["M1", "M2", "M1", "M0", "M1", "M1"],
        status=["available", "idle", "in_use", "available", "available", "low_efficiency"],
        price=[1000, None, 800, 500, 1400, 1300],
        town=["T01", "T01", "T01", "T01", "T02", "T01"],
        park=["P01", "", "P01", "", "", ""],
        plot=[None, 1.0, None, None, None, 2.0],
        investment=[None, None, None, None, None, 300],
        tax=[None, None, None, None, None, 20],
        distances={"metro_station": [100, 600, None, 0, 500, 499.99]},
    )


@pytest.mark.parametrize(
    ("extra", "want"),
    [
        ({}, [0, 1, 4, 5]),
        ({"land_use": ["M1"]}, [0, 4, 5]),
        ({"land_use": ["M2", "M0"]}, [1]),
        ({"status": ["in_use"]}, [2]),
        ({"status": ["available"]}, [0, 4]),
        ({"towns": ["T01"]}, [0, 1, 5]),
        ({"parks": ["P01"]}, [0]),
        ({"towns": ["T02"], "parks": ["P01"]}, [0, 4]),  # inside either
        ({"exclude_towns": ["T02"]}, [0, 1, 5]),
        ({"exclude_parks": ["P01"]}, [1, 4, 5]),
        ({"towns": ["T01"], "exclude_parks": ["P01"]}, [1, 5]),
        ({"max_price_wan": 1400}, [0, 4, 5]),  # unknown price fails
        ({"max_price_wan": 1000}, [0]),
        ({"max_price_wan": 900}, []),
        ({"plot_ratio_min": 1.0}, [1, 5]),  # unknown plot ratio fails
        ({"plot_ratio_min": 1.5}, [5]),
        ({"investment_wan_per_mu": 200}, [0, 1, 4]),  # unknown minimum passes
        ({"investment_wan_per_mu": 300}, [0, 1, 4, 5]),
        ({"tax_wan_per_mu": 10}, [0, 1, 4]),
        ({"near": [{"category": "metro_station", "within_m": 500}]}, [0, 4, 5]),
        ({"near": [{"category": "metro_station", "within_m": 99}]}, []),
        ({"near": [{"category": "school", "within_m": 99_999}]}, []),  # none in the district
        ({"near": [{"category": "school", "weight": 1}]}, [0, 1, 4, 5]),  # preference only
        ({"area_mu_min": 50, "area_mu_max": 50}, [0, 1, 4, 5]),
        ({"area_mu_min": 50.01}, []),
        ({"area_mu_min": 10, "area_mu_max": 30, "status": ["available"]}, [3]),
        ({"area_mu_min": None, "area_mu_max": 60}, [0, 1, 3, 4, 5]),
    ],
)
def test_single_parcels_are_exactly_those_meeting_every_hard_constraint(six, extra, want):
    data = {"area_mu_min": 40, "area_mu_max": 60, "allow_combine": False, **extra}
    data = {k: v for k, v in data.items() if v is not None}
    out = run(data, six)
    assert singles(out) == want
    assert out.counted == {"parcel": len(want), "combination": 0, "floor_space": 0}
    check_scores(parse(data), six, out)


def test_no_land_demand_means_no_parcels(six):
    assert singles(run({"floor_m2_min": 10}, six)) == []


# --- combinations --------------------------------------------------------------------------


def path(areas, gaps, **kw):
    return make_index(areas, edges=[(i, i + 1, g) for i, g in enumerate(gaps)], **kw)


def test_combinations_follow_adjacency_within_the_demands_distance():
    idx = path([10, 10, 10, 10], [0.0, 0.5, 2.0])
    assert combos(run({"area_mu_min": 15, "area_mu_max": 25}, idx)) == {(0, 1), (1, 2)}
    # adjacency_m 0: only touching parcels
    assert combos(run({"area_mu_min": 15, "area_mu_max": 25, "adjacency_m": 0}, idx)) == {(0, 1)}


def test_combination_size_is_bounded():
    idx = path([10, 10, 10, 10, 10], [0, 0, 0, 0])
    data = {"area_mu_min": 35, "area_mu_max": 45}
    assert combos(run(data, idx)) == {(0, 1, 2, 3), (1, 2, 3, 4)} or combos(run(data, idx)) == set()
    assert combos(run({**data, "max_parcels": 4}, idx)) == {(0, 1, 2, 3), (1, 2, 3, 4)}
    assert combos(run({**data, "max_parcels": 3}, idx)) == set()
    assert combos(run({"area_mu_min": 25, "max_parcels": 3}, idx)) == {
        (0, 1, 2),
        (1, 2, 3),
        (2, 3, 4),
    }


def test_combinations_are_minimal():
    idx = path([10, 30, 10], [0, 0])
    out = run({"area_mu_min": 35, "area_mu_max": 60}, idx)
    assert singles(out) == [] and combos(out) == {(0, 1), (1, 2)}  # not (0, 1, 2)
    # a parcel that qualifies alone never joins a combination
    idx = path([40, 10, 30], [0, 0])
    out = run({"area_mu_min": 35, "area_mu_max": 60}, idx)
    assert singles(out) == [0] and combos(out) == {(1, 2)}


def test_a_star_needs_its_centre():
    # centre 0 touches 1, 2, 3 which do not touch each other
    idx = make_index([5, 10, 10, 10], edges=[(0, 1, 0), (0, 2, 0), (0, 3, 0)])
    out = run({"area_mu_min": 25, "area_mu_max": 30}, idx)
    assert combos(out) == {(0, 1, 2), (0, 1, 3), (0, 2, 3)}


def test_combination_members_pass_the_per_parcel_filters():
    idx = path(
        [10, 10, 10, 10],
        [0, 0, 0],
        land_use=["M1", "R2", "M1", "M1"],
        status=["idle", "available", "available", "in_use"],
    )
    assert combos(run({"area_mu_min": 15, "area_mu_max": 25}, idx)) == {(1, 2), (0, 1)}
    assert combos(run({"area_mu_min": 15, "area_mu_max": 25, "land_use": ["M1"]}, idx)) == set()
    out = run({"area_mu_min": 15, "land_use": ["M1"], "status": ["available", "in_use"]}, idx)
    assert combos(out) == {(2, 3)}


def test_combination_price_is_the_sum():
    idx = path([10, 10, 10, 10], [0, 0, 0], price=[100, 200, 50, None])
    out = run({"area_mu_min": 15, "area_mu_max": 25, "max_price_wan": 260}, idx)
    assert combos(out) == {(1, 2)}  # (0, 1) costs 300; (2, 3) has no known price
    (c,) = explained(parse({"area_mu_min": 15, "area_mu_max": 25, "max_price_wan": 260}), idx, out)
    price = next(p for p in c.parts if p["criterion"] == "price")
    assert price["value"] == 250 and price["score"] == pytest.approx(1 - 250 / 260)
    data = {"area_mu_min": 15, "max_price_wan": 1000}
    out = run(data, idx)
    assert combos(out) == {(0, 1), (1, 2)}
    check_scores(parse(data), idx, out)


def test_hard_proximity_of_a_combination_is_its_nearest_member():
    idx = path([10, 10, 10], [0, 0], distances={"metro_station": [5000, None, 200]})
    data = {"area_mu_min": 15, "near": [{"category": "metro_station", "within_m": 1000}]}
    out = run(data, idx)
    assert combos(out) == {(1, 2)}
    (c,) = explained(parse(data), idx, out)
    assert c.dist[CAT_INDEX["metro_station"]] == 200
    assert np.isnan(c.dist[CAT_INDEX["school"]])
    reasons = matcher.reasons(parse(data), idx, c)
    near = next(r for r in reasons if r["criterion"] == "near")
    assert near["hard"] and near["value"] == 200 and near["limit"] == 1000
    out = run({**data, "near": [{"category": "metro_station", "within_m": 6000}]}, idx)
    assert combos(out) == {(0, 1), (1, 2)}


def test_no_combinations_without_a_minimum_or_when_not_allowed():
    idx = path([10, 10], [0])
    assert combos(run({"area_mu_min": 15}, idx)) == {(0, 1)}
    assert combos(run({"area_mu_min": 15, "allow_combine": False}, idx)) == set()
    assert combos(run({"area_mu_max": 25}, idx)) == set()
    assert combos(run({"area_mu_min": 15}, make_index([10, 10]))) == set()  # no edges


def test_members_larger_than_the_maximum_never_combine():
    idx = path([10, 90, 10], [0, 0])
    assert combos(run({"area_mu_min": 15, "area_mu_max": 30}, idx)) == set()


def test_search_stops_and_says_so(monkeypatch):
    # a complete graph of 8 parcels: 28 pairs
    n = 8
    edges = [(i, j, 0.0) for i in range(n) for j in range(i + 1, n)]
    idx = make_index([10] * n, edges=edges)
    data = {"area_mu_min": 35, "max_parcels": 4}
    out = run(data, idx)
    assert not out.truncated and len(combos(out)) == math.comb(n, 4)
    monkeypatch.setattr(matcher, "MAX_SETS", 20)
    out = run(data, idx)
    assert out.truncated and combos(out) == set()


# --- floor space ----------------------------------------------------------------------------


def test_floor_space_filters():
    idx = make_index(
        [],
        buildings={
            "vacant": [3000, 800, 5000, None, 2500, 4000],
            "building_type": ["factory", "factory", "office", "factory", "mixed", "factory"],
            "rent": [1.0, 0.5, 2.5, 1.0, None, 1.2],
            "floor_load": [8, 8, 3, 8, 10, None],
            "clear_height": [9, 9, 3.5, 9, 12, 9],
            "town": ["T01", "T01", "T02", "T01", "T02", "T01"],
            "distances": {"metro_station": [300, 300, 2000, 300, 4000, 100]},
        },
    )
    assert floors(run({"floor_m2_min": 1000}, idx)) == [0, 2, 4, 5]
    assert floors(run({"floor_m2_max": 900}, idx)) == [0, 1, 2, 4, 5]  # anything vacant
    assert floors(run({"floor_m2_min": 1000, "floor_load_min_kn_m2": 5}, idx)) == [0, 4]
    assert floors(run({"floor_m2_min": 1000, "clear_height_min_m": 8}, idx)) == [0, 4, 5]
    assert floors(run({"floor_m2_min": 1000, "building_type": ["office", "mixed"]}, idx)) == [2, 4]
    assert floors(run({"floor_m2_min": 1000, "max_rent_yuan_m2_day": 1.2}, idx)) == [0, 5]
    assert floors(run({"floor_m2_min": 1000, "towns": ["T02"]}, idx)) == [2, 4]
    data = {"floor_m2_min": 1000, "near": [{"category": "metro_station", "within_m": 2000}]}
    assert floors(run(data, idx)) == [0, 2, 5]
    data = {
        "floor_m2_min": 1000,
        "floor_m2_max": 5000,
        "max_rent_yuan_m2_day": 3,
        "floor_load_min_kn_m2": 1,
        "clear_height_min_m": 1,
        "building_type": ["factory", "office"],
        "near": [{"category": "metro_station", "weight": 1}],
    }
    out = run(data, idx)
    assert floors(out) == [0, 2]
    check_scores(parse(data), idx, out)
    crits = {r["criterion"] for r in matcher.reasons(parse(data), idx, out.candidates[0])}
    assert crits >= {"floor_area", "floor_load", "clear_height", "building_type", "rent", "near"}


def test_land_and_floor_together():
    idx = make_index([30], buildings={"vacant": [3000]})
    out = run({"area_mu_min": 20, "floor_m2_min": 1000}, idx)
    assert [c.kind for c in out.candidates] == ["parcel", "floor_space"]


# --- scores, reasons, ranking ------------------------------------------------------------


def test_area_score_is_best_in_the_middle():
    idx = make_index([40, 50, 60, 45])
    out = run({"area_mu_min": 40, "area_mu_max": 60}, idx)
    score = {c.members[0]: c.score for c in out.candidates}
    assert score[1] == pytest.approx(1.0)
    assert score[0] == pytest.approx(score[2]) == pytest.approx(0.8)
    assert score[3] == pytest.approx(0.9)
    ranked = matcher.rank(out.candidates, idx)
    assert [c.members[0] for c in ranked] == [1, 3, 0, 2]  # equal scores by code


def test_size_fit_follows_the_documented_rules():
    """docs/matching.md, "Score": both bounds → the middle; only a minimum → min / size;
    only a maximum → size / max; floor space → 1 within the range, max / vacant above."""
    idx = make_index([40, 50, 80], buildings={"vacant": [1000, 3000, 8000]})

    def scores(data, kind="parcel"):
        out = run({**data, "allow_combine": False}, idx)
        return {c.members[0]: c.score for c in out.candidates if c.kind == kind}

    assert scores({"area_mu_min": 40}) == pytest.approx({0: 1.0, 1: 0.8, 2: 0.5})
    assert scores({"area_mu_max": 100}) == pytest.approx({0: 0.4, 1: 0.5, 2: 0.8})
    assert scores({"area_mu_min": 40, "area_mu_max": 80}) == pytest.approx(
        {0: 2 / 3, 1: 5 / 6, 2: 2 / 3}
    )
    floor = scores({"floor_m2_min": 1000, "floor_m2_max": 4000}, "floor_space")
    assert floor == pytest.approx({0: 1.0, 1: 1.0, 2: 0.5})
    floor = scores({"floor_m2_min": 1000}, "floor_space")
    assert floor == pytest.approx({0: 1.0, 1: 1 / 3, 2: 1 / 8})


def test_weighted_score_and_reasons():
    idx = path(
        [50, 20, 20, 30],
        [0, 0, 0],
        price=[1000, 400, 400, 500],
        distances={"school": [500, 2500, None, 6000], "hospital": [100, 100, 100, 100]},
    )
    data = {
        "area_mu_min": 40,
        "area_mu_max": 60,
        "max_price_wan": 2000,
        "near": [
            {"category": "school", "weight": 2, "within_m": 2000},
            {"category": "hospital", "within_m": 1000},
        ],
        "weights": {"area": 1, "price": 1, "near": 0.5, "combine_penalty": 0.25},
    }
    d = parse(data)
    out = matcher.match(d, idx)
    assert singles(out) == [0] and combos(out) == {(1, 2), (2, 3)}
    check_scores(d, idx, out)
    by = {tuple(sorted(c.members)): c for c in explained(d, idx, out)}
    single = by[(0,)]
    # area 1 (middle), price 1 − 1000/2000, school 1 − 500/2000 with weight 0.5 × 2
    want = (1 * 1.0 + 1 * 0.5 + 1.0 * 0.75) / 3
    assert single.score == pytest.approx(want)
    combo = by[(1, 2)]
    assert combo.factor == pytest.approx(0.75)
    # area 40 → 0.8; price 800 → 0.6; school 2500 (nearest member) → 0 beyond 2000
    assert combo.score == pytest.approx((0.8 + 0.6 + 0.0) / 3 * 0.75)
    reasons = matcher.reasons(d, idx, combo)
    crit = [r["criterion"] for r in reasons]
    assert crit[0] == "area" and "combination" in crit and "price" in crit
    school = next(r for r in reasons if r.get("category") == "school")
    assert school["met"] is False and school["value"] == 2500 and school["hard"] is False
    hospital = next(r for r in reasons if r.get("category") == "hospital")
    assert hospital["met"] is True and hospital["hard"] is True and hospital["added"] == 0
    combo3 = by[(2, 3)]
    assert matcher.distances_dict(combo3.dist)["school"] == 6000.0
    assert matcher.distances_dict(combo3.dist)["metro_station"] is None
    ranked = matcher.rank(out.candidates, idx)
    assert ranked[0].members == single.members
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    top = out.top(idx, 2)
    assert [(c.kind, c.members, c.score) for c in top] == [
        (c.kind, c.members, c.score) for c in ranked[:2]
    ]


def test_unknown_preferred_distance_scores_zero():
    idx = make_index([50])
    d = parse({"area_mu_min": 40, "area_mu_max": 60, "near": [{"category": "school", "weight": 1}]})
    out = matcher.match(d, idx)
    (c,) = explained(d, idx, out)
    assert c.score == pytest.approx(0.5)
    school = matcher.reasons(d, idx, c)[-1]
    assert school["value"] is None and school["met"] is False


def test_rank_orders_kinds_and_sizes_on_equal_scores():
    idx = path([50, 25, 25], [0, 0], buildings={"vacant": [50 * M2_PER_MU]})
    d = parse(
        {"area_mu_min": 50, "floor_m2_min": 50 * M2_PER_MU, "weights": {"combine_penalty": 0}}
    )
    out = matcher.match(d, idx)
    assert all(c.score == pytest.approx(1.0) for c in out.candidates)
    ranked = matcher.rank(out.candidates, idx)
    assert [c.kind for c in ranked] == ["parcel", "floor_space", "combination"]
    assert matcher.area_of(idx, ranked[1]) == (pytest.approx(50.0), pytest.approx(50 * M2_PER_MU))
    assert matcher.area_of(idx, ranked[2]) == (50.0, None)


def test_combine_penalty_cannot_go_below_zero():
    idx = path([10, 10, 10, 10], [0, 0, 0])
    d = parse({"area_mu_min": 40, "max_parcels": 4, "weights": {"combine_penalty": 0.5}})
    out = matcher.match(d, idx)
    (c,) = explained(d, idx, out)
    assert c.factor == 0.0 and c.score == 0.0
    check_scores(d, idx, out)


# --- the index read from the database ------------------------------------------------------


@pytest.mark.django_db
def test_index_load_maps_edges_to_positions(district):
    features.rebuild()
    st = features.state()
    idx = index_mod.current(st.token)
    assert index_mod.current(st.token) is idx  # kept while the token is current
    p = idx.parcels
    assert list(p.codes) == ["P-001", "P-002", "P-003"]
    assert len(p.edge_a) == 1
    pair = {p.codes[p.edge_a[0]], p.codes[p.edge_b[0]]}
    assert pair == {"P-001", "P-002"} and p.edge_gap[0] == pytest.approx(0, abs=1e-3)
    assert np.isnan(p.price_wan[1]) and p.price_wan[0] == 1200
    assert list(p.park) == ["P01", "P01", ""]
    metro = p.distances[:, CAT_INDEX["metro_station"]]
    assert (metro > 0).all() and np.isnan(p.distances[:, CAT_INDEX["university"]]).all()
    assert list(idx.buildings.codes) == ["B-001"] and idx.buildings.vacant_m2[0] == 3500
    d = parse({"area_mu_min": 100, "area_mu_max": 140, "status": ["available", "idle"]})
    out = matcher.match(d, idx)
    assert [(c.kind, [p.codes[m] for m in c.members]) for c in out.candidates] == [
        ("combination", ["P-001", "P-002"])
    ]
    index_mod.forget()
    assert index_mod.current(st.token) is not idx
