"""Policy documents: read a YAML or JSON file of policies, validate each, run its own tests.

The format is fixed by issue 6 and described in docs/policy-format.md. A file
holds a list of policies; each is checked on its own and every problem is
reported as a `Problem` naming the policy (index in the file and code), the
path inside it (``conditions[0].op``), the bad value and what is accepted.
Conditions are validated by `conditions.parse`, the benefit formula by
`core.formula.Formula` over the numeric facts (never Python's eval), and then
the policy's own ``tests`` run: each case's facts (a fact not given is
unknown) go through `conditions.evaluate` and, for an eligible result, the
benefit formula; a case whose result, amount (within 1e-6) or optional
near-miss / failed / unknown expectations differ refuses the policy.

Nothing here touches the database: `services.import_policies` writes.
The stored document is the policy as in the file, made JSON-safe (dates stay
the ISO texts they were written as); its digest is the SHA-256 of the
canonical JSON (sorted keys, no spaces), so a re-import of the same policy is
recognised whatever the file's layout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.dispatch import Signal
from django.utils.translation import gettext as _

from investmap.core.formula import Formula, FormulaError

from . import conditions as cond
from .choices import Level, MatchResult, PolicyType, Tag

# Sent after a successful (non-dry-run) import commits, once per import, with
# sender=Policy and codes=[the codes that were created or got a new version].
policy_changed = Signal()

EXAMPLES_DIR = Path(__file__).resolve().with_name("examples")
FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
NUMERIC_FACTS = frozenset(name for name, kind in cond.FACTS.items() if kind == "num")
AMOUNT_TOLERANCE = 1e-6

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INDUSTRY_RE = re.compile(r"^(?:[A-T]\d{0,4}|\d{2,4})$")
REQUIRED = ("code", "title", "level", "type", "issuer", "valid_from", "conditions", "tests")
OPTIONAL = (
    "valid_to",
    "published_on",
    "tags",
    "industries",
    "manual_conditions",
    "benefit",
    "text",
    "interpretation",
    "source_url",
    "note",
)
BENEFIT_KEYS = ("formula", "unit", "note")
CASE_KEYS = ("name", "facts", "expect", "amount", "near_miss", "failed", "unknown", "note")
EXTENSION_PREFIX = "x_"  # keys starting with x_ are kept in the document and otherwise ignored
MAX_LENGTHS = {"code": 60, "title": 300, "issuer": 200, "source_url": 500, "unit": 20}
VALUE_LIMIT = 80  # characters of a bad value repeated in a message


# --- problems -------------------------------------------------------------------


def shown(value):
    """A bad value as it is repeated in a message: scalars as they are, the rest as short JSON."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with where it is: policy index (0-based) and code, path inside it."""

    policy: int | None  # None: the file as a whole
    code: str | None
    path: str  # inside the policy, e.g. conditions[0].op; "" for the policy or the file
    value: object
    message: str

    def where(self) -> str:
        """``policies[2] (GX-01) conditions[0].op`` — the location in one line."""
        if self.policy is None:
            return self.path
        head = f"policies[{self.policy}]"
        if self.code:
            head += f" ({self.code})"
        return f"{head} {self.path}" if self.path else head

    def as_dict(self) -> dict:
        # row/field: the foundation's import error shape; policy/code/path: the same, split.
        return {
            "row": None,
            "field": self.where() or None,
            "policy": self.policy,
            "code": self.code,
            "path": self.path,
            "value": shown(self.value),
            "message": self.message,
        }

    def line(self, filename: str) -> str:
        """'FILE policies[2] (GX-01) conditions[0].op, value "x": message'."""
        return error_line(filename, self.as_dict())


def error_line(filename: str, error: dict) -> str:
    """One error of an import report (`Problem.as_dict()`) as a line a person can act on."""
    head = filename + (f" {error['field']}" if error.get("field") else "")
    if error.get("value") not in (None, ""):
        head += ", " + _("value %(value)s") % {
            "value": json.dumps(error["value"], ensure_ascii=False)
        }
    return f"{head}: {error['message']}"


