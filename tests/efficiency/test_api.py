"""The efficiency endpoints under /api/v1: shapes, errors, access, exports."""

import io
import json

import openpyxl
import pytest
from django.test import Client

from investmap.core.models import ApiToken

from .data import add_enterprises

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(users):
    def make(name):
        _token, raw = ApiToken.issue(user=users[name])
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def body(r):
    return json.loads(r.content)


def post(client, url, data):
    return client.post(
        url,
        data=json.dumps(data) if not isinstance(data, str) else data,
        content_type="application/json",
    )


def test_evaluate_then_read(district, api):
    add_enterprises(district)
    c = api("bureau")
    r = post(c, "/api/v1/efficiency/evaluations", {"year": 2024, "ruleset": "huangyan-2022"})
    assert r.status_code == 201, r.content
    out = body(r)
    assert out["created"] is True and out["evaluation"]["version"] == 1 and out["count"] == 22
    row = next(x for x in out["results"] if x["credit_code"] == "91310000MA1FL00001")
    assert set(row) >= {
        "credit_code",
        "population",
        "score",
        "indicator_scores",
        "grade",
        "rank",
        "status",
        "missing",
    }
    assert row["status"] == "scored" and row["population"] == "above"
    assert row["indicator_scores"]["tax_per_mu"] == pytest.approx(2100 / 45 / 24.097 * 30)
    again = post(c, "/api/v1/efficiency/evaluations", {"year": 2024, "ruleset": "huangyan-2022"})
    assert again.status_code == 200 and body(again)["created"] is False
    assert body(again)["results"] == out["results"]
    g = c.get(
        "/api/v1/efficiency/evaluations", {"year": 2024, "ruleset": "huangyan-2022", "grade": "A,B"}
    )
    assert g.status_code == 200
    assert {x["grade"] for x in body(g)["results"]} <= {"A", "B"} and body(g)["count"] > 0
    page = c.get("/api/v1/efficiency/evaluations", {"year": 2024, "limit": 5, "offset": 5})
    assert len(body(page)["results"]) == 5 and body(page)["count"] == 22
    s = c.get("/api/v1/efficiency/summary", {"year": 2024, "by": "population"})
    assert {g["key"] for g in body(s)["groups"]} == {"above", "below"}
    assert body(c.get("/api/v1/efficiency/trend"))["years"][0]["year"] == 2024
    e = c.get("/api/v1/efficiency/enterprises/91310000MA1FL00001")
    assert body(e)["years"][0]["grade"] == row["grade"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"year": 2024, "rules": "x"}, "rules"),
        ({"ruleset": "huangyan-2022"}, "year"),
        ({"year": "soon"}, "year"),
        ({"year": 2024, "ruleset": "atlantis-2050"}, "ruleset"),
        ({"year": 2024, "ruleset": 7}, "ruleset"),
        ("[1, 2", "__all__"),
    ],
)
def test_bad_evaluation_requests_are_422_naming_the_field(district, api, payload, field):
    r = post(api("bureau"), "/api/v1/efficiency/evaluations", payload)
    assert r.status_code == 422, r.content
    assert body(r)["code"] == "invalid" and field in body(r)["errors"]


def test_access(district, api, client):
    add_enterprises(district)
    assert post(api("leader"), "/api/v1/efficiency/evaluations", {"year": 2024}).status_code == 403
    assert (
        post(api("officer_t01"), "/api/v1/efficiency/evaluations", {"year": 2024}).status_code
        == 403
    )
    assert client.get("/api/v1/efficiency/rulesets").status_code == 401
    assert api("sysadmin").get("/api/v1/efficiency/rulesets").status_code == 403
    r = api("leader").get("/api/v1/efficiency/evaluations", {"year": 2024})
    assert r.status_code == 404 and body(r)["code"] == "not_found"
    assert post(api("bureau"), "/api/v1/efficiency/evaluations", {"year": 1990}).status_code == 422


def test_export_xlsx_reads_back(district, api):
    add_enterprises(district)
    c = api("bureau")
    post(c, "/api/v1/efficiency/evaluations", {"year": 2024})
    r = c.get("/api/v1/efficiency/evaluations/export.xlsx", {"year": 2024, "town": "T01"})
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["规上企业", "规下企业", "评价规则"]
    sheet = wb["规上企业"]
    header = [c.value for c in sheet[1]]
    assert header[0] == "统一社会信用代码" and "亩均税收 (万元/亩)" in header
    codes = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "91310000MA1FL00001" in codes and len(codes) == 6  # e1 + five 规上 firms of T01


def test_rulesets_idle_land_and_map(district, api):
    c = api("officer_t01")
    names = [r["name"] for r in body(c.get("/api/v1/efficiency/rulesets"))]
    assert {"huangyan-2021", "huangyan-2022", "minmax-2022"} <= set(names)
    d = body(c.get("/api/v1/efficiency/rulesets/huangyan-2022"))
    assert d["version"] is None and d["registered"] is False  # reading registers nothing
    assert d["populations"][0]["indicators"][0]["benchmark"] == 24.097
    assert d["source"]["url"].startswith("https://")
    assert c.get("/api/v1/efficiency/rulesets/nope").status_code == 404
    idle = body(c.get("/api/v1/efficiency/idle-land", {"as_of": "2023-06-01"}))
    assert [
        (r["parcel"], r["reason"], r["idle_since"], r["fee_estimate_wan"], r["recoverable"])
        for r in idle["results"]
    ] == [("P-002", "not_started_1y", "2023-01-01", 180.0, False)]
    assert c.get("/api/v1/efficiency/idle-land", {"as_of": "June"}).status_code == 422
    assert c.get("/api/v1/efficiency/idle-land").status_code == 422
    m = body(c.get("/api/v1/efficiency/map", {"as_of": "2023-06-01"}))
    assert m["type"] == "FeatureCollection"
    f = next(x for x in m["features"] if x["properties"]["code"] == "P-002")
    assert f["properties"]["idle"] == "not_started_1y" and f["properties"]["color"].startswith("#")


def test_land_status_endpoint(district, api):
    c = api("bureau")
    r = post(c, "/api/v1/efficiency/land-status", {"as_of": "2024-06-01", "dry_run": True})
    assert r.status_code == 200 and body(r)["dry_run"] is True
    assert (
        post(c, "/api/v1/efficiency/land-status", {"as_of": "2024-06-01", "force": 1}).status_code
        == 422
    )
    assert (
        post(api("leader"), "/api/v1/efficiency/land-status", {"as_of": "2024-06-01"}).status_code
        == 403
    )


def test_standard_land_rulesets_are_listed_with_their_sources(district, api):
    c = api("leader")
    out = body(c.get("/api/v1/efficiency/standard-land"))
    names = {r["name"] for r in out["rulesets"]}
    assert out["default"] in names and "wenling-dongbu-2021" in names
    one = body(c.get("/api/v1/efficiency/standard-land/wenling-dongbu-2021"))
    assert one["source"]["url"].startswith("http") and one["rows"]
    assert c.get("/api/v1/efficiency/standard-land/nope").status_code == 404
