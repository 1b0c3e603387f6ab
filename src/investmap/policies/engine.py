"""Every policy against every enterprise in the analysis engine, and the stored matches.

Two engine jobs share the facts table ``pf`` (facts.create_sql: one row per
enterprise at the evaluation date, read from the attached record store — or,
for uncommitted rows and small scoped refreshes, from rows handed over with
load_rows):

* **All results** (`match_policy`): every (policy, enterprise) pair with its
  result, failed conditions, missing facts and amount — one SQL branch per
  policy (conditions.sql / missing_sql, the benefit's Formula.sql), policies
  batched into UNION ALL queries, all in ONE engine call. This is what the API
  and the command print for a policy (or for an enterprise against all).

* **What is stored** (`evaluate_stored`, `refresh`, job `stored_job`): the
  eligible pairs and the near misses of every policy in force. A pair is
  stored iff every top-level condition is known and at most one is false
  (eligible: none false; near miss: exactly one). Near misses make the "most
  selective condition" useless as a filter: a pair may fail *any one*
  condition, so a per-policy SQL scan has to read every row. Measured here
  (2 cores, DuckDB 1.5, 3.3M enterprises): one such scan takes 0.5–0.6 s —
  ~4 hours for 30k policies — and UNION ALL batches do not help (50
  policies: 32 s). So the job groups the policies by what they share and
  works on *bitsets* of the enterprises (numpy, 64 per machine word, row
  ``rn`` of ``pf``), each condition as two of them, true and false (unknown:
  neither):

  - leaves on numeric facts (``revenue_wan ≥ 2000``…) are evaluated by
    DuckDB once per distinct leaf over all policies (conditions.sql, 64 per
    query; real policies use round thresholds, so there are few);
  - leaves on categorical facts (industry, scale, town, park, grade,
    certifications) are unions of the rows of each value, which DuckDB
    groups once per fact (`_Rows`): ``in``/``eq``/``contains`` the listed
    values, ``starts_with_any`` the values with a prefix, ``ne``/``not_in``
    the known rows outside them — no column per distinct list of towns;
  - groups follow Kleene logic, as SQL's AND/OR do over NULL: all → true =
    ∧ true, false = ∨ false; any → true = ∨ true, false = ∧ false;
  - per policy: eligible = ∧ true; near misses failing condition i = false_i
    ∧ (∧_{j≠i} true_j), with prefix and suffix ANDs — ~3n word-array
    operations for n conditions, so 10¹¹ pairs cost ~10⁵–10⁶ operations on
    52k-word arrays instead of 10¹¹ row evaluations.

  Only the stored pairs become rows. Amounts are computed in DuckDB with
  Formula.sql for the eligible pairs: a formula used by many pairs once per
  enterprise, the others by joining their pairs. tests/policies checks the
  job against conditions.evaluate (hypothesis) and the reference; the bench
  figures are in bench/README.md ("Policies").

`refresh` stores the result for the *current* version of each policy: new
pairs are inserted, pairs whose result, failed condition or amount changed are
updated (as_of set to the day of that refresh), pairs that no longer qualify
(or whose policy is out of force) are deleted; rows of older versions are
never touched. It returns the counts and the new (version, enterprise) pairs.

Module level imports no models: the engine's helper process imports this
module to run the jobs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from dataclasses import dataclass

import duckdb
import numpy as np

from investmap.core.formula import Formula

from . import conditions, facts

CHUNK = 64  # distinct conditions per engine query (bitset job)
ORM_LIMIT = 2000  # scoped refreshes of at most this many enterprises read through the ORM
BATCH_ROWS = 2_000_000  # rows per UNION ALL query of the all-results job


class PolicyDocumentError(ValueError):
    """A document the engine cannot compile (conditions or benefit); `problems` lists them."""

    def __init__(self, code, problems: list[str]):
        super().__init__(f"{code}: " + "; ".join(problems))
        self.code = code
        self.problems = problems


@dataclass(frozen=True)
class CompiledPolicy:
    code: str
    conditions: tuple
    labels: tuple[str, ...]  # one plain-words label per top-level condition
    benefit: Formula | None
    unit: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None

    def in_force(self, as_of) -> bool:
        d = facts.as_date(as_of)
        return (self.valid_from is None or self.valid_from <= d) and (
            self.valid_to is None or d <= self.valid_to
        )

    def failed(self, indexes) -> list[dict]:
        return [{"index": int(i), "label": self.labels[int(i)]} for i in indexes]


# --- compiling a document -------------------------------------------------------------

OP_WORDS = {
    "eq": "=",
    "ne": "≠",
    "in": "in",
    "not_in": "not in",
    "ge": "≥",
    "le": "≤",
    "gt": ">",
    "lt": "<",
    "starts_with_any": "starts with",
    "contains": "contains",
}


def _value_text(v) -> str:
    if isinstance(v, tuple | list):
        return " / ".join(_value_text(x) for x in v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def label(node) -> str:
    """A condition in plain words, e.g. ``revenue_wan ≥ 2000`` or ``any of (…; …)``."""
    if isinstance(node, conditions.Group):
        word = "any of" if node.kind == "any" else "all of"
        return f"{word} (" + "; ".join(label(p) for p in node.parts) + ")"
    return f"{node.fact} {OP_WORDS[node.op]} {_value_text(node.value)}"


def _date_or_none(value, key, problems):
    if value in (None, ""):
        return None
    try:
        return facts.as_date(value)
    except (TypeError, ValueError):
        problems.append(f"{key}: not a date (YYYY-MM-DD)")
        return None


def compile_policy(document: dict) -> CompiledPolicy:
    """Conditions (conditions.parse), benefit formula over the numeric facts, validity."""
    code = str(document.get("code") or "")
    problems: list[str] = []
    try:
        conds = conditions.parse(document.get("conditions"))
    except conditions.ConditionError as e:
        problems += e.problems
        conds = ()
    benefit, unit = None, None
    raw = document.get("benefit")
    if raw not in (None, {}):
        text = raw.get("formula") if isinstance(raw, dict) else None
        unit = raw.get("unit") if isinstance(raw, dict) else None
        if text not in (None, ""):
            try:
                benefit = Formula(str(text), allowed=facts.NUMERIC_FACTS)
            except ValueError as e:
                problems.append(f"benefit.formula: {e}")
    valid_from = _date_or_none(document.get("valid_from"), "valid_from", problems)
    valid_to = _date_or_none(document.get("valid_to"), "valid_to", problems)
    if problems:
        raise PolicyDocumentError(code, problems)
    return CompiledPolicy(
        code=code,
        conditions=conds,
        labels=tuple(label(c) for c in conds),
        benefit=benefit,
        unit=unit,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def in_force(document: dict, as_of) -> bool:
    """Whether the policy is valid at `as_of` (valid_from and valid_to inclusive)."""
    problems: list[str] = []
    start = _date_or_none(document.get("valid_from"), "valid_from", problems)
    end = _date_or_none(document.get("valid_to"), "valid_to", problems)
    d = facts.as_date(as_of)
    return (start is None or start <= d) and (end is None or d <= end)


# --- the facts table, from the record store or from handed-over rows -------------------


def _build_facts(con, spec: dict) -> int:
    ids = spec.get("enterprise_ids")
    ids_table = None
    if ids is not None and spec["source"] == "record":
        con.register("pf_ids_v", {"id": np.asarray(sorted(ids), dtype=np.int64)})
        con.execute("CREATE OR REPLACE TEMP TABLE pf_ids AS SELECT id FROM pf_ids_v")
        con.unregister("pf_ids_v")
        ids_table = "pf_ids"
    tables = facts.record_tables() if spec["source"] == "record" else facts.LOADED_TABLES
    con.execute(
        facts.create_sql(facts.as_date(spec["as_of"]), spec["evaluation_id"], tables, ids_table)
    )
    return con.execute("SELECT count(*) FROM pf").fetchone()[0]


_local = threading.local()


def _private_connection():
    """This thread's in-memory DuckDB for handed-over rows: no extension needed (json is
    built in), so no 0.6 s spatial load per call as a fresh engine session would cost."""
    con = getattr(_local, "con", None)
    if con is None or getattr(_local, "pid", None) != os.getpid():
        con = duckdb.connect(":memory:")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        _local.con, _local.pid = con, os.getpid()
    return con


def _in_engine(fn, spec: dict):
    """`fn(con, spec)` over the facts: in the helper process over the committed record
    store, or — inside a transaction or for a few enterprises — over rows read here
    through the ORM and handed over with load_rows."""
    from django.db import connection as django_connection

    from investmap.engine.connection import run

    ids = spec.get("enterprise_ids")
    if django_connection.in_atomic_block or (ids is not None and len(ids) <= ORM_LIMIT):
        con = _private_connection()
        tables = facts.load_orm_tables(
            con, enterprise_ids=ids, as_of=spec["as_of"], evaluation_id=spec["evaluation_id"]
        )
        try:
            return fn(con, {**spec, "source": "loaded"})
        finally:
            for table in tables.values():
                con.execute(f"DROP TABLE IF EXISTS {table}")
    return run(fn, {**spec, "source": "record"})


def _spec(documents, as_of, enterprise_ids, **extra) -> dict:
    as_of = facts.as_date(as_of)
    return {
        "documents": documents,
        "as_of": as_of.isoformat(),
        "enterprise_ids": None if enterprise_ids is None else sorted(set(enterprise_ids)),
        "evaluation_id": facts.grade_evaluation_id(as_of),
        **extra,
    }


def facts_job(con, spec: dict) -> tuple[list[str], list[tuple]]:
    _build_facts(con, spec)
    cur = con.execute(
        "SELECT enterprise_id, credit_code, "
        + ", ".join(f'"{f}"' for f in conditions.FACTS)
        + " FROM pf ORDER BY rn"
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    con.execute("DROP TABLE IF EXISTS pf")
    return names, rows


def facts_table(*, as_of, enterprise_ids: list[int] | None = None) -> dict[int, tuple[str, dict]]:
    """id → (credit code, facts) as the engine computes them (facts.create_sql)."""
    names, rows = _in_engine(facts_job, _spec([], as_of, enterprise_ids))
    out = {}
    for r in rows:
        values = dict(zip(names[2:], r[2:], strict=True))
        out[r[0]] = (r[1], values)
    return out


# --- all results -----------------------------------------------------------------------


def _branch_sql(p: int, c: CompiledPolicy) -> str:
    if c.conditions:
        failed = (
            "array_to_string(list_filter(["
            + ", ".join(
                f"CASE WHEN NOT {conditions.sql(node)} THEN {i} END"
                for i, node in enumerate(c.conditions)
            )
            + "], x -> x IS NOT NULL), ',')"
        )
        unknown = (
            "array_to_string(list_sort(list_distinct("
            + " || ".join(conditions.missing_sql(node) for node in c.conditions)
            + ")), ',')"
        )
    else:
        failed, unknown = "''", "''"
    amount = c.benefit.sql() if c.benefit is not None else "NULL::DOUBLE"
    return (
        f"SELECT CAST({p} AS INTEGER) AS p, rn, {failed} AS failed, {unknown} AS unknown, "
        f"CAST({amount} AS DOUBLE) AS amount FROM pf"
    )


def all_results_job(con, spec: dict) -> dict:
    """Every pair as columns: policy index ``p``, row ``rn`` (→ ``ids``/``codes``), failed
    condition indexes and missing facts as comma-separated texts, ``amount`` (NaN: none)."""
    n = _build_facts(con, spec)
    got = con.execute(
        "SELECT enterprise_id, credit_code, CAST(rank() OVER (ORDER BY credit_code, rn) - 1 AS BIGINT)"
        " AS code_rank FROM pf ORDER BY rn"
    ).fetchnumpy()
    compiled = [compile_policy(d) for d in spec["documents"]]
    per_query = max(1, min(200, BATCH_ROWS // max(n, 1)))
    parts = []
    for start in range(0, len(compiled), per_query):
        branches = [
            _branch_sql(start + k, c) for k, c in enumerate(compiled[start : start + per_query])
        ]
        parts.append(con.execute(" UNION ALL ".join(branches)).fetchnumpy())
    con.execute("DROP TABLE IF EXISTS pf")

    def column(name):
        if not parts:
            return np.zeros(0, dtype=object if name in ("failed", "unknown") else np.int64)
        if name == "amount":
            return np.concatenate(
                [np.ma.filled(np.ma.asarray(x[name], dtype=float), np.nan) for x in parts]
            )
        return np.concatenate([np.asarray(x[name]) for x in parts])

    return {
        "ids": np.asarray(got["enterprise_id"]),
        "codes": np.asarray(got["credit_code"]),
        "code_rank": np.asarray(got["code_rank"]),
        "p": column("p"),
        "rn": column("rn"),
        "failed": column("failed"),
        "unknown": column("unknown"),
        "amount": column("amount"),
    }


def _documents(documents) -> list[dict]:
    return [documents] if isinstance(documents, dict) else list(documents)


def match_policy(
    *, documents: list[dict] | dict, as_of, enterprise_ids: list[int] | None = None
) -> list[dict]:
    """One row per (policy in force at `as_of`, enterprise), sorted by policy then credit code:
    ``{policy, enterprise_id, credit_code, result, near_miss, failed: [{index, label}],
    unknown: [fact…], amount_wan}``. Policies out of force give no rows (see in_force)."""
    docs = _documents(documents)
    compiled = [compile_policy(d) for d in docs]
    live = [i for i, c in enumerate(compiled) if c.in_force(as_of)]
    if not live:
        return []
    spec = _spec([docs[i] for i in live], as_of, enterprise_ids)
    out = _in_engine(all_results_job, spec)
    ids, codes = out["ids"].tolist(), out["codes"].tolist()
    rank = out["code_rank"]
    order = np.argsort(
        out["p"].astype(np.int64) * max(1, len(ids)) + rank[out["rn"]], kind="stable"
    )
    ps, rns = out["p"][order].tolist(), out["rn"][order].tolist()
    fs, us = out["failed"][order].tolist(), out["unknown"][order].tolist()
    amounts = out["amount"][order].tolist()
    rows = []
    for p, rn, f, u, amount in zip(ps, rns, fs, us, amounts, strict=True):
        c = compiled[live[p]]
        failed = [int(x) for x in f.split(",")] if f else []
        unknown = u.split(",") if u else []
        result = "ineligible" if failed else ("insufficient_data" if unknown else "eligible")
        rows.append(
            {
                "policy": c.code,
                "enterprise_id": ids[rn],
                "credit_code": codes[rn],
                "result": result,
                "near_miss": result == "ineligible" and len(failed) == 1 and not unknown,
                "failed": c.failed(failed),
                "unknown": unknown,
                "amount_wan": None if result != "eligible" or amount != amount else amount,
            }
        )
    return rows


# --- what is stored: eligible pairs and near misses, by bitsets -----------------------


def _pack(mask: np.ndarray, words: int) -> np.ndarray:
    b = np.packbits(mask, bitorder="little")
    out = np.zeros(words * 8, dtype=np.uint8)
    out[: b.size] = b
    return out.view(np.uint64)


def positions(bits: np.ndarray) -> np.ndarray:
    """Row numbers of the set bits of a uint64 bitset, ascending."""
    nz = np.flatnonzero(bits)
    if nz.size == 0:
        return np.zeros(0, dtype=np.int32)
    unpacked = np.unpackbits(bits[nz].view(np.uint8), bitorder="little").reshape(-1, 64)
    r, c = np.nonzero(unpacked)
    return (nz[r] * 64 + c).astype(np.int32)


# Facts whose leaves are judged from the rows of each of their values (see _Rows).
CATEGORICAL = frozenset(
    {"industry_code", "scale", "town", "park", "efficiency_grade", "certifications"}
)


def _plan(compiled: list[CompiledPolicy]) -> list:
    """The distinct leaves on numeric facts, anywhere in the conditions: evaluated by SQL."""
    seen: dict = {}

    def visit(node):
        if isinstance(node, conditions.Group):
            for p in node.parts:
                visit(p)
        elif node.fact not in CATEGORICAL:
            seen.setdefault(node, len(seen))

    for c in compiled:
        for node in c.conditions:
            visit(node)
    return list(seen)


def _condition_bits(con, nodes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """True and false bitsets (K × words) of each condition over ``pf`` (conditions.sql,
    CHUNK conditions per query; a NULL is neither)."""
    words = (n + 63) // 64
    true = np.zeros((len(nodes), words), dtype=np.uint64)
    false = np.zeros((len(nodes), words), dtype=np.uint64)
    for start in range(0, len(nodes), CHUNK):
        part = nodes[start : start + CHUNK]
        cols = ", ".join(f"{conditions.sql(node)} AS c{j}" for j, node in enumerate(part))
        got = con.execute(f"SELECT rn, {cols} FROM pf").fetchnumpy()
        rn = np.asarray(got["rn"])
        order = None if np.array_equal(rn, np.arange(n, dtype=rn.dtype)) else np.argsort(rn)
        for j in range(len(part)):
            a = got[f"c{j}"]
            value = np.asarray(np.ma.getdata(a), dtype=bool)
            known = ~np.ma.getmaskarray(a)
            if order is not None:
                value, known = value[order], known[order]
            true[start + j] = _pack(value & known, words)
            false[start + j] = _pack(~value & known, words)
    return true, false


def _bits_at(rows: np.ndarray, words: int) -> np.ndarray:
    out = np.zeros(words, dtype=np.uint64)
    if rows.size:
        r = rows.astype(np.uint64)
        np.bitwise_or.at(
            out, (r >> np.uint64(6)).astype(np.intp), np.uint64(1) << (r & np.uint64(63))
        )
    return out


class _Rows:
    """The rows of each value of a categorical fact, as bitsets, from one DuckDB query per
    fact (rows ordered by value). A leaf on such a fact is then a union of value rows —
    ``eq``/``contains`` one value, ``in`` several, ``starts_with_any`` the values with the
    prefix, ``ne``/``not_in`` the known rows outside them — and false = known ∧ ¬true:
    the semantics of conditions.sql, without one column per distinct list of towns."""

    def __init__(self, con, n: int):
        self.con, self.words = con, (n + 63) // 64
        self.index: dict[str, tuple] = {}
        self.cache: dict[tuple, np.ndarray] = {}
        self.load_s = 0.0

    def _load(self, fact: str):
        got = self.index.get(fact)
        if got is not None:
            return got
        t = time.perf_counter()
        col = f'"{fact}"'
        if fact == "certifications":
            src = f"SELECT rn, unnest({col}) AS v FROM pf"
        else:
            src = f"SELECT rn, {col} AS v FROM pf"
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE pf_values AS SELECT v, "
            "CAST(row_number() OVER (ORDER BY v) - 1 AS INTEGER) AS k "
            f"FROM (SELECT DISTINCT v FROM ({src}) s WHERE v IS NOT NULL)"
        )
        values = [r[0] for r in con.execute("SELECT v FROM pf_values ORDER BY k").fetchall()]
        rows = con.execute(
            f"SELECT d.k, s.rn FROM ({src}) s JOIN pf_values d USING (v) ORDER BY d.k, s.rn"
        ).fetchnumpy()
        k, rn = np.asarray(rows["k"]), np.asarray(rows["rn"])
        con.execute("DROP TABLE pf_values")
        if fact == "certifications":
            known_rows = np.asarray(
                con.execute(f"SELECT rn FROM pf WHERE {col} IS NOT NULL").fetchnumpy()["rn"]
            )
        else:
            known_rows = rn
        got = (
            {v: i for i, v in enumerate(values)},
            rn,
            np.searchsorted(k, np.arange(len(values) + 1)),
            _bits_at(known_rows, self.words),
        )
        self.index[fact] = got
        self.load_s += time.perf_counter() - t
        return got

    def _rows(self, fact: str, which: list[int]) -> np.ndarray:
        _pos, rn, bounds, _known = self._load(fact)
        if not which:
            return np.zeros(self.words, dtype=np.uint64)
        return _bits_at(np.concatenate([rn[bounds[i] : bounds[i + 1]] for i in which]), self.words)

    def value(self, fact: str, v) -> np.ndarray:
        key = (fact, "=", v)
        got = self.cache.get(key)
        if got is None:
            pos = self._load(fact)[0]
            got = self.cache[key] = self._rows(fact, [pos[v]] if v in pos else [])
        return got

    def prefix(self, fact: str, p: str) -> np.ndarray:
        key = (fact, "^", p)
        got = self.cache.get(key)
        if got is None:
            pos = self._load(fact)[0]
            got = self.cache[key] = self._rows(
                fact, [i for v, i in pos.items() if str(v).startswith(p)]
            )
        return got

    def leaf(self, node) -> tuple[np.ndarray, np.ndarray]:
        known = self._load(node.fact)[3]
        op, w = node.op, node.value
        if op in ("eq", "ne", "contains"):
            hit = self.value(node.fact, w)
        elif op in ("in", "not_in"):
            hit = np.zeros(self.words, dtype=np.uint64)
            for v in w:
                hit = hit | self.value(node.fact, v)
        elif op == "starts_with_any":
            hit = np.zeros(self.words, dtype=np.uint64)
            for p in w:
                hit = hit | self.prefix(node.fact, p)
        else:
            raise AssertionError(op)
        true = known & ~hit if op in ("ne", "not_in") else hit
        return true, known & ~true


class _Judge:
    """(true, false) bitsets of any condition: numeric leaves from their SQL bitsets,
    categorical leaves from the value rows, groups by Kleene logic over their parts —
    all: true = ∧ true, false = ∨ false; any: true = ∨ true, false = ∧ false —
    which is how SQL's AND / OR treat NULL (conditions.truth)."""

    def __init__(self, con, n: int, compiled: list[CompiledPolicy], stamp: dict):
        t = time.perf_counter()
        nodes = _plan(compiled)
        self.slot = {node: k for k, node in enumerate(nodes)}
        self.true, self.false = _condition_bits(con, nodes, n)
        self.by_value = _Rows(con, n)
        stamp["sql_leaves"] = len(nodes)
        stamp["sql_leaves_s"] = time.perf_counter() - t

    def __call__(self, node) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(node, conditions.Group):
            parts = [self(p) for p in node.parts]
            t, f = parts[0]
            for pt, pf in parts[1:]:
                if node.kind == "all":
                    t, f = t & pt, f | pf
                else:
                    t, f = t | pt, f & pf
            return t, f
        k = self.slot.get(node)
        if k is not None:
            return self.true[k], self.false[k]
        return self.by_value.leaf(node)