class DocumentError(ValueError):
    """A document that cannot be used; `problems` lists every Problem."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.where()}: {p.message}" for p in problems))
        self.problems = problems


# --- reading the file -----------------------------------------------------------


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """Safe YAML without implicit timestamps (dates stay the texts they were written as,
    so a bad date is reported at its path), with YAML 1.2 booleans (only true/false:
    a case named `no` or a code `ON` stays a text), without anchors/aliases and with
    duplicate keys refused (PyYAML would silently keep the last)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_TIMESTAMP, _BOOL)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (*name) are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader, node):
    seen = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "in a mapping",
                seen[key],
                f"duplicate key {key!r}",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _json_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _json_constant(name):
    raise ValueError(f"{name} is not a number JSON accepts")


def _file_problem(message: str, value="") -> DocumentError:
    return DocumentError([Problem(None, None, "", value, message)])


def load(*, content: bytes, filename: str) -> list:
    """The raw list of policies in a YAML or JSON file; DocumentError when it cannot be read."""
    ext = os.path.splitext(filename.lower())[1]
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise _file_problem(
            _("a policy file must be %(accepted)s, not '%(ext)s'")
            % {"accepted": ", ".join(FORMATS), "ext": ext or filename}
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _file_problem(
            _("the file is not UTF-8 text (byte %(pos)d); save it as UTF-8") % {"pos": exc.start}
        ) from None
    if fmt == "json":
        try:
            data = json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
        except json.JSONDecodeError as exc:
            raise _file_problem(
                _("not valid JSON at line %(line)d, column %(col)d: %(reason)s")
                % {"line": exc.lineno, "col": exc.colno, "reason": exc.msg}
            ) from None
        except ValueError as exc:
            raise _file_problem(_("not valid JSON: %(reason)s") % {"reason": exc}) from None
    else:
        try:
            data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            if mark is not None:
                message = _("not valid YAML at line %(line)d, column %(col)d: %(reason)s") % {
                    "line": mark.line + 1,
                    "col": mark.column + 1,
                    "reason": reason,
                }
            else:
                message = _("not valid YAML: %(reason)s") % {"reason": reason}
            raise _file_problem(message) from None
    if isinstance(data, dict) and "code" in data:
        raise _file_problem(
            _("the file must hold a list of policies; put this one policy in a list ('- code: …')")
        )
    if not isinstance(data, list):
        raise _file_problem(
            _("the file must hold a list of policies (YAML: one '- code: …' item per policy)"),
            value=type(data).__name__ if data is not None else "",
        )
    if not data:
        raise _file_problem(_("the file holds no policies"))
    return data


# --- validated policies -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    index: int
    name: str
    facts: dict  # every fact; None where the case does not give it
    expect: str
    amount: float | None
    near_miss: bool | None = None
    failed: tuple[int, ...] | None = None
    unknown: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PolicyDoc:
    """One valid policy: its document (JSON-safe, as in the file), digest and parsed parts."""

    index: int
    code: str
    document: dict
    digest: str
    title: str
    level: str
    policy_type: str
    issuer: str
    valid_from: dt.date
    valid_to: dt.date | None
    published_on: dt.date | None
    tags: tuple[str, ...]
    industries: tuple[str, ...]
    text: str
    interpretation: str
    source_url: str
    note: str
    conditions: tuple
    manual_conditions: tuple[str, ...]
    benefit: Formula | None
    unit: str
    cases: tuple[Case, ...] = field(default_factory=tuple)

    def head_fields(self) -> dict:
        """The `Policy` head's fields (besides code, version, current and search_text)."""
        return {
            "title": self.title,
            "level": self.level,
            "policy_type": self.policy_type,
            "issuer": self.issuer,
            "published_on": self.published_on,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "tags": list(self.tags),
            "industries": list(self.industries),
            "text": self.text,
            "interpretation": self.interpretation,
            "source_url": self.source_url,
        }


def canonical_json(document: dict) -> str:
    return json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def digest_of(document: dict) -> str:
    """SHA-256 of the canonical JSON: the same policy gives the same digest whatever the layout."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


class _Checker:
    """Collects the problems of one policy."""

    def __init__(self, index: int, code: str | None):
        self.index, self.code = index, code
        self.problems: list[Problem] = []

    def fail(self, path: str, value, message: str) -> None:
        self.problems.append(Problem(self.index, self.code, path, value, message))

    def text(self, path, value, *, required=False, max_length=None) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(
                path, value, _("must be a non-empty text") if required else _("must be a text")
            )
            return ""
        if max_length and len(value) > max_length:
            self.fail(
                path,
                value,
                _("is %(n)d characters long; at most %(max)d are accepted")
                % {"n": len(value), "max": max_length},
            )
        return value.strip()

    def unknown_keys(self, path: str, raw: dict, accepted: tuple[str, ...]) -> None:
        for key in raw:
            if key not in accepted:
                self.fail(
                    f"{path}.{key}",
                    key,
                    _("unknown key; accepted: %(accepted)s") % {"accepted": ", ".join(accepted)},
                )

    def choice(self, path, value, enum) -> str:
        if value not in enum.values:
            self.fail(
                path,
                value,
                _("'%(value)s' is not accepted; accepted: %(accepted)s")
                % {"value": shown(value), "accepted": ", ".join(enum.values)},
            )
            return ""
        return value

    def date(self, path, value, *, required=False) -> dt.date | None:
        if value is None:
            if required:
                self.fail(path, value, _("missing; an ISO date YYYY-MM-DD, e.g. 2025-01-01"))
            return None
        if isinstance(value, str) and DATE_RE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, value, _("must be an ISO date YYYY-MM-DD that exists, e.g. 2025-01-01"))
        return None

    def texts(self, path, value, *, allowed=None, pattern=None, hint="") -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(path, value, _("must be a list"))
            return ()
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}[{i}]"
            if not isinstance(item, str) or not item.strip():
                self.fail(
                    ipath, item, _("must be a non-empty text") + (f" ({hint})" if hint else "")
                )
            elif allowed is not None and item not in allowed:
                self.fail(
                    ipath,
                    item,
                    _("'%(value)s' is not accepted; accepted: %(accepted)s")
                    % {"value": item, "accepted": ", ".join(allowed)},
                )
            elif pattern is not None and not pattern.match(item):
                self.fail(ipath, item, hint)
            elif item in out:
                self.fail(ipath, item, _("appears twice in the list"))
            else:
                out.append(item)
        return tuple(out)


def _jsonable(value, path: str, c: _Checker):
    """The value with only JSON types (dates → ISO text); problems for anything else."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            c.fail(path, str(value), _("must be a finite number"))
        return value
    if isinstance(value, dt.datetime):
        c.fail(path, str(value), _("must be an ISO date YYYY-MM-DD without a time"))
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v, f"{path}[{i}]", c) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                c.fail(f"{path}.{k}" if path else str(k), k, _("keys must be texts (quote them)"))
                continue
            out[k] = _jsonable(v, f"{path}.{k}" if path else k, c)
        return out
    c.fail(path, str(value), _("is not a text, number, list or mapping"))
    return None


