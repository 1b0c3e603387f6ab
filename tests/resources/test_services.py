"""The resource service layer on the two-town `district` fixture (no HTTP)."""

import io
import json

import pytest
from openpyxl import load_workbook

from investmap.core.geo import haversine_m
from investmap.core.models import AuditEvent
from investmap.core.scope import scope_for
from investmap.resources import presenters, services
from investmap.resources.models import Parcel, Poi

E1 = "91310000MA1FL00001"  # T01 / park P01, contacts 张三丰 13812345678
E2 = "91310000MA1FL00002"  # T02, contacts 李四 13987654321


def codes(qs, attr="code"):
    return sorted(getattr(o, attr) for o in qs)


@pytest.fixture
def leader(users):
    return scope_for(users["leader"])


# --- search ------------------------------------------------------------------


SEARCH_CASES = [
    ("parcels", {}, ["P-001", "P-002", "P-003"]),
    ("parcels", {"status": "idle"}, ["P-002"]),
    ("parcels", {"status": "idle,available"}, ["P-001", "P-002"]),
    ("parcels", {"land_use": ["M1", "M2"]}, ["P-001", "P-003"]),
    ("parcels", {"town": "T02"}, ["P-003"]),
    ("parcels", {"park": "P01"}, ["P-001", "P-002"]),
    ("parcels", {"q": "西山"}, ["P-003"]),
    ("parcels", {"area_mu_min": "100"}, ["P-003"]),
    ("parcels", {"area_mu_max": "100"}, ["P-001", "P-002"]),
    ("parcels", {"area_mu_min": "60", "area_mu_max": "70", "status": "available"}, ["P-001"]),
    ("parcels", {"price_max": "1500"}, ["P-001"]),
    ("buildings", {"vacant_min": "1000", "building_type": "office"}, ["B-001"]),
    ("buildings", {"building_type": "factory"}, []),
    ("pois", {"category": "school"}, ["POI-S1"]),
    ("pois", {"town": "T02"}, ["POI-H1"]),
    ("teams", {"q": "王五"}, ["TEAM-T01"]),
    ("teams", {"unit": "T02"}, ["TEAM-T02"]),
]

ENTERPRISE_CASES = [
    ({"certification": "srdi"}, [E1]),
    ({"certification": "high_tech,srdi"}, [E1]),
    ({"certification": "listed"}, []),
    ({"scale": "below"}, [E2]),
    ({"industry": "38"}, [E1]),
    ({"town": "T01"}, [E1]),
    ({"q": "精密"}, [E2]),
    ({"founded_from": "2018-01-01"}, [E2]),
]


def test_search_filters(leader):
    # One fixture set-up for every case (the district fixture is not cheap).
    for kind, params, expected in SEARCH_CASES:
        _fs, qs = services.search(kind=kind, params=params, scope=leader)
        assert codes(qs) == expected, (kind, params)
    for params, expected in ENTERPRISE_CASES:
        _fs, qs = services.search(kind="enterprises", params=params, scope=leader)
        assert codes(qs, "credit_code") == expected, params


def test_search_land_grants(leader):
    _fs, qs = services.search(kind="land-grants", params={"enterprise": E1}, scope=leader)
    assert [(g.parcel.code, g.enterprise.credit_code) for g in qs] == [("P-002", E1)]


def test_search_rejects_bad_values(leader):
    with pytest.raises(services.InvalidFilter) as exc:
        services.search(
            kind="parcels", params={"status": "bogus", "area_mu_min": "abc"}, scope=leader
        )
    assert set(exc.value.errors) == {"status", "area_mu_min"}
    assert "available" in exc.value.errors["status"][0]  # names what is accepted


def test_search_unknown_kind(leader):
    with pytest.raises(services.NotFound):
        services.search(kind="spaceships", params={}, scope=leader)


@pytest.mark.parametrize("role", ["sysadmin", "auditor", "enterprise"])
def test_roles_without_resources_are_refused(users, role):
    scope = scope_for(users[role])
    with pytest.raises(services.Forbidden):
        services.search(kind="parcels", params={}, scope=scope)
    with pytest.raises(services.Forbidden):
        services.detail(kind="enterprises", code=E1, scope=scope)
    with pytest.raises(services.Forbidden):
        services.map_features(layer="parcels", params={}, bbox=None, zoom=16, scope=scope)
    with pytest.raises(services.Forbidden):
        services.export_xlsx(kind="enterprises", params={}, scope=scope, user=users[role])
    with pytest.raises(services.Forbidden):
        services.places(level="towns", scope=scope)


