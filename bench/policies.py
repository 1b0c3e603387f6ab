"""Policy matching: all policies × all enterprises in the engine, against the plain Python evaluator.

    .venv/bin/python bench/policies.py --scale district            # 500 policies × 20,000 enterprises
    .venv/bin/python bench/policies.py --scale city                # 5,000 × 500,000 (synthetic store)
    .venv/bin/python bench/policies.py --scale province            # 30,000 × 3,300,000 (synthetic store)
    .venv/bin/python bench/policies.py --scale district --no-refresh --no-reference

What runs (one data set per scale, one set of generated policies per seed):

* **district** — the record store is the demo district (var/bench/district.sqlite3,
  20,000 enterprises, 58k indicator rows; written by the demo generator when the
  file is empty, with an efficiency evaluation of the latest year stored if none
  is, so grades are facts). The policies are generated (`generate`, realistic
  mixes below) and timed four ways:
  1. `engine.stored_job` through `engine.connection.run` (the helper process,
     SQLite attached): facts, distinct conditions, combination, amounts — every
     policy × every enterprise, the eligible pairs and near misses as rows;
  2. `engine.match_policy` for every policy: every pair's result with its
     failed conditions, missing facts and amount (`--full-sample` policies, the
     time extrapolated, since 10⁷ Python dicts are the bulk of it);
  3. `engine.refresh()` writing PolicyMatch rows (the policies are stored as
     Policy/PolicyVersion rows with codes BENCH-…, deleted at the end), then a
     second refresh with nothing changed;
  4. the reference (`reference.stored`: ORM facts + conditions.evaluate +
     Formula.evaluate, pair by pair) over the same pairs, compared with (1).
* **city** and **province** — no record store is built (the demo generator's
  city and province have 100k and 400k enterprises, not 500k and 3.3M, and
  writing them takes long): the enterprises, indicators and grades are
  *synthesised* into a DuckDB file (var/bench/policies-<scale>.duckdb, tables
  named and shaped like the record store's) by resampling the demo district's
  enterprises with jitter and spreading them over more towns; the same
  `stored_job` (facts SQL included) runs over it in this process. Counts only
  (`--rows` extracts the pairs as well): at these scales the stored pairs
  would be too many to write anyway (see the printed counts).

Policy mix (`generate`): 2–5 top-level conditions — an industry division
(`starts_with_any`, 60%) or a list of classes (`in`), 规上/规下 (`eq`), a
certification (`contains`, sometimes `{any: [...]}` of two), thresholds on
revenue, tax, employees, R&D spend or intensity, value added or output (`ge`,
`gt`, sometimes `lt`/`le` for small-firm policies), firm age, the efficiency
grade (`in`, `not_in`, `ne`), an area (`town`/`park` `in`, share by scale),
thresholds from round values as real policies use; a benefit formula for 80%.
"""

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter

import benchkit  # noqa: E402  (beside this script)
import numpy as np

ROOT = benchkit.ROOT

SCALES = {
    "tiny": (40, None),
    "district": (500, None),
    "city": (5_000, 500_000),
    "province": (30_000, 3_300_000),
}
AREA_SHARE = {"tiny": 0.3, "district": 0.3, "city": 0.5, "province": 0.7}
AS_OF = dt.date(2026, 3, 31)


# --- policies -------------------------------------------------------------------------


def _thresholds():
    return {
        "revenue_wan": [500, 1000, 2000, 5000, 10000, 20000],
        "tax_wan": [20, 50, 100, 200, 500, 1000],
        "employees": [10, 20, 50, 100, 300],
        "rd_spend_wan": [50, 100, 300, 500, 1000],
        "rd_intensity": [0.02, 0.03, 0.04, 0.05],
        "value_added_wan": [200, 500, 1000, 5000],
        "output_wan": [1000, 2000, 5000, 20000],
    }


