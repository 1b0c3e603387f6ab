"""Evaluation services: stored per (year, version, inputs), never rewritten, masked by scope."""

import datetime as dt
import shutil

import pytest

from investmap.core.scope import scope_for
from investmap.efficiency import services
from investmap.efficiency.models import (
    Evaluation,
    EvaluationResult,
    LandStatusChange,
    RulesetVersion,
)
from investmap.resources.models import Building, IndicatorYear, LandGrant, Parcel
from investmap.resources.services import Forbidden, InvalidFilter, NotFound

from .data import add_enterprises

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bureau(users):
    return scope_for(users["bureau"])


def test_evaluate_stores_results_and_ranks(district, users, bureau):
    add_enterprises(district)
    ev, created = services.evaluate(
        year=2024, ruleset="huangyan-2022", scope=bureau, user=users["bureau"]
    )
    assert created and ev.inputs == 22 and ev.ruleset.version == 1
    rows = {r.credit_code: r for r in EvaluationResult.objects.filter(evaluation=ev)}
    assert len(rows) == 22
    above = sorted((r for r in rows.values() if r.population == "above"), key=lambda r: r.rank)
    assert [r.rank for r in above] == list(range(1, 12))
    # 11 scored 规上 firms (ten added + e1): rank r of 11 → A while r/11 ≤ 0.2 → ranks 1–2.
    assert [r.grade for r in above[:3]] == ["A", "A", "B"]
    assert above[-1].grade == "D"
    no_emissions = rows["91310000MA1EA0003"]
    assert no_emissions.status == "scored" and no_emissions.filled == ["value_added_per_emission"]
    e2 = rows["91310000MA1FL00002"]  # 规下, no land area, no electricity
    assert e2.status == "insufficient_data" and e2.grade == "" and e2.score is None
    assert e2.missing == ["electricity_kwh", "land_area_mu"]
    assert ev.summary["populations"]["above"]["grade_A"] == 2


def test_same_inputs_reuse_changed_inputs_make_a_new_run(district, users, bureau):
    add_enterprises(district)
    first, created = services.evaluate(year=2024, ruleset="huangyan-2022", scope=bureau)
    again, created_again = services.evaluate(year=2024, ruleset="huangyan-2022", scope=bureau)
    assert created and not created_again and again.pk == first.pk
    before = list(
        first.results.order_by("credit_code").values_list("credit_code", "score", "grade")
    )
    IndicatorYear.objects.filter(enterprise__credit_code="91310000MA1EA0000", year=2024).update(
        tax_wan=99999
    )
    second, created = services.evaluate(year=2024, ruleset="huangyan-2022", scope=bureau)
    assert created and second.pk != first.pk and second.ruleset_id == first.ruleset_id
    assert (
        list(first.results.order_by("credit_code").values_list("credit_code", "score", "grade"))
        == before
    )
    top = second.results.get(credit_code="91310000MA1EA0000")
    assert top.rank == 1 and top.grade == "A"
    # the latest run answers reads
    answer = services.results(year=2024, ruleset="huangyan-2022", scope=bureau)
    assert answer["evaluation"]["id"] == second.pk


def test_a_changed_ruleset_is_a_new_version_and_old_results_stay(
    district, bureau, settings, tmp_path
):
    add_enterprises(district)
    ev1, _ = services.evaluate(year=2024, ruleset="huangyan-2022", scope=bureau)
    old = list(ev1.results.values_list("credit_code", "score"))
    src = services.rules.available()["huangyan-2022"]
    text = src.read_text(encoding="utf-8").replace("benchmark: 24.097", "benchmark: 30.0")
    (tmp_path / "huangyan-2022.yaml").write_text(text, encoding="utf-8")
    settings.INVESTMAP_EFFICIENCY_RULESET_DIRS = (str(tmp_path),)
    ev2, created = services.evaluate(year=2024, ruleset="huangyan-2022", scope=bureau)
    assert created and ev2.ruleset.version == 2 and ev1.ruleset.version == 1
    assert RulesetVersion.objects.filter(name="huangyan-2022").count() == 2
    assert (
        list(Evaluation.objects.get(pk=ev1.pk).results.values_list("credit_code", "score")) == old
    )
    s1 = ev1.results.get(credit_code="91310000MA1EA0005").indicator_scores["tax_per_mu"]
    s2 = ev2.results.get(credit_code="91310000MA1EA0005").indicator_scores["tax_per_mu"]
    assert s2 == pytest.approx(s1 * 24.097 / 30.0)
    # version 1 stays readable, the default read is the newest version
    assert (
        services.results(year=2024, ruleset="huangyan-2022", version=1, scope=bureau)["evaluation"][
            "id"
        ]
        == ev1.pk
    )
    assert (
        services.results(year=2024, ruleset="huangyan-2022", scope=bureau)["evaluation"]["id"]
        == ev2.pk
    )
    detail = services.ruleset_detail(name="huangyan-2022", version=1, scope=bureau)
    assert "24.097" in detail["text"] and detail["versions"] == [2, 1]


