"""Formulas as data: parsed without eval, missing and ÷0 never read as zero, SQL = Python."""

import math

import duckdb
import pytest

from investmap.core.formula import Formula, FormulaError


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        ("a / b", {"a": 6, "b": 3}, 2.0),
        ("a + b * c", {"a": 1, "b": 2, "c": 3}, 7.0),
        ("(a + b) * c", {"a": 1, "b": 2, "c": 3}, 9.0),
        ("-a - -b", {"a": 1, "b": 4}, 3.0),
        ("a - b - c", {"a": 10, "b": 3, "c": 2}, 5.0),
        ("a / b / c", {"a": 12, "b": 3, "c": 2}, 2.0),
        ("min(a, 1) * 10 + max(a - 1, 0) * 5", {"a": 0}, 0.0),
        ("min(a, 1) * 10 + max(a - 1, 0) * 5", {"a": 1}, 10.0),
        ("min(a, 1) * 10 + max(a - 1, 0) * 5", {"a": 3}, 20.0),
        ("round(a, 2)", {"a": 2.345}, 2.35),
        ("round(a)", {"a": -2.5}, -3.0),
        ("1.5e2 + .5", {}, 150.5),
        ("tax_wan * 10000 / electricity_kwh", {"tax_wan": 50, "electricity_kwh": 2e6}, 0.25),
    ],
)
def test_evaluate(text, facts, expected):
    assert Formula(text).evaluate(facts) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("a / b", {"a": 1, "b": None}),
        ("a / b", {"a": 1}),
        ("a / b", {"a": 1, "b": 0}),
        ("min(a, b)", {"a": 1, "b": None}),
        ("max(a, 2)", {"a": None}),
        ("a * 0", {"a": None}),
    ],
)
def test_missing_or_zero_divisor_is_missing_not_zero(text, facts):
    assert Formula(text).evaluate(facts) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("a +", "expected a number"),
        ("a b", "unexpected 'b'"),
        ("(a", "expected ')'"),
        ("__import__('os')", "unexpected character"),
        ("__import__(a)", "unknown function '__import__'"),
        ("a ** 2", "expected a number"),
        ("a; b", "unexpected character"),
        ("sqrt(a)", "unknown function 'sqrt'"),
        ("round(a, b)", "digits must be a number"),
        ("min()", "expected a number"),
        ("x" * 600, "longer than"),
    ],
)
def test_bad_formulas_name_the_problem(text, fragment):
    with pytest.raises(FormulaError) as exc:
        Formula(text)
    assert fragment in str(exc.value)


def test_allowed_names_are_checked():
    with pytest.raises(FormulaError, match="unknown name\\(s\\) secret; allowed: a, b"):
        Formula("a + secret", allowed={"a", "b"})
    f = Formula("a / (b - 1) + c / d", allowed={"a", "b", "c", "d"})
    assert f.names == {"a", "b", "c", "d"}
    assert f.divisors == {"d"}  # only a bare name as divisor


FACT_ROWS = [
    {"a": 6.0, "b": 3.0, "c": 0.0},
    {"a": None, "b": 3.0, "c": 1.0},
    {"a": 2.5, "b": 0.0, "c": -1.5},
    {"a": -7.25, "b": 2.0, "c": None},
]


@pytest.mark.parametrize(
    "text",
    [
        "a / b",
        "a + b * c",
        "min(a, b, c)",
        "max(a, c) - min(b, 0)",
        "round(a / b, 1)",
        "round(c)",
        "-(a - b) / (c + 1)",
    ],
)
def test_sql_agrees_with_python(text):
    f = Formula(text)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INT, a DOUBLE, b DOUBLE, c DOUBLE)")
    for i, r in enumerate(FACT_ROWS):
        con.execute("INSERT INTO t VALUES (?, ?, ?, ?)", [i, r["a"], r["b"], r["c"]])
    got = dict(con.execute(f"SELECT i, {f.sql()} FROM t ORDER BY i").fetchall())
    for i, r in enumerate(FACT_ROWS):
        want = f.evaluate(r)
        if want is None:
            assert got[i] is None, (text, r)
        else:
            assert got[i] is not None and math.isclose(got[i], want, rel_tol=1e-12, abs_tol=1e-12)