def generate(n: int, *, seed: int, universe: dict, area_share: float = 0.3) -> list[dict]:
    """`n` policy documents with realistic condition mixes over `universe`
    (divisions: 2-digit industry prefixes by frequency, classes: 4-digit codes,
    towns, parks: codes)."""
    rs = np.random.default_rng(seed)
    th = _thresholds()
    div_codes, div_w = zip(*universe["divisions"], strict=True)
    div_p = np.asarray(div_w, dtype=float) / sum(div_w)
    certs = ["high_tech", "srdi", "little_giant", "tech_sme", "listed"]
    cert_p = [0.45, 0.25, 0.08, 0.17, 0.05]

    def pick(seq, p=None):
        return seq[int(rs.choice(len(seq), p=p))]

    def threshold(fact, ops=("ge",)):
        return {"fact": fact, "op": pick(list(ops)), "value": pick(th[fact])}

    docs = []
    for i in range(n):
        conds = []
        r = rs.random()
        if r < 0.6:
            k = int(rs.integers(1, 4))
            prefixes = sorted({str(x) for x in rs.choice(div_codes, size=k, p=div_p)})
            conds.append({"fact": "industry_code", "op": "starts_with_any", "value": prefixes})
        elif r < 0.7:
            k = int(rs.integers(2, 8))
            classes = sorted({pick(universe["classes"]) for _ in range(k)})
            conds.append({"fact": "industry_code", "op": "in", "value": classes})
        if rs.random() < 0.4:
            conds.append(
                {"fact": "scale", "op": "eq", "value": pick(["above", "below"], [0.7, 0.3])}
            )
        r = rs.random()
        if r < 0.3:
            conds.append({"fact": "certifications", "op": "contains", "value": pick(certs, cert_p)})
        elif r < 0.38:
            a, b = rs.choice(certs, size=2, replace=False, p=cert_p)
            conds.append(
                {
                    "any": [
                        {"fact": "certifications", "op": "contains", "value": str(a)},
                        {"fact": "certifications", "op": "contains", "value": str(b)},
                    ]
                }
            )
        want = int(rs.integers(1, 3)) if len(conds) < 3 else int(rs.integers(0, 2))
        facts_used = set()
        for _ in range(want):
            f = pick(list(th))
            if f in facts_used:
                continue
            facts_used.add(f)
            if rs.random() < 0.1 and f in ("revenue_wan", "employees"):
                conds.append(threshold(f, ("lt", "le")))  # small-firm policies
            else:
                conds.append(threshold(f, ("ge", "ge", "gt")))
        if rs.random() < 0.08:
            conds.append(
                {
                    "any": [
                        threshold("rd_intensity"),
                        {"all": [threshold("rd_spend_wan"), threshold("employees")]},
                    ]
                }
            )
        r = rs.random()
        if r < 0.07:
            conds.append({"fact": "age_years", "op": pick(["le", "lt"]), "value": pick([3, 5])})
        elif r < 0.12:
            conds.append({"fact": "age_years", "op": "ge", "value": pick([2, 3, 10])})
        r = rs.random()
        if r < 0.08:
            conds.append(
                {"fact": "efficiency_grade", "op": "in", "value": pick([["A"], ["A", "B"]])}
            )
        elif r < 0.12:
            conds.append({"fact": "efficiency_grade", "op": "not_in", "value": ["C", "D"]})
        elif r < 0.14:
            conds.append({"fact": "efficiency_grade", "op": "ne", "value": "D"})
        if rs.random() < area_share:
            if universe["parks"] and rs.random() < 0.3:
                conds.append({"fact": "park", "op": "in", "value": [pick(universe["parks"])]})
            else:
                k = int(rs.integers(1, 4))
                towns = sorted({pick(universe["towns"]) for _ in range(k)})
                conds.append({"fact": "town", "op": "in", "value": towns})
        if len(conds) < 2:
            conds.append(threshold(pick(list(th))))
        order = rs.permutation(len(conds))
        conds = [conds[j] for j in order][:5]
        benefit = None
        r = rs.random()
        cap = pick([50, 100, 200, 300, 500])
        if r < 0.2:
            benefit = f"min(rd_spend_wan * {pick([0.05, 0.1, 0.2])}, {cap})"
        elif r < 0.35:
            benefit = f"round(min(revenue_wan * {pick([0.001, 0.002, 0.005])}, {cap}), 1)"
        elif r < 0.55:
            benefit = str(pick([10, 20, 30, 50, 100]))
        elif r < 0.7:
            benefit = f"max(min(tax_wan * {pick([0.05, 0.1])}, {cap}), {pick([5, 10])})"
        elif r < 0.8:
            benefit = f"min(employees * {pick([0.1, 0.2, 0.5])}, {cap})"
        # in force on AS_OF (the bench is about every policy × every enterprise)
        start = AS_OF - dt.timedelta(days=int(rs.integers(1, 1500)))
        end = None if rs.random() < 0.15 else AS_OF + dt.timedelta(days=int(rs.integers(0, 1500)))
        docs.append(
            {
                "code": f"BENCH-{seed}-{i:05d}",
                "title": f"Bench policy {i}",
                "level": pick(["national", "municipal", "district"], [0.1, 0.3, 0.6]),
                "type": pick(["basic", "industry", "case_by_case"], [0.5, 0.4, 0.1]),
                "issuer": "bench",
                "valid_from": start.isoformat(),
                "valid_to": end.isoformat() if end else None,
                "tags": ["fiscal"],
                "conditions": conds,
                "benefit": {"formula": benefit, "unit": "wan"} if benefit else None,
            }
        )
    return docs