def test_a_broken_ruleset_file_is_refused_with_its_problems(district, bureau, settings, tmp_path):
    shutil.copy(services.rules.available()["minmax-2022"], tmp_path / "broken.yaml")
    text = (
        (tmp_path / "broken.yaml")
        .read_text(encoding="utf-8")
        .replace("name: minmax-2022", "name: broken")
    )
    (tmp_path / "broken.yaml").write_text(
        text.replace("weight: 30}", "weight: heavy}"), encoding="utf-8"
    )
    settings.INVESTMAP_EFFICIENCY_RULESET_DIRS = (str(tmp_path),)
    with pytest.raises(InvalidFilter) as exc:
        services.evaluate(year=2024, ruleset="broken", scope=bureau)
    assert any("weight: must be a number" in m for m in exc.value.errors["ruleset"])
    with pytest.raises(InvalidFilter) as exc:
        services.evaluate(year=2024, ruleset="nope", scope=bureau)
    message = exc.value.errors["ruleset"][0]
    assert "nope" in message and "huangyan-2022" in message and "minmax-2022" in message


def test_no_figures_for_the_year_is_a_clear_refusal(district, bureau):
    with pytest.raises(services.NoInputs, match="1999"):
        services.evaluate(year=1999, scope=bureau)
    with pytest.raises(InvalidFilter):
        services.evaluate(year="next", scope=bureau)


def test_only_bureau_runs_and_tax_figures_are_masked(district, users, bureau):
    add_enterprises(district)
    for who in ("leader", "officer_t01", "maintainer"):
        with pytest.raises(Forbidden):
            services.evaluate(year=2024, scope=scope_for(users[who]))
    with pytest.raises(Forbidden):
        services.results(year=2024, scope=scope_for(users["sysadmin"]))
    services.evaluate(year=2024, scope=bureau)
    rows = services.results(year=2024, scope=scope_for(users["officer_t01"]))["results"]
    by_town = {}
    for r in rows:
        by_town.setdefault(r["town"], []).append(r)
    assert all(r["indicator_values"] is not None for r in by_town["东湖镇"])
    assert all(r["indicator_values"] is None and r["masked"] for r in by_town["西山街道"])
    assert all(
        r["grade"] or r["status"] != "scored" for r in by_town["西山街道"]
    )  # grades stay visible


def test_filters_summary_trend_and_history(district, bureau):
    add_enterprises(district)
    services.evaluate(year=2023, scope=bureau)
    services.evaluate(year=2024, scope=bureau)
    a = services.results(year=2024, scope=bureau, params={"grade": "A"})
    # 规上: ranks 1–2 of 11 (≤ 20%); 规下: rank 1 of 10 is 10%, above the 5% of A → none
    assert a["count"] == 2 and {r["population"] for r in a["results"]} == {"above"}
    t = services.results(year=2024, scope=bureau, params={"town": "T02", "population": "below"})
    assert {r["town"] for r in t["results"]} == {"西山街道"}
    with pytest.raises(InvalidFilter):
        services.results(year=2024, scope=bureau, params={"colour": "red"})
    with pytest.raises(InvalidFilter):
        services.results(year=2024, scope=bureau, params={"grade": "E"})
    with pytest.raises(NotFound):
        services.results(year=2020, scope=bureau)
    s = services.summary(year=2024, scope=bureau, by="town")
    assert sum(g["total"] for g in s["groups"]) == 22
    assert s["grades"] == {k: sum(g["grades"][k] for g in s["groups"]) for k in "ABCD"}
    ind = services.summary(year=2024, scope=bureau, by="industry")
    assert {g["key"] for g in ind["groups"]} == {"33", "17", "38", "34"}
    tr = services.trend(scope=bureau)
    assert [y["year"] for y in tr["years"]] == [2023, 2024]
    h = services.enterprise_history(credit_code="91310000MA1FL00001", scope=bureau)
    assert [y["year"] for y in h["years"]] == [2023, 2024]
    tax = next(i for i in h["years"][1]["indicators"] if i["code"] == "tax_per_mu")
    assert tax["value"] == pytest.approx(2100 / 45) and tax["benchmark"] == 24.097
    assert tax["score"] == pytest.approx(2100 / 45 / 24.097 * 30)


