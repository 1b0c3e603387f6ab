"""Every /api/v1 endpoint of the resource library, with auth and data scope."""

import io
import json

import pytest
from django.test import Client
from openpyxl import load_workbook

from investmap.core.models import ApiToken, AuditEvent
from investmap.resources import presenters
from investmap.resources.models import Parcel

E1 = "91310000MA1FL00001"  # T01
E2 = "91310000MA1FL00002"  # T02: contacts 李四 13987654321, 2024 tax 60
E2_SECRETS = ("13987654321", "李四")


@pytest.fixture
def api(users):
    """api(name) → a client authenticated by a Bearer token of that user."""

    def make(name):
        _token, raw = ApiToken.issue(user=users[name])
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def body(response):
    return json.loads(response.content)


# --- auth, OpenAPI -------------------------------------------------------------


def test_unauthenticated_requests_get_401(district):
    c = Client()
    for url in (
        "/api/v1/parcels",
        "/api/v1/parcels/P-001",
        "/api/v1/map/parcels",
        "/api/v1/overview",
        "/api/v1/meta/legend",
        "/api/v1/towns",
        "/api/v1/enterprises/export.xlsx",
    ):
        r = c.get(url)
        assert r.status_code == 401, url
        assert body(r)["code"] == "unauthorized" and body(r)["message"]
    bad = Client(HTTP_AUTHORIZATION="Bearer imt_not-a-token")
    assert bad.get("/api/v1/parcels").status_code == 401
    assert (
        Client()
        .patch("/api/v1/parcels/P-001", data={"version": 1}, content_type="application/json")
        .status_code
        == 401
    )


def test_session_login_works(users):
    c = Client()
    c.force_login(users["leader"])
    r = c.get("/api/v1/parcels")
    assert r.status_code == 200 and body(r)["count"] == 3


def test_openapi_and_docs(users):
    c = Client()
    r = c.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = body(r)
    paths = doc["paths"]
    for p in (
        "/api/v1/{kind}",
        "/api/v1/{kind}/{code}",
        "/api/v1/map/{layer}",
        "/api/v1/overview",
        "/api/v1/meta/legend",
        "/api/v1/{kind}/export.xlsx",
        "/api/v1/{kind}/export.geojson",
        "/api/v1/towns",
        "/api/v1/parks",
    ):
        assert p in paths, p
    assert "patch" in paths["/api/v1/{kind}/{code}"]
    assert "PageOut" in doc["components"]["schemas"] and "ErrorOut" in doc["components"]["schemas"]
    c.force_login(users["leader"])
    assert c.get("/api/v1/docs").status_code == 200


# --- reference data ------------------------------------------------------------


def test_legend(api):
    r = api("leader").get("/api/v1/meta/legend")
    assert r.status_code == 200
    data = body(r)
    assert set(data) == {
        "parcel_status",
        "land_use",
        "building_type",
        "poi_category",
        "enterprise_scale",
        "certification",
    }
    idle = next(i for i in data["parcel_status"] if i["value"] == "idle")
    assert idle["color"] == "#e53935" and idle["label"]
    assert {i["value"] for i in data["certification"]} >= {"high_tech", "srdi"}


def test_towns_and_parks(api):
    c = api("officer_t02")
    towns = body(c.get("/api/v1/towns"))
    assert [t["code"] for t in towns] == ["T01", "T02"] and len(towns[0]["bbox"]) == 4
    parks = body(c.get("/api/v1/parks?town=T01"))
    assert [(p["code"], p["town"]) for p in parks] == [("P01", "T01")]


# --- lists -----------------------------------------------------------------------


