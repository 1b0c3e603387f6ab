"""Policy conditions as data: validated, evaluated in Python, compiled to SQL.

A condition is ``{fact, op, value}`` or a group ``{"any": [...]}`` /
``{"all": [...]}``; a policy's conditions are a list that must all hold.
Evaluation is three-valued (Kleene), the same in Python and in SQL:

* a leaf whose fact is unknown (None / NULL) is unknown — never read as 0;
* ``all``: false if any part is false, else unknown if any is unknown, else true;
* ``any``: true if any part is true, else unknown if any is unknown, else false.

A pair (policy, enterprise) is ``ineligible`` when a top-level condition is
false, otherwise ``insufficient_data`` when one is unknown, otherwise
``eligible``. ``failed`` lists the top-level conditions that are false,
``unknown`` the facts that are missing in the conditions left undecided. A near
miss is an ineligible pair with exactly one failed condition and no unknown fact.

SQL's own AND/OR/NOT over NULL are Kleene logic, so the compiled expression is
the plain translation; `tests/policies` checks both forms on the same rows.
This module imports no models: the engine's helper process unpickles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Facts of an enterprise: name → kind (str, num, list).
FACTS = {
    "industry_code": "str",
    "scale": "str",
    "town": "str",
    "park": "str",
    "age_years": "num",
    "certifications": "list",
    "employees": "num",
    "revenue_wan": "num",
    "tax_wan": "num",
    "rd_spend_wan": "num",
    "rd_intensity": "num",
    "value_added_wan": "num",
    "output_wan": "num",
    "efficiency_grade": "str",
}
# op → the fact kinds it applies to and the shape of its value.
OPS = {
    "eq": ({"str", "num"}, "scalar"),
    "ne": ({"str", "num"}, "scalar"),
    "in": ({"str", "num"}, "list"),
    "not_in": ({"str", "num"}, "list"),
    "ge": ({"num"}, "number"),
    "le": ({"num"}, "number"),
    "gt": ({"num"}, "number"),
    "lt": ({"num"}, "number"),
    "starts_with_any": ({"str"}, "strings"),
    "contains": ({"list"}, "string"),
}
GROUPS = ("any", "all")
MAX_DEPTH = 6
MAX_NODES = 200


class ConditionError(ValueError):
    """Every problem of a condition list, each with its path (e.g. conditions[2].any[0].op)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Leaf:
    fact: str
    op: str
    value: object

    def facts(self) -> set[str]:
        return {self.fact}


@dataclass(frozen=True)
class Group:
    kind: str  # any | all
    parts: tuple

    def facts(self) -> set[str]:
        out: set[str] = set()
        for p in self.parts:
            out |= p.facts()
        return out


# --- validation ---------------------------------------------------------------


def _scalar(v) -> bool:
    return (isinstance(v, str) and v != "") or (
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    )