_SEGMENT = re.compile(r"\.?([A-Za-z_][\w]*)|\[(\d+)\]")


def _lookup(document, path: str):
    """The value at a path such as conditions[0].any[1].value (None when absent)."""
    node = document
    for m in _SEGMENT.finditer(path):
        key, idx = m.group(1), m.group(2)
        try:
            node = node[key] if key is not None else node[int(idx)]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _check_benefit(c: _Checker, raw) -> tuple[Formula | None, str]:
    if raw is None:
        return None, ""
    if not isinstance(raw, dict):
        c.fail("benefit", raw, _("must be a mapping {formula, unit}"))
        return None, ""
    c.unknown_keys("benefit", raw, BENEFIT_KEYS)
    unit = c.text("benefit.unit", raw.get("unit"), required=True, max_length=MAX_LENGTHS["unit"])
    c.text("benefit.note", raw.get("note"))
    text = raw.get("formula")
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(text)  # a fixed amount written as a number
    if not isinstance(text, str):
        c.fail(
            "benefit.formula",
            text,
            _("must be a formula (text), e.g. min(rd_spend_wan * 0.1, 100)"),
        )
        return None, unit
    try:
        return Formula(text, allowed=NUMERIC_FACTS), unit
    except FormulaError as exc:
        c.fail(
            "benefit.formula",
            text,
            _(
                "%(reason)s (a formula is arithmetic + - * / and min, max, round over the "
                "numeric facts: %(facts)s)"
            )
            % {"reason": exc, "facts": ", ".join(sorted(NUMERIC_FACTS))},
        )
        return None, unit


def _case_fact(c: _Checker, path: str, name, value):
    kind = cond.FACTS.get(name)
    if kind is None:
        c.fail(
            path,
            name,
            _("'%(name)s' is not a fact; accepted: %(accepted)s")
            % {"name": shown(name), "accepted": ", ".join(cond.FACTS)},
        )
        return None
    if value is None:
        return None
    if kind == "num":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            c.fail(path, value, _("must be a number or null (unknown)"))
            return None
        return value
    if kind == "str":
        if not isinstance(value, str):
            c.fail(path, value, _("must be a text or null (unknown); quote codes such as '3670'"))
            return None
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        c.fail(path, value, _("must be a list of texts ([] is known: none) or null (unknown)"))
        return None
    return list(value)


