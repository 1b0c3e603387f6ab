"""The policy engine on the two-firm fixture district: validity, facts, amounts, refresh, signals.

Fixture firms (tests/conftest.py): e1 3841 规上, founded 2015-03-01, T01 / park P01,
high_tech + srdi, figures for 2023 (revenue 52,000) and 2024 (revenue 61,000, tax 2,100,
420 staff, R&D 3,050, output 54,900); e2 3421 规下, founded 2019-06-01, T02, no park,
no certification, 2024 only: revenue 1,800, tax 60, 35 staff, the rest unknown.
"""

import datetime as dt
import hashlib
import json

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models.signals import post_save

from investmap.efficiency.models import Evaluation, EvaluationResult, RulesetVersion
from investmap.policies import engine, facts, reference, signals
from investmap.policies.document import policy_changed
from investmap.policies.models import Policy, PolicyMatch, PolicyVersion
from investmap.resources.models import Enterprise, IndicatorYear

pytestmark = pytest.mark.django_db(transaction=True)

D = dt.date


def doc(code, conditions, *, benefit=None, valid_from="2020-01-01", valid_to=None):
    return {
        "code": code,
        "title": code,
        "level": "district",
        "type": "basic",
        "issuer": "test",
        "valid_from": valid_from,
        "valid_to": valid_to,
        "conditions": conditions,
        "benefit": {"formula": benefit, "unit": "wan"} if benefit else None,
        "tests": [],
    }


def store(document) -> PolicyVersion:
    """A new version of the policy, made current (what the importer writes)."""
    policy, _ = Policy.objects.get_or_create(
        code=document["code"],
        defaults={"title": document["title"], "level": "district", "policy_type": "basic"},
    )
    number = policy.versions.count() + 1
    v = PolicyVersion.objects.create(
        policy=policy,
        number=number,
        document=document,
        digest=hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest(),
    )
    policy.current, policy.version = v, number
    policy.save()
    return v


def by_code(rows):
    return {(r["policy"], r["credit_code"]): r for r in rows}


E1, E2 = "91310000MA1FL00001", "91310000MA1FL00002"


# --- compiling ------------------------------------------------------------------------


def test_compile_gives_labels_and_refuses_bad_documents():
    c = engine.compile_policy(
        doc(
            "L",
            [
                {"fact": "revenue_wan", "op": "ge", "value": 2000},
                {"fact": "industry_code", "op": "starts_with_any", "value": ["38", "39"]},
                {
                    "any": [
                        {"fact": "certifications", "op": "contains", "value": "srdi"},
                        {"fact": "rd_intensity", "op": "gt", "value": 0.035},
                    ]
                },
            ],
            benefit="min(rd_spend_wan * 0.1, 50)",
        )
    )
    assert c.labels == (
        "revenue_wan ≥ 2000",
        "industry_code starts with 38 / 39",
        "any of (certifications contains srdi; rd_intensity > 0.035)",
    )
    assert c.failed([1]) == [{"index": 1, "label": "industry_code starts with 38 / 39"}]
    assert c.benefit.names == {"rd_spend_wan"}
    with pytest.raises(engine.PolicyDocumentError) as e:
        engine.compile_policy(
            doc("X", [{"fact": "nope", "op": "eq", "value": "1"}], benefit="__import__('os')")
        )
    assert any(p.startswith("conditions[0].fact") for p in e.value.problems)
    assert any(p.startswith("benefit.formula") for p in e.value.problems)
    with pytest.raises(engine.PolicyDocumentError, match="unknown name"):
        engine.compile_policy(doc("X", [], benefit="certifications * 2"))  # not a number fact


# --- validity ------------------------------------------------------------------------------