def test_list_filters(api):
    c = api("bureau")
    cases = [
        ("/api/v1/parcels?status=idle", ["P-002"]),
        ("/api/v1/parcels?land_use=M1&land_use=M2", ["P-001", "P-003"]),
        ("/api/v1/parcels?town=T02", ["P-003"]),
        ("/api/v1/parcels?q=科创", ["P-001", "P-002"]),
        ("/api/v1/parcels?area_mu_min=100", ["P-003"]),
        ("/api/v1/parcels?area_mu_max=100&park=P01", ["P-001", "P-002"]),
        ("/api/v1/buildings?building_type=office", ["B-001"]),
        ("/api/v1/pois?category=metro_station,hospital", ["POI-H1", "POI-M1"]),
        ("/api/v1/teams?q=新能源", ["TEAM-T01"]),
    ]
    for url, expected in cases:
        r = c.get(url)
        assert r.status_code == 200, url
        assert sorted(i["code"] for i in body(r)["items"]) == expected, url
    r = c.get("/api/v1/enterprises?certification=srdi")
    assert [i["credit_code"] for i in body(r)["items"]] == [E1]
    r = c.get("/api/v1/enterprises?scale=below&town=T02")
    assert [i["credit_code"] for i in body(r)["items"]] == [E2]
    r = c.get("/api/v1/land-grants?parcel=P-002")
    assert [(i["parcel"], i["enterprise"]) for i in body(r)["items"]] == [("P-002", E1)]


def test_list_pagination(api):
    c = api("leader")
    first = body(c.get("/api/v1/parcels?page_size=2"))
    assert first["count"] == 3 and first["page"] == 1 and first["page_size"] == 2
    assert [i["code"] for i in first["items"]] == ["P-001", "P-002"]
    second = body(c.get("/api/v1/parcels?page_size=2&page=2"))
    assert [i["code"] for i in second["items"]] == ["P-003"] and second["count"] == 3
    assert body(c.get("/api/v1/parcels?page_size=2&page=3"))["items"] == []
    for bad in ("page_size=501", "page_size=0", "page=0"):
        r = c.get(f"/api/v1/parcels?{bad}")
        assert r.status_code == 422 and body(r)["code"] == "invalid", bad
    assert body(c.get("/api/v1/parcels?page_size=500"))["page_size"] == 500


def test_list_errors(api):
    c = api("leader")
    r = c.get("/api/v1/parcels?status=sold")
    assert r.status_code == 422
    assert body(r)["code"] == "invalid" and "status" in body(r)["errors"]
    r = c.get("/api/v1/spaceships")
    assert r.status_code == 422  # not one of the kinds (the OpenAPI enum)


# --- detail ----------------------------------------------------------------------


def test_detail(api):
    c = api("leader")
    d = body(c.get("/api/v1/parcels/P-001"))
    assert d["code"] == "P-001" and d["geometry"]["type"] == "Polygon" and d["version"] == 1
    assert [b["code"] for b in d["buildings"]] == ["B-001"]
    assert [p["code"] for p in d["nearby_pois"]] == ["POI-M1"]
    assert d["nearby_pois"][0]["distance_m"] == pytest.approx(292.9, abs=1.0)
    e = body(c.get(f"/api/v1/enterprises/{E1}"))
    assert [i["year"] for i in e["indicators"]] == [2023, 2024] and e["parcel"]["code"] == "P-001"
    t = body(c.get("/api/v1/teams/TEAM-T01"))
    assert t["members"][0]["name"] == "王五"
    g = body(c.get(f"/api/v1/land-grants/P-002:{E1}"))
    assert g["contract_price_wan"] == 900
    r = c.get("/api/v1/parcels/NOPE")
    assert r.status_code == 404 and body(r)["code"] == "not_found"


# --- map ---------------------------------------------------------------------------


def test_map(api, settings):
    c = api("leader")
    fc = body(c.get("/api/v1/map/parcels?bbox=121.1,31.0,121.2,31.1&zoom=16"))
    assert fc["type"] == "FeatureCollection" and [
        f["properties"]["code"] for f in fc["features"]
    ] == ["P-003"]
    fc = body(c.get("/api/v1/map/parcels?bbox=121,31,121.2,31.1&zoom=16&status=idle"))
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-002"]
    agg = body(c.get("/api/v1/map/parcels?bbox=121,31,121.2,31.1&zoom=10"))
    assert agg["aggregated"] is True and agg["total"] == 3
    assert {"count", "by", "color", "cell"} == set(agg["features"][0]["properties"])
    settings.INVESTMAP_MAP_MAX_FEATURES = 1
    cut = body(c.get("/api/v1/map/parcels?zoom=18"))
    assert cut["truncated"] is True and len(cut["features"]) == 1 and cut["total"] == 3
    assert body(c.get("/api/v1/map/towns?zoom=12"))["total"] == 2
    assert c.get("/api/v1/map/metro-lines?zoom=12").status_code == 200
    r = c.get("/api/v1/map/parcels?bbox=1,2,3")
    assert r.status_code == 422 and "bbox" in body(r)["errors"]
    assert c.get("/api/v1/map/rivers").status_code == 422


