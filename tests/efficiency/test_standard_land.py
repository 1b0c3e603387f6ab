"""Standard-land (标准地) control indicators: shipped tables, their cases, the check's semantics."""

import copy
import subprocess
import sys

import pytest
import yaml

from investmap.efficiency import standard_land as sl
from investmap.efficiency.rules import RulesetError
from investmap.resources.services import NotFound

SHIPPED = sorted(sl.available())
CASES = [(name, i) for name in SHIPPED for i in range(len(sl.load(name).cases))]
PASSING = {
    "investment_intensity_wan_per_mu": 300,
    "tax_wan_per_mu": 25,
    "rd_share": 0.03,
    "energy_tce_per_wan": 0.2,
}


def test_the_published_tables_ship():
    assert {"wenling-dongbu-2021", "longchang-neirong-2022"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_table_is_sourced_and_tested(name):
    r = sl.load(name)
    assert r.source.get("title") and r.source["url"].startswith("http")
    assert 1990 <= r.year <= 2100
    assert len(r.cases) >= 5
    assert sl.run_cases(name) == []


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_yaml_case(name, index):
    ruleset = sl.load(name)
    assert sl.run_case(ruleset, ruleset.cases[index]) == []


def test_wenling_limits_are_the_published_ones():
    rows = {r["code"]: r for r in sl.describe("wenling-dongbu-2021")["rows"]}
    assert set(rows) == {"electrical", "general_equipment", "automobiles"}

    def limits(code):
        return {
            lim["indicator"]: lim.get("published_limit", lim["limit"])
            for lim in rows[code]["limits"]
        }

    assert limits("electrical") == {
        "investment_intensity_wan_per_mu": 270,
        "tax_wan_per_mu": 33.2,
        "rd_share": 0.022,
        "energy_tce_per_wan": 4.1,
    }
    assert limits("general_equipment") == {
        "investment_intensity_wan_per_mu": 270,
        "tax_wan_per_mu": 22.6,
        "rd_share": 0.026,
        "energy_tce_per_wan": 3.9,
    }
    assert limits("automobiles") == {
        "investment_intensity_wan_per_mu": 270,
        "tax_wan_per_mu": 32.5,
        "rd_share": 0.0372,
        "energy_tce_per_wan": 4.5,
    }
    assert rows["electrical"]["also_published"]["亩均增加值"] == "≥130.9 万元/亩"
    energy = next(
        x for x in rows["automobiles"]["limits"] if x["indicator"] == "energy_tce_per_wan"
    )
    assert energy["op"] == "le" and energy["limit"] == pytest.approx(1 / 4.5)
    assert energy["published_key"] == "value_added_per_tce_wan"


def test_longchang_limits_are_the_published_ones():
    rows = {r["code"]: r for r in sl.describe("longchang-neirong-2022")["rows"]}
    got = {code: {x["indicator"]: x["limit"] for x in r["limits"]} for code, r in rows.items()}
    base = {"investment_intensity_wan_per_mu": 150, "tax_wan_per_mu": 8}
    assert got == {
        "glass_products": {**base, "output_wan_per_mu": 250},
        "ceramics": {**base, "output_wan_per_mu": 250},
        "equipment": {**base, "output_wan_per_mu": 350, "rd_share": 0.02},
        "food_beverages": {**base, "output_wan_per_mu": 300, "rd_share": 0.01},
        "other": {},
    }
    assert rows["other"]["default"] is True


# --- semantics of the check ------------------------------------------------------


def test_pass_with_an_indicator_the_table_does_not_set():
    out = sl.check(
        industry_code="3441",
        figures={**PASSING, "output_wan_per_mu": 1},  # output 1 万元/亩 would fail anywhere
        ruleset="wenling-dongbu-2021",
    )
    assert out["passed"] is True and out["missing"] == []
    assert [i["indicator"] for i in out["items"]] == [
        "investment_intensity_wan_per_mu",
        "tax_wan_per_mu",
        "rd_share",
        "energy_tce_per_wan",
    ]
    assert out["industry_group"]["code"] == "general_equipment"
    assert out["industry_group"]["matched_prefix"] == "34"
    assert out["ruleset"] == "wenling-dongbu-2021" and out["year"] == 2021 and out["digest"]
    assert all(i["met"] is True and i["message"] for i in out["items"])


def test_missing_is_never_zero():
    """None is missing (met None, passed None); 0 is a figure (and fails a minimum)."""
    missing = sl.check(
        industry_code="3441",
        figures={**PASSING, "tax_wan_per_mu": None},
        ruleset="wenling-dongbu-2021",
    )
    zero = sl.check(
        industry_code="3441",
        figures={**PASSING, "tax_wan_per_mu": 0},
        ruleset="wenling-dongbu-2021",
    )
    absent = sl.check(
        industry_code="3441",
        figures={k: v for k, v in PASSING.items() if k != "tax_wan_per_mu"},
        ruleset="wenling-dongbu-2021",
    )
    tax = {
        o: next(i for i in r["items"] if i["indicator"] == "tax_wan_per_mu")
        for o, r in (("missing", missing), ("zero", zero), ("absent", absent))
    }
    assert missing["passed"] is None and missing["missing"] == ["tax_wan_per_mu"]
    assert tax["missing"]["met"] is None and tax["missing"]["value"] is None
    assert absent["passed"] is None and tax["absent"]["met"] is None
    assert zero["passed"] is False and zero["missing"] == [] and tax["zero"]["met"] is False


def test_a_failure_decides_even_with_missing_figures():
    out = sl.check(
        industry_code="3441",
        figures={"investment_intensity_wan_per_mu": 100, "rd_share": None},
        ruleset="wenling-dongbu-2021",
    )
    assert out["passed"] is False
    assert sorted(out["missing"]) == ["energy_tce_per_wan", "rd_share", "tax_wan_per_mu"]


def test_energy_is_compared_as_published():
    def energy(value):
        out = sl.check(
            industry_code="3811",
            figures={**PASSING, "tax_wan_per_mu": 40, "energy_tce_per_wan": value},
            ruleset="wenling-dongbu-2021",
        )
        return next(i for i in out["items"] if i["indicator"] == "energy_tce_per_wan")["met"]

    # ≥ 4.1 万元 value added per tce  ⇔  ≤ 1/4.1 = 0.24390… tce per 万元
    assert energy(1 / 4.1) is True
    assert energy(0.2439) is True
    assert energy(0.2440) is False
    assert energy(0) is True  # no energy use at all is a figure, and meets a maximum


def test_no_row_means_no_indicators_with_a_message():
    out = sl.check(industry_code="2710", figures=PASSING, ruleset="wenling-dongbu-2021")
    assert out["passed"] is None and out["industry_group"] is None
    assert out["items"] == [] and out["missing"] == [] and out["message"]
    out = sl.check(industry_code=None, figures=PASSING, ruleset="wenling-dongbu-2021")
    assert out["passed"] is None and out["industry_group"] is None


def test_default_row_takes_the_other_industries():
    out = sl.check(industry_code="2614", figures=PASSING, ruleset="longchang-neirong-2022")
    assert out["industry_group"]["code"] == "other" and out["industry_group"]["default"] is True
    assert out["industry_group"]["matched_prefix"] is None
    assert out["passed"] is None and out["items"] == [] and "一事一议" in out["message"]


NESTED = """
name: nested-2020
title: test
year: 2020
source: {title: test, url: "https://example.org/table"}
rows:
  - {code: nonmetal, label: 非金属矿物制品业, industry_prefixes: ["30"], limits: {tax_wan_per_mu: 10}}
  - {code: glass, label: 玻璃制品, industry_prefixes: ["305"], limits: {tax_wan_per_mu: 20}}
  - {code: fibre, label: 玻璃纤维增强塑料制品, industry_prefixes: ["3062"], limits: {tax_wan_per_mu: 30}}
  - {code: rest, label: 其他, default: true, limits: {tax_wan_per_mu: 5, output_wan_per_mu: 100}}
"""


@pytest.mark.parametrize(
    ("code", "row"),
    [
        ("3051", "glass"),  # 305 beats 30 whatever the row order
        ("305", "glass"),
        ("3062", "fibre"),
        ("3061", "nonmetal"),
        ("30", "nonmetal"),
        ("3", "rest"),
        ("", "rest"),
        (None, "rest"),
        ("2710", "rest"),
    ],
)
def test_longest_prefix_wins_then_the_default(code, row):
    table = sl.parse(NESTED)
    out = sl.evaluate(table, industry_code=code, figures={"tax_wan_per_mu": 15})
    assert out["industry_group"]["code"] == row
    doc = yaml.safe_load(NESTED)
    doc["rows"].reverse()
    assert sl.parse(yaml.safe_dump(doc, allow_unicode=True)).match(code)[0].code == row


def test_default_ruleset_comes_from_settings(settings):
    settings.INVESTMAP_STANDARD_LAND_RULESET = "longchang-neirong-2022"
    assert sl.check(industry_code="3411", figures={})["ruleset"] == "longchang-neirong-2022"
    settings.INVESTMAP_STANDARD_LAND_RULESET = "wenling-dongbu-2021"
    assert sl.check(industry_code="3411", figures={})["ruleset"] == "wenling-dongbu-2021"


def test_unknown_ruleset_lists_the_available_ones():
    for call in (
        lambda: sl.check(industry_code="34", figures={}, ruleset="nowhere-1999"),
        lambda: sl.describe("nowhere-1999"),
        lambda: sl.run_cases("nowhere-1999"),
    ):
        with pytest.raises(NotFound) as exc:
            call()
        assert "nowhere-1999" in exc.value.message
        assert "wenling-dongbu-2021" in exc.value.message
        assert "longchang-neirong-2022" in exc.value.extra["available"]


@pytest.mark.parametrize(
    ("figures", "fragment"),
    [
        ({"tax_per_mu": 3}, "unknown figure(s) tax_per_mu"),
        ({"tax_wan_per_mu": "3"}, "figures.tax_wan_per_mu: must be a finite number"),
        ({"tax_wan_per_mu": float("nan")}, "must be a finite number"),
        ({"rd_share": True}, "figures.rd_share"),
    ],
)
def test_bad_figures_are_refused(figures, fragment):
    with pytest.raises(ValueError) as exc:
        sl.check(industry_code="34", figures=figures, ruleset="wenling-dongbu-2021")
    assert fragment in str(exc.value)


def test_describe_and_list():
    d = sl.describe("wenling-dongbu-2021")
    assert d["name"] == "wenling-dongbu-2021" and d["year"] == 2021
    assert d["source"]["url"].startswith("https://paper.wlxww.com/")
    assert [i["indicator"] for i in d["indicators"]] == list(sl.FIGURES)
    assert d["cases"] >= 5
    listing = {r["name"]: r for r in sl.rulesets()}
    assert listing["wenling-dongbu-2021"]["valid"] is True
    assert listing["longchang-neirong-2022"]["source_url"].startswith("http")


def test_a_wrong_expectation_is_reported():
    table = sl.load("wenling-dongbu-2021")
    case = copy.deepcopy(table.cases[1])
    case["expect"]["passed"] = True
    case["expect"]["met"]["tax_wan_per_mu"] = True
    case["expect"]["group"] = "automobiles"
    case["expect"]["met"]["output_wan_per_mu"] = None
    problems = sl.run_case(table, case)
    assert any("passed expected True, got False" in p for p in problems)
    assert any("met.tax_wan_per_mu expected True, got False" in p for p in problems)
    assert any("group expected 'automobiles', got 'electrical'" in p for p in problems)
    assert any("met.output_wan_per_mu expected None, but it is not checked" in p for p in problems)


# --- validation ---------------------------------------------------------------


def _doc():
    return yaml.safe_load(sl.available()["wenling-dongbu-2021"].read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(surprise=1), "ruleset.surprise: unknown key"),
        (lambda d: d.pop("year"), "ruleset.year: is required"),
        (lambda d: d.update(year="2021"), "year: must be the year"),
        (lambda d: d["source"].pop("url"), "source.url: must be the address"),
        (lambda d: d.update(name="Bad Name"), "name: must be lower-case"),
        (lambda d: d.update(rows=[]), "rows: must list at least one industry row"),
        (
            lambda d: d["rows"][0]["limits"].update(tax_wan_per_mu="high"),
            "rows[0].limits.tax_wan_per_mu: must be a number",
        ),
        (
            lambda d: d["rows"][1]["limits"].update(tax_wan_per_mu=-1),
            "rows[1].limits.tax_wan_per_mu: must be greater than 0",
        ),
        (
            lambda d: d["rows"][0]["limits"].update(rd_share=2.2),
            "rows[0].limits.rd_share: must be a fraction",
        ),
        (
            lambda d: d["rows"][0]["limits"].update(energy_tce_per_wan=0.3),
            "rows[0].limits.value_added_per_tce_wan: give either",
        ),
        (
            lambda d: d["rows"][2]["limits"].update(water=1),
            "rows[2].limits.water: unknown indicator",
        ),
        (
            lambda d: d["rows"][1].update(industry_prefixes=["38"]),
            "rows[1].industry_prefixes: prefix 38 is also in row electrical",
        ),
        (
            lambda d: d["rows"][1].update(industry_prefixes=[34]),
            "rows[1].industry_prefixes: must be a list of industry-code prefixes",
        ),
        (
            lambda d: d["rows"][1].pop("industry_prefixes"),
            "rows[1].industry_prefixes: must list at least one prefix",
        ),
        (
            lambda d: d["rows"].extend(
                [{"code": "a", "label": "a", "default": True, "limits": {}}] * 2
            ),
            "only one row may be the default",
        ),
        (
            lambda d: d["rows"][0].update(default=True),
            "rows[0].industry_prefixes: the default row takes every other industry",
        ),
        (lambda d: d["rows"][2].update(code="Cars"), "rows[2].code: must be lower-case"),
        (lambda d: d["rows"][2].update(code="electrical"), "rows: a row code appears twice"),
        (
            lambda d: d["cases"][0]["figures"].update(tax=1),
            "cases[0].figures.tax: unknown figure",
        ),
        (
            lambda d: d["cases"][1]["expect"].update(group="ships"),
            "cases[1].expect.group: must be null or one of",
        ),
        (
            lambda d: d["cases"][1]["expect"].update(passed="yes"),
            "cases[1].expect.passed: must be true, false or null",
        ),
        (
            lambda d: d["cases"][2]["expect"].update(missing=["tax"]),
            "cases[2].expect.missing: must be a list of",
        ),
    ],
)
def test_invalid_tables_name_each_problem(change, fragment):
    doc = _doc()
    change(doc)
    with pytest.raises(RulesetError) as exc:
        sl.parse(yaml.safe_dump(doc, allow_unicode=True))
    assert any(fragment in p for p in exc.value.problems), exc.value.problems


