"""The 亩均 evaluation in the analysis engine: a ruleset compiled to SQL, all enterprises at once.

Input: a DuckDB table `ent`, one row per enterprise and year, with
`credit_code, enterprise_id, scale, industry_code, town_id, park_id`, the
yearly figures (rules.FIELDS) and the derived facts (rules.DERIVED). It comes
from the record store (`inputs_sql`) or from plain rows (`evaluate_rows`, used
by the rulesets' YAML cases).

Per population one query walks these steps as CTEs (docs/efficiency.md):

1. members: the scales and industries of the population; a land area below
   `min_land_mu` leaves the population, an unknown one is missing data;
2. indicator values from their formulas (a missing figure or a zero divisor
   makes the value missing — never zero) and the fields each one lacks;
3. status: `scored` when every indicator whose missing rule is
   `insufficient_data` has a value, otherwise `insufficient_data`;
4. indicator scores: `benchmark_ratio` (value / benchmark × weight, or the
   inverse for `direction: lower`; no cap) or `min_max` (weight × [floor +
   (100 − floor) × (x − min)/(max − min)] / 100 over the scored members);
5. `population_average`: a scored member without the value gets the mean
   score of the scored members with it (a population where nobody has it
   leaves them all insufficient);
6. deductions, then the score; rank (1 = best; equal scores share the best
   rank) within the population or its industry group, and the grade: the first
   band whose cumulative share is ≥ rank / n, or the first threshold met.
"""

from __future__ import annotations

from investmap.engine.connection import load_rows, run, session, table

from .rules import DERIVED, FIELDS, Population, Ruleset

EPS = 1e-9

INPUT_COLUMNS = {
    "credit_code": "VARCHAR",
    "enterprise_id": "BIGINT",
    "scale": "VARCHAR",
    "industry_code": "VARCHAR",
    "town_id": "BIGINT",
    "park_id": "BIGINT",
    **{f: "DOUBLE" for f in FIELDS},
    **{f: "DOUBLE" for f in DERIVED},
}


def _q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _col(name: str) -> str:
    return f'"{name}"'


def _missing_expr(fields, divisors) -> str:
    """SQL: comma-separated fields that are missing (or a zero divisor)."""
    parts = []
    for f in sorted(fields):
        cond = f"{_col(f)} IS NULL" + (f" OR {_col(f)} = 0" if f in divisors else "")
        parts.append(f"CASE WHEN {cond} THEN {_q(f)} END")
    return f"concat_ws(',', {', '.join(parts)})" if parts else "''"


def _member_filter(p: Population) -> str:
    conds = [f"scale IN ({', '.join(_q(s) for s in p.scales)})"]
    if p.industry_prefixes:
        conds.append(
            "("
            + " OR ".join(
                f"starts_with(coalesce(industry_code, ''), {_q(x)})" for x in p.industry_prefixes
            )
            + ")"
        )
    if p.min_land_mu is not None:
        conds.append(f"(land_area_mu IS NULL OR land_area_mu >= {float(p.min_land_mu)!r})")
    return " AND ".join(conds)


def _group_expr(p: Population) -> str:
    if not p.groups:
        return "NULL::VARCHAR"
    whens = []
    for g in p.groups:
        if g.industry_prefixes:
            cond = " OR ".join(
                f"starts_with(coalesce(industry_code, ''), {_q(x)})" for x in g.industry_prefixes
            )
            whens.append(f"WHEN {cond} THEN {_q(g.code)}")
    rest = next((g.code for g in p.groups if not g.industry_prefixes), None)
    return f"CASE {' '.join(whens)} ELSE {_q(rest) if rest else 'NULL'} END"


