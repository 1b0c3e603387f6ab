"""亩均 evaluation: the engine (DuckDB SQL over the record store) against the row-by-row ORM reference.

    .venv/bin/python bench/efficiency.py --scale district              # latest year, huangyan-2022
    .venv/bin/python bench/efficiency.py --scale city --all-rulesets --repeat 3
    .venv/bin/python bench/efficiency.py --scale province --reference-timeout 1800
    .venv/bin/python bench/efficiency.py --scale province --no-reference

One run, one data set (the demo district of --scale and --seed):

1. The record store is a SQLite file per scale, var/bench/<scale>.sqlite3,
   migrated (which adds the efficiency tables to a store made before them) and
   filled with the demo district only when it is empty (or with --fresh).
2. Per ruleset (--ruleset, default huangyan-2022, or --all-rulesets) and the
   year (--year, default the latest with figures):
   * engine: `evaluation.evaluate(year, ruleset)` (engine.connection.run of evaluate_store, rows as dicts)
     — read the year's inputs, evaluate every population, return every row to
     this process — --repeat times; the best and every time are printed (the
     first call also starts the engine's helper process);
   * full `services.evaluate()`: the same plus registering the ruleset version
     and writing the Evaluation and its results, on a fresh (year, ruleset):
     earlier evaluations of that year and ruleset are deleted first (otherwise
     the run with the same inputs is reused and nothing is written);
   * reference: `efficiency.reference` — the IndicatorYear rows of the year
     with their Enterprise through the ORM, tenants counted from the parcels,
     then every formula, score, rank and grade in plain Python loops — timed as
     read + compute; its results are compared with the engine's (the keys of
     the test, numbers within 1e-9 relative) and the mismatches counted.
     --reference-timeout stops it after that many seconds (the ratio is then a
     lower bound); --reference-sample N evaluates only the first N enterprises
     (by credit code) and extrapolates the time (nothing compared: a sample
     is another population); --no-reference skips it.
"""

import argparse
import os
import signal
import sys
import time
from collections import Counter

import benchkit  # noqa: E402  (beside this script)

ROOT = benchkit.ROOT


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", default="district", choices=["tiny", "district", "city", "province"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fresh", action="store_true", help="regenerate the demo district")
    p.add_argument("--year", type=int, help="default: the latest year with figures")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--ruleset", default="huangyan-2022")
    which.add_argument("--all-rulesets", action="store_true", help="every shipped ruleset")
    p.add_argument("--repeat", type=int, default=3, help="engine runs (the best is reported)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the full services.evaluate()")
    p.add_argument("--no-reference", action="store_true", help="skip the ORM reference")
    p.add_argument(
        "--reference-timeout", type=float, default=0, help="stop the reference after N s (0: never)"
    )
    p.add_argument(
        "--reference-sample",
        type=int,
        default=0,
        help="evaluate only the first N enterprises with the reference and extrapolate",
    )
    p.add_argument("--show", type=int, default=5, help="mismatches printed")
    return p.parse_args()


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout


def within(seconds: float, fn, *args):
    """fn(*args), or Timeout after `seconds` (0: no limit); main thread only (SIGALRM)."""
    if not seconds:
        return fn(*args)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def engine_steps(con, year: int, ruleset) -> dict:
    """In the engine's helper process: evaluate_store's steps, timed (rows not returned)."""
    from investmap.efficiency import evaluation

    t = {}
    c = time.perf_counter()
    con.execute(evaluation.inputs_sql(year))
    t["read inputs"] = time.perf_counter() - c
    c = time.perf_counter()
    evaluation.inputs_digest(con)
    t["inputs digest"] = time.perf_counter() - c
    c = time.perf_counter()
    rows = evaluation.compute(con, ruleset)
    t["compute"] = time.perf_counter() - c
    con.execute("DROP TABLE IF EXISTS ent")
    return {"t": t, "rows": len(rows)}


