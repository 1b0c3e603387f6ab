"""The engine (DuckDB SQL + bitsets) against the plain Python evaluator on the demo district.

The tiny demo district (seed 7, written by the demo writer, with an efficiency
evaluation stored so grades are facts) meets a set of generated policies that
uses every op, nested any/all groups, every fact, validity windows and benefit
formulas with min/max/round. At two dates the engine's facts, every pair's
result (failed conditions, missing facts, amount), the stored eligible pairs
and near misses, and what `refresh` writes must equal the reference's.
"""

import datetime as dt
import functools
import hashlib
import json
import random
from collections import Counter

import pytest
from django.conf import settings
from django.db import transaction

from investmap.core.scope import Scope
from investmap.demo.generator import generate
from investmap.demo.writer import write
from investmap.efficiency import services as efficiency
from investmap.policies import conditions, engine, facts, reference
from investmap.policies.models import Policy, PolicyMatch, PolicyVersion
from investmap.resources.models import Enterprise, Park, Town

pytestmark = pytest.mark.django_db(transaction=True)

DATES = (dt.date(2024, 6, 30), dt.date(2026, 3, 31))


@functools.cache
def tiny_district():
    return generate(seed=7, scale="tiny")


def policies(seed: int = 11, n: int = 80) -> list[dict]:
    """Hand-picked conditions for every op, then random combinations of them."""
    towns = sorted(Town.objects.values_list("code", flat=True))
    parks = sorted(Park.objects.values_list("code", flat=True))
    classes = Counter(Enterprise.objects.values_list("industry_code", flat=True))
    common = [c for c, _ in classes.most_common(6)]
    divisions = sorted({c[:2] for c in common})
    pool = [
        {"fact": "scale", "op": "eq", "value": "above"},
        {"fact": "scale", "op": "ne", "value": "above"},
        {"fact": "industry_code", "op": "in", "value": common[:3]},
        {"fact": "industry_code", "op": "not_in", "value": common[:2]},
        {"fact": "industry_code", "op": "starts_with_any", "value": divisions[:2]},
        {"fact": "town", "op": "in", "value": towns[:2]},
        {"fact": "town", "op": "eq", "value": towns[-1]},
        {"fact": "park", "op": "in", "value": parks[:2]},
        {"fact": "park", "op": "not_in", "value": parks[:1]},
        {"fact": "certifications", "op": "contains", "value": "high_tech"},
        {"fact": "certifications", "op": "contains", "value": "srdi"},
        {"fact": "age_years", "op": "ge", "value": 5},
        {"fact": "age_years", "op": "lt", "value": 8},
        {"fact": "employees", "op": "gt", "value": 50},
        {"fact": "employees", "op": "le", "value": 300},
        {"fact": "employees", "op": "in", "value": [10, 20, 30]},
        {"fact": "revenue_wan", "op": "ge", "value": 2000},
        {"fact": "revenue_wan", "op": "lt", "value": 20000},
        {"fact": "tax_wan", "op": "ge", "value": 100},
        {"fact": "rd_spend_wan", "op": "ge", "value": 100},
        {"fact": "rd_intensity", "op": "ge", "value": 0.03},
        {"fact": "rd_intensity", "op": "lt", "value": 0.01},
        {"fact": "value_added_wan", "op": "gt", "value": 500},
        {"fact": "output_wan", "op": "ge", "value": 1000},
        {"fact": "efficiency_grade", "op": "in", "value": ["A", "B"]},
        {"fact": "efficiency_grade", "op": "not_in", "value": ["D"]},
        {"fact": "efficiency_grade", "op": "eq", "value": "C"},
        {"fact": "efficiency_grade", "op": "ne", "value": "A"},
    ]
    rs = random.Random(seed)

    def group(depth=0):
        parts = [rs.choice(pool) for _ in range(rs.randint(2, 3))]
        if depth < 2 and rs.random() < 0.5:
            parts.append(group(depth + 1))
        return {rs.choice(["any", "all"]): parts}

    formulas = [
        None,
        "50",
        "round(min(revenue_wan * 0.002, 30), 1)",
        "max(min(tax_wan * 0.1, 200), 5)",
        "round(rd_spend_wan / 7, 2)",
        "min(employees * 0.5, 100) + max(age_years - 10, 0)",
        "value_added_wan / (revenue_wan - output_wan)",
        "round(-output_wan / 400)",
    ]
    docs = []
    for i in range(n):
        if i < len(pool):  # each pool condition alone, then with a second one
            conds = [pool[i]] if i % 2 else [pool[i], pool[(i * 7) % len(pool)]]
        else:
            conds = rs.sample(pool, rs.randint(1, 4))
            if rs.random() < 0.4:
                conds.insert(rs.randrange(len(conds) + 1), group())
        start = dt.date(2023, 1, 1) + dt.timedelta(days=rs.randrange(0, 1200))
        end = None if rs.random() < 0.3 else start + dt.timedelta(days=rs.randrange(200, 1500))
        formula = formulas[i % len(formulas)]
        docs.append(
            {
                "code": f"GEN-{i:03d}",
                "title": f"Generated {i}",
                "level": "district",
                "type": "basic",
                "issuer": "test",
                "valid_from": start.isoformat(),
                "valid_to": end.isoformat() if end else None,
                "conditions": conds,
                "benefit": {"formula": formula, "unit": "wan"} if formula else None,
                "tests": [],
            }
        )
    return docs