def _check_value(kind: str, shape: str, value, path: str, problems: list[str]):
    def bad(msg):
        problems.append(f"{path}.value: {msg}")

    if shape == "scalar":
        if not _scalar(value):
            return bad("must be a text or a number")
        if kind == "num" and isinstance(value, str):
            return bad("must be a number for a numeric fact")
        if kind == "str" and not isinstance(value, str):
            return bad("must be a text for a text fact (quote codes such as '3670')")
        return value
    if shape == "number":
        if not (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            return bad("must be a number")
        return float(value)
    if shape in ("list", "strings"):
        if not isinstance(value, list) or not value:
            return bad("must be a non-empty list")
        for i, v in enumerate(value):
            if shape == "strings" or kind == "str":
                if not isinstance(v, str) or not v:
                    return bad(f"item {i} must be a non-empty text")
            elif not _scalar(v) or isinstance(v, str):
                return bad(f"item {i} must be a number")
        return tuple(value)
    if shape == "string":
        if not isinstance(value, str) or not value:
            return bad("must be a non-empty text (one item of the list)")
        return value
    raise AssertionError(shape)


def _parse(raw, path: str, problems: list[str], depth: int, count: list[int]):
    count[0] += 1
    if count[0] > MAX_NODES:
        if count[0] == MAX_NODES + 1:
            problems.append(f"{path}: more than {MAX_NODES} conditions")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be {{fact, op, value}} or {{any: [...]}} / {{all: [...]}}")
        return None
    group_keys = [k for k in GROUPS if k in raw]
    if group_keys:
        if len(raw) != 1:
            problems.append(f"{path}: a group has exactly one key, 'any' or 'all'")
            return None
        kind = group_keys[0]
        items = raw[kind]
        if depth >= MAX_DEPTH:
            problems.append(f"{path}: groups nest at most {MAX_DEPTH} deep")
            return None
        if not isinstance(items, list) or not items:
            problems.append(f"{path}.{kind}: must be a non-empty list of conditions")
            return None
        parts = [
            _parse(x, f"{path}.{kind}[{i}]", problems, depth + 1, count)
            for i, x in enumerate(items)
        ]
        if any(p is None for p in parts):
            return None
        return Group(kind, tuple(parts))
    extra = sorted(set(raw) - {"fact", "op", "value", "note"})
    if extra:
        problems.append(
            f"{path}: unknown key(s) {', '.join(extra)}; a condition has fact, op, value (and note)"
        )
        return None
    fact, op = raw.get("fact"), raw.get("op")
    ok = True
    if fact not in FACTS:
        problems.append(f"{path}.fact: '{fact}' is not a fact; accepted: {', '.join(FACTS)}")
        ok = False
    if op not in OPS:
        problems.append(f"{path}.op: '{op}' is not an op; accepted: {', '.join(OPS)}")
        ok = False
    if not ok:
        return None
    kinds, shape = OPS[op]
    if FACTS[fact] not in kinds:
        problems.append(
            f"{path}.op: '{op}' does not apply to {fact} ({FACTS[fact]}); "
            f"accepted for it: {', '.join(o for o, (k, _s) in OPS.items() if FACTS[fact] in k)}"
        )
        return None
    if "value" not in raw:
        problems.append(f"{path}.value: missing")
        return None
    before = len(problems)
    value = _check_value(FACTS[fact], shape, raw["value"], path, problems)
    if len(problems) > before:
        return None
    return Leaf(fact, op, value)


def parse(raw, path: str = "conditions") -> tuple:
    """Validate a list of conditions; ConditionError lists every problem with its path."""
    problems: list[str] = []
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConditionError([f"{path}: must be a list of conditions"])
    count = [0]
    parsed = [_parse(x, f"{path}[{i}]", problems, 0, count) for i, x in enumerate(raw)]
    if problems:
        raise ConditionError(problems)
    return tuple(parsed)


def to_data(node) -> dict:
    if isinstance(node, Group):
        return {node.kind: [to_data(p) for p in node.parts]}
    value = list(node.value) if isinstance(node.value, tuple) else node.value
    return {"fact": node.fact, "op": node.op, "value": value}


# --- Python evaluation (the reference) --------------------------------------------


def _leaf(node: Leaf, facts: dict):
    v = facts.get(node.fact)
    if v is None:
        return None
    op, w = node.op, node.value
    if op == "eq":
        return v == w
    if op == "ne":
        return v != w
    if op == "in":
        return v in w
    if op == "not_in":
        return v not in w
    if op == "ge":
        return v >= w
    if op == "le":
        return v <= w
    if op == "gt":
        return v > w
    if op == "lt":
        return v < w
    if op == "starts_with_any":
        return any(str(v).startswith(p) for p in w)
    if op == "contains":
        return w in v
    raise AssertionError(op)


def truth(node, facts: dict):
    """True, False or None (unknown) for one condition over the facts."""
    if isinstance(node, Leaf):
        return _leaf(node, facts)
    values = [truth(p, facts) for p in node.parts]
    if node.kind == "all":
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _missing(node, facts: dict) -> set[str]:
    """Facts that are missing in the undecided parts of a condition."""
    if truth(node, facts) is not None:
        return set()
    if isinstance(node, Leaf):
        return {node.fact}
    out: set[str] = set()
    for p in node.parts:
        out |= _missing(p, facts)
    return out


@dataclass(frozen=True)
class Outcome:
    result: str  # eligible | ineligible | insufficient_data
    failed: tuple[int, ...]  # indexes of the top-level conditions that are false
    unknown: tuple[str, ...]  # missing facts, sorted

    @property
    def near_miss(self) -> bool:
        return self.result == "ineligible" and len(self.failed) == 1 and not self.unknown


def evaluate(conditions: tuple, facts: dict) -> Outcome:
    values = [truth(c, facts) for c in conditions]
    failed = tuple(i for i, v in enumerate(values) if v is False)
    unknown: set[str] = set()
    for c, v in zip(conditions, values, strict=True):
        if v is None:
            unknown |= _missing(c, facts)
    if failed:
        result = "ineligible"
    elif unknown:
        result = "insufficient_data"
    else:
        result = "eligible"
    return Outcome(result, failed, tuple(sorted(unknown)))


# --- SQL (DuckDB) -------------------------------------------------------------------


def literal(v) -> str:
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, bool):
        raise TypeError("booleans are not condition values")
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _column(fact: str) -> str:
    assert fact in FACTS
    return f'"{fact}"'


def sql(node) -> str:
    """The condition as a DuckDB boolean expression (NULL when unknown)."""
    if isinstance(node, Group):
        joiner = " AND " if node.kind == "all" else " OR "
        return "(" + joiner.join(sql(p) for p in node.parts) + ")"
    col, op, w = _column(node.fact), node.op, node.value
    simple = {"eq": "=", "ne": "<>", "ge": ">=", "le": "<=", "gt": ">", "lt": "<"}
    if op in simple:
        return f"({col} {simple[op]} {literal(w)})"
    if op in ("in", "not_in"):
        items = ", ".join(literal(x) for x in w)
        return f"({col} {'NOT IN' if op == 'not_in' else 'IN'} ({items}))"
    if op == "starts_with_any":
        return "(" + " OR ".join(f"starts_with({col}, {literal(p)})" for p in w) + ")"
    if op == "contains":
        return f"list_contains({col}, {literal(w)})"
    raise AssertionError(op)


def missing_sql(node) -> str:
    """A DuckDB list of the facts missing in the undecided parts of a condition."""
    if isinstance(node, Leaf):
        return f"CASE WHEN {_column(node.fact)} IS NULL THEN ['{node.fact}'] ELSE []::VARCHAR[] END"
    parts = " || ".join(missing_sql(p) for p in node.parts) or "[]::VARCHAR[]"
    return f"CASE WHEN {sql(node)} IS NULL THEN {parts} ELSE []::VARCHAR[] END"
