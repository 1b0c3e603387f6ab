"""The matching endpoints under /api/v1: shapes, errors, access, surroundings, saved lists."""

import json

import numpy as np
import pytest
import shapely
from django.test import Client

from investmap.core.models import ApiToken, AuditEvent
from investmap.matching import features
from investmap.matching import geometry as geo
from investmap.matching.models import CandidateList
from investmap.resources.choices import PoiCategory
from investmap.resources.models import Building, Parcel, Poi

LAND = {"area_mu_min": 100, "area_mu_max": 140}  # P-001 + P-002 (63.5 mu each) together


@pytest.fixture
def api(users):
    """api(name) → a client authenticated by a Bearer token of that user."""

    def make(name):
        _token, raw = ApiToken.issue(user=users[name])
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def body(response):
    return json.loads(response.content)


def post(client, url, data):
    return client.post(url, data=json.dumps(data), content_type="application/json")


def match(client, data):
    return post(client, "/api/v1/match/sites", data)


# --- matching ----------------------------------------------------------------------------


def test_a_combination(api):
    r = match(api("bureau"), LAND)
    assert r.status_code == 200, r.content
    out = body(r)
    assert set(out) >= {"demand", "total", "counts", "truncated", "results", "took_ms"}
    assert out["demand"]["area_mu_min"] == 100 and out["demand"]["status"] == [
        "available",
        "idle",
        "low_efficiency",
    ]
    assert out["counts"] == {"parcel": 0, "combination": 1, "floor_space": 0}
    assert out["total"] == 1 and out["truncated"] is False
    (res,) = out["results"]
    assert res["rank"] == 1 and res["kind"] == "combination"
    assert res["parcels"] == ["P-001", "P-002"]
    assert res["town"] == "T01" and res["park"] == "P01"
    assert res["land_use"] == ["M1", "M0"] and res["status"] == ["available", "idle"]
    assert res["price_wan"] is None  # P-002 has no price: the total is unknown
    a1 = Parcel.objects.get(code="P-001").area_mu
    a2 = Parcel.objects.get(code="P-002").area_mu
    assert res["area_mu"] == pytest.approx(a1 + a2, abs=1e-3)
    assert 0 <= res["score"] <= 1
    assert set(res["distances"]) == set(PoiCategory.values)
    assert res["distances"]["university"] is None
    assert res["distances"]["metro_station"] > 0
    crit = [x["criterion"] for x in res["reasons"]]
    assert crit[0] == "area" and "combination" in crit and "status" in crit
    for reason in res["reasons"]:
        assert set(reason) >= {"criterion", "met", "value", "limit", "added", "text"}
    assert sum(x["added"] for x in res["reasons"]) == pytest.approx(res["score"], abs=1e-3)
    # the outline is the union of the two squares
    g = shapely.geometry.shape(res["geometry"])
    assert res["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert g.area == pytest.approx(0.002 * 0.004, rel=1e-6)


def test_single_parcels_and_distances(api):
    data = {
        "area_mu_min": 40,
        "area_mu_max": 200,
        "status": ["available", "idle", "in_use"],
        "near": [{"category": "school", "weight": 1}, {"category": "hospital", "within_m": 50_000}],
        "limit": 1000,
    }
    out = body(match(api("leader"), data))
    assert out["counts"]["parcel"] == 3
    assert sorted(r["parcels"][0] for r in out["results"] if r["kind"] == "parcel") == [
        "P-001",
        "P-002",
        "P-003",
    ]
    assert [r["rank"] for r in out["results"]] == list(range(1, len(out["results"]) + 1))
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    # distances are from the outline, in metres, as the features computed them
    epsg = features.state().epsg
    p3 = Parcel.objects.get(code="P-003")
    g = geo.project_geoms(np.array([shapely.from_geojson(p3.geometry)]), epsg)[0]
    h1 = Poi.objects.get(code="POI-H1")
    d = shapely.distance(g, shapely.Point(geo.project_xy([h1.lon], [h1.lat], epsg)[0]))
    res = next(r for r in out["results"] if r["parcels"] == ["P-003"])
    assert res["distances"]["hospital"] == pytest.approx(d, abs=0.06)
    near = [x for x in res["reasons"] if x["criterion"] == "near"]
    assert {x["category"]: x["hard"] for x in near} == {"school": False, "hospital": True}


def test_limit_cuts_the_list_not_the_total(api):
    data = {"area_mu_min": 40, "status": ["available", "idle", "in_use"], "limit": 2}
    out = body(match(api("bureau"), data))
    assert len(out["results"]) == 2 and out["total"] == 3


def test_floor_space(api):
    out = body(
        match(
            api("bureau"),
            {"floor_m2_min": 1000, "floor_m2_max": 4000, "building_type": ["office"]},
        )
    )
    (res,) = out["results"]
    assert res["kind"] == "floor_space" and res["building"] == "B-001"
    assert res["floor_m2"] == 3500 and res["area_mu"] == pytest.approx(
        3500 / (10000 / 15), abs=1e-3
    )
    assert res["geometry"]["type"] == "Polygon"
    assert res["score"] == pytest.approx(1.0)  # anywhere in the range fits
    assert "parcels" not in res
    out = body(match(api("bureau"), {"floor_m2_min": 1000, "clear_height_min_m": 5}))
    assert out["results"] == [] and out["total"] == 0


def test_town_officers_match_across_the_district(api):
    out = body(match(api("officer_t02"), LAND))
    assert [r["parcels"] for r in out["results"]] == [["P-001", "P-002"]]


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"area_mu_min": 60, "area_mu_max": 40}, {"area_mu_min"}),
        ({"area_mu_min": -1}, {"area_mu_min"}),
        ({"area_mu_min": 1, "colour": "red"}, {"colour"}),
        ({"area_mu_min": 1, "land_use": ["M9"]}, {"land_use"}),
        ({"area_mu_min": 1, "status": ["sold"]}, {"status"}),
        ({"area_mu_min": 1, "near": [{"category": "volcano", "within_m": 5}]}, {"near[0]"}),
        ({"area_mu_min": 1, "towns": ["T09"]}, {"towns"}),
        ({"area_mu_min": 1, "max_parcels": 9, "limit": 0}, {"max_parcels", "limit"}),
        ({"area_mu_min": 1, "adjacency_m": 5}, {"adjacency_m"}),
        ({"area_mu_min": 1, "weights": {"area": "nan"}}, {"weights"}),
        ({}, {"__all__"}),
    ],
)
def test_invalid_demands_answer_422_by_field(api, data, fields):
    r = match(api("bureau"), data)
    assert r.status_code == 422
    out = body(r)
    assert out["code"] == "invalid" and out["message"]
    assert set(out["errors"]) == fields
    assert all(isinstance(v, list) and v for v in out["errors"].values())