def population_sql(ruleset: Ruleset, p: Population, source: str = "ent") -> str:
    inds = p.indicators
    deds = ruleset.deductions_of(p.code)
    k = range(len(inds))
    step1 = [f"{_group_expr(p)} AS grp"]
    for i, ind in zip(k, inds, strict=True):
        step1.append(f"{ind.formula.sql(_col)} AS v{i}")
        m = _missing_expr(ind.fields, ind.formula.divisors)
        # A value missing with all its fields present (e.g. a divisor expression that is 0).
        # A value that cannot be scored lists the indicator itself: missing with all its
        # fields present (a divisor expression that is 0), or 0 where smaller is better
        # and the score would be benchmark / 0.
        unscorable = f"(v{i} IS NULL AND {m} = '')"
        if p.scoring == "benchmark_ratio" and ind.direction == "lower":
            unscorable += f" OR v{i} = 0"
        step1.append(f"CASE WHEN {unscorable} THEN {_q(ind.code)} ELSE {m} END AS m{i}")
    for j, d in enumerate(deds):
        step1.append(f"{d.formula.sql(_col)} AS d{j}")
        dm = _missing_expr(d.formula.names, d.formula.divisors)
        # never a silent 0: a deduction without a value makes the enterprise insufficient
        step1.append(
            f"CASE WHEN d{j} IS NULL AND {dm} = '' THEN {_q(d.code)} ELSE {dm} END AS dm{j}"
        )
    land_missing = (
        "CASE WHEN land_area_mu IS NULL THEN 'land_area_mu' END"
        if p.min_land_mu is not None
        else "NULL"
    )
    required = [
        f"nullif(m{i}, '')"
        for i, ind in zip(k, inds, strict=True)
        if ind.missing == "insufficient_data"
    ]
    required += [f"nullif(dm{j}, '')" for j in range(len(deds))]
    required.append(land_missing)
    everything = (
        [f"nullif(m{i}, '')" for i in k]
        + [f"nullif(dm{j}, '')" for j in range(len(deds))]
        + [land_missing]
    )

    scores = []
    for i, ind in zip(k, inds, strict=True):
        w = float(ind.weight)
        if p.scoring == "benchmark_ratio":
            b = float(ind.benchmark)
            ratio = f"v{i} / {b!r}" if ind.direction == "higher" else f"{b!r} / NULLIF(v{i}, 0)"
            expr = f"({ratio}) * {w!r}"
        else:
            lo = f"min(v{i}) FILTER (WHERE status = 'scored') OVER ()"
            hi = f"max(v{i}) FILTER (WHERE status = 'scored') OVER ()"
            num = f"(v{i} - {lo})" if ind.direction == "higher" else f"({hi} - v{i})"
            t = f"CASE WHEN {hi} = {lo} THEN 1.0 ELSE {num} / ({hi} - {lo}) END"
            f0 = float(p.min_max_floor)
            expr = f"{w!r} * ({f0!r} + {100.0 - f0!r} * ({t})) / 100.0"
        scores.append(f"CASE WHEN status = 'scored' AND v{i} IS NOT NULL THEN {expr} END AS s{i}")

    filled = []
    for i, ind in zip(k, inds, strict=True):
        if ind.missing == "population_average":
            filled.append(
                f"CASE WHEN status = 'scored' AND s{i} IS NULL "
                f"THEN avg(s{i}) FILTER (WHERE status = 'scored') OVER () ELSE s{i} END AS f{i}"
            )
            filled.append(f"(status = 'scored' AND s{i} IS NULL) AS filled{i}")
        else:
            filled.append(f"s{i} AS f{i}")
            filled.append(f"false AS filled{i}")

    all_scored = " AND ".join(f"f{i} IS NOT NULL" for i in k) or "true"
    # (+ 0.0 turns a -0.0 into 0.0)
    ded_sum = "(" + " + ".join(f"d{j}" for j in range(len(deds))) + ") + 0.0" if deds else "0.0"
    total = " + ".join(f"f{i}" for i in k)

    if p.grading == "rank_bands":
        cum, whens = 0.0, []
        for b in p.bands[:-1]:
            cum += b.share
            whens.append(f"WHEN rnk <= {cum!r} * n + {EPS!r} THEN {_q(b.grade)}")
        grade = f"CASE WHEN status2 <> 'scored' THEN NULL {' '.join(whens)} ELSE {_q(p.bands[-1].grade)} END"
    else:
        whens = [
            f"WHEN score >= {b.min_score!r} - {EPS!r} THEN {_q(b.grade)}"
            for b in p.bands
            if b.min_score is not None
        ]
        last = p.bands[-1]
        tail = _q(last.grade) if last.min_score is None else "NULL"
        grade = f"CASE WHEN status2 <> 'scored' THEN NULL {' '.join(whens)} ELSE {tail} END"

    cols_v = ", ".join(f"v{i}" for i in k)
    cols_s = ", ".join(f"f{i}, filled{i}" for i in k)
    return f"""
WITH members AS (
    SELECT * FROM {source} WHERE {_member_filter(p)}
), step1 AS (
    SELECT members.*, {", ".join(step1)} FROM members
), step2 AS (
    SELECT *, concat_ws(',', {", ".join(required)}) AS req_missing,
           concat_ws(',', {", ".join(everything)}) AS all_missing,
           CASE WHEN concat_ws(',', {", ".join(required)}) = '' THEN 'scored' ELSE 'insufficient_data' END AS status
    FROM step1
), step3 AS (
    SELECT *, {", ".join(scores)} FROM step2
), step4 AS (
    SELECT *, {", ".join(filled)} FROM step3
), step5 AS (
    SELECT *,
        CASE WHEN status = 'scored' AND {all_scored} THEN 'scored' ELSE 'insufficient_data' END AS status2,
        CASE WHEN status = 'scored' AND {all_scored} THEN {ded_sum} END AS deduction,
        CASE WHEN status = 'scored' AND {all_scored} THEN ({total}) - ({ded_sum}) END AS score
    FROM step4
), step6 AS (
    SELECT *,
        CASE WHEN status2 = 'scored' THEN rank() OVER (PARTITION BY status2, grp ORDER BY score DESC) END AS rnk,
        CASE WHEN status2 = 'scored' THEN count(*) OVER (PARTITION BY status2, grp) END AS n
    FROM step5
)
SELECT credit_code, enterprise_id, town_id, park_id, industry_code, grp, status2 AS status,
       all_missing, deduction, score, rnk, n, {grade} AS grade, {cols_v}, {cols_s}
FROM step6
ORDER BY credit_code
"""


