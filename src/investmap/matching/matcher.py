"""Match a demand against the index: filter, combine, score, explain (SPEC M1, M2).

Pure numpy over index.Index; no database. The rules (also in docs/matching.md):

* A single parcel qualifies when it passes every hard constraint: land use,
  status, town/park lists, price (known and at most the maximum), plot ratio,
  standard-land minimums (a parcel's minimum investment / tax per mu at most
  the project's), hard proximity (nearest POI of the category within the
  limit) and the area range.
* A combination is 2..max_parcels parcels, each passing the per-parcel
  constraints (all of the above but area, price and proximity), connected in
  the adjacency graph (edges with gap ≤ adjacency_m), whose total area is in
  the range, total price within the maximum, and nearest distance per category
  (the nearest of its parcels) within each hard limit; and minimal: no proper
  subset qualifies as a single or a combination.
* Floor space: buildings with vacant floor area ≥ floor_m2_min, floor load and
  clear height at least the minimums (unknown fails), type, rent, places and
  hard proximity as above.
* Score in [0, 1]: the weighted mean of the criterion scores (area fit, price,
  each weighted proximity) times (1 − combine_penalty × (parcels − 1)).
"""

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from django.utils.translation import gettext as _

from investmap.core.geo import M2_PER_MU
from investmap.resources.choices import BuildingType, LandUse, ParcelStatus, PoiCategory

from .demand import Demand, default_weights
from .index import CAT_INDEX, CATEGORIES, Index, coded

# Above this many connected sets at one size, the search stops and says so.
MAX_SETS = 2_000_000


@dataclass
class Candidate:
    kind: str  # parcel | combination | floor_space
    members: tuple[int, ...]  # index positions (parcels) or (building,)
    score: float
    parts: list[dict] = field(default_factory=list)  # scored criteria
    factor: float = 1.0  # the combination factor applied to the score
    dist: np.ndarray | None = None  # metres per category (nearest of the members)


@dataclass
class Outcome:
    """Every qualifying candidate, held as arrays per (kind, size) with their scores."""

    groups: list[tuple[str, np.ndarray, np.ndarray]]  # (kind, members (m, k), scores (m,))
    counted: dict[str, int]
    truncated: bool = False

    @property
    def candidates(self) -> list[Candidate]:
        return [
            Candidate(kind, tuple(int(x) for x in row), float(score))
            for kind, members, scores in self.groups
            for row, score in zip(members, scores, strict=True)
        ]

    def top(self, idx: Index, limit: int) -> list[Candidate]:
        """The first `limit` candidates in rank order, built only for those."""
        if not self.groups:
            return []
        kind_order = {"parcel": 0, "floor_space": 1, "combination": 2}
        scores, kinds, sizes, codes, where = [], [], [], [], []
        for g, (kind, members, sc) in enumerate(self.groups):
            first = members[:, 0]
            names = (
                idx.buildings.codes[first] if kind == "floor_space" else idx.parcels.codes[first]
            )
            scores.append(-np.round(sc, 9))
            kinds.append(np.full(len(sc), kind_order[kind]))
            sizes.append(np.full(len(sc), members.shape[1]))
            codes.append(names.astype(str))
            where.append(np.column_stack([np.full(len(sc), g), np.arange(len(sc))]))
        scores, kinds, sizes = map(np.concatenate, (scores, kinds, sizes))
        codes, where = np.concatenate(codes), np.concatenate(where)
        order = np.lexsort((codes, sizes, kinds, scores))[:limit]
        out = []
        for g, r in where[order]:
            kind, members, sc = self.groups[g]
            out.append(Candidate(kind, tuple(int(x) for x in members[r]), float(sc[r])))
        return out


def _in(obj, name: str, allowed) -> np.ndarray:
    """Rows of the index part `obj` whose column `name` is one of `allowed`."""
    labels, codes = coded(obj, name)
    wanted = np.zeros(len(labels) + 1, dtype=bool)
    wanted[:-1] = np.isin(labels, np.array([str(a) for a in allowed]))
    return wanted[codes]