def _combine(parts: list[tuple], everyone) -> tuple[np.ndarray, list[np.ndarray]]:
    """Eligible bitset and, per condition, the bitset of near misses failing only it;
    `parts` are the conditions' (true, false) bitsets."""
    n = len(parts)
    if n == 0:
        return everyone.copy(), []
    prefix = [everyone]
    for t, _f in parts[:-1]:
        prefix.append(prefix[-1] & t)
    eligible = prefix[-1] & parts[-1][0]
    near = [None] * n
    suffix = everyone
    for i in range(n - 1, -1, -1):
        near[i] = parts[i][1] & prefix[i] & suffix
        if i:
            suffix = suffix & parts[i][0]
    return eligible, near


def _nan(a) -> np.ndarray:
    return np.ma.filled(np.ma.asarray(a, dtype=float), np.nan)


def _amounts(con, compiled, eligible: list, n: int, stamp: dict) -> list:
    """Benefit of each eligible pair (NaN when missing). A formula's value depends only on
    the enterprise, so a formula with many eligible pairs (≥ n/4) is computed once per
    enterprise (16 formulas per query) and picked by row; the others join their pairs."""
    t = time.perf_counter()
    out: list = [None] * len(compiled)
    users: dict[str, list[int]] = {}
    formula: dict[str, Formula] = {}
    for p, c in enumerate(compiled):
        if c.benefit is not None and eligible[p].size:
            users.setdefault(c.benefit.text, []).append(p)
            formula[c.benefit.text] = c.benefit
    columns, joined = [], []
    for text, ps in users.items():
        pairs = sum(eligible[p].size for p in ps)
        (columns if pairs * 4 >= n else joined).append(text)
    for start in range(0, len(columns), 16):
        part = columns[start : start + 16]
        cols = ", ".join(f"CAST({formula[x].sql()} AS DOUBLE) AS a{j}" for j, x in enumerate(part))
        got = con.execute(f"SELECT rn, {cols} FROM pf").fetchnumpy()
        rn = np.asarray(got["rn"])
        order = None if np.array_equal(rn, np.arange(n, dtype=rn.dtype)) else np.argsort(rn)
        for j, text in enumerate(part):
            col = _nan(got[f"a{j}"])
            if order is not None:
                col = col[order]
            for p in users[text]:
                out[p] = col[eligible[p]]
    if joined:
        fid = {text: i for i, text in enumerate(joined)}
        ps = [p for text in joined for p in users[text]]
        offsets = np.cumsum([0] + [eligible[p].size for p in ps])
        rn = np.concatenate([eligible[p] for p in ps])
        f = np.concatenate(
            [np.full(eligible[p].size, fid[compiled[p].benefit.text], dtype=np.int32) for p in ps]
        )
        con.register("pf_elig_v", {"g": np.arange(rn.size, dtype=np.int64), "rn": rn, "f": f})
        con.execute("CREATE OR REPLACE TEMP TABLE pf_elig AS SELECT * FROM pf_elig_v")
        con.unregister("pf_elig_v")
        flat = np.full(rn.size, np.nan)
        for start in range(0, len(joined), 200):
            part = joined[start : start + 200]
            case = " ".join(f"WHEN {start + j} THEN {formula[x].sql()}" for j, x in enumerate(part))
            got = con.execute(
                f"SELECT e.g, CAST(CASE e.f {case} END AS DOUBLE) AS amount FROM pf_elig e "
                f"JOIN pf USING (rn) WHERE e.f BETWEEN {start} AND {start + len(part) - 1}"
            ).fetchnumpy()
            flat[np.asarray(got["g"])] = _nan(got["amount"])
        con.execute("DROP TABLE IF EXISTS pf_elig")
        for i, p in enumerate(ps):
            out[p] = flat[offsets[i] : offsets[i + 1]]
    stamp["amounts_s"] = time.perf_counter() - t
    stamp["amount_formulas"] = f"{len(columns)} per enterprise + {len(joined)} per pair"
    return out


