"""Read-only helpers of the efficiency pages (views.py): what the services do not
already answer in the shape a page needs — which years have evaluations, labels
of populations, groups, input fields and industry divisions, paging links, and
who may run an evaluation. Nothing here writes; the rules stay in services.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from investmap.core.scope import Scope
from investmap.resources.choices import EnterpriseScale
from investmap.resources.models import IndicatorYear, LandGrant
from investmap.resources.services import Forbidden

from . import rules, services
from .choices import Grade, IdleReason, LowEfficiencyReason, ResultStatus
from .models import Evaluation

PAGE_SIZE = 50


def can_run(scope: Scope) -> bool:
    """Whether the viewer may run evaluations and change parcel status (the services' own check)."""
    try:
        services._require_run(scope)
    except Forbidden:
        return False
    return True


def evaluated_years(ruleset: str) -> list[int]:
    """Years with at least one stored evaluation of `ruleset`, latest first."""
    years = Evaluation.objects.filter(ruleset__name=ruleset).values_list("year", flat=True)
    return sorted(set(years), reverse=True)


def evaluated_years_any() -> list[int]:
    """Years with a stored evaluation of any ruleset, latest first."""
    return sorted(set(Evaluation.objects.values_list("year", flat=True)), reverse=True)


def indicator_years() -> list[int]:
    """Years for which enterprises have yearly figures (what an evaluation can run on), latest first."""
    return sorted(
        set(IndicatorYear.objects.order_by().values_list("year", flat=True).distinct()),
        reverse=True,
    )


@cache
def _field_verbose_names() -> dict[str, object]:
    return {f.name: f.verbose_name for f in IndicatorYear._meta.fields}


def field_label(name: str) -> str:
    """The label of an input field named in `missing` (tax_wan → 税收（万元）)."""
    if name == "tenants":
        return _("Tenants on the enterprise's land")
    label = _field_verbose_names().get(name)
    return str(label) if label is not None else name


def grant_field_label(name: str) -> str:
    """The label of a land-grant field named in an undetermined finding's `missing`."""
    try:
        return str(LandGrant._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def ruleset_labels(ev: Evaluation) -> dict:
    """Labels of the populations and groups of the ruleset version an evaluation used."""
    try:
        parsed = rules.parse(ev.ruleset.text, name_hint=ev.ruleset.name)
    except rules.RulesetError:
        return {"populations": {}, "groups": {}, "population_list": []}
    described = services.describe_ruleset(parsed)
    pops = {p["code"]: p["label"] for p in described["populations"]}
    groups = {g["code"]: g["label"] for p in described["populations"] for g in p["groups"]}
    return {
        "populations": pops,
        "groups": groups,
        "population_list": [{"value": k, "label": v} for k, v in pops.items()],
    }


@cache
def _divisions() -> dict[str, str]:
    path = resources.files("investmap.resources") / "data" / "gbt4754_2017.csv"
    try:
        with path.open(encoding="utf-8") as f:
            return {row["division"]: row["division_name"] for row in csv.DictReader(f)}
    except (FileNotFoundError, KeyError):
        return {}


def industry_division_names() -> dict[str, str]:
    """GB/T 4754 division (two digits) → its name, for the chart by industry."""
    return dict(_divisions())


def figures(summary: dict) -> dict:
    """Key figures of an evaluation from its stored summary (all populations together)."""
    total = scored = insufficient = 0
    grades = dict.fromkeys(Grade.values, 0)
    for counts in (summary.get("populations") or {}).values():
        total += counts.get("total", 0)
        scored += counts.get("scored", 0)
        insufficient += counts.get("insufficient_data", 0)
        for g in Grade.values:
            grades[g] += counts.get(f"grade_{g}", 0)
    return {
        "total": total,
        "scored": scored,
        "insufficient": insufficient,
        "grades": [
            {
                "value": g,
                "label": str(Grade(g).label),
                "color": Grade(g).color,
                "count": grades[g],
                "share": round(100 * grades[g] / scored, 1) if scored else None,
            }
            for g in Grade.values
        ],
    }


def population_rows(summary: dict, labels: dict) -> list[dict]:
    out = []
    for code, counts in (summary.get("populations") or {}).items():
        out.append(
            {
                "code": code,
                "label": labels.get(code, code),
                "total": counts.get("total", 0),
                "scored": counts.get("scored", 0),
                "insufficient": counts.get("insufficient_data", 0),
                "grades": [counts.get(f"grade_{g}", 0) for g in Grade.values],
            }
        )
    return out


def grade_of(value) -> dict | None:
    if not value:
        return None
    try:
        g = Grade(value)
    except ValueError:
        return {"value": value, "label": value, "color": "#888888"}
    return {"value": g.value, "label": str(g.label), "color": g.color}


def status_of(value) -> dict:
    try:
        s = ResultStatus(value)
    except ValueError:
        return {"value": value, "label": value, "color": "#888888"}
    return {"value": s.value, "label": str(s.label), "color": s.color}


def legends() -> dict:
    """Every enum the efficiency pages show, as {value, label, colour} lists."""
    return {
        "grade": Grade.legend(),
        "status": ResultStatus.legend(),
        "idle": IdleReason.legend(),
        "low": LowEfficiencyReason.legend(),
    }


def result_rows(results: list[dict], labels: dict) -> list[dict]:
    """services.results() rows with what the table shows: labels, badges, missing fields."""
    out = []
    for r in results:
        out.append(
            {
                **r,
                "population_label": labels["populations"].get(r["population"], r["population"]),
                "group_label": labels["groups"].get(r["group"], r["group"]) if r["group"] else "",
                "grade_info": grade_of(r["grade"]),
                "status_info": status_of(r["status"]),
                "missing_labels": [field_label(m) for m in r["missing"] or ()],
            }
        )
    return out


def page_links(total: int, page: int, page_size: int = PAGE_SIZE) -> dict:
    """Numbers of the page links around `page` (None for a gap), first and last always."""
    pages = max(1, (total + page_size - 1) // page_size)
    page = min(max(1, page), pages)
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    numbers: list[int | None] = []
    for n in shown:
        if numbers and numbers[-1] is not None and n - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(n)
    return {
        "page": page,
        "pages": pages,
        "numbers": numbers if pages > 1 else [],
        "start": (page - 1) * page_size + 1 if total else 0,
        "end": min(total, page * page_size),
        "offset": (page - 1) * page_size,
    }


# How the ruleset page names the methods and rules a ruleset refers to by code.
SCORING_LABELS = {
    "benchmark_ratio": gettext_lazy("Against a benchmark: weight × value ÷ benchmark"),
    "min_max": gettext_lazy(
        "Min–max: weight × [floor + (100 − floor) × (value − min) ÷ (max − min)] ÷ 100, "
        "min and max over the population of the year"
    ),
}
GRADING_LABELS = {
    "rank_bands": gettext_lazy("Rank bands: grades by position in the ranking (rank ÷ ranked)"),
    "score_thresholds": gettext_lazy("Score thresholds: grades by the score reached"),
}
MISSING_LABELS = {
    "insufficient_data": gettext_lazy("not scored: insufficient data"),
    "population_average": gettext_lazy("the population's average score"),
}
DIRECTION_LABELS = {
    "higher": gettext_lazy("higher is better"),
    "lower": gettext_lazy("lower is better"),
}


def scale_label(value: str) -> str:
    try:
        return str(EnterpriseScale(value).label)
    except ValueError:
        return value


def prefixes_text(prefixes: list[str]) -> str:
    """Industry-code prefixes, consecutive two-digit divisions as ranges ("06–46")."""
    if not prefixes:
        return ""
    nums = [int(p) for p in prefixes if len(p) == 2 and p.isdigit()]
    if len(nums) != len(prefixes):
        return ", ".join(prefixes)
    nums.sort()
    runs, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(f"{start:02d}" if start == prev else f"{start:02d}–{prev:02d}")
        if n is not None:
            start = prev = n
    return ", ".join(runs)


def describe_population(p: dict) -> dict:
    """A population of services.ruleset_detail() with the labels the ruleset page shows."""
    cumulative = 0.0
    bands = []
    for b in p["bands"]:
        if b["share"] is not None:
            lo = cumulative
            cumulative += b["share"]
            span = {"from_pct": f"{100 * lo:.4g}", "to_pct": f"{100 * cumulative:.4g}"}
        else:
            span = {}
        bands.append({**b, **span, "info": grade_of(b["grade"])})
    return {
        **p,
        "scales_text": ", ".join(scale_label(s) for s in p["scales"]),
        "prefixes_text": prefixes_text(p["industry_prefixes"]),
        "scoring_label": SCORING_LABELS.get(p["scoring"], p["scoring"]),
        "grading_label": GRADING_LABELS.get(p["grading"], p["grading"]),
        "weight_total": sum(i["weight"] for i in p["indicators"]),
        "bands": bands,
        "groups": [
            {**g, "prefixes_text": prefixes_text(g["industry_prefixes"])} for g in p["groups"]
        ],
        "indicators": [
            {
                **i,
                "missing_label": MISSING_LABELS.get(i["missing"], i["missing"]),
                "direction_label": DIRECTION_LABELS.get(i["direction"], i["direction"]),
            }
            for i in p["indicators"]
        ],
    }