def _leq(values: np.ndarray, limit) -> np.ndarray:
    """values ≤ limit, unknown (NaN) failing."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(values, nan=np.inf) <= limit


def _place_mask(demand: Demand, part) -> np.ndarray:
    ok = np.ones(len(part.ids), dtype=bool)
    if demand.towns or demand.parks:
        inside = np.zeros(len(part.ids), dtype=bool)
        if demand.towns:
            inside |= _in(part, "town", demand.towns)
        if demand.parks:
            inside |= _in(part, "park", demand.parks)
        ok &= inside
    if demand.exclude_towns:
        ok &= ~_in(part, "town", demand.exclude_towns)
    if demand.exclude_parks:
        ok &= ~_in(part, "park", demand.exclude_parks)
    return ok


def _near_ok(demand: Demand, distances: np.ndarray) -> np.ndarray:
    ok = np.ones(len(distances), dtype=bool)
    for n in demand.near:
        if n.hard:
            ok &= _leq(distances[:, CAT_INDEX[n.category]], n.within_m)
    return ok


def parcel_mask(demand: Demand, idx: Index) -> np.ndarray:
    """Parcels passing the per-parcel constraints (everything but area, price, proximity)."""
    p = idx.parcels
    ok = _place_mask(demand, p)
    if demand.land_use:
        ok &= _in(p, "land_use", demand.land_use)
    ok &= _in(p, "status", demand.status)
    if demand.plot_ratio_min is not None:
        with np.errstate(invalid="ignore"):
            ok &= np.nan_to_num(p.plot_ratio_max, nan=-np.inf) >= demand.plot_ratio_min
    if demand.investment_wan_per_mu is not None:
        ok &= np.isnan(p.min_investment) | (p.min_investment <= demand.investment_wan_per_mu)
    if demand.tax_wan_per_mu is not None:
        ok &= np.isnan(p.min_tax) | (p.min_tax <= demand.tax_wan_per_mu)
    if demand.max_price_wan is not None:
        ok &= ~np.isnan(p.price_wan)
    return ok


def _area_ok(demand: Demand, area: np.ndarray) -> np.ndarray:
    ok = np.ones(len(area), dtype=bool)
    if demand.area_mu_min is not None:
        ok &= area >= demand.area_mu_min - 1e-9
    if demand.area_mu_max is not None:
        ok &= area <= demand.area_mu_max + 1e-9
    return ok


def _price_ok(demand: Demand, price: np.ndarray) -> np.ndarray:
    if demand.max_price_wan is None:
        return np.ones(len(price), dtype=bool)
    return _leq(price, demand.max_price_wan + 1e-9)


def match(demand: Demand, idx: Index) -> Outcome:
    found: list[tuple[str, np.ndarray]] = []  # (kind, members (m, k))
    counted = {"parcel": 0, "combination": 0, "floor_space": 0}
    truncated = False
    if demand.wants_land and len(idx.parcels):
        p = idx.parcels
        base = parcel_mask(demand, idx)
        single = base & _area_ok(demand, p.area_mu) & _price_ok(demand, p.price_wan)
        single &= _near_ok(demand, p.distances)
        found.append(("parcel", np.nonzero(single)[0].reshape(-1, 1)))
        counted["parcel"] = int(single.sum())
        if demand.allow_combine and demand.area_mu_min is not None:
            combos, truncated = combinations(demand, idx, base & ~single)
            for size in sorted({len(c) for c in combos}):
                found.append(("combination", np.array([c for c in combos if len(c) == size])))
            counted["combination"] = len(combos)
    if demand.wants_floor and len(idx.buildings):
        b = idx.buildings
        ok = _place_mask(demand, b)
        # A building without vacant floor space offers nothing, whatever the minimum.
        ok &= np.nan_to_num(b.vacant_m2, nan=0) > 0
        if demand.floor_m2_min is not None:
            ok &= np.nan_to_num(b.vacant_m2, nan=-1) >= demand.floor_m2_min
        if demand.floor_load_min_kn_m2 is not None:
            ok &= np.nan_to_num(b.floor_load, nan=-1) >= demand.floor_load_min_kn_m2
        if demand.clear_height_min_m is not None:
            ok &= np.nan_to_num(b.clear_height, nan=-1) >= demand.clear_height_min_m
        if demand.building_type:
            ok &= _in(b, "building_type", demand.building_type)
        if demand.max_rent_yuan_m2_day is not None:
            ok &= _leq(b.rent, demand.max_rent_yuan_m2_day + 1e-9)
        ok &= _near_ok(demand, b.distances)
        found.append(("floor_space", np.nonzero(ok)[0].reshape(-1, 1)))
        counted["floor_space"] = int(ok.sum())
    groups = [
        (kind, members.astype(np.int64), _group_scores(demand, idx, kind, members))
        for kind, members in found
        if len(members)
    ]
    return Outcome(groups, counted, truncated)


# --- combinations ------------------------------------------------------------------


def combinations(demand: Demand, idx: Index, member_ok: np.ndarray):
    """Minimal connected sets of 2..max_parcels parcels meeting the demand (index positions).

    Level by level: the connected sets of size k are the sets of size k − 1
    that may still grow, each extended by one neighbour of a member; sets are
    kept as sorted rows and deduplicated. A set stops growing once it
    qualifies (anything larger would not be minimal), once its area exceeds
    the maximum, or once its area is enough but its price is not (more land
    only costs more). Parcels that qualify alone never enter (any set holding
    one is not minimal).
    """
    p = idx.parcels
    if not member_ok.any() or not len(p.edge_a):
        return [], False
    area_max = demand.area_mu_max if demand.area_mu_max is not None else np.inf
    member_ok = member_ok & (p.area_mu <= area_max + 1e-9)
    keep = member_ok[p.edge_a] & member_ok[p.edge_b] & (p.edge_gap <= demand.adjacency_m + 1e-9)
    a, b = p.edge_a[keep], p.edge_b[keep]
    if not len(a):
        return [], False
    verts = np.unique(np.concatenate([a, b]))
    local = np.full(len(p), -1, dtype=np.int64)
    local[verts] = np.arange(len(verts))
    la, lb = local[a], local[b]
    src = np.concatenate([la, lb])
    dst = np.concatenate([lb, la])
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    indptr = np.searchsorted(src, np.arange(len(verts) + 1))
    area = p.area_mu[verts]
    price = np.nan_to_num(p.price_wan[verts], nan=0.0)
    hard = [(CAT_INDEX[n.category], n.within_m) for n in demand.near if n.hard]
    dist = p.distances[verts][:, [j for j, _ in hard]] if hard else np.zeros((len(verts), 0))
    limits = np.array([w for _, w in hard], dtype=float)
    area_min = demand.area_mu_min

    def qualifies(sets):
        tot = area[sets].sum(axis=1)
        ok = (tot >= area_min - 1e-9) & (tot <= area_max + 1e-9)
        if demand.max_price_wan is not None:
            ok &= price[sets].sum(axis=1) <= demand.max_price_wan + 1e-9
        if len(limits):
            nearest = np.nanmin(np.where(np.isnan(dist[sets]), np.inf, dist[sets]), axis=1)
            ok &= (nearest <= limits).all(axis=1)
        return ok, tot

    found: dict[int, np.ndarray] = {}  # size → qualifying sets (sorted rows of local ids)
    grow = np.arange(len(verts)).reshape(-1, 1)
    truncated = False
    for k in range(2, demand.max_parcels + 1):
        if not len(grow):
            break
        parts = []
        for j in range(grow.shape[1]):
            v = grow[:, j]
            deg = indptr[v + 1] - indptr[v]
            rows = np.repeat(np.arange(len(grow)), deg)
            starts = np.repeat(indptr[v], deg)
            offs = np.arange(len(rows)) - np.repeat(np.cumsum(deg) - deg, deg)
            nb = dst[starts + offs]
            fresh = ~(grow[rows] == nb[:, None]).any(axis=1)
            parts.append(np.column_stack([grow[rows[fresh]], nb[fresh]]))
        sets = np.concatenate(parts) if parts else np.zeros((0, k), np.int64)
        if not len(sets):
            break
        sets.sort(axis=1)
        sets = np.unique(sets, axis=0)
        if len(sets) > MAX_SETS:
            truncated = True
            break
        ok, tot = qualifies(sets)
        within = tot <= area_max + 1e-9
        good = sets[ok]
        if len(good):
            good = good[_minimal(good, found, len(verts))]
            found[k] = good
        enough = tot >= area_min - 1e-9
        price_bad = np.zeros(len(sets), dtype=bool)
        if demand.max_price_wan is not None:
            price_bad = price[sets].sum(axis=1) > demand.max_price_wan + 1e-9
        grow = sets[~ok & within & ~(enough & price_bad)]
    out = [verts[s] for k in sorted(found) for s in found[k]]
    return out, truncated


def _keys(rows: np.ndarray, base: int):
    if base ** rows.shape[1] < 2**62:
        key = np.zeros(len(rows), dtype=np.int64)
        for j in range(rows.shape[1]):
            key = key * base + rows[:, j]
        return key
    return np.array([hash(tuple(r)) for r in rows.tolist()], dtype=np.int64)


def _minimal(sets: np.ndarray, found: dict[int, np.ndarray], base: int) -> np.ndarray:
    """Rows of `sets` with no proper subset among the qualifying sets found so far."""
    ok = np.ones(len(sets), dtype=bool)
    k = sets.shape[1]
    for size, smaller in found.items():
        if size >= k or not len(smaller):
            continue
        known = _keys(smaller, base)
        for cols in itertools.combinations(range(k), size):
            sub = sets[:, list(cols)]
            ok &= ~np.isin(_keys(sub, base), known)
    return ok


# --- scoring ----------------------------------------------------------------------------


def _group_parts(demand: Demand, idx: Index, kind: str, members: np.ndarray):
    """Scored criteria of a group of candidates of one kind and size, vectorised.

    `members`: (m, k) index positions. Returns (parts, dist, factor): parts is a
    list of dicts whose "score" / "value" entries are arrays of length m.
    """
    w = default_weights()
    w.update(demand.weights)
    parts = []
    if kind == "floor_space":
        b = idx.buildings
        i = members[:, 0]
        value = b.vacant_m2[i]
        lo, hi = demand.floor_m2_min, demand.floor_m2_max
        fit = _fit_arrays(value, lo, hi, floor=True)
        parts.append({"criterion": "floor_area", "weight": w["area"], **fit})
        if demand.max_rent_yuan_m2_day:
            rent = b.rent[i]
            parts.append(
                {
                    "criterion": "rent",
                    "weight": w["price"],
                    "score": np.clip(1 - rent / demand.max_rent_yuan_m2_day, 0, 1),
                    "value": rent,
                }
            )
        dist = b.distances[i]
    else:
        p = idx.parcels
        value = p.area_mu[members].sum(axis=1)
        lo, hi = demand.area_mu_min, demand.area_mu_max
        parts.append({"criterion": "area", "weight": w["area"], **_fit_arrays(value, lo, hi)})
        if demand.max_price_wan:
            price = np.nansum(p.price_wan[members], axis=1)
            parts.append(
                {
                    "criterion": "price",
                    "weight": w["price"],
                    "score": np.clip(1 - price / demand.max_price_wan, 0, 1),
                    "value": price,
                }
            )
        d = p.distances[members]  # (m, k, C)
        dist = np.where(np.isnan(d), np.inf, d).min(axis=1)
        dist = np.where(np.isinf(dist), np.nan, dist)
    for n in demand.near:
        if n.hard:
            continue
        d = dist[:, CAT_INDEX[n.category]]
        parts.append(
            {
                "criterion": "near",
                "category": n.category,
                "weight": w["near"] * n.weight,
                "score": np.where(np.isnan(d), 0.0, np.clip(1 - d / n.reference_m, 0, 1)),
                "value": d,
                "limit": n.reference_m,
            }
        )
    factor = 1.0
    if kind == "combination":
        factor = max(0.0, 1 - w["combine_penalty"] * (members.shape[1] - 1))
    total_w = sum(x["weight"] for x in parts)
    for x in parts:
        x["added"] = x["weight"] * x["score"] / total_w * factor if total_w else 0.0 * x["score"]
    return parts, dist, factor, total_w


def _fit_arrays(value: np.ndarray, lo, hi, *, floor: bool = False) -> dict:
    """How well a size fits the range, 0–1 (docs/matching.md, "Score").

    Both bounds: 1 at the middle, falling linearly to 0 at a distance of the
    middle from it (floor space: 1 anywhere in the range, max / value above it,
    as part of a larger building can be let). Only a minimum: minimum / value.
    Only a maximum: value / maximum.
    """
    value = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if lo is not None and hi is not None:
            target = (lo + hi) / 2
            if floor:
                score = np.where(value <= hi, 1.0, hi / value)
            elif target:
                score = 1 - np.abs(value - target) / target
            else:
                score = np.ones(len(value))
        elif lo is not None:
            target = lo
            score = np.where(value > 0, lo / value, 1.0) if lo else np.ones(len(value))
        else:
            target = hi
            score = value / hi if hi else np.ones(len(value))
    return {"score": np.clip(np.nan_to_num(score, nan=0.0), 0, 1), "value": value, "target": target}


def _groups(cands: list[Candidate]) -> dict:
    groups: dict[tuple[str, int], list[int]] = {}
    for k, c in enumerate(cands):
        groups.setdefault((c.kind, len(c.members)), []).append(k)
    return groups


def _group_scores(demand: Demand, idx: Index, kind: str, members: np.ndarray) -> np.ndarray:
    parts, _dist, factor, total_w = _group_parts(demand, idx, kind, members)
    if not total_w:
        return np.full(len(members), factor)
    return np.asarray(sum(x["added"] for x in parts), dtype=float)


def score_all(demand: Demand, idx: Index, cands: list[Candidate]) -> None:
    """Set the score of each candidate in a list, vectorised per kind and size."""
    for (kind, _size), positions in _groups(cands).items():
        members = np.array([cands[k].members for k in positions], dtype=np.int64)
        scores = _group_scores(demand, idx, kind, members)
        for k, value in zip(positions, scores, strict=True):
            cands[k].score = float(value)


def explain(demand: Demand, idx: Index, c: Candidate) -> Candidate:
    """Fill in one candidate's scored criteria and distances (for the results shown)."""
    members = np.array([c.members], dtype=np.int64)
    parts, dist, factor, _total = _group_parts(demand, idx, c.kind, members)
    c.parts = [
        {key: (_scalar(v) if isinstance(v, np.ndarray) else v) for key, v in x.items()}
        for x in parts
    ]
    c.dist = dist[0]
    c.factor = factor
    return c