def in_force_at(docs, as_of):
    from investmap.policies.engine import in_force

    return [d for d in docs if in_force(d, as_of)]


# --- the record-store scale (district) --------------------------------------------------


def universe_from_store() -> dict:
    from investmap.resources.models import Enterprise, Park, Town

    classes = Counter(Enterprise.objects.values_list("industry_code", flat=True))
    divisions = Counter()
    for code, k in classes.items():
        divisions[code[:2]] += k
    return {
        "divisions": sorted(divisions.items()),
        "classes": sorted(c for c in classes if c),
        "towns": sorted(Town.objects.values_list("code", flat=True)),
        "parks": sorted(Park.objects.values_list("code", flat=True)),
    }


def ensure_grades() -> None:
    from django.conf import settings

    from investmap.core.scope import Scope
    from investmap.efficiency import services
    from investmap.efficiency.models import Evaluation
    from investmap.resources.models import IndicatorYear

    name = settings.INVESTMAP_EFFICIENCY_RULESET
    year = min(AS_OF.year, max(IndicatorYear.objects.values_list("year", flat=True).distinct()))
    if Evaluation.objects.filter(ruleset__name=name, year__lte=AS_OF.year).exists():
        return
    scope = Scope(
        user_id=None,
        role="operator",
        sees_resources=True,
        sensitive_org_ids=None,
        editable_kinds=frozenset({"indicators"}),
    )
    t = time.perf_counter()
    services.evaluate(year=year, ruleset=name, scope=scope)
    print(
        f"efficiency evaluation {year} ({name}) stored for the grades in {time.perf_counter() - t:.1f} s"
    )


def store_policies(docs) -> list[int]:
    """Policy + PolicyVersion rows for the bench documents (codes BENCH-…)."""
    import hashlib

    from django.db import transaction

    from investmap.policies.models import Policy, PolicyVersion

    drop_policies()
    with transaction.atomic():
        heads = Policy.objects.bulk_create(
            [
                Policy(
                    code=d["code"],
                    title=d["title"],
                    level=d["level"],
                    policy_type=d["type"],
                    issuer=d["issuer"],
                    valid_from=d["valid_from"],
                    valid_to=d["valid_to"],
                    tags=d["tags"],
                )
                for d in docs
            ]
        )
        heads = {p.code: p for p in Policy.objects.filter(code__startswith="BENCH-")}
        versions = PolicyVersion.objects.bulk_create(
            [
                PolicyVersion(
                    policy=heads[d["code"]],
                    number=1,
                    document=d,
                    digest=hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest(),
                )
                for d in docs
            ]
        )
        for v in PolicyVersion.objects.filter(policy__code__startswith="BENCH-"):
            Policy.objects.filter(pk=v.policy_id).update(current=v)
    return [v.pk for v in versions]


def drop_policies() -> None:
    from investmap.policies.models import Policy, PolicyMatch

    PolicyMatch.objects.filter(version__policy__code__startswith="BENCH-").delete()
    Policy.objects.filter(code__startswith="BENCH-").update(current=None)
    Policy.objects.filter(code__startswith="BENCH-").delete()


