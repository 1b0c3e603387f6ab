"""Every shipped ruleset: valid, sourced, and its own YAML cases pass in the engine."""

import copy

import pytest
import yaml

from investmap.efficiency import casecheck, rules
from investmap.efficiency.evaluation import evaluate_rows

SHIPPED = sorted(rules.available())
CASES = [(name, i) for name in SHIPPED for i in range(len(rules.load(name).tests))]


def test_the_required_rulesets_ship():
    assert {"huangyan-2021", "huangyan-2022", "minmax-2022"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_ruleset_is_sourced_and_tested(name):
    r = rules.load(name)
    assert r.source.get("title") and r.source.get("url", "").startswith("http")
    assert len(r.tests) >= 3
    for p in r.populations:
        assert p.indicators and p.bands


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_yaml_case(name, index):
    ruleset = rules.load(name)
    assert casecheck.run_case(ruleset, ruleset.tests[index]) == []


def test_huangyan_benchmarks_are_the_published_ones():
    def bench(name, pop):
        return {
            i.code: (i.benchmark, i.weight) for i in rules.load(name).population(pop).indicators
        }

    assert bench("huangyan-2022", "above") == {
        "tax_per_mu": (24.097, 30),
        "value_added_per_mu": (136.16, 20),
        "value_added_per_energy": (2.694, 20),
        "value_added_per_emission": (4929.81, 10),
        "labour_productivity": (18.14, 10),
        "rd_intensity": (0.0302, 10),
    }
    assert bench("huangyan-2022", "below") == {
        "tax_per_mu": (11.5932, 50),
        "tax_per_kwh": (0.2352, 50),
    }
    a21 = bench("huangyan-2021", "above")
    assert [a21[k][0] for k in ("tax_per_mu", "value_added_per_mu", "value_added_per_energy")] == [
        26.01,
        132.27,
        2.54,
    ]
    assert a21["value_added_per_emission"][0] == 4861.08 and a21["labour_productivity"][0] == 17.45
    assert a21["rd_intensity"][0] == 0.0305
    b21 = bench("huangyan-2021", "below")
    assert b21["tax_per_mu"][0] == pytest.approx(16.60, abs=0.005)
    assert b21["tax_per_kwh"][0] == pytest.approx(0.2366, abs=0.00005)
    bands = rules.load("huangyan-2022").population("above").bands
    assert [(b.grade, b.share) for b in bands] == [("A", 0.2), ("B", 0.6), ("C", 0.15), ("D", 0.05)]
    bands = rules.load("huangyan-2022").population("below").bands
    assert [(b.grade, b.share) for b in bands] == [("A", 0.05), ("B", 0.7), ("C", 0.2), ("D", 0.05)]


def test_a_wrong_expectation_is_reported():
    """The case runner can fail: a changed expected score is caught, with where and what."""
    ruleset = rules.load("huangyan-2022")
    case = copy.deepcopy(ruleset.tests[0])
    case["expect"][0]["score"] += 0.01
    case["expect"][0]["grade"] = "A"
    problems = casecheck.run_case(ruleset, case)
    assert any("A1: score expected" in p for p in problems)
    assert any("A1: grade expected 'A', got 'B'" in p for p in problems)


def test_no_indicator_cap_and_no_silent_zero():
    ruleset = rules.load("huangyan-2022")
    rows = evaluate_rows(
        ruleset,
        [
            {
                "credit_code": "X",
                "scale": "below",
                "land_area_mu": 1,
                "tax_wan": 1000,
                "electricity_kwh": 1e6,
            },
            {"credit_code": "Y", "scale": "below", "land_area_mu": 1, "electricity_kwh": 1e6},
        ],
    )
    x, y = rows
    assert x["indicator_scores"]["tax_per_mu"] == pytest.approx(1000 / 11.5932 * 50)  # far above 50
    assert y["status"] == "insufficient_data" and y["missing"] == ["tax_wan"] and y["score"] is None


def _doc(name="huangyan-2022"):
    return yaml.safe_load(rules.available()[name].read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(surprise=1), "ruleset.surprise: unknown key"),
        (
            lambda d: d["populations"][0]["indicators"][0].update(formula="tax_wan / land"),
            "unknown name(s) land",
        ),
        (
            lambda d: d["populations"][0]["indicators"][0].update(formula="tax_wan /"),
            "formula: expected a number",
        ),
        (
            lambda d: d["populations"][0]["indicators"][0].update(weight=-3),
            "weight: must be greater than 0",
        ),
        (
            lambda d: d["populations"][0]["indicators"][0].pop("benchmark"),
            "benchmark: must be a number",
        ),
        (
            lambda d: d["populations"][0]["indicators"][0].update(missing="zero"),
            "missing: must be one of",
        ),
        (
            lambda d: d["populations"][0]["grading"]["bands"][0].update(share=0.3),
            "must add up to 1",
        ),
        (
            lambda d: d["populations"][0].update(scale=["huge"]),
            "scale: must be a list of above, below",
        ),
        (
            lambda d: d["populations"][1].update(scale=["above"]),
            "a scale belongs to two populations",
        ),
        (lambda d: d.update(name="Bad Name"), "name: must be lower-case"),
        (lambda d: d.pop("source"), "ruleset.source: is required"),
    ],
)
def test_invalid_rulesets_name_each_problem(change, fragment):
    doc = _doc()
    change(doc)
    with pytest.raises(rules.RulesetError) as exc:
        rules.parse(yaml.safe_dump(doc, allow_unicode=True))
    assert any(fragment in p for p in exc.value.problems), exc.value.problems