# --- overview (read by the engine: rows must be committed) ---------------------------


@pytest.mark.django_db(transaction=True)
def test_overview(api):
    c = api("leader")
    d = body(c.get("/api/v1/overview"))
    assert d["level"] == "district" and [ch["code"] for ch in d["children"]] == ["T01", "T02"]
    assert d["enterprises"] == {"count": 2, "above": 1, "below": 1}
    assert d["economy"]["tax_wan"] == 2160.0
    t = body(c.get("/api/v1/overview?level=town&code=T01"))
    assert t["code"] == "T01" and [ch["code"] for ch in t["children"]] == ["P01"]
    assert c.get("/api/v1/overview?level=town&code=T99").status_code == 404
    assert c.get("/api/v1/overview?level=city").status_code == 422


# --- exports -------------------------------------------------------------------------


def test_exports(api):
    c = api("bureau")
    r = c.get("/api/v1/parcels/export.xlsx?status=idle")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in r["Content-Disposition"] and ".xlsx" in r["Content-Disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [row[0] for row in ws.iter_rows(min_row=2, values_only=True)] == ["P-002"]
    r = c.get("/api/v1/pois/export.geojson?category=school")
    assert r.status_code == 200 and r["Content-Type"] == "application/geo+json"
    fc = json.loads(r.content)
    assert [f["properties"]["code"] for f in fc["features"]] == ["POI-S1"]
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [121.03, 31.03]}
    assert AuditEvent.objects.filter(action="export").count() == 2
    assert c.get("/api/v1/parcels/export.xlsx?status=sold").status_code == 422


# --- edits ---------------------------------------------------------------------------


