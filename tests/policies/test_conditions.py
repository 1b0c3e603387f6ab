"""Conditions as data: each op by hand, unknown facts, near misses, nested groups, errors with
paths — and the Python evaluation against the DuckDB SQL of the same conditions (hypothesis)."""

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investmap.policies import conditions as c
from investmap.policies.engine import _branch_sql, compile_policy
from investmap.policies.facts import FACT_TYPES

FIRM = {
    "industry_code": "3841",
    "scale": "above",
    "town": "T01",
    "park": "",
    "age_years": 5,
    "certifications": ["high_tech", "srdi"],
    "employees": 120.0,
    "revenue_wan": 2000.0,
    "tax_wan": 0.0,
    "rd_spend_wan": 60.0,
    "rd_intensity": 0.03,
    "value_added_wan": None,
    "output_wan": None,
    "efficiency_grade": "B",
}


def one(fact, op, value):
    return c.parse([{"fact": fact, "op": op, "value": value}])[0]


@pytest.mark.parametrize(
    "fact, op, value, expected",
    [
        ("scale", "eq", "above", True),
        ("scale", "eq", "below", False),
        ("employees", "eq", 120, True),  # 120 == 120.0
        ("scale", "ne", "below", True),
        ("scale", "ne", "above", False),
        ("town", "in", ["T01", "T02"], True),
        ("town", "in", ["T02"], False),
        ("town", "not_in", ["T02"], True),
        ("town", "not_in", ["T01", "T02"], False),
        ("employees", "in", [100, 120], True),
        ("revenue_wan", "ge", 2000, True),  # the boundary holds
        ("revenue_wan", "ge", 2000.01, False),
        ("revenue_wan", "gt", 2000, False),
        ("revenue_wan", "gt", 1999.99, True),
        ("revenue_wan", "le", 2000, True),
        ("revenue_wan", "lt", 2000, False),
        ("tax_wan", "lt", 1, True),  # a known zero is a value, not a missing one
        ("tax_wan", "ge", 0, True),
        ("rd_intensity", "ge", 0.03, True),
        ("age_years", "le", 5, True),
        ("age_years", "lt", 5, False),
        ("industry_code", "starts_with_any", ["38", "39"], True),
        ("industry_code", "starts_with_any", ["384"], True),
        ("industry_code", "starts_with_any", ["39", "3842"], False),
        ("certifications", "contains", "srdi", True),
        ("certifications", "contains", "little_giant", False),
        ("park", "in", ["P01"], False),  # in no park: known, so false, not unknown
        ("park", "not_in", ["P01"], True),
        ("efficiency_grade", "in", ["A", "B"], True),
        ("efficiency_grade", "not_in", ["C", "D"], True),
    ],
)
def test_each_op_by_hand(fact, op, value, expected):
    assert c.truth(one(fact, op, value), FIRM) is expected


@pytest.mark.parametrize("op, value", [("ge", 0), ("lt", 1e9), ("eq", 0), ("ne", 5), ("in", [0])])
def test_an_unknown_fact_is_unknown_never_zero(op, value):
    node = one("output_wan", op, value)
    assert c.truth(node, FIRM) is None
    o = c.evaluate((node,), FIRM)
    assert (o.result, o.failed, o.unknown, o.near_miss) == (
        "insufficient_data",
        (),
        ("output_wan",),
        False,
    )


def test_an_empty_certification_list_is_known():
    node = one("certifications", "contains", "high_tech")
    assert c.truth(node, {**FIRM, "certifications": []}) is False
    assert c.truth(node, {**FIRM, "certifications": None}) is None