def test_invalid_demand_names_what_is_accepted(api):
    out = body(match(api("bureau"), {"area_mu_min": 1, "land_use": ["M9"], "towns": ["T09"]}))
    assert "M1" in out["errors"]["land_use"][0] and "W1" in out["errors"]["land_use"][0]
    assert "T01" in out["errors"]["towns"][0] and "T02" in out["errors"]["towns"][0]


def test_bodies_that_are_not_demands(api):
    c = api("bureau")
    r = c.post("/api/v1/match/sites", data="{nope", content_type="application/json")
    assert r.status_code == 422 and body(r)["code"] == "invalid"
    assert list(body(r)["errors"]) == ["__all__"]  # not valid JSON, and where
    r = c.post("/api/v1/match/sites", data="[1, 2]", content_type="application/json")
    assert r.status_code == 422 and body(r)["code"] == "invalid"
    assert list(body(r)["errors"]) == ["__all__"]  # field → messages, not a pydantic list
    r = c.post("/api/v1/match/sites", data='{"area_mu_min": NaN}', content_type="application/json")
    assert r.status_code == 422 and set(body(r)["errors"]) == {"area_mu_min"}


def test_anonymous_gets_401(district):
    c = Client()
    for method, url in (
        ("post", "/api/v1/match/sites"),
        ("get", "/api/v1/match/status"),
        ("get", "/api/v1/match/candidate-lists"),
        ("post", "/api/v1/match/candidate-lists"),
        ("get", "/api/v1/match/candidate-lists/1"),
        ("get", "/api/v1/parcels/P-001/surroundings"),
        ("get", "/api/v1/buildings/B-001/surroundings"),
    ):
        if method == "post":
            r = c.post(url, data=json.dumps(LAND), content_type="application/json")
        else:
            r = c.get(url)
        assert r.status_code == 401, url
        assert body(r)["code"] == "unauthorized"


@pytest.mark.parametrize("role", ["sysadmin", "enterprise", "auditor"])
def test_roles_without_the_library_get_403(api, role):
    c = api(role)
    r = match(c, LAND)
    assert r.status_code == 403 and body(r)["code"] == "forbidden"
    assert c.get("/api/v1/match/status").status_code == 403
    assert c.get("/api/v1/match/candidate-lists").status_code == 403
    assert (
        post(c, "/api/v1/match/candidate-lists", {"name": "x", "demand": LAND}).status_code == 403
    )
    assert c.get("/api/v1/parcels/P-001/surroundings").status_code == 403
    assert c.get("/api/v1/buildings/B-001/surroundings").status_code == 403
    assert not CandidateList.objects.exists()