def test_patch(api, users):
    c = api("bureau")
    r = c.patch(
        "/api/v1/parcels/P-001",
        data={"version": 1, "status": "idle"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert body(r)["status"] == "idle" and body(r)["version"] == 2
    p = Parcel.objects.get(code="P-001")
    assert p.version == 2 and p.history.first().history_user == users["bureau"]
    r = c.patch(
        "/api/v1/parcels/P-001",
        data={"version": 1, "status": "available"},
        content_type="application/json",
    )
    assert r.status_code == 409
    assert body(r)["code"] == "conflict" and body(r)["current_version"] == 2 and body(r)["message"]
    r = c.patch(
        "/api/v1/parcels/P-001", data={"version": 2, "area_mu": 1}, content_type="application/json"
    )
    assert r.status_code == 422 and "area_mu" in body(r)["errors"]
    r = c.patch("/api/v1/parcels/P-001", data={"status": "idle"}, content_type="application/json")
    assert r.status_code == 422 and "version" in body(r)["errors"]
    r = c.patch(
        "/api/v1/parcels/NOPE",
        data={"version": 1, "status": "idle"},
        content_type="application/json",
    )
    assert r.status_code == 404
    assert Parcel.objects.get(code="P-001").status == "idle"


def test_leader_cannot_patch(api):
    r = api("leader").patch(
        "/api/v1/parcels/P-001",
        data={"version": 1, "status": "idle"},
        content_type="application/json",
    )
    assert r.status_code == 403 and body(r)["code"] == "forbidden"
    assert Parcel.objects.get(code="P-001").status == "available"


def test_session_patch_needs_csrf(users):
    c = Client(enforce_csrf_checks=True)
    c.force_login(users["bureau"])
    r = c.patch(
        "/api/v1/parcels/P-001",
        data={"version": 1, "status": "idle"},
        content_type="application/json",
    )
    assert r.status_code == 403, r.content  # ninja's CSRF refusal for cookie auth
    assert body(r)["code"] == "forbidden" and "CSRF" in body(r)["message"]
    assert Parcel.objects.get(code="P-001").version == 1


# --- scope -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["sysadmin", "auditor", "enterprise"])
def test_roles_without_resource_access_get_403(api, role):
    c = api(role)
    for url in (
        "/api/v1/parcels",
        "/api/v1/enterprises",
        f"/api/v1/enterprises/{E1}",
        "/api/v1/map/enterprises?zoom=16",
        "/api/v1/towns",
        "/api/v1/parks",
        "/api/v1/enterprises/export.xlsx",
        "/api/v1/enterprises/export.geojson",
        "/api/v1/overview",
    ):
        r = c.get(url)
        assert r.status_code == 403, (role, url)
        assert body(r)["code"] == "forbidden"
        assert not any(s.encode() in r.content for s in E2_SECRETS)
    r = c.patch(
        "/api/v1/parcels/P-001",
        data={"version": 1, "status": "idle"},
        content_type="application/json",
    )
    assert r.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_town_officer_cannot_read_other_towns_contacts_or_tax_by_any_route(api):
    c = api("officer_t01")

    def secret_free(r):
        assert r.status_code == 200, r.content
        for s in E2_SECRETS:
            assert s.encode() not in r.content, s
        return r

    # List: own town unmasked, other town masked.
    items = {i["credit_code"]: i for i in body(secret_free(c.get("/api/v1/enterprises")))["items"]}
    assert items[E1]["contact_phone"] == "13812345678" and items[E1]["tax_wan"] == 2100.0
    assert (
        items[E2]["contact_phone"] == "139****4321"
        and items[E2]["tax_wan"] is None
        and items[E2]["masked"]
    )
    # Detail and its yearly indicators.
    d = body(secret_free(c.get(f"/api/v1/enterprises/{E2}")))
    assert d["contact_name"] == "李*" and d["tax_wan"] is None
    assert [i["tax_wan"] for i in d["indicators"]] == [None]
    own = body(c.get(f"/api/v1/enterprises/{E1}"))
    assert own["contact_name"] == "张三丰" and [i["tax_wan"] for i in own["indicators"]] == [
        1800.0,
        2100.0,
    ]
    # Through the parcel it sits on, and the team pages.
    p = body(secret_free(c.get("/api/v1/parcels/P-003")))
    assert p["enterprises"][0]["contact_phone"] == "139****4321"
    secret_free(c.get("/api/v1/teams/TEAM-T02"))
    # Exports.
    r = secret_free(c.get("/api/v1/enterprises/export.xlsx"))
    ws = load_workbook(io.BytesIO(r.content)).active
    cells = [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert "13987654321" not in cells and "李四" not in cells and "139****4321" in cells
    assert "13812345678" in cells
    tax_col = [c.key for c in presenters.COLUMNS["enterprises"]].index("tax_wan")
    tax = {row[0]: row[tax_col] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert tax == {E1: 2100, E2: None}
    fc = json.loads(secret_free(c.get("/api/v1/enterprises/export.geojson")).content)
    props = {f["properties"]["credit_code"]: f["properties"] for f in fc["features"]}
    assert props[E2]["tax_wan"] is None and props[E1]["tax_wan"] == 2100.0
    # Map: no contacts or tax on any feature.
    fc = body(secret_free(c.get("/api/v1/map/enterprises?zoom=16")))
    assert all(
        "contact_phone" not in f["properties"] and "tax_wan" not in f["properties"]
        for f in fc["features"]
    )
    # Overview: tax of the own town only.
    assert body(c.get("/api/v1/overview?level=town&code=T01"))["economy"]["tax_wan"] == 2100.0
    for url in ("/api/v1/overview?level=town&code=T02", "/api/v1/overview"):
        economy = body(secret_free(c.get(url)))["economy"]
        assert economy["tax_wan"] is None and economy["masked"] is True


def test_maintainer_sees_masked_contacts(api):
    c = api("maintainer")
    items = body(c.get("/api/v1/enterprises"))["items"]
    assert all(i["masked"] and "*" in i["contact_phone"] and i["tax_wan"] is None for i in items)
    assert b"13812345678" not in c.get("/api/v1/enterprises/export.xlsx").content
    r = c.patch(
        "/api/v1/buildings/B-001",
        data={"version": 1, "vacant_floor_m2": 100},
        content_type="application/json",
    )
    assert r.status_code == 200 and body(r)["vacant_floor_m2"] == 100
    r = c.patch(
        f"/api/v1/enterprises/{E1}",
        data={"version": 1, "name": "x"},
        content_type="application/json",
    )
    assert r.status_code == 403