def stored_job(con, spec: dict) -> dict:
    """Eligible pairs and near misses of every policy of ``spec["documents"]`` (all in
    force) over the facts; with ``spec["counts_only"]`` only their numbers."""
    stamp: dict = {}
    t = time.perf_counter()
    if spec.get("facts_ready"):
        n = con.execute("SELECT count(*) FROM pf").fetchone()[0]
    else:
        n = _build_facts(con, spec)
    stamp["facts_s"] = time.perf_counter() - t
    ids = np.asarray(
        con.execute("SELECT enterprise_id FROM pf ORDER BY rn").fetchnumpy()["enterprise_id"]
    )
    compiled = [compile_policy(d) for d in spec["documents"]]
    judge = _Judge(con, n, compiled, stamp)
    words = (n + 63) // 64
    everyone = _pack(np.ones(n, dtype=bool), words)
    counts_only = bool(spec.get("counts_only"))
    t = time.perf_counter()
    eligible, near_rows, near_failed = [], [], []
    n_eligible = np.zeros(len(compiled), dtype=np.int64)
    n_near = np.zeros(len(compiled), dtype=np.int64)
    for p, c in enumerate(compiled):
        e_bits, near = _combine([judge(node) for node in c.conditions], everyone)
        if counts_only:
            n_eligible[p] = int(np.bitwise_count(e_bits).sum())
            n_near[p] = sum(int(np.bitwise_count(b).sum()) for b in near)
            continue
        e = positions(e_bits)
        eligible.append(e)
        n_eligible[p] = e.size
        rows, failed = [], []
        for i, b in enumerate(near):
            r = positions(b)
            if r.size:
                rows.append(r)
                failed.append(np.full(r.size, i, dtype=np.int16))
        if rows:
            r = np.concatenate(rows)
            f = np.concatenate(failed)
            order = np.argsort(r, kind="stable")
            near_rows.append(r[order])
            near_failed.append(f[order])
        else:
            near_rows.append(np.zeros(0, dtype=np.int32))
            near_failed.append(np.zeros(0, dtype=np.int16))
        n_near[p] = near_rows[-1].size
    stamp["value_rows_s"] = judge.by_value.load_s
    stamp["combine_s"] = time.perf_counter() - t - judge.by_value.load_s
    out = {
        "enterprises": n,
        "eligible_count": n_eligible,
        "near_count": n_near,
        "timings": stamp,
    }
    if not counts_only:
        out["ids"] = ids
        out["eligible"] = eligible
        out["amounts"] = _amounts(con, compiled, eligible, n, stamp)
        out["near"] = near_rows
        out["near_failed"] = near_failed
    if not spec.get("facts_ready"):
        con.execute("DROP TABLE IF EXISTS pf")
    return out