def _ops(node, acc):
    if isinstance(node, conditions.Group):
        acc["group_" + node.kind] += 1
        for p in node.parts:
            _ops(p, acc)
    else:
        acc[node.op] += 1
        acc["fact:" + node.fact] += 1
    return acc


def _store(docs):
    for d in docs:
        p = Policy.objects.create(
            code=d["code"], title=d["title"], level="district", policy_type="basic"
        )
        v = PolicyVersion.objects.create(
            policy=p,
            number=1,
            document=d,
            digest=hashlib.sha256(json.dumps(d).encode()).hexdigest(),
        )
        p.current = v
        p.save()


def test_engine_agrees_with_the_reference_on_the_demo_district():
    write(tiny_district(), history=False)
    scope = Scope(
        user_id=None,
        role="operator",
        sees_resources=True,
        sensitive_org_ids=None,
        editable_kinds=frozenset({"indicators"}),
    )
    efficiency.evaluate(year=2024, ruleset=settings.INVESTMAP_EFFICIENCY_RULESET, scope=scope)
    docs = policies()
    used = Counter()
    for d in docs:
        for node in engine.compile_policy(d).conditions:
            _ops(node, used)
    assert set(conditions.OPS) <= set(used) and used["group_any"] and used["group_all"]
    assert {f"fact:{f}" for f in conditions.FACTS} <= set(used)

    for as_of in DATES:
        # facts: the SQL definitions equal the Python ones, for every firm
        table = engine.facts_table(as_of=as_of)
        assert table == facts.facts_for(None, as_of)
        assert len(table) == Enterprise.objects.count() > 200
        grades = Counter(v["efficiency_grade"] for _c, v in table.values())
        assert len(grades) >= 4, grades  # A–D and unknown all occur

        # every pair
        eng = engine.match_policy(documents=docs, as_of=as_of)
        ref = reference.match_policy(documents=docs, as_of=as_of, facts_table=table)
        problems = reference.compare(eng, ref)
        assert not problems, f"{as_of}: {len(problems)} differences:\n" + "\n".join(problems[:30])
        assert [(r["policy"], r["credit_code"]) for r in eng] == [
            (r["policy"], r["credit_code"]) for r in ref
        ]
        live = {r["policy"] for r in eng}
        assert 20 < len(live) < len(docs)  # some policies are out of force at each date
        results = Counter(r["result"] for r in eng)
        assert min(results.values()) >= 50, results
        assert sum(r["near_miss"] for r in eng) >= 50
        assert sum(r["amount_wan"] is not None for r in eng) >= 50
        assert any(r["result"] == "eligible" and r["amount_wan"] is None for r in eng)
        assert any(len(r["unknown"]) >= 2 for r in eng)

        # what is stored (bitsets)
        stored = engine.evaluate_stored(documents=docs, as_of=as_of)
        assert (
            reference.compare(
                stored, [r for r in ref if r["result"] == "eligible" or r["near_miss"]]
            )
            == []
        )

        # the same through the ORM path (inside a transaction, rows handed over)
        with transaction.atomic():
            assert engine.match_policy(documents=docs[:20], as_of=as_of) == [
                r for r in eng if r["policy"] in {d["code"] for d in docs[:20]}
            ]
            some = sorted(table)[::7]
            inside = engine.evaluate_stored(documents=docs, as_of=as_of, enterprise_ids=some)
        assert (
            reference.compare(inside, [r for r in stored if r["enterprise_id"] in set(some)]) == []
        )

    # refresh writes exactly the reference's stored rows
    _store(docs)
    as_of = DATES[-1]
    out = engine.refresh(as_of=as_of)
    ref = reference.stored(documents=docs, as_of=as_of)
    assert out["inserted"] == len(ref) == PolicyMatch.objects.count()
    written = [
        {
            "policy": m.version.policy.code,
            "enterprise_id": m.enterprise_id,
            "result": m.result,
            "near_miss": m.near_miss,
            "failed": m.failed,
            "unknown": m.unknown,
            "amount_wan": m.amount_wan,
        }
        for m in PolicyMatch.objects.select_related("version__policy")
    ]
    assert reference.compare(written, ref) == []