def run_district(args, n_policies: int) -> None:
    from investmap.engine.connection import run
    from investmap.policies import engine, reference
    from investmap.resources.models import Enterprise

    benchkit.ensure_demo(
        scale=args.scale,
        seed=args.seed,
        fresh=args.fresh,
        show=("enterprises", "indicators"),
    )
    ensure_grades()
    n_ent = Enterprise.objects.count()
    docs = generate(
        n_policies,
        seed=args.seed,
        universe=universe_from_store(),
        area_share=AREA_SHARE[args.scale],
    )
    live = in_force_at(docs, AS_OF)
    print(
        f"{len(docs)} policies generated, {len(live)} in force on {AS_OF} (each out-of-force one "
        f"gives no rows); {n_ent:,} enterprises → {len(live) * n_ent:,} pairs"
    )
    spec = engine._spec(live, AS_OF, None)

    times, out = [], None
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = run(engine.stored_job, {**spec, "source": "record"})
        times.append(time.perf_counter() - t)
    stored = int(out["eligible_count"].sum()) + int(out["near_count"].sum())
    print(
        f"\n1. engine, eligible + near misses of every pair (run → helper): best {min(times):.3f} s "
        f"of {', '.join(f'{x:.3f}' for x in times)} (the first also starts the helper)"
    )
    print("   inside: " + ", ".join(_fmt(k, v) for k, v in out["timings"].items()))
    print(
        f"   stored pairs: {int(out['eligible_count'].sum()):,} eligible + {int(out['near_count'].sum()):,} "
        f"near misses = {stored:,} ({stored / max(1, len(live) * n_ent):.2%} of the pairs); "
        f"{len(live) * n_ent / min(times) / 1e6:.1f} M pairs/s"
    )

    sample = live[: args.full_sample]
    t = time.perf_counter()
    rows = engine.match_policy(documents=sample, as_of=AS_OF)
    full = time.perf_counter() - t
    results = Counter(r["result"] for r in rows)
    print(
        f"\n2. engine.match_policy (every pair with failed/unknown/amount), {len(sample)} policies: "
        f"{full:.2f} s → {full * len(live) / max(1, len(sample)):.1f} s for all {len(live)} "
        f"(extrapolated); results {dict(results)}, near misses {sum(r['near_miss'] for r in rows):,}"
    )

    if not args.no_refresh:
        t = time.perf_counter()
        store_policies(docs)
        print(
            f"\n3. {len(docs)} Policy/PolicyVersion rows stored in {time.perf_counter() - t:.2f} s"
        )
        try:
            for label in ("first refresh (all rows new)", "second refresh (nothing changed)"):
                t = time.perf_counter()
                c = engine.refresh(as_of=AS_OF)
                took = time.perf_counter() - t
                print(
                    f"   {label}: {took:.2f} s (engine {c['engine_s']:.2f} s); inserted {c['inserted']:,}, "
                    f"updated {c['updated']:,}, deleted {c['deleted']:,}, unchanged {c['unchanged']:,}, "
                    f"new {len(c['new']):,}"
                )
            some = list(Enterprise.objects.order_by("id").values_list("id", flat=True)[:1])
            t = time.perf_counter()
            c = engine.refresh(as_of=AS_OF, enterprise_ids=some)
            print(
                f"   scoped refresh of one enterprise × {c['in_force']} policies: "
                f"{time.perf_counter() - t:.3f} s (engine {c['engine_s']:.3f} s)"
            )
        finally:
            if not args.keep:
                drop_policies()

    if not args.no_reference:
        t = time.perf_counter()
        table = reference.facts.facts_for(None, AS_OF)
        read = time.perf_counter() - t
        t = time.perf_counter()
        ref = reference.stored(documents=live, as_of=AS_OF, facts_table=table)
        comp = time.perf_counter() - t
        eng = list(engine._stored_rows(out, [engine.compile_policy(d) for d in live]))
        problems = reference.compare(eng, ref)
        print(
            f"\n4. reference (ORM facts {read:.2f} s + pair by pair {comp:.2f} s = {read + comp:.2f} s): "
            f"{len(ref):,} stored pairs, {len(problems)} differences from the engine"
            + "".join(f"\n     {p}" for p in problems[: args.show])
        )
        print(f"   ratio reference / engine (best): {(read + comp) / min(times):.1f}×")


def _fmt(k, v):
    if isinstance(v, float):
        return f"{k} {v:.3f} s"
    return f"{k} {v:,}" if isinstance(v, int) else f"{k}: {v}"