def evaluate_stored(
    *, documents: list[dict] | dict, as_of, enterprise_ids: list[int] | None = None
) -> list[dict]:
    """The rows `refresh` would store for these documents (eligible pairs and near misses
    of the policies in force), without writing: same keys as match_policy's rows."""
    docs = _documents(documents)
    compiled = [compile_policy(d) for d in docs]
    live = [i for i, c in enumerate(compiled) if c.in_force(as_of)]
    if not live:
        return []
    out = _in_engine(stored_job, _spec([docs[i] for i in live], as_of, enterprise_ids))
    return list(_stored_rows(out, [compiled[i] for i in live]))


def _pairs(out: dict):
    """stored_job's arrays as (policy index, enterprise id, result, near_miss, failed
    condition index or None, amount or None), eligible pairs first for each policy."""
    ids = out["ids"]
    for p, rows in enumerate(out["eligible"]):
        amounts = out["amounts"][p]
        a_list = [None] * rows.size if amounts is None else amounts.tolist()
        for eid, a in zip(ids[rows].tolist(), a_list, strict=True):
            yield p, eid, "eligible", False, None, None if a is None or a != a else a
        near = ids[out["near"][p]].tolist()
        for eid, i in zip(near, out["near_failed"][p].tolist(), strict=True):
            yield p, eid, "ineligible", True, i, None