# --- detail ------------------------------------------------------------------


def test_parcel_detail_with_nearby_pois(leader, district):
    # A POI inside P-002 is at distance 0 from it.
    Poi.objects.create(
        code="POI-IN", name="园区孵化器", category="incubator", lon=121.024, lat=31.022
    )
    d = services.detail(kind="parcels", code="P-001", scope=leader)
    assert d["code"] == "P-001" and d["status"] == "available" and d["version"] == 1
    assert d["geometry"]["type"] == "Polygon"
    assert [b["code"] for b in d["buildings"]] == ["B-001"]
    assert [e["credit_code"] for e in d["enterprises"]] == [E1]
    assert d["grants"] == []
    near = d["nearby_pois"]
    # Metro station at (121.025, 31.025): nearest point of P-001 is its corner (121.023, 31.023).
    # The incubator at (121.024, 31.022) is 0.001° east of P-001's east edge.
    # The school at (121.03, 31.03) is ~1 km from the corner: outside the radius.
    assert [p["code"] for p in near] == ["POI-IN", "POI-M1"]
    assert near[0]["distance_m"] == pytest.approx(
        float(haversine_m(121.023, 31.022, 121.024, 31.022)), abs=1
    )
    assert near[1]["distance_m"] == pytest.approx(
        float(haversine_m(121.023, 31.023, 121.025, 31.025)), abs=1
    )
    assert (
        near[1]["category"] == "metro_station"
        and near[1]["color"].startswith("#")
        and near[1]["category_label"]
    )
    assert float(haversine_m(121.023, 31.023, 121.03, 31.03)) > 1000

    d2 = services.detail(kind="parcels", code="P-002", scope=leader)
    assert d2["nearby_pois"][0] == {**d2["nearby_pois"][0], "code": "POI-IN", "distance_m": 0.0}
    assert [(g["parcel"], g["enterprise"]) for g in d2["grants"]] == [("P-002", E1)]


def test_parcel_detail_lists_occupying_enterprise(leader):
    d = services.detail(kind="parcels", code="P-003", scope=leader)
    assert [e["credit_code"] for e in d["enterprises"]] == [E2]
    assert d["enterprise"] == E2


def test_building_detail(leader):
    d = services.detail(kind="buildings", code="B-001", scope=leader)
    assert d["building_type"] == "office" and d["geometry"]["type"] == "Polygon"
    assert [e["credit_code"] for e in d["enterprises"]] == [E1]
    assert [p["code"] for p in d["nearby_pois"]][:1] == ["POI-M1"]


def test_enterprise_detail_indicators_and_places(leader):
    d = services.detail(kind="enterprises", code=E1, scope=leader)
    assert [i["year"] for i in d["indicators"]] == [2023, 2024]
    assert d["indicators"][1]["tax_wan"] == 2100.0 and d["indicators"][0]["revenue_wan"] == 52000.0
    assert d["parcel"]["code"] == "P-001" and d["building"]["code"] == "B-001"
    assert d["geometry"] == {"type": "Point", "coordinates": [121.022, 31.022]}
    assert d["contact_phone"] == "13812345678" and d["masked"] is False
    assert "POI-M1" in [p["code"] for p in d["nearby_pois"]]


def test_poi_and_land_grant_detail(leader):
    d = services.detail(kind="pois", code="POI-M1", scope=leader)
    assert d["geometry"]["coordinates"] == [121.025, 31.025] and d["extra"]["line"] == "1号线"
    g = services.detail(kind="land-grants", code=f"P-002:{E1}", scope=leader)
    assert g["code"] == f"P-002:{E1}" and g["contract_price_wan"] == 900


def test_detail_unknown_code(leader):
    with pytest.raises(services.NotFound):
        services.detail(kind="parcels", code="NOPE", scope=leader)
    with pytest.raises(services.NotFound):
        services.detail(kind="land-grants", code="P-001:nobody", scope=leader)