def _check_case(c: _Checker, i: int, raw, n_conditions: int) -> Case | None:
    path = f"tests[{i}]"
    if not isinstance(raw, dict):
        c.fail(path, raw, _("must be a mapping {name, facts, expect, amount}"))
        return None
    before = len(c.problems)
    c.unknown_keys(path, raw, CASE_KEYS)
    name = c.text(f"{path}.name", raw.get("name"), max_length=200)
    c.text(f"{path}.note", raw.get("note"))
    facts_raw = raw.get("facts", {})
    facts = {name_: None for name_ in cond.FACTS}
    if not isinstance(facts_raw, dict):
        c.fail(f"{path}.facts", facts_raw, _("must be a mapping fact → value"))
    else:
        for k, v in facts_raw.items():
            value = _case_fact(c, f"{path}.facts.{k}", k, v)
            if k in facts:
                facts[k] = value
    if "expect" not in raw:
        c.fail(
            f"{path}.expect",
            None,
            _("missing; accepted: %(accepted)s") % {"accepted": ", ".join(MatchResult.values)},
        )
    expect = c.choice(f"{path}.expect", raw.get("expect"), MatchResult) if "expect" in raw else ""
    amount = raw.get("amount")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount)
    ):
        c.fail(f"{path}.amount", amount, _("must be a number or null (no amount)"))
    near_miss = raw.get("near_miss")
    if near_miss is not None and not isinstance(near_miss, bool):
        c.fail(f"{path}.near_miss", near_miss, _("must be true or false"))
    failed = raw.get("failed")
    if failed is not None:
        if not isinstance(failed, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and 0 <= x < n_conditions for x in failed
        ):
            c.fail(
                f"{path}.failed",
                failed,
                _("must be a list of condition indexes from 0 to %(last)d")
                % {"last": n_conditions - 1},
            )
        else:
            failed = tuple(sorted(set(failed)))
    unknown = raw.get("unknown")
    if unknown is not None:
        if not isinstance(unknown, list) or not all(x in cond.FACTS for x in unknown):
            c.fail(
                f"{path}.unknown",
                unknown,
                _("must be a list of facts; accepted: %(accepted)s")
                % {"accepted": ", ".join(cond.FACTS)},
            )
        else:
            unknown = tuple(sorted(set(unknown)))
    if len(c.problems) > before:
        return None
    return Case(
        index=i,
        name=name,
        facts=facts,
        expect=expect,
        amount=None if amount is None else float(amount),
        near_miss=near_miss,
        failed=failed,
        unknown=unknown,
    )