def test_validity_boundaries_are_inclusive(district):
    d = doc("V", [{"fact": "scale", "op": "eq", "value": "above"}], valid_from="2025-01-01",
            valid_to="2025-12-31")  # fmt: skip
    assert [engine.in_force(d, day) for day in ("2024-12-31", "2025-01-01", "2025-12-31", "2026-01-01")] == [
        False, True, True, False,
    ]  # fmt: skip
    assert engine.match_policy(documents=d, as_of=D(2024, 12, 31)) == []
    assert engine.match_policy(documents=d, as_of=D(2026, 1, 1)) == []
    for day in (D(2025, 1, 1), D(2025, 12, 31)):
        rows = by_code(engine.match_policy(documents=d, as_of=day))
        assert rows[("V", E1)]["result"] == "eligible"
        assert rows[("V", E2)]["result"] == "ineligible" and rows[("V", E2)]["near_miss"]
    open_ended = doc("O", [], valid_from=None)
    assert engine.in_force(open_ended, "1990-01-01") and engine.in_force(open_ended, "2100-01-01")
    assert len(engine.match_policy(documents=[d, open_ended], as_of="2026-06-01")) == 2


# --- facts ---------------------------------------------------------------------------------


def _both_facts(as_of, ids=None):
    """The engine's facts (SQL) after checking they equal the Python ones (ORM)."""
    got = engine.facts_table(as_of=as_of, enterprise_ids=ids)
    assert got == facts.facts_for(ids, as_of)
    for eid, (_code, values) in got.items():
        assert facts.facts_of(eid, as_of) == values
    return {code: values for code, values in got.values()}


def test_facts_of_the_fixture_firms(district):
    f = _both_facts(D(2025, 6, 30))
    assert f[E1] == {
        "industry_code": "3841",
        "scale": "above",
        "town": "T01",
        "park": "P01",
        "age_years": 10,
        "certifications": ["high_tech", "srdi"],
        "employees": 420,
        "revenue_wan": 61000,
        "tax_wan": 2100,
        "rd_spend_wan": 3050,
        "rd_intensity": 0.05,
        "value_added_wan": 15250,
        "output_wan": 54900,
        "efficiency_grade": None,
    }
    assert f[E2]["park"] == "" and f[E2]["certifications"] == []
    assert f[E2]["output_wan"] is None and f[E2]["rd_intensity"] is None
    assert f[E2]["employees"] == 35 and f[E2]["age_years"] == 6


def test_age_in_whole_years_at_the_anniversary(district):
    e = district["enterprises"]["e1"]  # founded 2015-03-01
    assert _both_facts(D(2025, 2, 28))[E1]["age_years"] == 9
    assert _both_facts(D(2025, 3, 1))[E1]["age_years"] == 10
    assert _both_facts(D(2015, 3, 1))[E1]["age_years"] == 0
    assert _both_facts(D(2015, 2, 28))[E1]["age_years"] is None  # founded after D: unknown
    e.founded_on = D(2020, 2, 29)
    e.save()
    ages = {day: _both_facts(day)[E1]["age_years"] for day in
            (D(2021, 2, 28), D(2021, 3, 1), D(2024, 2, 28), D(2024, 2, 29))}  # fmt: skip
    assert ages == {D(2021, 2, 28): 0, D(2021, 3, 1): 1, D(2024, 2, 28): 3, D(2024, 2, 29): 4}
    e.founded_on = None
    e.save()
    assert _both_facts(D(2025, 3, 1))[E1]["age_years"] is None
    d = doc("AGE", [{"fact": "age_years", "op": "ge", "value": 0}])
    row = by_code(engine.match_policy(documents=d, as_of="2025-03-01"))[("AGE", E1)]
    assert (row["result"], row["unknown"]) == ("insufficient_data", ["age_years"])