# --- scope: a town officer sees their own town's sensitive data only ----------


def test_officer_sees_own_contacts_and_tax_only(users):
    off = scope_for(users["officer_t01"])
    own = services.detail(kind="enterprises", code=E1, scope=off)
    assert own["contact_name"] == "张三丰" and own["tax_wan"] == 2100.0
    assert [i["tax_wan"] for i in own["indicators"]] == [1800.0, 2100.0]
    other = services.detail(kind="enterprises", code=E2, scope=off)
    assert other["masked"] is True
    assert other["contact_name"] == "李*" and other["contact_phone"] == "139****4321"
    assert other["tax_wan"] is None and [i["tax_wan"] for i in other["indicators"]] == [None]
    assert other["indicators"][0]["revenue_wan"] == 1800.0  # non-sensitive figures stay
    # Through the parcel page as well.
    via_parcel = services.detail(kind="parcels", code="P-003", scope=off)["enterprises"][0]
    assert via_parcel["contact_phone"] == "139****4321" and via_parcel["tax_wan"] is None
    _fs, qs = services.search(kind="enterprises", params={}, scope=off)
    listed = {r["credit_code"]: r for r in presenters.rows("enterprises", qs, off)}
    assert listed[E1]["contact_phone"] == "13812345678"
    assert listed[E2]["contact_phone"] == "139****4321" and listed[E2]["tax_wan"] is None


def test_team_member_phones_masked_outside_scope(users):
    own = services.detail(kind="teams", code="TEAM-T01", scope=scope_for(users["officer_t01"]))
    assert own["members"] == [
        {"name": "王五", "title": "组长", "phone": "13700001111", "speciality": "新能源"}
    ]
    other = services.detail(kind="teams", code="TEAM-T01", scope=scope_for(users["officer_t02"]))
    assert other["members"][0]["phone"] == "137****1111" and other["masked"] is True
    # A team member's scope widens to the team's town.
    team_user = services.detail(kind="enterprises", code=E1, scope=scope_for(users["team_t01"]))
    assert team_user["contact_phone"] == "13812345678"


def test_maintainer_sees_masked_contacts(users):
    scope = scope_for(users["maintainer"])
    for code in (E1, E2):
        d = services.detail(kind="enterprises", code=code, scope=scope)
        assert d["masked"] is True and d["tax_wan"] is None
        assert "*" in d["contact_phone"]


# --- map ---------------------------------------------------------------------


def test_map_bbox_filters_features(leader):
    fc = services.map_features(
        layer="parcels", params={}, bbox="121.1,31.0,121.2,31.1", zoom=16, scope=leader
    )
    assert fc["type"] == "FeatureCollection" and not fc["aggregated"] and not fc["truncated"]
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-003"] and fc["total"] == 1
    props = fc["features"][0]["properties"]
    assert props == {
        "code": "P-003",
        "name": "西山工业地块",
        "status": "in_use",
        "land_use": "M2",
        "area_mu": round(Parcel.objects.get(code="P-003").area_mu, 2),
        "color": "#1565c0",
    }
    # A bbox touching only a corner of P-001 still returns it (bbox intersection).
    fc = services.map_features(
        layer="parcels",
        params={},
        bbox=[121.0225, 31.0225, 121.0226, 31.0226],
        zoom=18,
        scope=leader,
    )
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-001"]
    fc = services.map_features(
        layer="parcels", params={}, bbox="120,30,120.5,30.5", zoom=16, scope=leader
    )
    assert fc["features"] == [] and fc["total"] == 0


