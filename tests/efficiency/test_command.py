"""`investmap efficiency evaluate|results|idle-land|low-efficiency|land-status|rulesets|test-rulesets`."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from investmap.efficiency.models import Evaluation

from .data import add_enterprises

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("efficiency", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_evaluate_json_one_object_per_enterprise(district):
    add_enterprises(district)
    rows = json.loads(run("evaluate", "--year", "2024", "--ruleset", "huangyan-2022", "--json"))
    assert isinstance(rows, list) and len(rows) == 22
    assert [r["credit_code"] for r in rows] == sorted(r["credit_code"] for r in rows)
    for r in rows:
        assert set(r) >= {
            "credit_code",
            "population",
            "score",
            "indicator_scores",
            "grade",
            "rank",
            "status",
            "missing",
        }
    e2 = next(r for r in rows if r["credit_code"] == "91310000MA1FL00002")
    assert e2["status"] == "insufficient_data" and e2["missing"] == [
        "electricity_kwh",
        "land_area_mu",
    ]
    assert e2["score"] is None and e2["grade"] is None and e2["rank"] is None
    # deterministic: the same run answers the same, stored once
    assert (
        json.loads(run("evaluate", "--year", "2024", "--ruleset", "huangyan-2022", "--json"))
        == rows
    )
    assert Evaluation.objects.count() == 1
    assert json.loads(run("results", "--year", "2024", "--json")) == rows


def test_evaluate_all_years_and_text_output(district):
    add_enterprises(district)
    out = run("evaluate", "--all-years", "--ruleset", "minmax-2022")
    assert "2023, minmax-2022 v1" in out and "2024, minmax-2022 v1" in out
    assert Evaluation.objects.count() == 2


def test_errors_are_clear(district):
    with pytest.raises(CommandError, match="atlantis"):
        run("evaluate", "--year", "2024", "--ruleset", "atlantis")
    with pytest.raises(CommandError, match="1999"):
        run("evaluate", "--year", "1999")
    with pytest.raises(CommandError, match="ghost"):
        run("evaluate", "--year", "2024", "--user", "ghost")


def test_idle_land_json(district):
    rows = json.loads(run("idle-land", "--as-of", "2024-01-01", "--json"))
    assert [
        (
            r["parcel"],
            r["enterprise"],
            r["reason"],
            r["idle_since"],
            r["fee_estimate_wan"],
            r["recoverable"],
        )
        for r in rows
    ] == [("P-002", "91310000MA1FL00001", "not_started_1y", "2023-01-01", 180.0, True)]
    assert json.loads(run("idle-land", "--as-of", "2022-12-31", "--json")) == []


def test_land_status_dry_run_and_rulesets(district):
    district["parcels"]["P-002"].__class__.objects.filter(code="P-002").update(status="in_use")
    out = json.loads(run("land-status", "--as-of", "2024-01-01", "--dry-run", "--json"))
    assert out["dry_run"] is True and any(c["parcel"] == "P-002" for c in out["changed"])
    names = {r["name"] for r in json.loads(run("rulesets", "--json"))}
    assert {"huangyan-2021", "huangyan-2022", "minmax-2022"} <= names
    out = run("test-rulesets", "huangyan-2022")
    assert re.search(r"huangyan-2022: \S*[1-9]\d*", out), out