def test_idle_land_as_of_dates(district, bureau):
    # fixture grant: P-002 to e1, contracted start 2022-01-01, never started, price 900
    assert services.idle_land(as_of="2022-12-31", scope=bureau)["count"] == 0
    on = services.idle_land(as_of="2023-01-01", scope=bureau)
    (r,) = on["results"]
    assert (r["parcel"], r["enterprise"], r["reason"]) == (
        "P-002",
        "91310000MA1FL00001",
        "not_started_1y",
    )
    assert (r["idle_since"], r["fee_estimate_wan"], r["recoverable"]) == (
        "2023-01-01",
        180.0,
        False,
    )
    assert services.idle_land(as_of="2024-01-01", scope=bureau)["results"][0]["recoverable"] is True
    with pytest.raises(InvalidFilter):
        services.idle_land(as_of="01/01/2024", scope=bureau)


def test_land_status_follows_the_findings_and_reverts(district, users, bureau):
    p2 = district["parcels"]["P-002"]
    Parcel.objects.filter(pk=p2.pk).update(status="in_use")
    preview = services.apply_land_status(as_of="2024-06-01", scope=bureau, dry_run=True)
    assert {c["parcel"] for c in preview["changed"]} >= {"P-002"}
    assert Parcel.objects.get(pk=p2.pk).status == "in_use" and not LandStatusChange.objects.exists()
    done = services.apply_land_status(as_of="2024-06-01", scope=bureau, user=users["bureau"])
    assert {
        "parcel": "P-002",
        "from": "in_use",
        "to": "idle",
        "reasons": ["not_started_1y"],
    } in done["changed"]
    p = Parcel.objects.get(pk=p2.pk)
    assert p.status == "idle" and p.version == p2.version + 1
    assert p.history.count() >= 2
    # the idle parcel is now stock that site matching offers
    from investmap.matching.services import match_sites

    found = match_sites(
        data={"area_mu_min": 1, "area_mu_max": 500, "status": ["idle"]}, scope=bureau
    )
    assert any(r.get("parcels") == ["P-002"] for r in found["results"])
    # construction starts: the finding ends and the status goes back
    LandGrant.objects.filter(parcel=p2).update(
        started_on=dt.date(2024, 7, 1), built_ratio=0.5, invested_ratio=0.5
    )
    back = services.apply_land_status(as_of="2024-08-01", scope=bureau)
    assert {"parcel": "P-002", "from": "idle", "to": "in_use", "reasons": []} in back["reverted"]
    assert Parcel.objects.get(pk=p2.pk).status == "in_use"
    with pytest.raises(Forbidden):
        services.apply_land_status(as_of="2024-08-01", scope=scope_for(users["leader"]))


def test_low_efficiency_land_by_grade_and_plot_ratio(district, bureau, settings):
    made = add_enterprises(district)
    worst = made[0]  # 规上 00: the lowest score of its population → D
    p1 = district["parcels"]["P-001"]
    Parcel.objects.filter(pk=p1.pk).update(status="in_use", enterprise=worst)
    district["enterprises"]["e1"].__class__.objects.filter(
        pk=district["enterprises"]["e1"].pk
    ).update(parcel=None)
    services.evaluate(year=2024, scope=bureau)
    assert EvaluationResult.objects.get(credit_code=worst.credit_code).grade == "D"
    low = services.low_efficiency_land(scope=bureau)
    hit = next(r for r in low["results"] if r["parcel"] == "P-001")
    assert "low_grade" in hit["reasons"] and hit["occupants"][0]["credit_code"] == worst.credit_code
    # built far below the plot ratio (industrial land with a recorded building)
    Parcel.objects.filter(pk=p1.pk).update(land_use="M1", plot_ratio_min=2.0)
    Building.objects.filter(parcel=p1).update(total_floor_m2=100.0)
    hit = next(
        r for r in services.low_efficiency_land(scope=bureau)["results"] if r["parcel"] == "P-001"
    )
    assert hit["reasons"] == ["low_grade", "low_far"] and hit["plot_ratio_target"] == 2.0
    settings.INVESTMAP_LOW_EFFICIENCY_GRADES = ("A",)
    hit = next(
        r for r in services.low_efficiency_land(scope=bureau)["results"] if r["parcel"] == "P-001"
    )
    assert hit["reasons"] == ["low_far"]
