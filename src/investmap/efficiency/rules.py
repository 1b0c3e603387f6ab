"""Rulesets of the 亩均 evaluation: YAML documents, validated into plain objects.

A ruleset (docs/efficiency.md) names its populations (who is evaluated and
how), their indicators (a formula over the yearly figures, weight, benchmark,
unit, what to do when it is missing), the scoring method, the grading method
and the deductions, with the source it came from and test cases. Everything
that changes between years or counties is here, none of it in code.

`load(name)` reads `rulesets/<name>.yaml` (or a file in
INVESTMAP_EFFICIENCY_RULESET_DIRS); `parse(text)` validates a document and
raises `RulesetError` with every problem found, each with its path
(`populations[0].indicators[2].formula: …`). The digest of the canonical
document identifies a version: the same text is the same version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from investmap.core.formula import Formula, FormulaError

BUILTIN_DIR = Path(__file__).resolve().parent / "rulesets"

# The yearly figures (resources.IndicatorYear) a formula may use, and the
# derived facts the engine adds. Listed, not read from the model: this module is
# unpickled in the engine's helper process, where Django's apps are not loaded
# (tests/efficiency/test_rulesets.py checks the list against the model). `tenants`: other enterprises located on the
# parcels this enterprise uses (厂房出租).
FIELDS = (
    "revenue_wan",
    "output_wan",
    "value_added_wan",
    "tax_wan",
    "employees",
    "rd_spend_wan",
    "energy_tce",
    "electricity_kwh",
    "emissions_t",
    "land_area_mu",
)
DERIVED = ("tenants",)
FACTS = frozenset(FIELDS + DERIVED)
SCALES = ("above", "below")
SCORING = ("benchmark_ratio", "min_max")
GRADING = ("rank_bands", "score_thresholds")
MISSING_RULES = ("insufficient_data", "population_average")
DIRECTIONS = ("higher", "lower")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class RulesetError(ValueError):
    """A ruleset that cannot be used; `problems` lists each one with its path."""

    def __init__(self, name: str, problems: list[str]):
        self.name = name
        self.problems = problems
        super().__init__(f"ruleset {name}: " + "; ".join(problems))


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    label_en: str
    formula: Formula
    unit: str
    weight: float
    benchmark: float | None
    direction: str = "higher"
    missing: str = "insufficient_data"

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(sorted(self.formula.names))


@dataclass(frozen=True)
class Band:
    grade: str
    share: float | None = None  # rank_bands
    min_score: float | None = None  # score_thresholds (None: everything below)


@dataclass(frozen=True)
class Group:
    code: str
    label: str
    label_en: str
    industry_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Deduction:
    code: str
    label: str
    label_en: str
    population: str
    formula: Formula


@dataclass(frozen=True)
class Population:
    code: str
    label: str
    label_en: str
    scales: tuple[str, ...]
    min_land_mu: float | None
    industry_prefixes: tuple[str, ...]
    scoring: str
    min_max_floor: float
    indicators: tuple[Indicator, ...]
    grading: str
    bands: tuple[Band, ...]
    groups: tuple[Group, ...]

    def group_of(self, industry_code: str | None) -> str | None:
        """The grading group of an industry code (the first whose prefix matches; a
        group without prefixes takes the rest); None when the population has no groups."""
        if not self.groups:
            return None
        code = industry_code or ""
        for g in self.groups:
            if any(code.startswith(p) for p in g.industry_prefixes):
                return g.code
        for g in self.groups:
            if not g.industry_prefixes:
                return g.code
        return None


@dataclass(frozen=True)
class Ruleset:
    name: str
    title: str
    title_en: str
    region: str
    data_year: int | None
    source: dict
    populations: tuple[Population, ...]
    deductions: tuple[Deduction, ...]
    tests: tuple[dict, ...]
    document: dict = field(repr=False)
    text: str = field(repr=False)
    digest: str = ""

    def population(self, code: str) -> Population:
        return next(p for p in self.populations if p.code == code)

    def deductions_of(self, population: str) -> tuple[Deduction, ...]:
        return tuple(d for d in self.deductions if d.population == population)


def _jsonable(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def digest_of(document: dict) -> str:
    canonical = json.dumps(_jsonable(document), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _Checker:
    def __init__(self):
        self.problems: list[str] = []

    def fail(self, path: str, message: str):
        self.problems.append(f"{path}: {message}")

    def keys(self, path: str, obj, allowed: set[str], required: set[str]) -> bool:
        if not isinstance(obj, dict):
            self.fail(path, "must be a mapping")
            return False
        for k in sorted(set(obj) - allowed):
            self.fail(f"{path}.{k}", f"unknown key; accepted: {', '.join(sorted(allowed))}")
        for k in sorted(required - set(obj)):
            self.fail(f"{path}.{k}", "is required")
        return True

    def text(self, path: str, value, *, required=True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(path, "must be a non-empty text")
            return ""
        return value

    def number(self, path: str, value, *, positive=False, allow_none=False) -> float | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, "must be a number")
            return None
        if positive and value <= 0:
            self.fail(path, f"must be greater than 0, got {value}")
        return float(value)

    def formula(self, path: str, text) -> Formula | None:
        try:
            return Formula(text, allowed=FACTS)
        except FormulaError as exc:
            self.fail(path, str(exc))
            return None


_TOP = {
    "name",
    "title",
    "title_en",
    "region",
    "data_year",
    "source",
    "populations",
    "deductions",
    "tests",
}
_POP = {
    "code",
    "label",
    "label_en",
    "scale",
    "min_land_mu",
    "industry_prefixes",
    "scoring",
    "min_max_floor",
    "indicators",
    "grading",
}
_IND = {
    "code",
    "label",
    "label_en",
    "formula",
    "unit",
    "weight",
    "benchmark",
    "direction",
    "missing",
    "source",
}
_GRADING = {"method", "bands", "thresholds", "group_by"}
_DED = {"code", "label", "label_en", "population", "formula", "source"}


def _prefixes(c: _Checker, path: str, value) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p.isdigit() for p in value):
        c.fail(path, "must be a list of industry-code prefixes (digits, as text)")
        return ()
    return tuple(value)


def _indicator(c: _Checker, path: str, raw: dict, scoring: str) -> Indicator | None:
    if not c.keys(path, raw, _IND, {"code", "label", "formula", "weight"}):
        return None
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        c.fail(f"{path}.code", "must be lower-case letters, digits and _ (starting with a letter)")
    formula = c.formula(f"{path}.formula", raw.get("formula"))
    weight = c.number(f"{path}.weight", raw.get("weight"), positive=True)
    benchmark = c.number(
        f"{path}.benchmark",
        raw.get("benchmark"),
        positive=True,
        allow_none=scoring != "benchmark_ratio",
    )
    direction = raw.get("direction", "higher")
    if direction not in DIRECTIONS:
        c.fail(f"{path}.direction", f"must be one of {', '.join(DIRECTIONS)}")
    missing = raw.get("missing", "insufficient_data")
    if missing not in MISSING_RULES:
        c.fail(f"{path}.missing", f"must be one of {', '.join(MISSING_RULES)}")
    if formula is None or weight is None or not isinstance(code, str):
        return None
    return Indicator(
        code=code,
        label=c.text(f"{path}.label", raw.get("label")),
        label_en=c.text(f"{path}.label_en", raw.get("label_en"), required=False) or code,
        formula=formula,
        unit=str(raw.get("unit") or ""),
        weight=weight,
        benchmark=benchmark,
        direction=direction,
        missing=missing,
    )


def _grading(c: _Checker, path: str, raw) -> tuple[str, tuple[Band, ...], tuple[Group, ...]]:
    if not c.keys(path, raw, _GRADING, {"method"}):
        return "rank_bands", (), ()
    method = raw.get("method")
    bands: list[Band] = []
    if method == "rank_bands":
        items = raw.get("bands")
        if not isinstance(items, list) or not items:
            c.fail(f"{path}.bands", "must list the grades with their share of the ranking")
            items = []
        total = 0.0
        for i, b in enumerate(items):
            bp = f"{path}.bands[{i}]"
            if c.keys(bp, b, {"grade", "share"}, {"grade", "share"}):
                share = c.number(f"{bp}.share", b.get("share"), positive=True)
                bands.append(Band(c.text(f"{bp}.grade", b.get("grade")), share=share))
                total += share or 0
        if items and abs(total - 1.0) > 1e-9:
            c.fail(f"{path}.bands", f"the shares must add up to 1, they add up to {total:g}")
    elif method == "score_thresholds":
        items = raw.get("thresholds")
        if not isinstance(items, list) or not items:
            c.fail(f"{path}.thresholds", "must list the grades with their minimum score")
            items = []
        last = None
        for i, b in enumerate(items):
            bp = f"{path}.thresholds[{i}]"
            if c.keys(bp, b, {"grade", "min_score"}, {"grade", "min_score"}):
                is_last = i == len(items) - 1
                m = c.number(f"{bp}.min_score", b.get("min_score"), allow_none=is_last)
                if last is not None and m is not None and m >= last:
                    c.fail(f"{bp}.min_score", "thresholds must decrease from the best grade")
                last = m if m is not None else last
                bands.append(Band(c.text(f"{bp}.grade", b.get("grade")), min_score=m))
    else:
        c.fail(f"{path}.method", f"must be one of {', '.join(GRADING)}")
    groups: list[Group] = []
    for i, g in enumerate(raw.get("group_by") or []):
        gp = f"{path}.group_by[{i}]"
        if c.keys(gp, g, {"code", "label", "label_en", "industry_prefixes"}, {"code", "label"}):
            groups.append(
                Group(
                    code=c.text(f"{gp}.code", g.get("code")),
                    label=c.text(f"{gp}.label", g.get("label")),
                    label_en=str(g.get("label_en") or g.get("code")),
                    industry_prefixes=_prefixes(
                        c, f"{gp}.industry_prefixes", g.get("industry_prefixes")
                    ),
                )
            )
    if raw.get("group_by") is not None and not isinstance(raw.get("group_by"), list):
        c.fail(f"{path}.group_by", "must be a list of industry groups")
    grades = [b.grade for b in bands]
    if len(set(grades)) != len(grades):
        c.fail(path, "a grade appears twice")
    return method, tuple(bands), tuple(groups)


def _population(c: _Checker, path: str, raw) -> Population | None:
    if not c.keys(path, raw, _POP, {"code", "label", "scale", "scoring", "indicators", "grading"}):
        return None
    scales = raw.get("scale")
    if not isinstance(scales, list) or not scales or any(s not in SCALES for s in scales):
        c.fail(f"{path}.scale", f"must be a list of {', '.join(SCALES)}")
        scales = []
    scoring = raw.get("scoring")
    if scoring not in SCORING:
        c.fail(f"{path}.scoring", f"must be one of {', '.join(SCORING)}")
    floor = c.number(f"{path}.min_max_floor", raw.get("min_max_floor", 20))
    if floor is not None and not 0 <= floor < 100:
        c.fail(f"{path}.min_max_floor", "must be at least 0 and below 100")
    indicators = []
    items = raw.get("indicators")
    if not isinstance(items, list) or not items:
        c.fail(f"{path}.indicators", "must list at least one indicator")
        items = []
    for i, item in enumerate(items):
        ind = _indicator(c, f"{path}.indicators[{i}]", item, scoring)
        if ind is not None:
            indicators.append(ind)
    codes = [i.code for i in indicators]
    if len(set(codes)) != len(codes):
        c.fail(f"{path}.indicators", "an indicator code appears twice")
    method, bands, groups = _grading(c, f"{path}.grading", raw.get("grading"))
    return Population(
        code=c.text(f"{path}.code", raw.get("code")),
        label=c.text(f"{path}.label", raw.get("label")),
        label_en=str(raw.get("label_en") or raw.get("code")),
        scales=tuple(scales),
        min_land_mu=c.number(f"{path}.min_land_mu", raw.get("min_land_mu"), allow_none=True),
        industry_prefixes=_prefixes(c, f"{path}.industry_prefixes", raw.get("industry_prefixes")),
        scoring=scoring or "benchmark_ratio",
        min_max_floor=floor if floor is not None else 20.0,
        indicators=tuple(indicators),
        grading=method or "rank_bands",
        bands=bands,
        groups=groups,
    )


Checker = _Checker  # public name for the other rule documents (标准地 tables, performance)


def open_document(
    text: str, *, name_hint: str, top: set[str], required: set[str], example: str
) -> tuple[dict, _Checker, str]:
    """The common start of every rule document: YAML, its top-level keys, its name.

    Returns the document, the checker collecting problems, and the name (the hint
    when the document's own is not valid). Raises RulesetError when the document
    cannot be read at all."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesetError(name_hint, [f"not valid YAML: {exc}"]) from None
    c = _Checker()
    if not c.keys("ruleset", doc, top, required):
        raise RulesetError(name_hint, c.problems)
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.fail("name", f"must be lower-case letters, digits, - and _ (e.g. {example})")
        name = name_hint
    return doc, c, name


def parse(text: str, *, name_hint: str = "?") -> Ruleset:
    """Validate a ruleset document (YAML or JSON text); RulesetError lists every problem."""
    doc, c, name = open_document(
        text,
        name_hint=name_hint,
        top=_TOP,
        required={"name", "title", "source", "populations"},
        example="huangyan-2022",
    )
    source = doc.get("source")
    if not isinstance(source, dict) or not source.get("title"):
        c.fail("source", "must name at least the title of the document the rules come from")
        source = {}
    pops = []
    items = doc.get("populations")
    if not isinstance(items, list) or not items:
        c.fail("populations", "must list at least one population")
        items = []
    for i, raw in enumerate(items):
        p = _population(c, f"populations[{i}]", raw)
        if p is not None:
            pops.append(p)
    pcodes = [p.code for p in pops]
    if len(set(pcodes)) != len(pcodes):
        c.fail("populations", "a population code appears twice")
    seen_scales = [s for p in pops for s in p.scales]
    if len(set(seen_scales)) != len(seen_scales):
        c.fail("populations", "a scale belongs to two populations")
    deductions = []
    for i, raw in enumerate(doc.get("deductions") or []):
        path = f"deductions[{i}]"
        if not c.keys(path, raw, _DED, {"code", "label", "population", "formula"}):
            continue
        if raw.get("population") not in pcodes:
            c.fail(f"{path}.population", f"must be one of {', '.join(pcodes)}")
        f = c.formula(f"{path}.formula", raw.get("formula"))
        if f is not None:
            deductions.append(
                Deduction(
                    code=c.text(f"{path}.code", raw.get("code")),
                    label=c.text(f"{path}.label", raw.get("label")),
                    label_en=str(raw.get("label_en") or raw.get("code")),
                    population=str(raw.get("population")),
                    formula=f,
                )
            )
    tests = doc.get("tests") or []
    if not isinstance(tests, list):
        c.fail("tests", "must be a list of cases")
        tests = []
    for i, t in enumerate(tests):
        c.keys(
            f"tests[{i}]",
            t,
            {"name", "year", "enterprises", "expect", "absent"},
            {"name", "enterprises", "expect"},
        )
    year = doc.get("data_year")
    if year is not None and (not isinstance(year, int) or not 1990 <= year <= 2100):
        c.fail("data_year", "must be a year such as 2022")
    if c.problems:
        raise RulesetError(str(name), c.problems)
    return Ruleset(
        name=name,
        title=str(doc["title"]),
        title_en=str(doc.get("title_en") or doc["title"]),
        region=str(doc.get("region") or ""),
        data_year=year,
        source=_jsonable(source),
        populations=tuple(pops),
        deductions=tuple(deductions),
        tests=tuple(_jsonable(tests)),
        document=_jsonable(doc),
        text=text,
        digest=digest_of(doc),
    )


def ruleset_dirs() -> list[Path]:
    extra = getattr(settings, "INVESTMAP_EFFICIENCY_RULESET_DIRS", ()) or ()
    return [BUILTIN_DIR, *(Path(d) for d in extra)]


def yaml_files(dirs) -> dict[str, Path]:
    """Document name → its .yaml file in `dirs` (later directories override earlier ones)."""
    found: dict[str, Path] = {}
    for d in dirs:
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                found[p.stem] = p
    return found


def available() -> dict[str, Path]:
    """Ruleset name → its file (later directories override earlier ones)."""
    return yaml_files(ruleset_dirs())


def load(name: str) -> Ruleset:
    path = available().get(name)
    if path is None:
        raise KeyError(name)
    ruleset = parse(path.read_text(encoding="utf-8"), name_hint=name)
    if ruleset.name != name:
        raise RulesetError(
            name, [f"name: the file {path.name} must be named after its ruleset ({ruleset.name})"]
        )
    return ruleset
