"""Arithmetic formulas as data: parsed once, checked, evaluated or compiled to SQL.

Rulesets (亩均 indicators, deductions) and later policy benefits write small
formulas over named facts, e.g. ``value_added_wan / energy_tce`` or
``min(tenants, 1) * 10 + max(tenants - 1, 0) * 5``. They are parsed here by a
hand-written recursive-descent parser — never Python's eval — into a tiny
tree that can be

* checked against the names a context allows (`Formula.names`),
* evaluated in Python over a dict of facts (`Formula.evaluate`), and
* compiled to a SQL expression for the analysis engine (`Formula.sql`).

Both evaluations follow the same rules, so the engine and a row-by-row
reference agree:

* a missing fact (None / SQL NULL) makes the result missing — never zero;
* a division by zero makes the result missing (`NULLIF` in SQL);
* `min(a, b, …)` and `max(…)` are missing when any argument is (unlike SQL's
  `least`/`greatest`, which skip NULLs);
* `round(x)` / `round(x, n)` round half away from zero in both.

Grammar::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FUNCTIONS = {"min": (1, None), "max": (1, None), "round": (1, 2)}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*/(),]))"
)
MAX_LENGTH = 500


class FormulaError(ValueError):
    """A formula that cannot be parsed or names something not allowed; `position` is 0-based."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Neg:
    arg: object


@dataclass(frozen=True)
class Bin:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple


def _tokens(text: str):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise FormulaError(
                f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos + 1}", pos
            )
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, value=None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            where = "the end" if tok[0] == "end" else f"{tok[1]!r} at {tok[2] + 1}"
            raise FormulaError(f"expected {value!r} but found {where}", tok[2])
        self.i += 1
        return tok

    def expr(self):
        node = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            node = Bin(op, node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()[1]
            node = Bin(op, node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("op", "-", self.peek()[2]):
            self.take()
            return Neg(self.unary())
        return self.atom()

    def atom(self):
        kind, value, pos = self.peek()
        if kind == "num":
            self.take()
            return Num(float(value))
        if kind == "name":
            self.take()
            if self.peek()[1] == "(":
                if value not in FUNCTIONS:
                    raise FormulaError(
                        f"unknown function {value!r} at {pos + 1}; allowed: {', '.join(FUNCTIONS)}",
                        pos,
                    )
                self.take("(")
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                lo, hi = FUNCTIONS[value]
                if len(args) < lo or (hi is not None and len(args) > hi):
                    raise FormulaError(
                        f"{value}() takes {lo}–{hi or 'any'} arguments, got {len(args)}", pos
                    )
                if value == "round" and len(args) == 2 and not isinstance(args[1], Num):
                    raise FormulaError("round()'s digits must be a number", pos)
                return Call(value, tuple(args))
            return Name(value)
        if value == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        where = "the end" if kind == "end" else f"{value!r} at {pos + 1}"
        raise FormulaError(f"expected a number, a name or '(' but found {where}", pos)


def _names(node, acc: set):
    if isinstance(node, Name):
        acc.add(node.name)
    elif isinstance(node, Neg):
        _names(node.arg, acc)
    elif isinstance(node, Bin):
        _names(node.left, acc)
        _names(node.right, acc)
    elif isinstance(node, Call):
        for a in node.args:
            _names(a, acc)
    return acc


def _divisors(node, acc: set):
    """Names that appear alone as a divisor (their zero makes the result missing)."""
    if isinstance(node, Bin):
        if node.op == "/" and isinstance(node.right, Name):
            acc.add(node.right.name)
        _divisors(node.left, acc)
        _divisors(node.right, acc)
    elif isinstance(node, Neg):
        _divisors(node.arg, acc)
    elif isinstance(node, Call):
        for a in node.args:
            _divisors(a, acc)
    return acc


def _round_half_away(x: float, digits: int) -> float:
    f = 10.0**digits
    return math.copysign(math.floor(abs(x) * f + 0.5), x) / f


def _eval(node, facts):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        v = facts.get(node.name)
        return None if v is None else float(v)
    if isinstance(node, Neg):
        v = _eval(node.arg, facts)
        return None if v is None else -v
    if isinstance(node, Bin):
        a, b = _eval(node.left, facts), _eval(node.right, facts)
        if a is None or b is None:
            return None
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return None if b == 0 else a / b
    args = [_eval(a, facts) for a in node.args]
    if any(a is None for a in args):
        return None
    if node.fn == "min":
        return min(args)
    if node.fn == "max":
        return max(args)
    return _round_half_away(args[0], int(args[1]) if len(args) > 1 else 0)


def _sql(node, column) -> str:
    if isinstance(node, Num):
        return repr(float(node.value))
    if isinstance(node, Name):
        return f"CAST({column(node.name)} AS DOUBLE)"
    if isinstance(node, Neg):
        return f"(-{_sql(node.arg, column)})"
    if isinstance(node, Bin):
        a, b = _sql(node.left, column), _sql(node.right, column)
        if node.op == "/":
            return f"({a} / NULLIF({b}, 0))"
        return f"({a} {node.op} {b})"
    args = [_sql(a, column) for a in node.args]
    if node.fn == "round":
        digits = int(node.args[1].value) if len(node.args) > 1 else 0
        x = args[0]
        return f"(sign({x}) * floor(abs({x}) * {10.0**digits!r} + 0.5) / {10.0**digits!r})"
    fn = "least" if node.fn == "min" else "greatest"
    nulls = " OR ".join(f"{a} IS NULL" for a in args)
    return f"(CASE WHEN {nulls} THEN NULL ELSE {fn}({', '.join(args)}) END)"


class Formula:
    """A parsed formula. `Formula("a / b", allowed={"a", "b"})` raises FormulaError when bad."""

    def __init__(self, text: str, *, allowed: set[str] | frozenset[str] | None = None):
        if not isinstance(text, str) or not text.strip():
            raise FormulaError("the formula is empty")
        if len(text) > MAX_LENGTH:
            raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters")
        self.text = text.strip()
        parser = _Parser(self.text)
        self.tree = parser.expr()
        kind, value, pos = parser.peek()
        if kind != "end":
            raise FormulaError(f"unexpected {value!r} at {pos + 1}", pos)
        self.names = frozenset(_names(self.tree, set()))
        self.divisors = frozenset(_divisors(self.tree, set()))
        if allowed is not None:
            unknown = sorted(self.names - set(allowed))
            if unknown:
                raise FormulaError(
                    f"unknown name(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
                )

    def evaluate(self, facts: dict) -> float | None:
        """The value over `facts` (name → number or None); None when missing or ÷0."""
        return _eval(self.tree, facts)

    def sql(self, column=lambda name: f'"{name}"') -> str:
        """A SQL expression; `column(name)` gives the SQL for a name (default: the quoted name)."""
        return _sql(self.tree, column)

    def __repr__(self):
        return f"Formula({self.text!r})"
