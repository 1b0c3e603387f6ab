"""The plain Python evaluator of the same semantics: the engine's oracle and the bench's peer.

Facts come from the ORM (facts.facts_for — the Python definitions, independent
of facts.create_sql), each pair is judged by conditions.evaluate and the
benefit by Formula.evaluate, one enterprise and one policy at a time. Rows have
the keys of engine.match_policy's rows.
"""

from __future__ import annotations

from . import conditions, facts
from .engine import CompiledPolicy, compile_policy


def _documents(documents) -> list[dict]:
    return [documents] if isinstance(documents, dict) else list(documents)


def judge(c: CompiledPolicy, values: dict) -> dict:
    """One pair: result, near_miss, failed, unknown and amount from the facts `values`."""
    o = conditions.evaluate(c.conditions, values)
    amount = None
    if o.result == "eligible" and c.benefit is not None:
        amount = c.benefit.evaluate(values)
    return {
        "result": o.result,
        "near_miss": o.near_miss,
        "failed": c.failed(o.failed),
        "unknown": list(o.unknown),
        "amount_wan": amount,
    }


def match_policy(*, documents, as_of, enterprise_ids=None, facts_table=None) -> list[dict]:
    """Every (policy in force, enterprise) pair, sorted by policy (given order) then credit code."""
    compiled = [c for c in (compile_policy(d) for d in _documents(documents)) if c.in_force(as_of)]
    if not compiled:
        return []
    table = facts_table if facts_table is not None else facts.facts_for(enterprise_ids, as_of)
    ents = sorted(table.items(), key=lambda kv: kv[1][0])
    rows = []
    for c in compiled:
        for eid, (code, values) in ents:
            rows.append(
                {"policy": c.code, "enterprise_id": eid, "credit_code": code, **judge(c, values)}
            )
    return rows


def stored(*, documents, as_of, enterprise_ids=None, facts_table=None) -> list[dict]:
    """The rows the refresh stores: eligible pairs and near misses."""
    return [
        r
        for r in match_policy(
            documents=documents,
            as_of=as_of,
            enterprise_ids=enterprise_ids,
            facts_table=facts_table,
        )
        if r["result"] == "eligible" or r["near_miss"]
    ]


KEYS = ("result", "near_miss", "failed", "unknown")


def compare(engine_rows: list[dict], reference_rows: list[dict], *, rel: float = 1e-9) -> list[str]:
    """Differences between two row lists keyed by (policy, enterprise id); [] when equal."""

    def keyed(rows):
        return {(r["policy"], r["enterprise_id"]): r for r in rows}

    a, b = keyed(engine_rows), keyed(reference_rows)
    problems = []
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            problems.append(f"{key}: only in the {'reference' if x is None else 'engine'}")
            continue
        for k in KEYS:
            if x[k] != y[k]:
                problems.append(f"{key} {k}: engine {x[k]!r} ≠ reference {y[k]!r}")
        p, q = x["amount_wan"], y["amount_wan"]
        if (p is None) != (q is None) or (
            p is not None and abs(p - q) > rel * max(1.0, abs(p), abs(q))
        ):
            problems.append(f"{key} amount_wan: engine {p!r} ≠ reference {q!r}")
    return problems