def bench_ruleset(args, name: str, year: int) -> dict:
    from investmap.core.scope import Scope
    from investmap.efficiency import evaluation, reference, rules, services
    from investmap.efficiency.models import Evaluation
    from investmap.engine.connection import run

    ruleset = rules.load(name)
    print(f"\n== {name} ({ruleset.title_en}), year {year}")
    out: dict = {"ruleset": name}

    times, res = [], None
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        res = evaluation.evaluate(year, ruleset)
        times.append(time.perf_counter() - t)
    rows = res["rows"]
    out["engine"] = min(times)
    print(
        f"  enterprises with figures {res['inputs']:,}; evaluated (in a population) {len(rows):,}"
    )
    for p in ruleset.populations:
        c = Counter(r["status"] for r in rows if r["population"] == p.code)
        grades = Counter(r["grade"] for r in rows if r["population"] == p.code and r["grade"])
        mine = [r for r in rows if r["population"] == p.code]
        groups = len({r["group"] for r in mine if r["group"]})
        filled = sum(1 for r in mine if r["filled"])
        deducted = sum(1 for r in mine if r["deduction"])
        ranks = Counter((r["group"], r["rank"]) for r in mine if r["rank"])
        tied = sum(v for v in ranks.values() if v > 1)
        print(
            f"    {p.code:<8} scored {c['scored']:>8,}  insufficient {c['insufficient_data']:>8,}"
            f"  grades {dict(sorted(grades.items()))}" + (f" in {groups} groups" if groups else "")
        )
        print(
            f"    {'':<8} average-filled {filled:,}, with a deduction {deducted:,}, "
            f"sharing a rank {tied:,}"
        )
    out["counts"] = {
        p.code: Counter(r["status"] for r in rows if r["population"] == p.code)
        for p in ruleset.populations
    }
    out["inputs"] = res["inputs"]
    print(
        f"  {'engine evaluate() (run + rows)':<36}{min(times):9.3f} s best of {len(times)} "
        f"({', '.join(f'{t:.3f}' for t in times)})"
    )

    steps = min(
        (run(engine_steps, year, ruleset)["t"] for _ in range(max(1, args.repeat))),
        key=lambda t: sum(t.values()),
    )
    inside = sum(steps.values())
    out["engine_steps"] = steps
    print(
        "    inside the helper (best): "
        + ", ".join(f"{k} {v:.3f} s" for k, v in steps.items())
        + f"; the other ≈{max(0.0, min(times) - inside):.3f} s of run() is the process hop "
        "and unpickling the rows"
    )

    if not args.no_evaluate:
        scope = Scope(
            user_id=None,
            role="operator",
            sees_resources=True,
            sensitive_org_ids=None,
            editable_kinds=frozenset({"indicators"}),
        )
        deleted = Evaluation.objects.filter(year=year, ruleset__name=name).delete()[1]
        gone = deleted.get("efficiency.Evaluation", 0)
        t = time.perf_counter()
        ev, created = services.evaluate(year=year, ruleset=name, scope=scope)
        full = time.perf_counter() - t
        assert created, "services.evaluate() reused a stored run"
        out["evaluate"] = full
        print(
            f"  {'full services.evaluate()':<36}{full:9.3f} s (its engine part {ev.took_ms / 1000:.3f}"
            f" s, the rest — version, writing {ev.results.count():,} results — "
            f"{full - ev.took_ms / 1000:.3f} s; {gone} earlier evaluations deleted first)"
        )

    if args.no_reference:
        return out
    if args.reference_sample:
        t = time.perf_counter()
        sample = reference.inputs(year, limit=args.reference_sample)
        read = time.perf_counter() - t
        t = time.perf_counter()
        reference.evaluate_inputs(ruleset, sample)
        comp = time.perf_counter() - t
        k = res["inputs"] / max(1, len(sample))
        est = (read + comp) * k
        out["reference_estimate"] = est
        print(
            f"  {'reference, sample':<36}{read + comp:9.3f} s for {len(sample):,} enterprises "
            f"(read {read:.3f} s + compute {comp:.3f} s) → ~{est:,.1f} s for all "
            f"(extrapolated, not compared); engine × {est / out['engine']:,.0f} (estimate)"
        )
        return out
    t = time.perf_counter()
    try:
        inputs = within(args.reference_timeout, reference.inputs, year)
        read = time.perf_counter() - t
        left = max(0.001, args.reference_timeout - read) if args.reference_timeout else 0
        t2 = time.perf_counter()
        ref = within(left, reference.evaluate_inputs, ruleset, inputs)
        comp = time.perf_counter() - t2
    except Timeout:
        spent = time.perf_counter() - t
        out["reference_timeout"] = spent
        print(
            f"  {'reference (row by row, ORM)':<36}TIMED OUT after {spent:,.1f} s: "
            f"at least {spent / out['engine']:,.0f}× the engine"
        )
        return out
    out["reference"] = read + comp
    print(
        f"  {'reference (row by row, ORM)':<36}{read + comp:9.3f} s "
        f"(read {read:.3f} s + compute {comp:.3f} s)"
    )
    out["ratio"] = out["reference"] / out["engine"]
    print(f"  {'reference / engine':<36}{out['ratio']:9.1f}×")
    problems = reference.compare(rows, ref)
    out["mismatches"] = len(problems)
    print(
        f"  agreement: engine {len(rows):,} rows, reference {len(ref):,}; "
        f"{len(problems)} mismatches"
    )
    for line in problems[: args.show]:
        print(f"    {line}")
    return out


def main() -> int:
    args = parse_args()
    benchkit.setup_django(args.scale)
    load0 = os.getloadavg()
    print(
        f"InvestMap efficiency bench: scale {args.scale}, seed {args.seed}; {benchkit.machine()}; "
        f"load average {load0[0]:.1f}; code {benchkit.code_version('efficiency')}"
    )
    benchkit.ensure_demo(
        scale=args.scale,
        seed=args.seed,
        fresh=args.fresh,
        show=("enterprises", "indicators"),
        note="",
    )

    from investmap.efficiency import rules
    from investmap.resources.models import IndicatorYear

    years = sorted(set(IndicatorYear.objects.values_list("year", flat=True).distinct()))
    if not years:
        raise SystemExit("no yearly figures in the record store")
    year = args.year or years[-1]
    print(f"years with figures {years}; evaluating {year}")
    names = sorted(rules.available()) if args.all_rulesets else [args.ruleset]
    results = [bench_ruleset(args, name, year) for name in names]

    print("\nsummary (seconds)")
    print(
        f"  {'ruleset':<16}{'engine':>9}{'evaluate':>10}{'reference':>11}{'ratio':>9}{'mismatch':>10}"
    )
    for r in results:
        ref = r.get("reference")
        cell = (
            f"{ref:11.2f}"
            if ref is not None
            else f"{'>' + format(r['reference_timeout'], '.1f'):>11}"
            if "reference_timeout" in r
            else f"{'~' + format(r['reference_estimate'], '.1f'):>11}"
            if "reference_estimate" in r
            else f"{'—':>11}"
        )
        print(
            f"  {r['ruleset']:<16}{r['engine']:9.3f}"
            + (f"{r['evaluate']:10.2f}" if "evaluate" in r else f"{'—':>10}")
            + cell
            + (f"{r['ratio']:8.1f}×" if "ratio" in r else f"{'—':>9}")
            + (f"{r['mismatches']:10d}" if "mismatches" in r else f"{'—':>10}")
        )
    load1 = os.getloadavg()
    print(f"\nload average now {load1[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