def test_map_filters_apply(leader):
    fc = services.map_features(
        layer="parcels", params={"status": "idle"}, bbox=None, zoom=16, scope=leader
    )
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-002"]
    fc = services.map_features(
        layer="pois",
        params={"category": "school,hospital"},
        bbox="121,31,121.2,31.1",
        zoom=15,
        scope=leader,
    )
    assert sorted(f["properties"]["code"] for f in fc["features"]) == ["POI-H1", "POI-S1"]
    assert all(f["geometry"]["type"] == "Point" for f in fc["features"])
    fc = services.map_features(layer="enterprises", params={}, bbox=None, zoom=15, scope=leader)
    assert sorted(f["properties"]["credit_code"] for f in fc["features"]) == [E1, E2]
    assert set(fc["features"][0]["properties"]) == {
        "credit_code",
        "name",
        "scale",
        "industry_code",
        "color",
    }
    fc = services.map_features(layer="buildings", params={}, bbox=None, zoom=17, scope=leader)
    assert fc["features"][0]["properties"]["vacant_floor_m2"] == 3500
    with pytest.raises(services.InvalidFilter):
        services.map_features(
            layer="parcels", params={"status": "nope"}, bbox=None, zoom=16, scope=leader
        )


def test_map_uses_simplified_geometry_at_low_zoom(leader):
    Parcel.objects.filter(code="P-003").update(
        geom_simple=json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [[121.15, 31.05], [121.153, 31.05], [121.15, 31.053], [121.15, 31.05]]
                ],
            }
        )
    )
    low = services.map_features(
        layer="parcels", params={"town": "T02"}, bbox=None, zoom=15, scope=leader
    )
    high = services.map_features(
        layer="parcels", params={"town": "T02"}, bbox=None, zoom=16, scope=leader
    )
    assert len(low["features"][0]["geometry"]["coordinates"][0]) == 4
    assert len(high["features"][0]["geometry"]["coordinates"][0]) == 5


def test_map_aggregates_at_low_zoom(leader):
    fc = services.map_features(
        layer="parcels", params={}, bbox="121,31,121.2,31.1", zoom=12, scope=leader
    )
    assert fc["aggregated"] is True and fc["total"] == 3
    cells = {tuple(f["properties"]["cell"]): f["properties"] for f in fc["features"]}
    assert sum(c["count"] for c in cells.values()) == 3
    size = services.cell_size(12)
    for f in fc["features"]:
        p = f["properties"]
        x, y = f["geometry"]["coordinates"]
        a, b, c, d = p["cell"]
        assert a <= x <= c and b <= y <= d and c - a == pytest.approx(size)
        assert sum(p["by"].values()) == p["count"]
    # P-001 and P-002 (centroids 0.002° apart) share a cell; P-003 is alone.
    assert sorted(sorted(c["by"].items()) for c in cells.values()) == [
        [("available", 1), ("idle", 1)],
        [("in_use", 1)],
    ]
    alone = next(c for c in cells.values() if c["by"] == {"in_use": 1})
    assert alone["color"] == "#1565c0"
    # POIs aggregate below zoom 13, not at 13.
    assert services.map_features(layer="pois", params={}, bbox=None, zoom=12, scope=leader)[
        "aggregated"
    ]
    assert not services.map_features(layer="pois", params={}, bbox=None, zoom=13, scope=leader)[
        "aggregated"
    ]


def test_map_aggregates_or_truncates_when_over_the_limit(leader, settings):
    settings.INVESTMAP_MAP_MAX_FEATURES = 2
    fc = services.map_features(layer="parcels", params={}, bbox=None, zoom=15, scope=leader)
    assert fc["aggregated"] is True and fc["total"] == 3
    fc = services.map_features(layer="parcels", params={}, bbox=None, zoom=18, scope=leader)
    assert fc["aggregated"] is False and fc["truncated"] is True and fc["total"] == 3
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-001", "P-002"]
    settings.INVESTMAP_MAP_MAX_FEATURES = 3
    fc = services.map_features(layer="parcels", params={}, bbox=None, zoom=18, scope=leader)
    assert fc["truncated"] is False and len(fc["features"]) == 3