# --- synthetic scales (city, province) --------------------------------------------------


def synthesise(path, n: int, *, seed: int, towns: int, parks: int) -> None:
    """A DuckDB file with record-store-shaped tables of `n` enterprises, resampled from
    the district store (industry, scale, founding, certifications, indicator rows)."""
    from investmap.engine.connection import attach_record_store, connect

    if os.path.exists(path):
        os.unlink(path)
    con = connect(attach=False, path=str(path))
    attach_record_store(con)
    t = time.perf_counter()
    con.execute(
        "CREATE TEMP TABLE src AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, * "
        "FROM rec.resources_enterprise"
    )
    m = con.execute("SELECT count(*) FROM src").fetchone()[0]
    con.execute(f"""
        CREATE TABLE resources_town AS
        SELECT i + 1 AS id, 'T' || lpad(CAST(i + 1 AS VARCHAR), 4, '0') AS code FROM range({towns}) t(i)""")
    con.execute(f"""
        CREATE TABLE resources_park AS
        SELECT i + 1 AS id, 'P' || lpad(CAST(i + 1 AS VARCHAR), 4, '0') AS code FROM range({parks}) t(i)""")
    con.execute(f"""
        CREATE TABLE resources_enterprise AS
        SELECT i + 1 AS id, 'S' || lpad(CAST(i + 1 AS VARCHAR), 17, '0') AS credit_code,
               s.industry_code, s.scale,
               s.founded_on + CAST(hash(i, {seed}) % 1000 AS INTEGER) - 500 AS founded_on,
               CAST(1 + hash(i, {seed}, 1) % {towns} AS BIGINT) AS town_id,
               CASE WHEN s.park_id IS NOT NULL THEN CAST(1 + hash(i, {seed}, 2) % {parks} AS BIGINT) END AS park_id,
               s.certifications, s.id AS src_id
        FROM range({n}) t(i) JOIN src s ON s.k = hash(i, {seed}, 3) % {m}""")
    con.execute(f"""
        CREATE TABLE resources_indicatoryear AS
        SELECT e.id AS enterprise_id, y.year,
               {", ".join(f"y.{f} * (0.8 + (hash(e.id, y.year, {j}) % 4000) / 10000.0) AS {f}" for j, f in enumerate(["revenue_wan", "tax_wan", "rd_spend_wan", "value_added_wan", "output_wan"]))},
               CAST(round(y.employees * (0.8 + (hash(e.id, y.year, 9) % 4000) / 10000.0)) AS BIGINT) AS employees
        FROM resources_enterprise e JOIN rec.resources_indicatoryear y ON y.enterprise_id = e.src_id""")
    con.execute(f"""
        CREATE TABLE efficiency_evaluationresult AS
        SELECT e.id AS id, 1 AS evaluation_id, e.id AS enterprise_id,
               CASE hash(e.id, {seed}, 5) % 10 WHEN 0 THEN 'A' WHEN 1 THEN 'A' WHEN 2 THEN 'B' WHEN 3 THEN 'B'
                    WHEN 4 THEN 'B' WHEN 5 THEN 'C' WHEN 6 THEN 'C' WHEN 7 THEN 'D' ELSE '' END AS grade
        FROM resources_enterprise e WHERE e.scale = 'above'""")
    con.execute("CHECKPOINT")
    rows = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("resources_enterprise", "resources_indicatoryear", "efficiency_evaluationresult")
    }
    con.close()
    print(
        f"synthesised {path.name} in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
        + f", {towns} towns, {parks} parks"
    )


