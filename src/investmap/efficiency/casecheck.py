"""Run a ruleset's own YAML cases (input figures → expected scores, grades) through the engine.

A case lists `enterprises` (credit_code, scale, industry_code, tenants and the
yearly figures; absent figures are unknown) and `expect`ed results; only the
keys an expectation names are compared, numbers within TOLERANCE (the cases
write them to 4 decimals). `absent` lists enterprises that must not be
evaluated at all (outside every population).
"""

from __future__ import annotations

from .evaluation import evaluate_rows
from .rules import Ruleset

TOLERANCE = 1e-3
COMPARED = {
    "status",
    "population",
    "group",
    "score",
    "deduction",
    "rank",
    "grade",
    "missing",
    "filled",
    "indicator_scores",
    "indicator_values",
    "population_size",
}


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= TOLERANCE


def _compare(where: str, key: str, got, want) -> list[str]:
    if key in ("indicator_scores", "indicator_values"):
        got = got or {}
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{where}: {key}.{k} expected {v}, got nothing")
            elif not _close(got[k], v):
                out.append(f"{where}: {key}.{k} expected {v}, got {got[k]}")
        return out
    if key in ("missing", "filled"):
        return (
            []
            if sorted(got or []) == sorted(want or [])
            else [f"{where}: {key} expected {want}, got {got}"]
        )
    if key in ("score", "deduction"):
        return [] if _close(got, want) else [f"{where}: {key} expected {want}, got {got}"]
    return [] if got == want else [f"{where}: {key} expected {want!r}, got {got!r}"]


def run_case(ruleset: Ruleset, case: dict) -> list[str]:
    """The problems of one case (empty when it passes)."""
    name = case.get("name", "?")
    out = evaluate_rows(ruleset, case.get("enterprises") or [])
    by_code = {r["credit_code"]: r for r in out}
    problems = []
    for want in case.get("expect") or []:
        code = want.get("credit_code")
        where = f"{ruleset.name} / {name} / {code}"
        got = by_code.get(code)
        if got is None:
            problems.append(f"{where}: not evaluated")
            continue
        for key, value in want.items():
            if key == "credit_code":
                continue
            if key not in COMPARED:
                problems.append(
                    f"{where}: unknown expectation {key!r}; accepted: {', '.join(sorted(COMPARED))}"
                )
                continue
            problems += _compare(where, key, got.get(key), value)
    for code in case.get("absent") or []:
        if code in by_code:
            problems.append(f"{ruleset.name} / {name} / {code}: should be outside every population")
    return problems


def check_ruleset(ruleset: Ruleset) -> list[str]:
    problems = []
    if not ruleset.tests:
        problems.append(f"{ruleset.name}: ships no test cases")
    for case in ruleset.tests:
        problems += run_case(ruleset, case)
    return problems