def _stored_rows(out: dict, compiled: list[CompiledPolicy]):
    for p, eid, result, near_miss, index, amount in _pairs(out):
        c = compiled[p]
        yield {
            "policy": c.code,
            "enterprise_id": eid,
            "result": result,
            "near_miss": near_miss,
            "failed": [] if index is None else c.failed([index]),
            "unknown": [],
            "amount_wan": amount,
        }


# --- refresh: the stored matches of the current versions -----------------------------


def _found(out: dict, versions: list[int]) -> dict[tuple[int, int], tuple]:
    """(version id, enterprise id) → (result, near_miss, failed index or None, amount)."""
    return {(versions[p], eid): tuple(rest) for p, eid, *rest in _pairs(out)}


def _insert(rows: list[tuple], as_of: dt.date) -> None:
    """INSERT the new PolicyMatch rows with executemany, values prepared by each field
    (what bulk_create does, without building a model instance per row)."""
    from django.db import connection
    from django.utils import timezone

    from .models import PolicyMatch

    meta = PolicyMatch._meta
    names = ("version", "enterprise", "result", "near_miss", "failed", "unknown",
             "amount_wan", "as_of", "first_seen_at", "notified")  # fmt: skip
    fields = [meta.get_field(n) for n in names]
    q = connection.ops.quote_name
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    prep = {n: f for n, f in zip(names, fields, strict=True)}
    empty = prep["unknown"].get_db_prep_save([], connection)
    day = prep["as_of"].get_db_prep_save(as_of, connection)
    now = prep["first_seen_at"].get_db_prep_save(timezone.now(), connection)
    no = prep["notified"].get_db_prep_save(False, connection)
    json_of: dict = {}
    values = []
    for vid, eid, result, near_miss, failed, amount in rows:
        key = json.dumps(failed, sort_keys=True)
        f = json_of.get(key)
        if f is None:
            f = json_of[key] = prep["failed"].get_db_prep_save(failed, connection)
        values.append((vid, eid, result, near_miss, f, empty, amount, day, now, no))
    with connection.cursor() as cur:
        for start in range(0, len(values), 5000):
            cur.executemany(sql, values[start : start + 5000])