def test_map_towns_parks_and_metro_lines(leader):
    towns = services.map_features(
        layer="towns", params={}, bbox="121.12,31.01,121.13,31.02", zoom=12, scope=leader
    )
    assert [f["properties"] for f in towns["features"]] == [{"code": "T02", "name": "西山街道"}]
    parks = services.map_features(layer="parks", params={}, bbox=None, zoom=12, scope=leader)
    assert [f["properties"] for f in parks["features"]] == [
        {"code": "P01", "name": "东湖科创园", "town": "T01"}
    ]
    for seq, lon in ((3, 121.06), (2, 121.045)):
        Poi.objects.create(
            code=f"POI-M{seq}",
            name=f"站{seq}",
            category="metro_station",
            lon=lon,
            lat=31.03,
            extra={"line": "1号线", "seq": seq},
        )
    Poi.objects.create(
        code="POI-X1",
        name="孤站",
        category="metro_station",
        lon=121.1,
        lat=31.0,
        extra={"line": "2号线", "seq": 1},
    )
    lines = services.map_features(layer="metro-lines", params={}, bbox=None, zoom=12, scope=leader)
    assert len(lines["features"]) == 1  # a line needs two stations
    line = lines["features"][0]
    assert line["geometry"] == {
        "type": "LineString",
        "coordinates": [[121.025, 31.025], [121.045, 31.03], [121.06, 31.03]],
    }
    assert line["properties"]["line"] == "1号线" and line["properties"]["stations"] == [
        "POI-M1",
        "POI-M2",
        "POI-M3",
    ]
    outside = services.map_features(
        layer="metro-lines", params={}, bbox="121.15,31.05,121.2,31.1", zoom=12, scope=leader
    )
    assert outside["features"] == []


def test_map_rejects_bad_viewport(leader):
    for bbox, zoom in [
        ("1,2,3", 12),
        ("a,b,c,d", 12),
        ("121.2,31,121.1,31.1", 12),
        (None, 40),
        (None, "x"),
    ]:
        with pytest.raises(services.InvalidFilter):
            services.map_features(layer="parcels", params={}, bbox=bbox, zoom=zoom, scope=leader)
    with pytest.raises(services.NotFound):
        services.map_features(layer="rivers", params={}, bbox=None, zoom=12, scope=leader)


# --- exports -----------------------------------------------------------------


def test_export_xlsx_headers_values_and_masking(users):
    user = users["officer_t01"]
    content = services.export_xlsx(kind="enterprises", params={}, scope=scope_for(user), user=user)
    wb = load_workbook(io.BytesIO(content))
    ws = wb.active
    assert ws.title == str(presenters.KIND_MODELS["enterprises"]._meta.verbose_name_plural)
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == [str(c.label) for c in presenters.COLUMNS["enterprises"]]
    assert ws.cell(1, 1).font.bold
    rows = {
        r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)
    }
    label = {c.key: str(c.label) for c in presenters.COLUMNS["enterprises"]}
    assert set(rows) == {E1, E2}
    assert rows[E1][label["contact_phone"]] == "13812345678" and rows[E1][label["tax_wan"]] == 2100
    assert rows[E1][label["revenue_wan"]] == 61000  # numbers stay numbers
    assert rows[E1][label["scale"]] == "Above designated size" or rows[E1][label["scale"]] == "规上"
    assert (
        rows[E2][label["contact_phone"]] == "139****4321"
        and rows[E2][label["contact_name"]] == "李*"
    )
    assert rows[E2][label["tax_wan"]] is None
    assert "13987654321" not in content.decode("latin-1")
    ev = AuditEvent.objects.get(action="export")
    assert (
        ev.user == user
        and ev.target == "enterprises"
        and ev.detail["format"] == "xlsx"
        and ev.detail["count"] == 2
    )


def test_export_xlsx_filtered_parcels(leader, users):
    content = services.export_xlsx(
        kind="parcels", params={"status": "idle"}, scope=leader, user=users["leader"]
    )
    ws = load_workbook(io.BytesIO(content)).active
    data = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(data) == 1 and data[0][0] == "P-002"
    status_col = [c.key for c in presenters.COLUMNS["parcels"]].index("status")
    assert data[0][status_col] == presenters.display(
        presenters.COLUMNS["parcels"][status_col], "idle"
    )