def _split(text: str | None) -> list[str]:
    return sorted({x for x in (text or "").split(",") if x})


def compute_raw(
    con, ruleset: Ruleset, source: str = "ent"
) -> list[tuple[str, list[str], list[tuple]]]:
    """Per population: (code, column names, rows as tuples) — compact to send between processes."""
    out = []
    for p in ruleset.populations:
        cur = con.execute(population_sql(ruleset, p, source))
        out.append((p.code, [d[0] for d in cur.description], cur.fetchall()))
    return out


def materialize(ruleset: Ruleset, raw) -> list[dict]:
    """compute_raw's tuples as one dict per enterprise, sorted by credit code."""
    out: list[dict] = []
    for code, names, rows in raw:
        p = ruleset.population(code)
        col = {n: i for i, n in enumerate(names)}
        codes = [ind.code for ind in p.indicators]
        iv = [col[f"v{i}"] for i in range(len(codes))]
        isc = [col[f"f{i}"] for i in range(len(codes))]
        ifl = [col[f"filled{i}"] for i in range(len(codes))]
        c = {
            k: col[k]
            for k in (
                "credit_code",
                "enterprise_id",
                "town_id",
                "park_id",
                "industry_code",
                "grp",
                "status",
                "all_missing",
                "deduction",
                "score",
                "rnk",
                "n",
                "grade",
            )
        }
        for r in rows:
            scored = r[c["status"]] == "scored"
            out.append(
                {
                    "credit_code": r[c["credit_code"]],
                    "enterprise_id": r[c["enterprise_id"]],
                    "town_id": r[c["town_id"]],
                    "park_id": r[c["park_id"]],
                    "industry_code": r[c["industry_code"]],
                    "population": code,
                    "group": r[c["grp"]],
                    "status": r[c["status"]],
                    "missing": [] if scored else _split(r[c["all_missing"]]),
                    "indicator_values": {k: r[j] for k, j in zip(codes, iv, strict=True)},
                    "indicator_scores": {k: r[j] for k, j in zip(codes, isc, strict=True)}
                    if scored
                    else {},
                    "filled": [k for k, j in zip(codes, ifl, strict=True) if scored and r[j]],
                    "deduction": r[c["deduction"]],
                    "score": r[c["score"]],
                    "rank": r[c["rnk"]],
                    "population_size": r[c["n"]],
                    "grade": r[c["grade"]],
                }
            )
    out.sort(key=lambda x: x["credit_code"])
    return out