def test_results_near_misses_and_the_missing_list():
    rev = {"fact": "revenue_wan", "op": "ge", "value": 5000}  # false (2000)
    cert = {"fact": "certifications", "op": "contains", "value": "high_tech"}  # true
    out = {"fact": "output_wan", "op": "ge", "value": 100}  # unknown
    va = {"fact": "value_added_wan", "op": "ge", "value": 1}  # unknown
    scale = {"fact": "scale", "op": "eq", "value": "below"}  # false

    o = c.evaluate(c.parse([cert]), FIRM)
    assert (o.result, o.failed, o.unknown, o.near_miss) == ("eligible", (), (), False)
    # one failed condition, nothing unknown: a near miss
    o = c.evaluate(c.parse([cert, rev]), FIRM)
    assert (o.result, o.failed, o.unknown, o.near_miss) == ("ineligible", (1,), (), True)
    # two failed: ineligible, not a near miss
    o = c.evaluate(c.parse([rev, cert, scale]), FIRM)
    assert (o.result, o.failed, o.near_miss) == ("ineligible", (0, 2), False)
    # one failed and one unknown: ineligible (a known failure wins), not a near miss,
    # and the missing fact is still listed
    o = c.evaluate(c.parse([out, rev]), FIRM)
    assert (o.result, o.failed, o.unknown, o.near_miss) == (
        "ineligible",
        (1,),
        ("output_wan",),
        False,
    )
    # nothing failed, two unknown: insufficient data, both listed once, sorted
    o = c.evaluate(c.parse([va, cert, out, {"all": [out, va]}]), FIRM)
    assert (o.result, o.failed, o.unknown) == (
        "insufficient_data",
        (),
        ("output_wan", "value_added_wan"),
    )
    # no conditions: everyone is eligible
    assert c.evaluate((), FIRM).result == "eligible"


def test_nested_groups_are_three_valued():
    t = {"fact": "scale", "op": "eq", "value": "above"}
    f = {"fact": "scale", "op": "eq", "value": "below"}
    u = {"fact": "output_wan", "op": "ge", "value": 1}
    cases = [
        ({"any": [f, t]}, True, set()),
        ({"any": [f, f]}, False, set()),
        ({"any": [f, u]}, None, {"output_wan"}),
        ({"any": [t, u]}, True, set()),  # decided: the unknown part does not matter
        ({"all": [t, t]}, True, set()),
        ({"all": [t, u]}, None, {"output_wan"}),
        ({"all": [f, u]}, False, set()),
        ({"all": [t, {"any": [f, {"all": [t, u]}]}]}, None, {"output_wan"}),
        ({"any": [{"all": [t, f]}, {"all": [t, {"any": [u, t]}]}]}, True, set()),
        ({"all": [{"any": [f, u]}, {"any": [f, {"fact": "value_added_wan", "op": "lt", "value": 3}]}]},
         None, {"output_wan", "value_added_wan"}),
    ]  # fmt: skip
    for raw, truth, missing in cases:
        node = c.parse([raw])[0]
        assert c.truth(node, FIRM) is truth, raw
        assert c._missing(node, FIRM) == missing, raw
    # a group that decides false lists nothing missing, and the pair is a near miss
    o = c.evaluate(c.parse([{"all": [f, u]}, t]), FIRM)
    assert (o.result, o.unknown, o.near_miss) == ("ineligible", (), True)


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("x", "conditions: must be a list"),
        ([{"fact": "turnover", "op": "ge", "value": 1}], "conditions[0].fact: 'turnover'"),
        ([{"fact": "revenue_wan", "op": "above", "value": 1}], "conditions[0].op: 'above'"),
        ([{"fact": "revenue_wan", "op": "contains", "value": "x"}], "conditions[0].op: 'contains'"),
        ([{"fact": "scale", "op": "ge", "value": 1}], "conditions[0].op: 'ge' does not apply"),
        ([{"fact": "revenue_wan", "op": "ge", "value": "1000"}], "conditions[0].value: must be a number"),
        ([{"fact": "revenue_wan", "op": "ge"}], "conditions[0].value: missing"),
        ([{"fact": "industry_code", "op": "eq", "value": 3311}], "conditions[0].value: must be a text"),
        ([{"fact": "town", "op": "in", "value": []}], "conditions[0].value: must be a non-empty list"),
        ([{"fact": "scale", "op": "eq", "value": "above", "extra": 1}], "conditions[0]: unknown key(s) extra"),
        ([{"any": []}], "conditions[0].any: must be a non-empty list"),
        ([{"any": [{"fact": "x", "op": "eq", "value": "y"}]}], "conditions[0].any[0].fact"),
        ([{"any": [{"all": [{"fact": "age_years", "op": "le", "value": True}]}]}],
         "conditions[0].any[0].all[0].value: must be a number"),
        ([{"any": [], "all": []}], "conditions[0]: a group has exactly one key"),
        ([{"fact": "employees", "op": "ge", "value": float("nan")}], "conditions[0].value: must be a number"),
    ],
)  # fmt: skip
def test_validation_errors_name_their_path(raw, problem):
    with pytest.raises(c.ConditionError) as e:
        c.parse(raw)
    assert any(p.startswith(problem) for p in e.value.problems), e.value.problems