def refresh(*, as_of=None, policy_codes=None, enterprise_ids=None) -> dict:
    """Recompute and store the PolicyMatch rows of the current version of each policy
    (or of `policy_codes`) for every enterprise (or `enterprise_ids`) as of `as_of`
    (default today). Returns counts and ``new``: the (version id, enterprise id) pairs
    stored for the first time, and ``newly_eligible``: pairs eligible now that were
    not stored as eligible before (new, or a near miss that now qualifies)."""
    from django.db import transaction
    from django.utils import timezone

    from .models import Policy, PolicyMatch

    t0 = time.perf_counter()
    as_of = facts.as_date(as_of or timezone.localdate())
    heads = Policy.objects.exclude(current=None).select_related("current")
    if policy_codes is not None:
        heads = heads.filter(code__in=list(policy_codes))
    versions, live, invalid, out_of_force = [], [], [], []
    for head in heads.order_by("code"):
        v = head.current
        try:
            c = compile_policy(v.document)
        except PolicyDocumentError:  # the importer refuses these; leave their rows alone
            invalid.append(head.code)
            continue
        versions.append(v.pk)
        if c.in_force(as_of):
            live.append((v, c))
        else:
            out_of_force.append(head.code)
    labels = {v.pk: c.labels for v, c in live}
    found: dict[tuple[int, int], tuple] = {}
    engine_s = 0.0
    if live:
        t = time.perf_counter()
        out = _in_engine(stored_job, _spec([v.document for v, _c in live], as_of, enterprise_ids))
        engine_s = time.perf_counter() - t
        found = _found(out, [v.pk for v, _c in live])

    def failed_of(vid, index):
        return [] if index is None else [{"index": index, "label": labels[vid][index]}]

    existing = PolicyMatch.objects.filter(version_id__in=versions)
    if enterprise_ids is not None:
        existing = existing.filter(enterprise_id__in=list(enterprise_ids))
    counts = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    new, newly_eligible = [], []
    with transaction.atomic():
        to_delete, to_update, seen = [], [], set()
        for pk, vid, eid, result, near_miss, failed, amount in existing.values_list(
            "id", "version_id", "enterprise_id", "result", "near_miss", "failed", "amount_wan"
        ).iterator(chunk_size=20000):
            key = (vid, eid)
            now = found.get(key)
            if now is None:
                to_delete.append(pk)
                continue
            seen.add(key)
            now_failed = failed_of(vid, now[2])
            if (result, near_miss, failed, amount) == (now[0], now[1], now_failed, now[3]):
                counts["unchanged"] += 1
                continue
            if now[0] == "eligible" and result != "eligible":
                newly_eligible.append(key)
            to_update.append(
                PolicyMatch(
                    pk=pk,
                    result=now[0],
                    near_miss=now[1],
                    failed=now_failed,
                    amount_wan=now[3],
                    as_of=as_of,
                )
            )
        for start in range(0, len(to_delete), 5000):
            PolicyMatch.objects.filter(pk__in=to_delete[start : start + 5000]).delete()
        PolicyMatch.objects.bulk_update(
            to_update, ["result", "near_miss", "failed", "amount_wan", "as_of"], batch_size=2000
        )
        rows = []
        for key, (result, near_miss, index, amount) in found.items():
            if key in seen:
                continue
            new.append(key)
            if result == "eligible":
                newly_eligible.append(key)
            rows.append((*key, result, near_miss, failed_of(key[0], index), amount))
        _insert(rows, as_of)
        counts["inserted"] = len(rows)
        counts["updated"] = len(to_update)
        counts["deleted"] = len(to_delete)
    return {
        "as_of": as_of.isoformat(),
        "policies": len(versions),
        "in_force": len(live),
        "out_of_force": out_of_force,
        "invalid": invalid,
        "eligible": sum(1 for v in found.values() if v[0] == "eligible"),
        "near_misses": sum(1 for v in found.values() if v[1]),
        **counts,
        "new": sorted(new),
        "newly_eligible": sorted(newly_eligible),
        "engine_s": round(engine_s, 3),
        "took_s": round(time.perf_counter() - t0, 3),
    }