def compute(con, ruleset: Ruleset, source: str = "ent") -> list[dict]:
    """Evaluate every population of `ruleset` over table `source`; one dict per enterprise."""
    return materialize(ruleset, compute_raw(con, ruleset, source))


def inputs_sql(year: int) -> str:
    """The `ent` table of a year from the record store (run through engine.connection.run)."""
    fields = ", ".join(f"CAST(i.{f} AS DOUBLE) AS {f}" for f in FIELDS)
    return f"""
CREATE OR REPLACE TEMP TABLE ent AS
WITH tenants AS (
    SELECT p.enterprise_id AS owner, count(DISTINCT x.id) AS tenants
    FROM {table("resources_enterprise")} x
    JOIN {table("resources_parcel")} p ON x.parcel_id = p.id
    WHERE p.enterprise_id IS NOT NULL AND x.id <> p.enterprise_id
    GROUP BY 1
)
SELECT e.credit_code, e.id AS enterprise_id, e.scale, e.industry_code, e.town_id, e.park_id,
       {fields}, CAST(coalesce(t.tenants, 0) AS DOUBLE) AS tenants
FROM {table("resources_enterprise")} e
JOIN {table("resources_indicatoryear")} i ON i.enterprise_id = e.id AND i.year = {int(year)}
LEFT JOIN tenants t ON t.owner = e.id
"""


_DIGEST_SQL = """
SELECT count(*), md5(coalesce(string_agg(
    concat_ws('|', credit_code, scale, industry_code, town_id, park_id, {cols}), chr(10) ORDER BY credit_code
), ''))
FROM ent
"""


def inputs_digest(con) -> tuple[int, str]:
    cols = ", ".join(f"coalesce(CAST({f} AS VARCHAR), '∅')" for f in (*FIELDS, *DERIVED))
    n, digest = con.execute(_DIGEST_SQL.format(cols=cols)).fetchone()
    return int(n), str(digest)


def evaluate_store(con, year: int, ruleset: Ruleset) -> dict:
    """In the engine (via engine.connection.run): read the year's inputs and evaluate them;
    the rows come back as compute_raw's tuples (see `evaluate`)."""
    con.execute(inputs_sql(year))
    n, digest = inputs_digest(con)
    raw = compute_raw(con, ruleset)
    con.execute("DROP TABLE IF EXISTS ent")
    return {"inputs": n, "inputs_digest": digest, "raw": raw}


def evaluate(year: int, ruleset: Ruleset) -> dict:
    """The year's evaluation from the record store: {inputs, inputs_digest, rows (dicts)}."""
    out = run(evaluate_store, year, ruleset)
    return {
        "inputs": out["inputs"],
        "inputs_digest": out["inputs_digest"],
        "rows": materialize(ruleset, out["raw"]),
    }


def evaluate_rows(ruleset: Ruleset, rows: list[dict]) -> list[dict]:
    """Evaluate plain rows (a YAML case, a what-if) in a private engine session."""
    full = []
    for r in rows:
        x = {c: None for c in INPUT_COLUMNS}
        x.update({"industry_code": "3311", "tenants": 0})
        x.update(r)
        full.append(x)
    with session(attach=False) as con:
        load_rows(con, "ent", full, INPUT_COLUMNS)
        return compute(con, ruleset)