def test_indicators_come_from_the_latest_year_not_after_the_date(district):
    assert _both_facts(D(2023, 12, 31))[E1]["revenue_wan"] == 52000
    assert _both_facts(D(2024, 1, 1))[E1]["revenue_wan"] == 61000
    assert _both_facts(D(2030, 1, 1))[E1]["revenue_wan"] == 61000
    f = _both_facts(D(2023, 12, 31))[E2]  # e2 has figures for 2024 only
    assert all(f[k] is None for k in facts.INDICATOR_FACTS)
    assert _both_facts(D(2022, 12, 31))[E1]["tax_wan"] is None
    # the latest row's blank is unknown even though an older year had the figure
    IndicatorYear.objects.filter(enterprise__credit_code=E1, year=2024).update(tax_wan=None)
    assert _both_facts(D(2025, 1, 1))[E1]["tax_wan"] is None


def test_rd_intensity_with_zero_revenue_is_unknown(district):
    IndicatorYear.objects.filter(enterprise__credit_code=E2, year=2024).update(
        revenue_wan=0.0, rd_spend_wan=10.0
    )
    f = _both_facts(D(2025, 1, 1))
    assert f[E2]["revenue_wan"] == 0 and f[E2]["rd_intensity"] is None
    assert f[E1]["rd_intensity"] == 3050 / 61000
    d = doc("RD", [{"fact": "rd_intensity", "op": "ge", "value": 0.01}])
    rows = by_code(engine.match_policy(documents=d, as_of="2025-01-01"))
    assert rows[("RD", E1)]["result"] == "eligible"
    assert (rows[("RD", E2)]["result"], rows[("RD", E2)]["unknown"]) == (
        "insufficient_data",
        ["rd_intensity"],
    )


def _ruleset(name, version):
    return RulesetVersion.objects.create(
        name=name, version=version, digest=f"{name}-{version}", title=name, document={}, text=""
    )


def _evaluation(rv, year, grades, digest="x"):
    ev = Evaluation.objects.create(year=year, ruleset=rv, inputs_digest=digest, inputs=2)
    for code, grade in grades.items():
        EvaluationResult.objects.create(
            evaluation=ev,
            enterprise=Enterprise.objects.get(credit_code=code),
            credit_code=code,
            population="above",
            status="scored" if grade else "insufficient_data",
            grade=grade,
        )
    return ev


def test_efficiency_grade_from_the_latest_evaluation(district):
    name = django_settings.INVESTMAP_EFFICIENCY_RULESET
    v1, v2, other = _ruleset(name, 1), _ruleset(name, 2), _ruleset("someone-else", 1)
    _evaluation(v1, 2023, {E1: "C"})
    _evaluation(v1, 2024, {E1: "A", E2: ""})  # e2 ungraded (insufficient data)
    _evaluation(other, 2024, {E1: "D", E2: "D"})  # another ruleset: not a fact
    _evaluation(v1, 2026, {E1: "D"})

    def grades(day):
        f = _both_facts(day)
        return f[E1]["efficiency_grade"], f[E2]["efficiency_grade"]

    assert grades(D(2022, 12, 31)) == (None, None)
    assert grades(D(2023, 1, 1)) == ("C", None)
    assert grades(D(2025, 12, 31)) == ("A", None)  # 2024 is the latest year ≤ 2025
    assert grades(D(2026, 1, 1)) == ("D", None)
    _evaluation(v1, 2024, {E1: "B", E2: "C"}, digest="rerun")  # a later run of 2024
    assert grades(D(2025, 1, 1)) == ("B", "C")
    _evaluation(v2, 2024, {E1: "A"})  # a newer ruleset version of the year wins
    assert grades(D(2025, 1, 1)) == ("A", None)
    d = doc("G", [{"fact": "efficiency_grade", "op": "in", "value": ["A", "B"]}])
    rows = by_code(engine.match_policy(documents=d, as_of="2025-01-01"))
    assert rows[("G", E1)]["result"] == "eligible"
    assert rows[("G", E2)]["unknown"] == ["efficiency_grade"]