def test_export_geojson(users):
    user = users["officer_t01"]
    scope = scope_for(user)
    fc = json.loads(
        services.export_geojson(kind="parcels", params={"park": "P01"}, scope=scope, user=user)
    )
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in fc["features"]] == ["P-001", "P-002"]
    assert fc["features"][0]["geometry"]["type"] == "Polygon"
    ents = json.loads(
        services.export_geojson(kind="enterprises", params={}, scope=scope, user=user)
    )
    by_code = {f["properties"]["credit_code"]: f for f in ents["features"]}
    assert by_code[E1]["geometry"] == {"type": "Point", "coordinates": [121.022, 31.022]}
    assert by_code[E1]["properties"]["contact_phone"] == "13812345678"
    assert by_code[E2]["properties"]["contact_phone"] == "139****4321"
    assert (
        by_code[E2]["properties"]["tax_wan"] is None and by_code[E2]["properties"]["masked"] is True
    )
    teams = json.loads(services.export_geojson(kind="teams", params={}, scope=scope, user=user))
    assert teams["features"][0]["geometry"] is None
    assert AuditEvent.objects.filter(action="export", detail__format="geojson").count() == 3


# --- update ------------------------------------------------------------------


def test_update_bumps_version_and_records_history(users):
    user = users["bureau"]
    d = services.update(
        kind="parcels",
        code="P-001",
        version=1,
        changes={"status": "idle", "price_wan": 1500},
        scope=scope_for(user),
        user=user,
    )
    assert d["status"] == "idle" and d["price_wan"] == 1500 and d["version"] == 2
    p = Parcel.objects.get(code="P-001")
    assert p.version == 2
    last = p.history.order_by("-history_date").first()
    assert last.history_user == user and last.status == "idle" and last.version == 2


def test_update_version_conflict(users):
    user = users["bureau"]
    scope = scope_for(user)
    services.update(
        kind="parcels",
        code="P-001",
        version=1,
        changes={"owner": "区土地储备中心"},
        scope=scope,
        user=user,
    )
    with pytest.raises(services.Conflict) as exc:
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"owner": "别人"},
            scope=scope,
            user=user,
        )
    assert exc.value.current_version == 2 and "2" in exc.value.message
    assert Parcel.objects.get(code="P-001").owner == "区土地储备中心"


def test_update_permissions(users):
    leader = users["leader"]
    with pytest.raises(services.Forbidden):
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"status": "idle"},
            scope=scope_for(leader),
            user=leader,
        )
    officer = users["officer_t01"]
    with pytest.raises(services.Forbidden):
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"status": "idle"},
            scope=scope_for(officer),
            user=officer,
        )
    maint = users["maintainer"]
    d = services.update(
        kind="buildings",
        code="B-001",
        version=1,
        changes={"vacant_floor_m2": 1000},
        scope=scope_for(maint),
        user=maint,
    )
    assert d["vacant_floor_m2"] == 1000
    with pytest.raises(services.Forbidden):
        services.update(
            kind="enterprises",
            code=E1,
            version=1,
            changes={"contact_phone": "1"},
            scope=scope_for(maint),
            user=maint,
        )


def test_update_rejects_fields_and_values(users):
    user = users["bureau"]
    scope = scope_for(user)
    with pytest.raises(services.InvalidChange) as exc:
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"code": "X", "geometry": "{}"},
            scope=scope,
            user=user,
        )
    assert set(exc.value.errors) == {"code", "geometry"} and "status" in exc.value.errors["code"][0]
    with pytest.raises(services.InvalidChange) as exc:
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"status": "sold"},
            scope=scope,
            user=user,
        )
    assert "status" in exc.value.errors
    with pytest.raises(services.InvalidChange):
        services.update(
            kind="parcels",
            code="P-001",
            version=1,
            changes={"price_wan": "lots"},
            scope=scope,
            user=user,
        )
    with pytest.raises(services.InvalidChange):
        services.update(
            kind="buildings",
            code="B-001",
            version=1,
            changes={"vacant_floor_m2": 99999},
            scope=scope,
            user=user,
        )
    with pytest.raises(services.InvalidChange):
        services.update(
            kind="enterprises",
            code=E1,
            version=1,
            changes={"certifications": ["nobel"]},
            scope=scope,
            user=user,
        )
    with pytest.raises(services.InvalidChange):
        services.update(
            kind="parcels",
            code="P-001",
            version=None,
            changes={"status": "idle"},
            scope=scope,
            user=user,
        )
    assert Parcel.objects.get(code="P-001").version == 1  # nothing written