def test_a_broken_file_in_a_ruleset_dir_is_reported_with_paths(settings, tmp_path):
    d = tmp_path / "standard_land"
    d.mkdir()
    doc = _doc()
    doc["name"] = "broken-2020"
    doc["rows"][0]["limits"]["tax_wan_per_mu"] = "many"
    doc["rows"][1]["industry_prefixes"] = ["3a"]
    (d / "broken-2020.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    ok = yaml.safe_load(NESTED)
    ok["name"] = "extra-2020"
    (d / "extra-2020.yaml").write_text(yaml.safe_dump(ok, allow_unicode=True), encoding="utf-8")
    (d / "misnamed-2020.yaml").write_text(NESTED, encoding="utf-8")
    # a 亩均 ruleset next to the subdirectory is not read as a standard-land table
    (tmp_path / "muni-2020.yaml").write_text("name: muni-2020\n", encoding="utf-8")
    settings.INVESTMAP_EFFICIENCY_RULESET_DIRS = (str(tmp_path),)

    assert {"broken-2020", "extra-2020", "misnamed-2020", "wenling-dongbu-2021"} <= set(
        sl.available()
    )
    assert "muni-2020" not in sl.available()
    with pytest.raises(RulesetError) as exc:
        sl.check(industry_code="34", figures={}, ruleset="broken-2020")
    problems = exc.value.problems
    assert "rows[0].limits.tax_wan_per_mu: must be a number" in problems
    assert any(p.startswith("rows[1].industry_prefixes: must be a list") for p in problems)
    with pytest.raises(RulesetError, match="must be named after its table"):
        sl.load("misnamed-2020")
    assert (
        sl.check(industry_code="3051", figures={"tax_wan_per_mu": 25}, ruleset="extra-2020")[
            "passed"
        ]
        is True
    )
    listing = {r["name"]: r for r in sl.rulesets()}
    assert listing["broken-2020"]["valid"] is False and listing["broken-2020"]["problems"]
    assert listing["extra-2020"]["valid"] is True
    assert sl.run_cases("extra-2020") == ["extra-2020: ships no test cases"]


def test_an_edited_file_is_read_again(settings, tmp_path):
    d = tmp_path / "standard_land"
    d.mkdir()
    path = d / "edit-2020.yaml"
    path.write_text(NESTED.replace("nested-2020", "edit-2020"), encoding="utf-8")
    settings.INVESTMAP_EFFICIENCY_RULESET_DIRS = (str(tmp_path),)
    first = sl.check(industry_code="3051", figures={"tax_wan_per_mu": 25}, ruleset="edit-2020")
    path.write_text(
        NESTED.replace("nested-2020", "edit-2020").replace(
            "tax_wan_per_mu: 20", "tax_wan_per_mu: 30"
        )
        + "\n# longer\n",
        encoding="utf-8",
    )
    second = sl.check(industry_code="3051", figures={"tax_wan_per_mu": 25}, ruleset="edit-2020")
    assert first["passed"] is True and second["passed"] is False
    assert first["digest"] != second["digest"]


def test_digest_identifies_the_content():
    text = sl.available()["wenling-dongbu-2021"].read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    doc["rows"][0]["limits"]["tax_wan_per_mu"] = 34
    assert sl.parse(text).digest == sl.parse(text + "\n# comment\n").digest
    assert sl.parse(text).digest != sl.parse(yaml.safe_dump(doc, allow_unicode=True)).digest


def test_importing_the_module_loads_no_model():
    code = (
        "import sys; import investmap.efficiency.standard_land; "
        "assert not [m for m in sys.modules if m.endswith('.models')], "
        "[m for m in sys.modules if m.endswith('.models')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin:/bin"})