def test_every_problem_is_reported():
    with pytest.raises(c.ConditionError) as e:
        c.parse(
            [
                {"fact": "nope", "op": "eq", "value": "x"},
                {"fact": "scale", "op": "eq", "value": "above"},
                {"any": [{"fact": "revenue_wan", "op": "ge", "value": "big"}]},
            ]
        )
    assert [p.split(":")[0] for p in e.value.problems] == [
        "conditions[0].fact",
        "conditions[2].any[0].value",
    ]


def test_depth_and_size_limits():
    deep = {"fact": "scale", "op": "eq", "value": "above"}
    for _ in range(c.MAX_DEPTH + 1):
        deep = {"any": [deep]}
    with pytest.raises(c.ConditionError, match="nest at most"):
        c.parse([deep])
    with pytest.raises(c.ConditionError, match="more than"):
        c.parse([{"fact": "scale", "op": "eq", "value": "above"}] * (c.MAX_NODES + 1))


# --- Python and SQL agree ----------------------------------------------------------------

STRINGS = {
    "industry_code": ["3311", "3841", "3842", "391", "C", "39"],
    "scale": ["above", "below"],
    "town": ["T01", "T02", "T'3"],  # a quote must survive the SQL literal
    "park": ["", "P01", "P02"],
    "efficiency_grade": ["A", "B", "C", "D"],
}
NUMBERS = [-1.5, 0.0, 0.03, 1.0, 2.0, 3.0, 50.0, 2000.0]
CERTS = ["high_tech", "srdi", "little_giant", "tech_sme"]
NUM_FACTS = [f for f, k in c.FACTS.items() if k == "num"]


def _value(kind, op, fact):
    if kind == "list":
        return st.sampled_from(CERTS)
    _kinds, shape = c.OPS[op]
    if kind == "str":
        pool = STRINGS[fact]
        if shape == "scalar":
            return st.sampled_from(pool).filter(bool)
        if shape == "strings":  # prefixes
            prefixes = ["3", "33", "38", "384", "39", "C", "T", "P0", "A"]
            return st.lists(st.sampled_from(prefixes), min_size=1, max_size=3)
        return st.lists(st.sampled_from([x for x in pool if x]), min_size=1, max_size=3)
    nums = st.sampled_from([*NUMBERS, 2, 3, 50])
    if shape in ("scalar", "number"):
        return nums
    return st.lists(nums, min_size=1, max_size=3)


@st.composite
def leaf(draw):
    fact = draw(st.sampled_from(sorted(c.FACTS)))
    kind = c.FACTS[fact]
    op = draw(st.sampled_from(sorted(o for o, (k, _s) in c.OPS.items() if kind in k)))
    return {"fact": fact, "op": op, "value": draw(_value(kind, op, fact))}