def run_synthetic(args, n_policies: int, n_ent: int) -> None:
    from investmap.engine.connection import connect
    from investmap.policies import engine, facts

    benchkit.ensure_demo(
        scale="district", seed=args.seed, fresh=False, show=("enterprises", "indicators")
    )
    towns, parks = max(8, n_ent // 2500), max(3, n_ent // 6000)
    path = ROOT / "var" / "bench" / f"policies-{args.scale}.duckdb"
    if args.fresh or not path.exists():
        synthesise(path, n_ent, seed=args.seed, towns=towns, parks=parks)
    con = connect(attach=False, path=":memory:")
    con.execute(f"ATTACH '{path}' AS syn (READ_ONLY)")
    universe = universe_synthetic(con)
    docs = generate(
        n_policies, seed=args.seed, universe=universe, area_share=AREA_SHARE[args.scale]
    )
    live = in_force_at(docs, AS_OF)
    n = con.execute("SELECT count(*) FROM syn.resources_enterprise").fetchone()[0]
    print(
        f"{len(docs):,} policies generated, {len(live):,} in force on {AS_OF}; {n:,} enterprises → "
        f"{len(live) * n:,} pairs"
    )
    t0 = time.perf_counter()
    con.execute(facts.create_sql(AS_OF, 1, facts.record_tables("syn")))
    t_facts = time.perf_counter() - t0
    spec = {"documents": live, "counts_only": not args.rows, "facts_ready": True}
    t = time.perf_counter()
    out = engine.stored_job(con, spec)
    took = time.perf_counter() - t
    total = t_facts + took
    el, nm = int(out["eligible_count"].sum()), int(out["near_count"].sum())
    print(
        f"\nengine, eligible + near misses of every pair{' (rows extracted)' if args.rows else ' (counted)'}: "
        f"{total:.1f} s = facts {t_facts:.1f} s + "
        + ", ".join(_fmt(k, v) for k, v in out["timings"].items() if k != "facts_s")
    )
    print(
        f"   {el:,} eligible + {nm:,} near misses = {el + nm:,} pairs to store "
        f"({(el + nm) / max(1, len(live) * n):.2%} of the pairs); {len(live) * n / total / 1e6:,.0f} M pairs/s; "
        f"per policy: median {int(np.median(out['eligible_count'] + out['near_count'])):,} stored pairs"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE pf AS SELECT * REPLACE (CAST(0 AS INTEGER) AS rn) "
        f"FROM pf WHERE rn = {n // 2}"
    )
    t = time.perf_counter()
    one = engine.stored_job(con, {"documents": live, "facts_ready": True})
    print(
        f"   one enterprise × all {len(live):,} policies (what a scoped refresh after an edit "
        f"computes), rows extracted: {time.perf_counter() - t:.2f} s; "
        f"{int(one['eligible_count'].sum())} eligible, {int(one['near_count'].sum())} near misses"
    )
    import resource

    print(
        f"   peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.1f} GB"
    )


def universe_synthetic(con) -> dict:
    rows = con.execute(
        "SELECT left(industry_code, 2), count(*) FROM syn.resources_enterprise GROUP BY 1 ORDER BY 1"
    ).fetchall()
    classes = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT industry_code FROM syn.resources_enterprise ORDER BY 1"
        ).fetchall()
    ]
    towns = [r[0] for r in con.execute("SELECT code FROM syn.resources_town ORDER BY 1").fetchall()]
    parks = [r[0] for r in con.execute("SELECT code FROM syn.resources_park ORDER BY 1").fetchall()]
    return {"divisions": rows, "classes": classes, "towns": towns, "parks": parks}


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", default="district", choices=list(SCALES))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--policies", type=int, help="default: 500 / 5,000 / 30,000 by scale")
    p.add_argument("--enterprises", type=int, help="synthetic scales: default 500k / 3.3M")
    p.add_argument("--fresh", action="store_true", help="regenerate the store of the scale")
    p.add_argument("--repeat", type=int, default=3, help="engine runs at district (best reported)")
    p.add_argument("--full-sample", type=int, default=50, help="policies timed with match_policy")
    p.add_argument("--no-refresh", action="store_true")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the BENCH- policies and their matches")
    p.add_argument("--rows", action="store_true", help="synthetic scales: extract the pairs too")
    p.add_argument("--show", type=int, default=5, help="differences printed")
    return p.parse_args()


def main():
    args = parse_args()
    n_pol, n_ent = SCALES[args.scale]
    n_pol = args.policies or n_pol
    n_ent = args.enterprises or n_ent
    store = "district" if n_ent else args.scale
    benchkit.setup_django(store if args.scale != "tiny" else "tiny")
    print(f"{benchkit.machine()}; code {benchkit.code_version('policies')}")
    if n_ent is None:
        run_district(args, n_pol)
    else:
        run_synthetic(args, n_pol, n_ent)


if __name__ == "__main__":
    sys.exit(main())
