"""Standard-land (标准地) control indicators: the check at signing and at production.

A project on new industrial land commits, when it signs, to the control
indicators (控制指标) the county publishes for its industry: fixed-asset
investment intensity, tax per mu, output per mu, R&D share, energy per unit of
value added. The same check runs again on the actual figures when the project
reaches production (达产复核). The tables change by year and county, so they are
rulesets: YAML documents under `standard_land/` with their source and their own
test cases (docs/standard-land.md), like the 亩均 rulesets (rules.py).

`check(industry_code=, figures=, ruleset=)` finds the table row of the industry
(GB/T 4754 code prefixes, the longest matching prefix wins, else the table's
default row) and compares each figure the row sets. An indicator the row does
not set is skipped; a set indicator without a figure is missing (met None),
never read as 0. `passed` is False when a known figure fails, else None when a
figure is missing (or the industry has no indicators), else True.

`parse(text)` validates a document and raises `rules.RulesetError` with every
problem and its path (`rows[2].limits.tax_wan_per_mu: must be a number`).
Nothing here imports a Django model at import time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .rules import CODE_RE, RulesetError, _jsonable, _prefixes, digest_of, open_document, yaml_files
from .rules import Checker as _Checker

BUILTIN_DIR = Path(__file__).resolve().parent / "standard_land"
# Extra rulesets: `<dir>/standard_land/*.yaml` for each INVESTMAP_EFFICIENCY_RULESET_DIRS entry
# (a subdirectory, so the 亩均 rulesets of the same directory are not read as tables).
SUBDIR = "standard_land"
DEFAULT_RULESET = "wenling-dongbu-2021"
# Published limits are inclusive (≥, ≤); a relative tolerance absorbs float noise only.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class IndicatorDef:
    key: str
    label: object  # lazy translation
    unit: str
    op: str  # "ge": the figure must be at least the limit; "le": at most


INDICATORS = (
    IndicatorDef(
        "investment_intensity_wan_per_mu",
        gettext_lazy("Fixed-asset investment intensity"),
        "万元/亩",
        "ge",
    ),
    IndicatorDef("tax_wan_per_mu", gettext_lazy("Tax per mu"), "万元/亩·年", "ge"),
    IndicatorDef("output_wan_per_mu", gettext_lazy("Output per mu"), "万元/亩·年", "ge"),
    IndicatorDef("rd_share", gettext_lazy("R&D spend / revenue"), "", "ge"),
    IndicatorDef(
        "energy_tce_per_wan",
        gettext_lazy("Energy use per unit of value added"),
        "吨标煤/万元",
        "le",
    ),
)
BY_KEY = {i.key: i for i in INDICATORS}
FIGURES = tuple(BY_KEY)
# Tables often publish the reciprocal of an indicator: 单位能耗增加值 (万元 of value
# added per tonne of coal equivalent, at least X) is energy per value added at most 1/X.
INVERSE_FORMS = {"value_added_per_tce_wan": ("energy_tce_per_wan", "万元/吨标煤")}
LIMIT_KEYS = (*FIGURES, *INVERSE_FORMS)
FRACTIONS = ("rd_share",)


@dataclass(frozen=True)
class Limit:
    indicator: str
    value: float  # in the indicator's own unit, compared with `op`
    op: str
    published: float | None = None  # the table's own figure when it publishes another form
    published_key: str = ""
    published_unit: str = ""


@dataclass(frozen=True)
class Row:
    code: str
    label: str
    label_en: str
    industry_prefixes: tuple[str, ...]
    default: bool
    limits: tuple[Limit, ...]
    also_published: dict
    note: str

    def limit(self, key: str) -> Limit | None:
        return next((lim for lim in self.limits if lim.indicator == key), None)


@dataclass(frozen=True)
class StandardLand:
    name: str
    title: str
    title_en: str
    region: str
    year: int
    source: dict
    rows: tuple[Row, ...]
    cases: tuple[dict, ...]
    document: dict = field(repr=False)
    digest: str = ""

    def match(self, industry_code: str | None) -> tuple[Row | None, str | None]:
        """The row of an industry code and the prefix that matched (None for the default row)."""
        code = (industry_code or "").strip()
        best: tuple[Row | None, str | None] = (None, None)
        if code:
            for row in self.rows:
                for p in row.industry_prefixes:
                    if code.startswith(p) and (best[1] is None or len(p) > len(best[1])):
                        best = (row, p)
        if best[0] is None:
            default = next((r for r in self.rows if r.default), None)
            return default, None
        return best


# --- validation -----------------------------------------------------------------

_TOP = {"name", "title", "title_en", "region", "year", "source", "rows", "cases"}
_ROW = {
    "code",
    "label",
    "label_en",
    "industry_prefixes",
    "default",
    "limits",
    "also_published",
    "note",
}
_CASE = {"name", "industry_code", "figures", "expect"}
_EXPECT = {"passed", "group", "met", "missing", "items"}


def _limits(c: _Checker, path: str, raw) -> tuple[Limit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        c.fail(path, "must be a mapping of indicator → limit")
        return ()
    out: list[Limit] = []
    for key in raw:
        if key not in LIMIT_KEYS:
            c.fail(f"{path}.{key}", f"unknown indicator; accepted: {', '.join(LIMIT_KEYS)}")
    for key in LIMIT_KEYS:
        if key not in raw:
            continue
        value = c.number(f"{path}.{key}", raw[key], positive=True)
        if value is None:
            continue
        if key in FRACTIONS and value > 1:
            c.fail(f"{path}.{key}", f"must be a fraction (0.02 for 2%), got {raw[key]}")
            continue
        if key in INVERSE_FORMS:
            target, unit = INVERSE_FORMS[key]
            if target in raw:
                c.fail(f"{path}.{key}", f"give either {key} or {target}, not both")
                continue
            out.append(Limit(target, 1.0 / value, BY_KEY[target].op, value, key, unit))
        else:
            out.append(Limit(key, value, BY_KEY[key].op))
    order = {k: i for i, k in enumerate(FIGURES)}
    return tuple(sorted(out, key=lambda lim: order[lim.indicator]))


def _row(c: _Checker, path: str, raw) -> Row | None:
    if not c.keys(path, raw, _ROW, {"code", "label", "limits"}):
        return None
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        c.fail(f"{path}.code", "must be lower-case letters, digits and _ (starting with a letter)")
        code = str(code)
    default = raw.get("default", False)
    if not isinstance(default, bool):
        c.fail(f"{path}.default", "must be true or false")
        default = False
    prefixes = _prefixes(c, f"{path}.industry_prefixes", raw.get("industry_prefixes"))
    if default and prefixes:
        c.fail(
            f"{path}.industry_prefixes", "the default row takes every other industry: no prefixes"
        )
    if not default and not prefixes:
        c.fail(f"{path}.industry_prefixes", "must list at least one prefix (or set default: true)")
    also = raw.get("also_published") or {}
    if not isinstance(also, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in also.items()
    ):
        c.fail(f"{path}.also_published", "must map a published indicator to its value")
        also = {}
    return Row(
        code=code,
        label=c.text(f"{path}.label", raw.get("label")),
        label_en=str(raw.get("label_en") or raw.get("label") or code),
        industry_prefixes=prefixes,
        default=default,
        limits=_limits(c, f"{path}.limits", raw.get("limits")),
        also_published=_jsonable(also),
        note=c.text(f"{path}.note", raw.get("note"), required=False),
    )


def _case(c: _Checker, path: str, raw, row_codes: set[str]) -> None:
    if not c.keys(path, raw, _CASE, {"name", "figures", "expect"}):
        return
    code = raw.get("industry_code")
    if code is not None and not (isinstance(code, str) and code.isdigit()):
        c.fail(f"{path}.industry_code", "must be a GB/T 4754 code (digits, as text) or null")
    figures = raw.get("figures")
    if not isinstance(figures, dict):
        c.fail(f"{path}.figures", "must be a mapping of figure → number or null")
    else:
        for k, v in figures.items():
            if k not in FIGURES:
                c.fail(f"{path}.figures.{k}", f"unknown figure; accepted: {', '.join(FIGURES)}")
            elif v is not None:
                c.number(f"{path}.figures.{k}", v)
    expect = raw.get("expect")
    if not c.keys(f"{path}.expect", expect, _EXPECT, {"passed"}):
        return
    if expect.get("passed") not in (True, False, None):
        c.fail(f"{path}.expect.passed", "must be true, false or null")
    group = expect.get("group")
    if group is not None and group not in row_codes:
        c.fail(f"{path}.expect.group", f"must be null or one of {', '.join(sorted(row_codes))}")
    met = expect.get("met")
    if met is not None:
        if not isinstance(met, dict):
            c.fail(f"{path}.expect.met", "must map an indicator to true, false or null")
        else:
            for k, v in met.items():
                if k not in FIGURES:
                    c.fail(
                        f"{path}.expect.met.{k}",
                        f"unknown indicator; accepted: {', '.join(FIGURES)}",
                    )
                elif v not in (True, False, None):
                    c.fail(f"{path}.expect.met.{k}", "must be true, false or null")
    for key in ("missing", "items"):
        value = expect.get(key)
        if value is not None and (
            not isinstance(value, list) or any(v not in FIGURES for v in value)
        ):
            c.fail(f"{path}.expect.{key}", f"must be a list of {', '.join(FIGURES)}")


def parse(text: str, *, name_hint: str = "?") -> StandardLand:
    """Validate a standard-land table (YAML text); RulesetError lists every problem with its path."""
    doc, c, name = open_document(
        text,
        name_hint=name_hint,
        top=_TOP,
        required={"name", "title", "year", "source", "rows"},
        example="wenling-dongbu-2021",
    )
    year = doc.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        c.fail("year", "must be the year of the table, such as 2021")
    source = doc.get("source")
    if not isinstance(source, dict):
        c.fail("source", "must be a mapping with the title and url of the published table")
        source = {}
    else:
        if not source.get("title"):
            c.fail("source.title", "must name the document the table comes from")
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            c.fail("source.url", "must be the address (http…) where the table was published")
    rows: list[Row] = []
    items = doc.get("rows")
    if not isinstance(items, list) or not items:
        c.fail("rows", "must list at least one industry row")
        items = []
    for i, raw in enumerate(items):
        row = _row(c, f"rows[{i}]", raw)
        if row is not None:
            rows.append(row)
    codes = [r.code for r in rows]
    if len(set(codes)) != len(codes):
        c.fail("rows", "a row code appears twice")
    if sum(r.default for r in rows) > 1:
        c.fail("rows", "only one row may be the default")
    seen: dict[str, str] = {}
    for i, row in enumerate(rows):
        for p in row.industry_prefixes:
            if p in seen:
                c.fail(
                    f"rows[{i}].industry_prefixes",
                    f"prefix {p} is also in row {seen[p]}: an industry must have one row",
                )
            seen.setdefault(p, row.code)
    cases = doc.get("cases") or []
    if not isinstance(cases, list):
        c.fail("cases", "must be a list of cases")
        cases = []
    for i, raw in enumerate(cases):
        _case(c, f"cases[{i}]", raw, set(codes))
    if c.problems:
        raise RulesetError(str(name), c.problems)
    return StandardLand(
        name=name,
        title=str(doc["title"]),
        title_en=str(doc.get("title_en") or doc["title"]),
        region=str(doc.get("region") or ""),
        year=year,
        source=_jsonable(source),
        rows=tuple(rows),
        cases=tuple(_jsonable(cases)),
        document=_jsonable(doc),
        digest=digest_of(doc),
    )


# --- files ---------------------------------------------------------------------


def ruleset_dirs() -> list[Path]:
    extra = getattr(settings, "INVESTMAP_EFFICIENCY_RULESET_DIRS", ()) or ()
    return [BUILTIN_DIR, *(Path(d) / SUBDIR for d in extra)]


def available() -> dict[str, Path]:
    """Table name → its file (later directories override earlier ones)."""
    return yaml_files(ruleset_dirs())


@lru_cache(maxsize=32)
def _parsed(path: str, mtime_ns: int, size: int, name: str) -> StandardLand:
    ruleset = parse(Path(path).read_text(encoding="utf-8"), name_hint=name)
    if ruleset.name != name:
        raise RulesetError(
            name,
            [f"name: the file {Path(path).name} must be named after its table ({ruleset.name})"],
        )
    return ruleset


def load(name: str) -> StandardLand:
    """The table `name`; NotFound (listing the available ones) when there is none,
    RulesetError when its file is not valid."""
    path = available().get(name)
    if path is None:
        from investmap.resources.services import NotFound

        names = ", ".join(sorted(available())) or "—"
        raise NotFound(
            _("No standard-land ruleset named %(name)s; available: %(names)s")
            % {"name": name, "names": names},
            available=sorted(available()),
        )
    st = path.stat()
    return _parsed(str(path), st.st_mtime_ns, st.st_size, name)


def default_name() -> str:
    return getattr(settings, "INVESTMAP_STANDARD_LAND_RULESET", DEFAULT_RULESET)


# --- the check -----------------------------------------------------------------


def _figures(figures: dict) -> dict[str, float | None]:
    if not isinstance(figures, dict):
        raise ValueError("figures must be a mapping of figure → number or None")
    unknown = sorted(set(figures) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; accepted: {', '.join(FIGURES)}")
    out: dict[str, float | None] = {}
    for key in FIGURES:
        v = figures.get(key)
        if v is None:
            out[key] = None
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"figures.{key}: must be a finite number or None, got {v!r}")
        else:
            out[key] = float(v)
    return out


def _num(key: str, x: float) -> str:
    if key in FRACTIONS:
        return f"{x * 100:.4g}%"
    return f"{x:.6g}"


def _limit_text(ind: IndicatorDef, lim: Limit) -> str:
    text = f"{'≥' if lim.op == 'ge' else '≤'} {_num(ind.key, lim.value)}"
    if ind.unit and ind.key not in FRACTIONS:
        text += f" {ind.unit}"
    if lim.published is not None:
        text += ", " + _("published as ≥ %(value)s %(unit)s") % {
            "value": f"{lim.published:.6g}",
            "unit": lim.published_unit,
        }
    return text


def _met(value: float, lim: Limit) -> bool:
    slack = TOLERANCE * max(1.0, abs(lim.value))
    return value >= lim.value - slack if lim.op == "ge" else value <= lim.value + slack


def _item(lim: Limit, value: float | None) -> dict:
    ind = BY_KEY[lim.indicator]
    label = str(ind.label)
    limit_text = _limit_text(ind, lim)
    if value is None:
        met = None
        message = _("%(label)s: no figure, so it cannot be checked (the limit is %(limit)s)") % {
            "label": label,
            "limit": limit_text,
        }
    else:
        met = _met(value, lim)
        shown = _num(ind.key, value) + (
            f" {ind.unit}" if ind.unit and ind.key not in FRACTIONS else ""
        )
        message = (
            _("%(label)s %(value)s: met (%(limit)s)")
            if met
            else _("%(label)s %(value)s: not met (%(limit)s)")
        ) % {"label": label, "value": shown, "limit": limit_text}
    item = {
        "indicator": lim.indicator,
        "label": label,
        "unit": ind.unit,
        "value": value,
        "limit": lim.value,
        "op": lim.op,
        "met": met,
        "message": message,
    }
    if lim.published is not None:
        item.update(
            published_limit=lim.published,
            published_key=lim.published_key,
            published_unit=lim.published_unit,
        )
    return item


def _group(row: Row, prefix: str | None) -> dict:
    return {
        "code": row.code,
        "label": row.label,
        "label_en": row.label_en,
        "industry_prefixes": list(row.industry_prefixes),
        "default": row.default,
        "matched_prefix": prefix,
        "note": row.note,
    }


def evaluate(ruleset: StandardLand, *, industry_code: str | None, figures: dict) -> dict:
    """The check of one set of figures against a parsed table (see `check`)."""
    values = _figures(figures)
    row, prefix = ruleset.match(industry_code)
    out = {
        "ruleset": ruleset.name,
        "title": ruleset.title,
        "year": ruleset.year,
        "digest": ruleset.digest,
        "industry_code": industry_code or None,
        "industry_group": _group(row, prefix) if row is not None else None,
        "passed": None,
        "items": [],
        "missing": [],
        "message": "",
    }
    if row is None or not row.limits:
        message = _("No standard-land control indicators for industry %(code)s in %(ruleset)s.") % {
            "code": industry_code or "—",
            "ruleset": ruleset.name,
        }
        if row is not None and row.note:
            message += " " + row.note
        out["message"] = message
        return out
    items = [_item(lim, values[lim.indicator]) for lim in row.limits]
    failed = [i for i in items if i["met"] is False]
    missing = [i["indicator"] for i in items if i["met"] is None]
    if failed:
        passed = False
        message = _("Not met: %(labels)s.") % {"labels": ", ".join(i["label"] for i in failed)}
    elif missing:
        passed = None
        message = _("Cannot be decided: no figure for %(labels)s.") % {
            "labels": ", ".join(str(BY_KEY[k].label) for k in missing)
        }
    else:
        passed = True
        message = _("Every control indicator of %(group)s is met.") % {"group": row.label}
    out.update(passed=passed, items=items, missing=missing, message=message)
    return out


def check(
    *, industry_code: str | None, figures: dict[str, float | None], ruleset: str | None = None
) -> dict:
    """Check committed (at signing) or actual (达产复核) figures against the control
    indicators of the industry in table `ruleset` (default: settings.INVESTMAP_STANDARD_LAND_RULESET).

    `figures` takes the keys of FIGURES (absent = None = missing). Returns
    {"ruleset", "title", "year", "digest", "industry_code", "industry_group", "passed",
    "items": [{"indicator", "label", "unit", "value", "limit", "op", "met", "message"}],
    "missing", "message"}. Raises NotFound for an unknown table, RulesetError for an
    invalid one, ValueError for an unknown figure or a non-number.
    """
    return evaluate(load(ruleset or default_name()), industry_code=industry_code, figures=figures)


# --- reading and testing the tables ---------------------------------------------------


def describe(name: str) -> dict:
    """A table for a page or the API: name, year, source, indicators and rows with their limits."""
    r = load(name)
    rows = []
    for row in r.rows:
        limits = []
        for lim in row.limits:
            ind = BY_KEY[lim.indicator]
            entry = {
                "indicator": lim.indicator,
                "label": str(ind.label),
                "unit": ind.unit,
                "op": lim.op,
                "limit": lim.value,
                "text": _limit_text(ind, lim),
            }
            if lim.published is not None:
                entry.update(
                    published_limit=lim.published,
                    published_key=lim.published_key,
                    published_unit=lim.published_unit,
                )
            limits.append(entry)
        rows.append(
            {
                "code": row.code,
                "label": row.label,
                "label_en": row.label_en,
                "industry_prefixes": list(row.industry_prefixes),
                "default": row.default,
                "limits": limits,
                "also_published": dict(row.also_published),
                "note": row.note,
            }
        )
    return {
        "name": r.name,
        "title": r.title,
        "title_en": r.title_en,
        "region": r.region,
        "year": r.year,
        "source": dict(r.source),
        "digest": r.digest,
        "indicators": [
            {"indicator": i.key, "label": str(i.label), "unit": i.unit, "op": i.op}
            for i in INDICATORS
        ],
        "rows": rows,
        "cases": len(r.cases),
    }


def rulesets() -> list[dict]:
    """Every table found, for a list: name, title, year, region, source url, and the
    problems of a file that does not validate (instead of failing the whole list)."""
    out = []
    for name in sorted(available()):
        try:
            r = load(name)
        except RulesetError as exc:
            out.append({"name": name, "valid": False, "problems": exc.problems})
            continue
        out.append(
            {
                "name": r.name,
                "title": r.title,
                "year": r.year,
                "region": r.region,
                "source_url": r.source.get("url", ""),
                "valid": True,
                "problems": [],
            }
        )
    return out


def run_case(ruleset: StandardLand, case: dict) -> list[str]:
    """The problems of one YAML case (empty when it passes)."""
    where = f"{ruleset.name} / {case.get('name', '?')}"
    try:
        got = evaluate(
            ruleset, industry_code=case.get("industry_code"), figures=case.get("figures") or {}
        )
    except ValueError as exc:
        return [f"{where}: {exc}"]
    want = case.get("expect") or {}
    problems = []
    if got["passed"] is not want.get("passed"):
        problems.append(f"{where}: passed expected {want.get('passed')!r}, got {got['passed']!r}")
    if "group" in want:
        code = got["industry_group"]["code"] if got["industry_group"] else None
        if code != want["group"]:
            problems.append(f"{where}: group expected {want['group']!r}, got {code!r}")
    met = {i["indicator"]: i["met"] for i in got["items"]}
    for key, value in (want.get("met") or {}).items():
        if key not in met:
            problems.append(f"{where}: met.{key} expected {value!r}, but it is not checked")
        elif met[key] is not value:
            problems.append(f"{where}: met.{key} expected {value!r}, got {met[key]!r}")
    for key in ("missing", "items"):
        if key in want:
            have = got["missing"] if key == "missing" else [i["indicator"] for i in got["items"]]
            if sorted(have) != sorted(want[key] or []):
                problems.append(
                    f"{where}: {key} expected {sorted(want[key] or [])}, got {sorted(have)}"
                )
    return problems


def run_cases(name: str) -> list[str]:
    """The problems of every YAML case of table `name` (empty when all pass)."""
    ruleset = load(name)
    if not ruleset.cases:
        return [f"{name}: ships no test cases"]
    return [p for case in ruleset.cases for p in run_case(ruleset, case)]