# --- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "formula, e1, e2",
    [
        ("round(min(revenue_wan * 0.001, 50), 1)", 50.0, 1.8),
        ("max(tax_wan * 0.1, 100)", 210.0, 100.0),
        ("round(revenue_wan / 400)", 153.0, 5.0),  # 152.5 and 4.5: half away from zero
        ("round(-revenue_wan / 400)", -153.0, -5.0),
        ("round(rd_spend_wan / 7, 2)", 435.71, None),  # e2's R&D spend is unknown
        ("output_wan * 0.01", 549.0, None),
        ("value_added_wan / (revenue_wan - revenue_wan)", None, None),  # ÷0 is missing
        ("min(employees, 100) * 0.5 + max(age_years - 8, 0)", 52.0, 17.5),
        ("30", 30.0, 30.0),
    ],
)
def test_benefit_amounts(district, formula, e1, e2):
    d = doc("B", [], benefit=formula)  # no condition: both firms are eligible
    rows = by_code(engine.match_policy(documents=d, as_of="2025-06-30"))
    got = [rows[("B", E1)]["amount_wan"], rows[("B", E2)]["amount_wan"]]
    assert [x is None for x in got] == [e1 is None, e2 is None]
    assert [x for x in got if x is not None] == pytest.approx(
        [x for x in (e1, e2) if x is not None]
    )
    # the stored rows (bitset job, amounts for the eligible pairs) carry the same amounts
    stored = {
        r["enterprise_id"]: r["amount_wan"]
        for r in engine.evaluate_stored(documents=d, as_of="2025-06-30")
    }
    ids = district["enterprises"]
    assert [stored[ids["e1"].pk], stored[ids["e2"].pk]] == got
    assert (
        reference.compare(
            list(rows.values()), reference.match_policy(documents=d, as_of="2025-06-30")
        )
        == []
    )


def test_no_amount_unless_eligible(district):
    d = doc("S", [{"fact": "scale", "op": "eq", "value": "above"}], benefit="50")
    rows = by_code(engine.match_policy(documents=d, as_of="2025-06-30"))
    assert rows[("S", E1)]["amount_wan"] == 50.0
    assert rows[("S", E2)]["result"] == "ineligible" and rows[("S", E2)]["amount_wan"] is None


# --- refresh -------------------------------------------------------------------------------

AS_OF = D(2025, 6, 30)


def stored_rows():
    return {
        (m.version.policy.code, m.enterprise.credit_code): (m.result, m.near_miss, m.failed)
        for m in PolicyMatch.objects.select_related("version__policy", "enterprise")
    }


def fixture_policies():
    return {
        "A": store(doc("A", [{"fact": "scale", "op": "eq", "value": "above"},
                             {"fact": "certifications", "op": "contains", "value": "high_tech"}])),
        "B": store(doc("B", [{"fact": "revenue_wan", "op": "ge", "value": 1000},
                             {"fact": "employees", "op": "ge", "value": 100}], benefit="revenue_wan * 0.001")),
        "C": store(doc("C", [{"fact": "output_wan", "op": "ge", "value": 10}])),
        "D": store(doc("D", [], valid_to="2024-12-31")),  # expired: no rows
    }  # fmt: skip