def test_threshold_grading_validates_order():
    doc = _doc("minmax-2022")
    doc["populations"][1]["grading"]["thresholds"][1]["min_score"] = 90
    with pytest.raises(rules.RulesetError, match="thresholds must decrease"):
        rules.parse(yaml.safe_dump(doc, allow_unicode=True))


def test_digest_identifies_the_content():
    text = rules.available()["huangyan-2022"].read_text(encoding="utf-8")
    a = rules.parse(text)
    b = rules.parse(text + "\n# a comment changes nothing\n")
    doc = yaml.safe_load(text)
    doc["populations"][0]["indicators"][0]["benchmark"] = 25.0
    c = rules.parse(yaml.safe_dump(doc, allow_unicode=True))
    assert a.digest == b.digest != c.digest


LOWER = """
name: lower-test
title: test
source: {title: test, url: "https://example.org"}
populations:
  - code: below
    label: 规下
    scale: [below]
    scoring: benchmark_ratio
    indicators:
      - {code: kwh_per_tax, label: 单位税收电耗, formula: electricity_kwh / tax_wan, weight: 50, benchmark: 1000, direction: lower}
      - {code: tax_per_mu, label: 亩均税收, formula: tax_wan / land_area_mu, weight: 50, benchmark: 10}
    grading: {method: score_thresholds, thresholds: [{grade: A, min_score: 90}, {grade: D, min_score: null}]}
deductions:
  - {code: per_mu, label: 扣分, population: below, formula: "tenants / (land_area_mu - 8)"}
"""


def test_lower_is_better_and_unscorable_values_are_missing():
    ruleset = rules.parse(LOWER)
    base = {"scale": "below", "tax_wan": 100, "land_area_mu": 10, "tenants": 2}
    rows = {
        r["credit_code"]: r
        for r in evaluate_rows(
            ruleset,
            [
                {**base, "credit_code": "OK", "electricity_kwh": 50000},
                {**base, "credit_code": "ZERO", "electricity_kwh": 0},
                {**base, "credit_code": "DED", "electricity_kwh": 50000, "land_area_mu": 8},
            ],
        )
    }
    ok = rows["OK"]
    # 1000 / (50000 / 100) × 50 = 100; 100 / 10 / 10 × 50 = 50; deduction 2 / (10 − 8) = 1
    assert ok["indicator_scores"] == {"kwh_per_tax": 100.0, "tax_per_mu": 50.0}
    assert ok["deduction"] == 1.0 and ok["score"] == 149.0 and ok["grade"] == "A"
    # 0 kWh per tax: benchmark / 0 cannot be scored — listed, not infinite, not zero
    assert rows["ZERO"]["status"] == "insufficient_data" and rows["ZERO"]["missing"] == [
        "kwh_per_tax"
    ]
    # a deduction without a value (÷ 0 of an expression) is missing, never a 0 deduction
    assert rows["DED"]["status"] == "insufficient_data" and rows["DED"]["missing"] == ["per_mu"]


def test_the_facts_are_every_yearly_figure():
    from django.db import models

    from investmap.resources.models import IndicatorYear

    numbers = tuple(
        f.name
        for f in IndicatorYear._meta.concrete_fields
        if isinstance(f, models.FloatField | models.PositiveIntegerField) and f.name != "version"
    )
    assert rules.FIELDS == numbers