def check_policy(raw, index: int) -> tuple[PolicyDoc | None, list[Problem]]:
    """Validate one policy (not its tests); the PolicyDoc, or None and every problem."""
    code = raw.get("code") if isinstance(raw, dict) else None
    c = _Checker(index, code if isinstance(code, str) else None)
    if not isinstance(raw, dict):
        c.fail("", shown(raw), _("a policy must be a mapping with code, title, level, …"))
        return None, c.problems
    document = _jsonable(raw, "", c)
    for key in REQUIRED:
        if key not in raw:
            c.fail(
                key, None, _("missing (required keys: %(keys)s)") % {"keys": ", ".join(REQUIRED)}
            )
    for key in raw:
        if isinstance(key, str) and key not in REQUIRED + OPTIONAL:
            if not key.startswith(EXTENSION_PREFIX):
                c.fail(
                    key,
                    key,
                    _("unknown key; accepted: %(accepted)s (and your own keys starting with x_)")
                    % {"accepted": ", ".join(REQUIRED + OPTIONAL)},
                )
    if "code" in raw and not (isinstance(code, str) and CODE_RE.match(code)):
        c.fail(
            "code",
            code,
            _(
                "must be 1 to 60 letters, digits, '.', '_' or '-' starting with a letter or digit "
                "(it appears in links), e.g. KJ-2025-03"
            ),
        )
    title = c.text(
        "title", raw.get("title"), required="title" in raw, max_length=MAX_LENGTHS["title"]
    )
    level = c.choice("level", raw.get("level"), Level) if "level" in raw else ""
    policy_type = c.choice("type", raw.get("type"), PolicyType) if "type" in raw else ""
    issuer = c.text(
        "issuer", raw.get("issuer"), required="issuer" in raw, max_length=MAX_LENGTHS["issuer"]
    )
    valid_from = c.date("valid_from", raw.get("valid_from"), required="valid_from" in raw)
    valid_to = c.date("valid_to", raw.get("valid_to"))
    if valid_from and valid_to and valid_to < valid_from:
        c.fail(
            "valid_to",
            raw.get("valid_to"),
            _("is before valid_from %(from)s; it must be the same day or later")
            % {"from": valid_from.isoformat()},
        )
    published_on = c.date("published_on", raw.get("published_on"))
    tags = c.texts("tags", raw.get("tags"), allowed=Tag.values)
    industries = c.texts(
        "industries",
        raw.get("industries"),
        pattern=INDUSTRY_RE,
        hint=_(
            "a GB/T 4754 code prefix in quotes: 2 to 4 digits, optionally after the section letter, e.g. '38' or 'C3841'"
        ),
    )
    manual = c.texts("manual_conditions", raw.get("manual_conditions"))
    text = c.text("text", raw.get("text"))
    interpretation = c.text("interpretation", raw.get("interpretation"))
    note = c.text("note", raw.get("note"))
    source_url = c.text("source_url", raw.get("source_url"), max_length=MAX_LENGTHS["source_url"])
    if source_url:
        try:
            URLValidator(schemes=["http", "https"])(source_url)
        except ValidationError:
            c.fail("source_url", source_url, _("must be an http:// or https:// link"))
    parsed: tuple = ()
    if "conditions" in raw:
        raw_conditions = raw.get("conditions")
        if isinstance(raw_conditions, list) and not raw_conditions:
            c.fail(
                "conditions",
                None,
                _(
                    "must list at least one condition (a policy without any would match every enterprise)"
                ),
            )
        else:
            try:
                parsed = cond.parse(raw_conditions, path="conditions")
            except cond.ConditionError as exc:
                for problem in exc.problems:
                    path, _sep, message = problem.partition(": ")
                    c.fail(path, _lookup(raw, path), message)
    benefit, unit = _check_benefit(c, raw.get("benefit"))
    cases: list[Case] = []
    if "tests" in raw:
        raw_cases = raw.get("tests")
        if not isinstance(raw_cases, list) or not raw_cases:
            c.fail(
                "tests",
                None if raw_cases is None else shown(raw_cases),
                _(
                    "must list at least one case {name, facts, expect, amount}: a policy travels with its tests"
                ),
            )
        else:
            raw_conditions = raw.get("conditions")
            n_conditions = len(parsed) or (
                len(raw_conditions) if isinstance(raw_conditions, list) else 0
            )
            for i, rc in enumerate(raw_cases):
                case = _check_case(c, i, rc, n_conditions)
                if case is not None:
                    cases.append(case)
    if c.problems:
        return None, c.problems
    return (
        PolicyDoc(
            index=index,
            code=code,
            document=document,
            digest=digest_of(document),
            title=title,
            level=level,
            policy_type=policy_type,
            issuer=issuer,
            valid_from=valid_from,
            valid_to=valid_to,
            published_on=published_on,
            tags=tags,
            industries=industries,
            text=text,
            interpretation=interpretation,
            source_url=source_url,
            note=note,
            conditions=parsed,
            manual_conditions=manual,
            benefit=benefit,
            unit=unit,
            cases=tuple(cases),
        ),
        [],
    )


# --- evaluation and the policy's own tests -----------------------------------------------


def evaluate_pair(policy: PolicyDoc, facts: dict) -> tuple[cond.Outcome, float | None]:
    """The outcome over `facts` (a missing fact is unknown) and the amount when eligible."""
    full = {name: facts.get(name) for name in cond.FACTS}
    outcome = cond.evaluate(policy.conditions, full)
    amount = None
    if outcome.result == MatchResult.ELIGIBLE and policy.benefit is not None:
        amount = policy.benefit.evaluate(full)
    return outcome, amount


def describe(node) -> str:
    """A condition in one line: ``revenue_wan ge 2000``, ``any(…, …)``."""
    if isinstance(node, cond.Group):
        return f"{node.kind}(" + ", ".join(describe(p) for p in node.parts) + ")"
    value = list(node.value) if isinstance(node.value, tuple) else node.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{node.fact} {node.op} {json.dumps(value, ensure_ascii=False)}"


