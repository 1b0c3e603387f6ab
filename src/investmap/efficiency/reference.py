"""The 亩均 evaluation done the naive way: row by row in Python over the Django ORM.

An independent reference for `evaluation.py` (which compiles a ruleset to
DuckDB SQL): it shares nothing with it but the parsed ruleset (`rules.py`) and
`Formula.evaluate`, and follows the documented rules (evaluation.py's module
docstring, docs/efficiency.md) step by step:

1. inputs: every IndicatorYear row of the year with its Enterprise; `tenants`
   is the number of other enterprises located on a parcel whose land user
   (`Parcel.enterprise`) is this enterprise;
2. members of a population: its scales, its industry prefixes (if any); a known
   land area below `min_land_mu` leaves the population, an unknown one is
   missing data (`land_area_mu`);
3. indicator values by `Formula.evaluate` (a missing figure or ÷0 → None); the
   fields an indicator lacks are its NULL fields and those that are 0 where they
   appear directly as a divisor; a missing value with no field lacking lists the
   indicator's code;
4. status `scored` when every `insufficient_data` indicator and every
   deduction has a value (and the land area is known where a minimum applies);
5. scores: `benchmark_ratio` (value / benchmark × weight; benchmark / value ×
   weight for `direction: lower`, where a value of 0 cannot be scored and lists the indicator as missing) or `min_max` (weight × [floor + (100 − floor)
   × t] / 100, t = (x − min)/(max − min), (max − x)/(max − min) for lower, 1
   when max = min; min and max over the scored members with a value);
6. `population_average`: a scored member without the score gets the mean score
   of the scored members with it (none with it: the member is insufficient);
7. score = Σ indicator scores − Σ deductions; rank 1 + the number of better
   scores in the same (population, group); grade: the first band whose
   cumulative share ≥ rank / n (exact decimal arithmetic), or the first
   threshold met.

`compare()` lists the differences between two result lists (engine vs this).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from fractions import Fraction

from investmap.resources.models import Enterprise, IndicatorYear

from .rules import FIELDS, Population, Ruleset

# A score meets a threshold when it is at most this far below it (float noise).
THRESHOLD_SLACK = 1e-9


def _tenants() -> dict[int, int]:
    """Land user id → number of other enterprises located on its parcels."""
    located: dict[int, set[int]] = defaultdict(set)
    for tenant, owner in Enterprise.objects.filter(parcel__enterprise__isnull=False).values_list(
        "id", "parcel__enterprise_id"
    ):
        if tenant != owner:
            located[owner].add(tenant)
    return {owner: len(ids) for owner, ids in located.items()}


def inputs(year: int, *, limit: int | None = None) -> list[dict]:
    """One dict per enterprise with figures for `year`: its attributes and `facts`."""
    tenants = _tenants()
    qs = (
        IndicatorYear.objects.filter(year=int(year))
        .select_related("enterprise")
        .order_by("enterprise__credit_code")
    )
    if limit is not None:
        qs = qs[:limit]
    out = []
    for iy in qs.iterator(chunk_size=2000):
        e = iy.enterprise
        facts = {}
        for f in FIELDS:
            v = getattr(iy, f)
            facts[f] = None if v is None else float(v)
        facts["tenants"] = float(tenants.get(e.id, 0))
        out.append(
            {
                "credit_code": e.credit_code,
                "enterprise_id": e.id,
                "town_id": e.town_id,
                "park_id": e.park_id,
                "industry_code": e.industry_code,
                "scale": e.scale,
                "facts": facts,
            }
        )
    return out


def _is_member(p: Population, row: dict) -> bool:
    if row["scale"] not in p.scales:
        return False
    code = row["industry_code"] or ""
    if p.industry_prefixes and not any(code.startswith(x) for x in p.industry_prefixes):
        return False
    land = row["facts"]["land_area_mu"]
    return not (p.min_land_mu is not None and land is not None and land < p.min_land_mu)


def _lacking(formula, facts: dict) -> list[str]:
    """The fields of `formula` that are missing, or 0 where they are a divisor."""
    out = []
    for name in sorted(formula.names):
        v = facts.get(name)
        if v is None or (name in formula.divisors and v == 0):
            out.append(name)
    return out


def _grade(p: Population, score: float, rank: int, n: int) -> str | None:
    if p.grading == "rank_bands":
        position = Fraction(rank, n)
        cumulative = Fraction(0)
        for band in p.bands:
            cumulative += Fraction(repr(band.share))
            if cumulative >= position:
                return band.grade
        return p.bands[-1].grade
    for band in p.bands:
        if band.min_score is None or score >= band.min_score - THRESHOLD_SLACK:
            return band.grade
    return None


def evaluate_population(ruleset: Ruleset, p: Population, rows: list[dict]) -> list[dict]:
    """The results of one population over input rows (as `inputs()` gives them)."""
    deductions = ruleset.deductions_of(p.code)
    members = []
    for row in rows:
        if not _is_member(p, row):
            continue
        facts = row["facts"]
        m = {
            "row": row,
            "group": p.group_of(row["industry_code"]),
            "values": {},
            "lacks": [],
            "required_missing": False,
            "scores": {},
            "filled": [],
        }
        for ind in p.indicators:
            v = ind.formula.evaluate(facts)
            m["values"][ind.code] = v
            unscorable = v == 0 and p.scoring == "benchmark_ratio" and ind.direction == "lower"
            if v is None or unscorable:
                lacks = [ind.code] if unscorable else (_lacking(ind.formula, facts) or [ind.code])
                m["lacks"].extend(lacks)
                if ind.missing == "insufficient_data":
                    m["required_missing"] = True
        m["deductions"] = []
        for d in deductions:
            v = d.formula.evaluate(facts)
            if v is None:
                m["lacks"].extend(_lacking(d.formula, facts) or [d.code])
                m["required_missing"] = True
            m["deductions"].append(v)
        if p.min_land_mu is not None and facts["land_area_mu"] is None:
            m["lacks"].append("land_area_mu")
            m["required_missing"] = True
        m["first_status"] = "insufficient_data" if m["required_missing"] else "scored"
        members.append(m)

    scored = [m for m in members if m["first_status"] == "scored"]
    for ind in p.indicators:
        w = float(ind.weight)
        with_value = [m for m in scored if m["values"][ind.code] is not None]
        if p.scoring == "min_max" and with_value:
            lo = min(m["values"][ind.code] for m in with_value)
            hi = max(m["values"][ind.code] for m in with_value)
        for m in with_value:
            v = m["values"][ind.code]
            if p.scoring == "benchmark_ratio":
                b = float(ind.benchmark)
                if ind.direction == "higher":
                    s = v / b * w
                else:
                    s = None if v == 0 else b / v * w
            else:
                if hi == lo:
                    t = 1.0
                elif ind.direction == "higher":
                    t = (v - lo) / (hi - lo)
                else:
                    t = (hi - v) / (hi - lo)
                floor = float(p.min_max_floor)
                s = w * (floor + (100.0 - floor) * t) / 100.0
            m["scores"][ind.code] = s
        if ind.missing == "population_average":
            have = [m["scores"][ind.code] for m in scored if m["scores"].get(ind.code) is not None]
            mean = sum(have) / len(have) if have else None
            for m in scored:
                if m["scores"].get(ind.code) is None:
                    m["scores"][ind.code] = mean
                    m["filled"].append(ind.code)

    for m in members:
        complete = m["first_status"] == "scored" and all(
            m["scores"].get(ind.code) is not None for ind in p.indicators
        )
        m["status"] = "scored" if complete else "insufficient_data"
        if complete:
            total = 0.0
            for ind in p.indicators:
                total += m["scores"][ind.code]
            deduction = 0.0
            for v in m["deductions"]:
                deduction += v
            m["deduction"] = deduction
            m["score"] = total - deduction
        else:
            m["deduction"] = m["score"] = None

    by_group: dict[str | None, list[dict]] = defaultdict(list)
    for m in members:
        if m["status"] == "scored":
            by_group[m["group"]].append(m)
    for group_members in by_group.values():
        n = len(group_members)
        ascending = sorted(m["score"] for m in group_members)
        for m in group_members:
            # 1 + the number of strictly better scores: equal scores share the best rank.
            better = n - bisect.bisect_right(ascending, m["score"])
            m["rank"] = better + 1
            m["n"] = n
            m["grade"] = _grade(p, m["score"], m["rank"], n)

    out = []
    for m in members:
        row = m["row"]
        ok = m["status"] == "scored"
        out.append(
            {
                "credit_code": row["credit_code"],
                "enterprise_id": row["enterprise_id"],
                "town_id": row["town_id"],
                "park_id": row["park_id"],
                "industry_code": row["industry_code"],
                "population": p.code,
                "group": m["group"],
                "status": m["status"],
                "missing": [] if ok else sorted(set(m["lacks"])),
                "indicator_values": dict(m["values"]),
                "indicator_scores": dict(m["scores"]) if ok else {},
                "filled": list(m["filled"]) if ok else [],
                "deduction": m["deduction"],
                "score": m["score"],
                "rank": m.get("rank"),
                "population_size": m.get("n"),
                "grade": m.get("grade"),
            }
        )
    return out


def evaluate_inputs(ruleset: Ruleset, rows: list[dict]) -> list[dict]:
    out = []
    for p in ruleset.populations:
        out.extend(evaluate_population(ruleset, p, rows))
    out.sort(key=lambda r: r["credit_code"])
    return out


def evaluate_orm(year: int, ruleset: Ruleset) -> list[dict]:
    """Every enterprise with figures for `year` in a population of `ruleset`, evaluated
    row by row; the same keys as `evaluation.compute()`, sorted by credit code."""
    return evaluate_inputs(ruleset, inputs(year))


# --- comparison -------------------------------------------------------------------

EXACT = (
    "enterprise_id",
    "town_id",
    "park_id",
    "industry_code",
    "population",
    "group",
    "status",
    "rank",
    "population_size",
    "grade",
)


def _close(a, b, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)


def compare(engine: list[dict], reference: list[dict], *, rel: float = 1e-9) -> list[str]:
    """The differences between two result lists, one line each (empty: they agree).

    Keys compared exactly: EXACT, `missing` and `filled` (as sets); numbers
    (score, deduction, indicator values and scores) within `rel` relative."""
    problems = []
    a = {r["credit_code"]: r for r in engine}
    b = {r["credit_code"]: r for r in reference}
    if len(a) != len(engine) or len(b) != len(reference):
        problems.append("a credit code appears twice")
    for code in sorted(a.keys() - b.keys()):
        problems.append(f"{code}: only in the engine ({a[code]['population']})")
    for code in sorted(b.keys() - a.keys()):
        problems.append(f"{code}: only in the reference ({b[code]['population']})")
    for code in sorted(a.keys() & b.keys()):
        x, y = a[code], b[code]
        for k in EXACT:
            if x[k] != y[k]:
                problems.append(f"{code}: {k} engine {x[k]!r}, reference {y[k]!r}")
        for k in ("missing", "filled"):
            if sorted(x[k] or []) != sorted(y[k] or []):
                problems.append(f"{code}: {k} engine {x[k]!r}, reference {y[k]!r}")
        for k in ("score", "deduction"):
            if not _close(x[k], y[k], rel):
                problems.append(f"{code}: {k} engine {x[k]!r}, reference {y[k]!r}")
        for k in ("indicator_values", "indicator_scores"):
            xs, ys = x[k] or {}, y[k] or {}
            if xs.keys() != ys.keys():
                problems.append(f"{code}: {k} keys engine {sorted(xs)}, reference {sorted(ys)}")
                continue
            for ind in sorted(xs):
                if not _close(xs[ind], ys[ind], rel):
                    problems.append(f"{code}: {k}.{ind} engine {xs[ind]!r}, reference {ys[ind]!r}")
    return problems