def _scalar(v: np.ndarray):
    value = float(v[0])
    return None if math.isnan(value) else value


def rank(cands: list[Candidate], idx: Index) -> list[Candidate]:
    kind_order = {"parcel": 0, "floor_space": 1, "combination": 2}

    def key(c):
        code = (
            idx.buildings.codes[c.members[0]]
            if c.kind == "floor_space"
            else idx.parcels.codes[c.members[0]]
        )
        return (-round(c.score, 9), kind_order[c.kind], len(c.members), str(code))

    return sorted(cands, key=key)


# --- explaining -------------------------------------------------------------------------


def _m(d) -> str:
    return _("%(km).1f km") % {"km": d / 1000} if d >= 1000 else _("%(m)d m") % {"m": round(d)}


def reasons(demand: Demand, idx: Index, c: Candidate) -> list[dict]:
    """Per criterion: met or not, value, limit, what it added to the score, in words."""
    if c.dist is None:
        explain(demand, idx, c)
    out = []

    def add(criterion, met, text, value=None, limit=None, added=0.0, **extra):
        out.append(
            {
                "criterion": criterion,
                "met": bool(met),
                "value": value,
                "limit": limit,
                "added": round(float(added), 4),
                "text": text,
                **extra,
            }
        )

    scored = {(x["criterion"], x.get("category")): x for x in c.parts}
    cat_label = dict(PoiCategory.choices)
    if c.kind == "floor_space":
        b = idx.buildings
        i = c.members[0]
        x = scored[("floor_area", None)]
        add(
            "floor_area",
            True,
            _("%(v)s m² vacant; needed %(need)s")
            % {
                "v": f"{x['value']:,.0f}",
                "need": _range(demand.floor_m2_min, demand.floor_m2_max, "m²"),
            },
            round(x["value"], 1),
            _range(demand.floor_m2_min, demand.floor_m2_max, "m²"),
            x["added"],
        )
        if demand.floor_load_min_kn_m2 is not None:
            add(
                "floor_load",
                True,
                _("floor load %(v)s kN/m², at least %(lim)s required")
                % {"v": b.floor_load[i], "lim": demand.floor_load_min_kn_m2},
                float(b.floor_load[i]),
                demand.floor_load_min_kn_m2,
            )
        if demand.clear_height_min_m is not None:
            add(
                "clear_height",
                True,
                _("clear height %(v)s m, at least %(lim)s m required")
                % {"v": b.clear_height[i], "lim": demand.clear_height_min_m},
                float(b.clear_height[i]),
                demand.clear_height_min_m,
            )
        if demand.building_type:
            add(
                "building_type",
                True,
                _("building type %(v)s is allowed")
                % {"v": dict(BuildingType.choices).get(b.building_type[i], b.building_type[i])},
                b.building_type[i],
                list(demand.building_type),
            )
        if ("rent", None) in scored:
            x = scored[("rent", None)]
            add(
                "rent",
                True,
                _("rent %(v)s yuan/m²/day, at most %(lim)s")
                % {"v": x["value"], "lim": demand.max_rent_yuan_m2_day},
                x["value"],
                demand.max_rent_yuan_m2_day,
                x["added"],
            )
    else:
        p = idx.parcels
        members = list(c.members)
        x = scored[("area", None)]
        need = _range(demand.area_mu_min, demand.area_mu_max, _("mu"))
        if c.kind == "combination":
            text = _("%(n)d adjacent parcels, %(v).1f mu together; needed %(need)s") % {
                "n": len(members),
                "v": x["value"],
                "need": need,
            }
        else:
            text = _("%(v).1f mu; needed %(need)s") % {"v": x["value"], "need": need}
        add("area", True, text, round(x["value"], 2), need, x["added"])
        uses = sorted({str(v) for v in p.land_use[members]})
        use_label = dict(LandUse.choices)
        if demand.land_use:
            add(
                "land_use",
                True,
                _("land use %(v)s is allowed")
                % {"v": "、".join(str(use_label.get(u, u)) for u in uses)},
                uses,
                list(demand.land_use),
            )
        statuses = sorted({str(v) for v in p.status[members]})
        st_label = dict(ParcelStatus.choices)
        add(
            "status",
            True,
            _("status %(v)s") % {"v": "、".join(str(st_label.get(s, s)) for s in statuses)},
            statuses,
            list(demand.status),
            stock=any(s in ("idle", "low_efficiency") for s in statuses),
        )
        if ("price", None) in scored:
            x = scored[("price", None)]
            add(
                "price",
                True,
                _("price %(v)s ten-thousand yuan, at most %(lim)s")
                % {"v": f"{x['value']:,.0f}", "lim": f"{demand.max_price_wan:,.0f}"},
                x["value"],
                demand.max_price_wan,
                x["added"],
            )
        if demand.plot_ratio_min is not None:
            v = float(np.nanmin(p.plot_ratio_max[members]))
            add(
                "plot_ratio",
                True,
                _("plot ratio up to %(v)s, at least %(lim)s needed")
                % {"v": v, "lim": demand.plot_ratio_min},
                v,
                demand.plot_ratio_min,
            )
        if demand.investment_wan_per_mu is not None or demand.tax_wan_per_mu is not None:
            add("standard_land", True, _("the project meets the parcel's standard-land minimums"))
        if c.kind == "combination":
            add(
                "combination",
                True,
                _("combined from %(n)d parcels: score × %(f).2f")
                % {"n": len(members), "f": c.factor},
                len(members),
                demand.max_parcels,
            )
    for n in demand.near:
        d = float(c.dist[CAT_INDEX[n.category]])
        label = str(cat_label.get(n.category, n.category))
        known = not math.isnan(d)
        if n.hard:
            add(
                "near",
                True,
                _("%(what)s %(d)s away, within %(lim)s")
                % {"what": label, "d": _m(d), "lim": _m(n.within_m)},
                round(d, 1),
                n.within_m,
                category=n.category,
                hard=True,
            )
            continue
        x = scored[("near", n.category)]
        if not known:
            text = _("no %(what)s in the district") % {"what": label}
        elif d <= n.reference_m:
            text = _("%(what)s %(d)s away (preferred within %(lim)s)") % {
                "what": label,
                "d": _m(d),
                "lim": _m(n.reference_m),
            }
        else:
            text = _("%(what)s %(d)s away, beyond the preferred %(lim)s") % {
                "what": label,
                "d": _m(d),
                "lim": _m(n.reference_m),
            }
        add(
            "near",
            known and d <= n.reference_m,
            text,
            round(d, 1) if known else None,
            n.reference_m,
            x["added"],
            category=n.category,
            hard=False,
        )
    return out


def _range(lo, hi, unit) -> str:
    if lo is not None and hi is not None:
        return f"{lo:g}–{hi:g} {unit}"
    if lo is not None:
        return f"≥ {lo:g} {unit}"
    return f"≤ {hi:g} {unit}"


def distances_dict(dist: np.ndarray) -> dict[str, float | None]:
    return {
        cat: (None if math.isnan(dist[j]) else round(float(dist[j]), 1))
        for j, cat in enumerate(CATEGORIES)
    }


def area_of(idx: Index, c: Candidate) -> tuple[float, float | None]:
    """(area in mu, floor m² or None)."""
    if c.kind == "floor_space":
        m2 = float(idx.buildings.vacant_m2[c.members[0]])
        return m2 / M2_PER_MU, m2
    return float(idx.parcels.area_mu[list(c.members)].sum()), None