def _same_amount(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= AMOUNT_TOLERANCE


def _fmt(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def check_case(policy: PolicyDoc, case: Case) -> list[str]:
    """What differs between a case's expectations and the evaluation ([] when it passes)."""
    outcome, amount = evaluate_pair(policy, case.facts)
    diffs = []
    if outcome.result != case.expect:
        diffs.append(
            _("expected result %(expected)s, got %(got)s")
            % {"expected": case.expect, "got": outcome.result}
        )
    if not _same_amount(amount, case.amount):
        diffs.append(
            _("expected amount %(expected)s, got %(got)s")
            % {"expected": _fmt(case.amount), "got": _fmt(amount)}
        )
    if case.near_miss is not None and outcome.near_miss != case.near_miss:
        diffs.append(
            _("expected near_miss %(expected)s, got %(got)s")
            % {"expected": _fmt(case.near_miss), "got": _fmt(outcome.near_miss)}
        )
    if case.failed is not None and tuple(outcome.failed) != case.failed:
        diffs.append(
            _("expected failed %(expected)s, got %(got)s")
            % {"expected": list(case.failed), "got": list(outcome.failed)}
        )
    if case.unknown is not None and tuple(outcome.unknown) != case.unknown:
        diffs.append(
            _("expected unknown %(expected)s, got %(got)s")
            % {"expected": list(case.unknown), "got": list(outcome.unknown)}
        )
    if diffs:
        if outcome.failed:
            diffs.append(
                _("false: %(conditions)s")
                % {
                    "conditions": "; ".join(
                        f"conditions[{i}] {describe(policy.conditions[i])}" for i in outcome.failed
                    )
                }
            )
        if outcome.unknown:
            diffs.append(_("unknown: %(facts)s") % {"facts": ", ".join(outcome.unknown)})
    return diffs


def run_cases(policy: PolicyDoc) -> list[Problem]:
    """Run the policy's own tests; one Problem per failing case, naming it."""
    problems = []
    for case in policy.cases:
        diffs = check_case(policy, case)
        if diffs:
            problems.append(
                Problem(
                    policy.index,
                    policy.code,
                    f"tests[{case.index}]",
                    case.name,
                    _("this test case of the policy fails, so the policy is refused: %(diffs)s")
                    % {"diffs": "; ".join(diffs)},
                )
            )
    return problems


# --- the whole file -------------------------------------------------------------------


@dataclass
class ParsedFile:
    filename: str
    policies: list[PolicyDoc]  # the valid ones, in file order
    problems: list[Problem]
    count: int = 0  # policies in the file, valid or not
    invalid: set[int] = field(default_factory=set)  # indexes of refused policies

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_document(*, content: bytes, filename: str) -> ParsedFile:
    """Read, validate and test every policy of a file; never raises for bad input."""
    try:
        raw = load(content=content, filename=filename)
    except DocumentError as exc:
        return ParsedFile(filename=filename, policies=[], problems=exc.problems)
    result = ParsedFile(filename=filename, policies=[], problems=[], count=len(raw))
    first: dict[str, int] = {}
    for index, item in enumerate(raw):
        policy, problems = check_policy(item, index)
        if policy is not None:
            problems = run_cases(policy)
        code = item.get("code") if isinstance(item, dict) else None
        if isinstance(code, str) and code:
            if code in first:
                problems.append(
                    Problem(
                        index,
                        code,
                        "code",
                        code,
                        _(
                            "the code appears twice in the file (first at policies[%(first)d]); codes are unique"
                        )
                        % {"first": first[code]},
                    )
                )
            else:
                first[code] = index
        if problems:
            result.problems.extend(problems)
            result.invalid.add(index)
        else:
            result.policies.append(policy)
    return result


def compile_document(document: dict) -> PolicyDoc:
    """A stored document (PolicyVersion.document) as a PolicyDoc: its conditions, benefit
    formula and cases parsed. DocumentError when it is no longer valid."""
    policy, problems = check_policy(document, 0)
    if policy is None:
        raise DocumentError(problems)
    return policy


def example_files() -> list[Path]:
    """The shipped example policy files (examples/*.yaml), sorted."""
    return sorted(EXAMPLES_DIR.glob("*.yaml"))