def test_session_login_works(users):
    c = Client()
    c.force_login(users["maintainer"])
    assert match(c, LAND).status_code == 200


# --- surroundings ------------------------------------------------------------------------------


def exact(code, model=Parcel):
    """metres from the record's outline to every POI (brute force), by POI code."""
    obj = model.objects.get(code=code)
    epsg = features.state().epsg or features.district_epsg()
    g = geo.project_geoms(np.array([shapely.from_geojson(obj.geometry)]), epsg)[0]
    out = {}
    for p in Poi.objects.all():
        xy = geo.project_xy([p.lon], [p.lat], epsg)[0]
        out[p.code] = shapely.distance(g, shapely.Point(xy))
    return out


def test_parcel_surroundings(api, district):
    Poi.objects.create(
        code="POI-B1", name="stop", category="bus_stop", lon=121.022, lat=31.022
    )  # inside P-001
    r = api("officer_t01").get("/api/v1/parcels/P-001/surroundings?radius_m=2000")
    assert r.status_code == 200, r.content
    out = body(r)
    assert out["kind"] == "parcels" and out["code"] == "P-001" and out["radius_m"] == 2000
    want = {k: d for k, d in exact("P-001").items() if d <= 2000}
    assert [p["code"] for p in out["pois"]] == sorted(want, key=want.get)  # nearest first
    assert out["pois"][0]["code"] == "POI-B1" and out["pois"][0]["distance_m"] == 0
    for p in out["pois"]:
        assert p["distance_m"] == pytest.approx(want[p["code"]], abs=0.06)
        assert set(p) >= {"code", "name", "category", "category_label", "lon", "lat"}
    assert out["total"] == len(want) and out["truncated"] is False
    by = {c["category"]: c["count"] for c in out["counts"]}
    assert by == {"bus_stop": 1, "metro_station": 1, "school": 1}
    assert all(c["label"] and c["color"].startswith("#") for c in out["counts"])


def test_surroundings_radius_and_categories(api, district):
    c = api("bureau")
    out = body(c.get("/api/v1/parcels/P-001/surroundings?radius_m=20000"))
    assert [p["code"] for p in out["pois"]] == ["POI-M1", "POI-S1", "POI-H1"]
    out = body(c.get("/api/v1/parcels/P-001/surroundings?radius_m=20000&category=hospital"))
    assert [p["code"] for p in out["pois"]] == ["POI-H1"]
    url = "/api/v1/parcels/P-001/surroundings?radius_m=20000&category=hospital,school"
    out = body(c.get(url + "&category=metro_station"))
    assert [p["code"] for p in out["pois"]] == ["POI-M1", "POI-S1", "POI-H1"]
    out = body(c.get("/api/v1/parcels/P-001/surroundings"))  # default 3000 m
    assert out["radius_m"] == 3000 and [p["code"] for p in out["pois"]] == ["POI-M1", "POI-S1"]
    d = exact("P-001")["POI-M1"]
    out = body(c.get(f"/api/v1/parcels/P-001/surroundings?radius_m={d - 0.5:.3f}"))
    assert out["pois"] == [] and out["counts"] == []


def test_building_surroundings(api, district):
    out = body(api("bureau").get("/api/v1/buildings/B-001/surroundings?radius_m=5000"))
    assert out["kind"] == "buildings" and out["code"] == "B-001"
    want = exact("B-001", Building)
    assert [p["code"] for p in out["pois"]] == ["POI-M1", "POI-S1"]
    for p in out["pois"]:
        assert p["distance_m"] == pytest.approx(want[p["code"]], abs=0.06)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("radius_m=0", "radius_m"),
        ("radius_m=-5", "radius_m"),
        ("radius_m=100001", "radius_m"),
        ("category=volcano", "category"),
        ("category=school,volcano", "category"),
    ],
)
def test_bad_surroundings_parameters(api, district, query, field):
    for kind, code in (("parcels", "P-001"), ("buildings", "B-001")):
        r = api("bureau").get(f"/api/v1/{kind}/{code}/surroundings?{query}")
        assert r.status_code == 422, (kind, query)
        out = body(r)
        assert out["code"] == "invalid" and set(out["errors"]) == {field}
        if field == "category":
            assert "metro_station" in out["errors"]["category"][0]
    r = api("bureau").get("/api/v1/parcels/P-001/surroundings?radius_m=far")
    assert r.status_code == 422 and body(r)["code"] == "invalid"