def test_update_enterprise_and_land_grant(users):
    user = users["bureau"]
    scope = scope_for(user)
    d = services.update(
        kind="enterprises",
        code=E1,
        version=1,
        changes={
            "certifications": ["high_tech"],
            "founded_on": "2016-01-02",
            "contact_email": None,
        },
        scope=scope,
        user=user,
    )
    assert (
        d["certifications"] == ["high_tech"]
        and d["founded_on"] == "2016-01-02"
        and d["contact_email"] == ""
    )
    g = services.update(
        kind="land-grants",
        code=f"P-002:{E1}",
        version=1,
        changes={"built_ratio": 0.4, "halted_since": "2024-05-01"},
        scope=scope,
        user=user,
    )
    assert g["built_ratio"] == 0.4 and g["halted_since"] == "2024-05-01" and g["version"] == 2
    with pytest.raises(services.InvalidChange):
        services.update(
            kind="land-grants",
            code=f"P-002:{E1}",
            version=2,
            changes={"built_ratio": 1.5},
            scope=scope,
            user=user,
        )


def test_update_refuses_contacts_outside_scope(users, district):
    # An editor whose sensitive scope does not cover the record cannot overwrite its contacts.
    from dataclasses import replace

    off = replace(scope_for(users["officer_t01"]), editable_kinds=frozenset({"enterprises"}))
    with pytest.raises(services.Forbidden):
        services.update(
            kind="enterprises",
            code=E2,
            version=1,
            changes={"contact_phone": "1"},
            scope=off,
            user=users["officer_t01"],
        )
    d = services.update(
        kind="enterprises",
        code=E1,
        version=1,
        changes={"contact_phone": "13800000000"},
        scope=off,
        user=users["officer_t01"],
    )
    assert d["contact_phone"] == "13800000000"


# --- places and legend -------------------------------------------------------


def test_places_and_legend(leader):
    towns = services.places(level="towns", scope=leader)
    assert [t["code"] for t in towns] == ["T01", "T02"]
    assert towns[0]["bbox"] == pytest.approx([121.0, 31.0, 121.1, 31.1])
    parks = services.places(level="parks", scope=leader, town="T01")
    assert [(p["code"], p["town"]) for p in parks] == [("P01", "T01")]
    assert services.places(level="parks", scope=leader, town="T02") == []
    legend = services.legend()
    assert set(legend) == {
        "parcel_status",
        "land_use",
        "building_type",
        "poi_category",
        "enterprise_scale",
        "certification",
    }
    assert {"value", "label", "color"} == set(legend["parcel_status"][0])


def test_distances_to_polygons_with_holes_and_parts():
    shell = [[121, 31], [121.01, 31], [121.01, 31.01], [121, 31.01], [121, 31]]
    hole = [
        [121.004, 31.004],
        [121.006, 31.004],
        [121.006, 31.006],
        [121.004, 31.006],
        [121.004, 31.004],
    ]
    poly = {"type": "Polygon", "coordinates": [shell, hole]}
    lons = [121.005, 121.002, 121.02, 121.005]
    lats = [31.005, 31.002, 31.005, 30.99]
    d = services.distances_m(poly, lons, lats)
    assert d[0] == pytest.approx(
        float(haversine_m(121.004, 31.005, 121.005, 31.005)), rel=1e-3
    )  # in the hole
    assert d[1] == 0.0  # inside the shell, outside the hole
    assert d[2] == pytest.approx(float(haversine_m(121.01, 31.005, 121.02, 31.005)), rel=1e-3)
    assert d[3] == pytest.approx(float(haversine_m(121.005, 31.0, 121.005, 30.99)), rel=1e-3)
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[shell], [[[121.03, 31], [121.04, 31], [121.04, 31.01], [121.03, 31]]]],
    }
    d = services.distances_m(multi, [121.035, 121.02], [31.002, 31.005])
    assert d[0] == 0.0 and d[1] == pytest.approx(
        float(haversine_m(121.01, 31.005, 121.02, 31.005)), rel=1e-3
    )
    point = {"type": "Point", "coordinates": [121.0, 31.0]}
    assert services.distances_m(point, [121.01], [31.0])[0] == pytest.approx(
        float(haversine_m(121, 31, 121.01, 31)), rel=1e-3
    )