trees = st.recursive(
    leaf(),
    lambda children: st.builds(
        lambda kind, parts: {kind: parts},
        st.sampled_from(["any", "all"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=8,
)


@st.composite
def facts_row(draw):
    row = {}
    for fact, kind in c.FACTS.items():
        if draw(st.integers(0, 4)) == 0:
            row[fact] = None
        elif kind == "str":
            row[fact] = draw(st.sampled_from(STRINGS[fact]))
        elif kind == "num":
            row[fact] = draw(st.sampled_from(NUMBERS))
        else:
            row[fact] = draw(st.lists(st.sampled_from(CERTS), max_size=3, unique=True))
    return row


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect(":memory:")
    yield con
    con.close()


def _load(con, rows):
    cols = ", ".join(f'"{f}" {t}' for f, t in FACT_TYPES.items())
    con.execute(
        f"CREATE OR REPLACE TABLE pf (rn INTEGER, enterprise_id BIGINT, credit_code VARCHAR, {cols})"
    )
    con.executemany(
        f"INSERT INTO pf VALUES ({', '.join(['?'] * (3 + len(FACT_TYPES)))})",
        [[i, i, f"C{i}", *(r[f] for f in FACT_TYPES)] for i, r in enumerate(rows)],
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.lists(trees, min_size=0, max_size=4),
    rows=st.lists(facts_row(), min_size=1, max_size=12),
)
def test_python_and_sql_agree(duck, raw, rows):
    parsed = c.parse(raw)
    _load(duck, rows)
    # each condition: truth and the missing facts
    for node in parsed:
        got = duck.execute(f"SELECT rn, {c.sql(node)}, {c.missing_sql(node)} FROM pf ORDER BY rn")
        for rn, truth, missing in got.fetchall():
            assert truth == c.truth(node, rows[rn]), (c.to_data(node), rows[rn])
            assert set(missing) == c._missing(node, rows[rn]), (c.to_data(node), rows[rn])
    # the whole list, as the engine's all-results SQL assembles it
    policy = compile_policy({"code": "H", "conditions": raw})
    got = duck.execute(_branch_sql(0, policy) + " ORDER BY rn").fetchall()
    for _p, rn, failed, unknown, _amount in got:
        o = c.evaluate(parsed, rows[rn])
        assert tuple(int(x) for x in failed.split(",") if x) == o.failed
        assert tuple(x for x in unknown.split(",") if x) == o.unknown


FORMULAS = [
    None,
    "50",
    "round(min(revenue_wan * 0.01, 3), 1)",
    "max(employees, tax_wan) / rd_intensity",
]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    policies=st.lists(
        st.tuples(st.lists(trees, min_size=0, max_size=4), st.sampled_from(FORMULAS)),
        min_size=1,
        max_size=5,
    ),
    rows=st.lists(facts_row(), min_size=1, max_size=70),
)
def test_the_stored_pairs_job_agrees_with_python(duck, policies, rows):
    """The bitset job (value rows, SQL leaves, Kleene groups, all-but-one) stores exactly
    the eligible pairs and near misses conditions.evaluate finds, with Formula's amounts."""
    from investmap.policies.engine import stored_job

    _load(duck, rows)
    docs = [
        {"code": f"P{i}", "conditions": raw, "benefit": {"formula": f} if f else None}
        for i, (raw, f) in enumerate(policies)
    ]
    out = stored_job(duck, {"documents": docs, "facts_ready": True})
    for p, d in enumerate(docs):
        policy = compile_policy(d)
        want_eligible, want_near = {}, {}
        for rn, r in enumerate(rows):
            o = judge(policy, r)
            if o.result == "eligible":
                want_eligible[rn] = policy.benefit.evaluate(r) if policy.benefit else None
            elif o.near_miss:
                want_near[rn] = o.failed[0]
        got_eligible = out["eligible"][p].tolist()
        assert got_eligible == sorted(want_eligible)
        amounts = out["amounts"][p]
        for k, rn in enumerate(got_eligible):
            want = want_eligible[rn]
            got = None if amounts is None or amounts[k] != amounts[k] else float(amounts[k])
            assert (got is None) == (want is None) and (got is None or got == pytest.approx(want))
        assert (
            dict(zip(out["near"][p].tolist(), out["near_failed"][p].tolist(), strict=True))
            == want_near
        )


def judge(policy, facts):
    return c.evaluate(policy.conditions, facts)