def test_unknown_site_is_404(api, district):
    for url in ("/api/v1/parcels/P-999/surroundings", "/api/v1/buildings/B-999/surroundings"):
        r = api("bureau").get(url)
        assert r.status_code == 404 and body(r)["code"] == "not_found"


# --- saved candidate lists ------------------------------------------------------------------------


def test_save_list_and_read_it_back(api, users):
    c = api("bureau")
    r = post(c, "/api/v1/match/candidate-lists", {"name": " 新能源项目 ", "demand": LAND})
    assert r.status_code == 200, r.content
    saved = body(r)
    assert saved["name"] == "新能源项目" and saved["created_by"] == "bureau"
    assert saved["count"] == 1 and saved["demand"]["area_mu_min"] == 100
    (res,) = saved["results"]
    assert res["parcels"] == ["P-001", "P-002"] and "geometry" not in res
    assert AuditEvent.objects.filter(action="save_candidates").count() == 1
    one = body(c.get(f"/api/v1/match/candidate-lists/{saved['id']}"))
    assert one == saved
    brief = body(c.get("/api/v1/match/candidate-lists"))
    assert [x["id"] for x in brief] == [saved["id"]]
    assert "results" not in brief[0] and brief[0]["count"] == 1
    r = c.get("/api/v1/match/candidate-lists/999999")
    assert r.status_code == 404 and body(r)["code"] == "not_found"


def test_lists_newest_first(api):
    c = api("leader")
    first = body(post(c, "/api/v1/match/candidate-lists", {"name": "a", "demand": LAND}))
    second = body(post(c, "/api/v1/match/candidate-lists", {"name": "b", "demand": LAND}))
    ids = [x["id"] for x in body(c.get("/api/v1/match/candidate-lists"))]
    assert ids == [second["id"], first["id"]]


def test_save_list_errors(api):
    c = api("bureau")
    r = post(c, "/api/v1/match/candidate-lists", {"name": "  ", "demand": LAND})
    assert r.status_code == 422 and set(body(r)["errors"]) == {"name"}
    r = post(c, "/api/v1/match/candidate-lists", {"name": "x", "demand": {"area_mu_min": -1}})
    assert r.status_code == 422 and set(body(r)["errors"]) == {"area_mu_min"}
    r = post(c, "/api/v1/match/candidate-lists", {"demand": LAND})
    assert r.status_code == 422 and body(r)["code"] == "invalid"
    assert not CandidateList.objects.exists()


def test_saved_lists_follow_the_users_units(api):
    mine = body(
        post(api("officer_t01"), "/api/v1/match/candidate-lists", {"name": "t1", "demand": LAND})
    )
    ids = lambda who: [x["id"] for x in body(api(who).get("/api/v1/match/candidate-lists"))]  # noqa: E731
    assert ids("officer_t01") == [mine["id"]]
    assert ids("team_t01") == [mine["id"]]  # a team of the town
    assert ids("leader") == [mine["id"]] and ids("bureau") == [mine["id"]]
    assert ids("officer_t02") == []
    r = api("officer_t02").get(f"/api/v1/match/candidate-lists/{mine['id']}")
    assert r.status_code == 404


# --- status -----------------------------------------------------------------------------------------


def test_status(api):
    c = api("bureau")
    out = body(c.get("/api/v1/match/status"))
    assert out["pending_changes"] is True  # the fixture's records are marked, not yet built
    match(c, LAND)
    out = body(c.get("/api/v1/match/status"))
    assert out["pending_changes"] is False
    assert out["generation"] >= 1 and out["epsg"] == "EPSG:32651" and out["built_at"]
    assert out["counts"]["parcel"] == 3 and out["counts"]["edges"] == 1
    assert isinstance(out["timings"], dict)
    p = Parcel.objects.get(code="P-003")
    p.status = "idle"
    p.save()
    assert body(c.get("/api/v1/match/status"))["pending_changes"] is True


def test_openapi_lists_the_matching_paths(users):
    doc = body(Client().get("/api/v1/openapi.json"))
    for path in (
        "/api/v1/match/sites",
        "/api/v1/match/status",
        "/api/v1/match/candidate-lists",
        "/api/v1/match/candidate-lists/{pk}",
        "/api/v1/parcels/{code}/surroundings",
        "/api/v1/buildings/{code}/surroundings",
    ):
        assert path in doc["paths"], path