def test_refresh_stores_eligible_pairs_and_near_misses(district):
    v = fixture_policies()
    e1, e2 = district["enterprises"]["e1"], district["enterprises"]["e2"]
    out = engine.refresh(as_of=AS_OF)
    assert (out["policies"], out["in_force"], out["out_of_force"]) == (4, 3, ["D"])
    near = [{"index": 1, "label": "employees ≥ 100"}]
    assert stored_rows() == {
        ("A", E1): ("eligible", False, []),
        ("B", E1): ("eligible", False, []),
        ("B", E2): ("ineligible", True, near),  # 35 staff: misses only that
        ("C", E1): ("eligible", False, []),
        # A-e2 fails two conditions, C-e2 lacks output: neither is stored
    }
    assert PolicyMatch.objects.get(version=v["B"], enterprise=e1).amount_wan == pytest.approx(61.0)
    assert (out["inserted"], out["eligible"], out["near_misses"]) == (4, 3, 1)
    assert out["new"] == sorted(
        [(v["A"].pk, e1.pk), (v["B"].pk, e1.pk), (v["B"].pk, e2.pk), (v["C"].pk, e1.pk)]
    )
    assert sorted(out["newly_eligible"]) == sorted(k for k in out["new"] if k != (v["B"].pk, e2.pk))
    # the stored rows are what the reference says should be stored
    docs = [x.document for x in v.values()]
    assert (
        reference.compare(
            engine.evaluate_stored(documents=docs, as_of=AS_OF),
            reference.stored(documents=docs, as_of=AS_OF),
        )
        == []
    )

    again = engine.refresh(as_of=AS_OF)
    assert (again["inserted"], again["updated"], again["deleted"], again["unchanged"]) == (
        0,
        0,
        0,
        4,
    )
    assert again["new"] == [] and again["newly_eligible"] == []

    # e2 grows to 150 staff: its near miss becomes eligible (updated, not new)
    first_seen = PolicyMatch.objects.get(version=v["B"], enterprise=e2).first_seen_at
    IndicatorYear.objects.filter(enterprise=e2, year=2024).update(employees=150)
    out = engine.refresh(as_of=D(2025, 7, 1), enterprise_ids=[e2.pk])
    assert (out["updated"], out["inserted"], out["new"]) == (1, 0, [])
    assert out["newly_eligible"] == [(v["B"].pk, e2.pk)]
    m = PolicyMatch.objects.get(version=v["B"], enterprise=e2)
    assert (m.result, m.near_miss, m.failed) == ("eligible", False, [])
    assert m.amount_wan == pytest.approx(1.8)
    assert m.first_seen_at == first_seen and m.as_of == D(2025, 7, 1)
    assert PolicyMatch.objects.get(version=v["A"], enterprise=e1).as_of == AS_OF  # not in scope

    # e1 loses its certification: A becomes a near miss; then also 规下: A is dropped
    Enterprise.objects.filter(pk=e1.pk).update(certifications=[])
    engine.refresh(as_of=AS_OF)
    assert stored_rows()[("A", E1)] == (
        "ineligible",
        True,
        [{"index": 1, "label": "certifications contains high_tech"}],
    )
    Enterprise.objects.filter(pk=e1.pk).update(scale="below")
    out = engine.refresh(as_of=AS_OF, policy_codes=["A"])
    assert out["deleted"] == 1 and ("A", E1) not in stored_rows()
    assert ("B", E1) in stored_rows()


def test_old_versions_are_never_touched(district):
    e1, e2 = district["enterprises"]["e1"], district["enterprises"]["e2"]
    v1 = store(doc("P", [{"fact": "scale", "op": "eq", "value": "above"}]))
    engine.refresh(as_of=AS_OF)
    before = {
        (m.pk, m.enterprise_id, m.result, m.near_miss, m.as_of)
        for m in PolicyMatch.objects.filter(version=v1)
    }
    assert {(e, r) for _pk, e, r, _n, _d in before} == {(e1.pk, "eligible"), (e2.pk, "ineligible")}
    v2 = store(doc("P", [{"fact": "scale", "op": "eq", "value": "below"}]))
    Enterprise.objects.filter(pk=e2.pk).update(town=district["towns"]["T01"])
    out = engine.refresh(as_of=D(2025, 8, 1))
    assert out["inserted"] == 2 and out["deleted"] == 0 and out["policies"] == 1
    after = {
        (m.pk, m.enterprise_id, m.result, m.near_miss, m.as_of)
        for m in PolicyMatch.objects.filter(version=v1)
    }
    assert after == before
    now = {m.enterprise_id: m.result for m in PolicyMatch.objects.filter(version=v2)}
    assert now == {e1.pk: "ineligible", e2.pk: "eligible"}
    # the policy leaving force removes the current version's rows only
    store(doc("P", [{"fact": "scale", "op": "eq", "value": "below"}], valid_to="2025-01-01"))
    engine.refresh(as_of=AS_OF)
    assert PolicyMatch.objects.filter(version=v2).count() == 2  # v2 is no longer current
    assert PolicyMatch.objects.filter(version=v1).count() == 2
    assert PolicyMatch.objects.filter(version__policy__code="P").count() == 4


# --- signals -------------------------------------------------------------------------------


@pytest.fixture
def connected():
    """The refresh signals, connected for the test (and left as they were after it)."""
    was = any(key[0][0] == "policies-ent-save" for key in post_save.receivers)
    signals.connect()
    signals._take()  # marks left by other tests' rolled-back transactions
    yield
    if not was:
        from django.db.models.signals import post_delete

        from investmap.efficiency.models import Evaluation as Ev
        from investmap.resources.models import Park, Town
        from investmap.resources.signals import library_changed

        for sig, uid in (
            (post_save, "policies-ent-save"),
            (post_delete, "policies-ent-del"),
            (post_save, "policies-ind-save"),
            (post_delete, "policies-ind-del"),
        ):
            sig.disconnect(dispatch_uid=uid, sender=IndicatorYear if "ind" in uid else Enterprise)
        for model in (Town, Park, Ev):
            post_save.disconnect(sender=model, dispatch_uid=f"policies-{model.__name__}-save")
            post_delete.disconnect(sender=model, dispatch_uid=f"policies-{model.__name__}-del")
        library_changed.disconnect(dispatch_uid="policies-library")
        policy_changed.disconnect(dispatch_uid="policies-changed")


def test_signals_refresh_after_an_enterprise_edit(district, connected):
    e1, e2 = district["enterprises"]["e1"], district["enterprises"]["e2"]
    fixture_policies()
    engine.refresh()  # today: the policies without an end are in force
    assert stored_rows()[("B", E2)][0] == "ineligible"
    # an indicator edit (autocommit: the callback runs at once) refreshes e2
    ind = IndicatorYear.objects.get(enterprise=e2, year=2024)
    ind.employees = 100
    ind.save()
    assert stored_rows()[("B", E2)] == ("eligible", False, [])
    # an enterprise edit refreshes it
    e1.certifications = ["srdi"]
    e1.save()
    assert stored_rows()[("A", E1)][1] is True
    # a policy imported: policy_changed names it, it is matched against everyone
    new = store(doc("N", [{"fact": "town", "op": "in", "value": ["T02"]}]))
    assert not PolicyMatch.objects.filter(version=new).exists()
    policy_changed.send(sender=Policy, codes=["N"])
    assert {m.enterprise_id: m.near_miss for m in PolicyMatch.objects.filter(version=new)} == {
        e1.pk: True,
        e2.pk: False,
    }
    # a new efficiency evaluation (grades are facts) refreshes everything
    store(doc("G", [{"fact": "efficiency_grade", "op": "eq", "value": "A"}]))
    with transaction.atomic():  # as services.evaluate stores a run: results with it
        rv = _ruleset(django_settings.INVESTMAP_EFFICIENCY_RULESET, 1)
        _evaluation(rv, dt.date.today().year, {E1: "A", E2: "B"})
    assert stored_rows()[("G", E1)] == ("eligible", False, [])
    assert stored_rows()[("G", E2)][1] is True


@pytest.mark.django_db(transaction=False)
def test_flush_refreshes_inside_one_transaction(district, connected):
    """A test inside one transaction never commits: flush() reads the uncommitted rows."""
    fixture_policies()
    e2 = district["enterprises"]["e2"]
    ind = IndicatorYear.objects.get(enterprise=e2, year=2024)
    ind.employees = 150
    ind.save()
    signals.mark(everything=True)
    done = signals.flush(as_of=AS_OF)
    assert done and done[0]["inserted"] == 4
    assert stored_rows()[("B", E2)] == ("eligible", False, [])
    assert signals.flush() == []  # nothing left to do
