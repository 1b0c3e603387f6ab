"""The import service: every kind and format, idempotency, updates, history, CRS, scope."""

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import translation

from investmap.core import geo
from investmap.core.choices import OrgKind, Role
from investmap.core.models import AuditEvent, OrgUnit, User
from investmap.core.scope import scope_for
from investmap.resources.importing import import_file
from investmap.resources.models import (
    Building,
    Enterprise,
    IndicatorYear,
    LandGrant,
    Parcel,
    Park,
    Poi,
    Team,
    TeamMember,
    Town,
)

E1, E2 = "91310000MA1FL00001", "91310000MA1FL00002"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def square(lon, lat, size=0.002):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


def write(tmp_path, name, header, rows, geometries=None):
    """The same table as CSV, xlsx or GeoJSON (properties = columns), by the name's extension."""
    path = tmp_path / name
    if name.endswith(".csv"):
        buf = io.StringIO()
        csv.writer(buf).writerows([header, *rows])
        path.write_text(buf.getvalue(), encoding="utf-8")
    elif name.endswith(".xlsx"):
        from openpyxl import Workbook

        wb = Workbook()
        wb.active.append(header)
        for r in rows:
            wb.active.append(list(r))
        wb.save(path)
    else:
        geometries = geometries or [None] * len(rows)
        features = [
            {"type": "Feature", "properties": dict(zip(header, r, strict=True)), "geometry": g}
            for r, g in zip(rows, geometries, strict=True)
        ]
        path.write_text(
            json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
        )
    return path


def run(kind, path, dry_run=False, **kw):
    return import_file(kind=kind, path_or_file=path, dry_run=dry_run, **kw)


def counts(report):
    return report.created, report.updated, report.unchanged


HISTORY_MODELS = [
    Town,
    Park,
    Parcel,
    Building,
    Poi,
    Enterprise,
    IndicatorYear,
    LandGrant,
    Team,
    TeamMember,
]


def history_rows():
    return sum(m.history.count() for m in HISTORY_MODELS)


# --- one happy path per kind and format ---------------------------------------------------

POI_HEADER = ["code", "name", "category", "town", "park", "address", "line", "seq", "lon", "lat"]
POI_ROWS = [
    ["NP-1", "东湖二站", "metro_station", "", "", "东湖路2号", "1号线", 2, 121.03, 31.03],
    ["NP-2", "西山中学", "school", "T02", "", "", "", "", 121.16, 31.07],
    ["NP-3", "区外医院", "hospital", "", "", "", "", "", 121.5, 31.5],
]

ENT_HEADER = [
    "credit_code",
    "name",
    "industry_code",
    "scale",
    "town",
    "park",
    "parcel",
    "building",
    "founded_on",
    "certifications",
    "contact_name",
    "contact_phone",
    "lon",
    "lat",
]
ENT_ROWS = [
    [
        "91310000MA1FL00003",
        "东湖芯片有限公司",
        "3973",
        "above",
        "T01",
        "P01",
        "P-002",
        "",
        "2020-01-02",
        "high_tech;little_giant",
        "孙",
        "13500000000",
        121.024,
        31.022,
    ],
    [
        "91310000MA1FL00004",
        "西山物流有限公司",
        "5990",
        "below",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        121.17,
        31.08,
    ],
]


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson"])
def test_pois_every_format(district, tmp_path, ext):
    if ext == "geojson":
        header = POI_HEADER[:-2]
        rows = [r[:-2] for r in POI_ROWS]
        geoms = [{"type": "Point", "coordinates": [r[-2], r[-1]]} for r in POI_ROWS]
        path = write(tmp_path, "pois.geojson", header, rows, geoms)
    else:
        path = write(tmp_path, f"pois.{ext}", POI_HEADER, POI_ROWS)
    report = run("pois", path)
    assert report.errors == [] and counts(report) == (3, 0, 0)
    p1 = Poi.objects.get(code="NP-1")
    t1, park = district["towns"]["T01"], district["park"]
    assert (p1.town, p1.park, p1.lon, p1.lat) == (t1, park, 121.03, 31.03)  # both by containment
    assert p1.extra == {"line": "1号线", "seq": 2}
    assert Poi.objects.get(code="NP-2").town.code == "T02"
    outside = Poi.objects.get(code="NP-3")
    assert outside.town is None and outside.park is None  # outside every town is allowed for POIs
    assert counts(run("pois", path)) == (0, 0, 3)


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson"])
def test_enterprises_every_format(district, tmp_path, ext):
    path = write(tmp_path, f"enterprises.{ext}", ENT_HEADER, ENT_ROWS)
    report = run("enterprises", path)
    assert report.errors == [] and counts(report) == (2, 0, 0)
    e3 = Enterprise.objects.get(credit_code="91310000MA1FL00003")
    assert e3.certifications == ["high_tech", "little_giant"] and e3.parcel.code == "P-002"
    assert e3.founded_on == dt.date(2020, 1, 2) and e3.park == district["park"]
    e4 = Enterprise.objects.get(credit_code="91310000MA1FL00004")
    assert e4.town.code == "T02" and e4.founded_on is None and e4.certifications == []
    assert counts(run("enterprises", path)) == (0, 0, 2)


IND_HEADER = [
    "credit_code",
    "year",
    "revenue_wan",
    "output_wan",
    "value_added_wan",
    "tax_wan",
    "employees",
    "rd_spend_wan",
    "energy_tce",
    "electricity_kwh",
    "emissions_t",
    "land_area_mu",
]


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_indicators_blank_is_unknown_never_zero(district, tmp_path, ext):
    rows = [
        [
            E1,
            2024,
            61000,
            "",
            "",
            2100,
            450,
            "",
            "",
            "",
            "",
            "",
        ],  # existing: revenue same, blanks clear
        [
            E2,
            2025,
            "",
            "",
            -12.5,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],  # new; negative value added is allowed
    ]
    path = write(tmp_path, f"indicators.{ext}", IND_HEADER, rows)
    report = run("indicators", path)
    assert report.errors == [] and counts(report) == (1, 1, 0)
    old = IndicatorYear.objects.get(enterprise__credit_code=E1, year=2024)
    assert old.revenue_wan == 61000 and old.output_wan is None and old.energy_tce is None
    assert old.version == 2
    new = IndicatorYear.objects.get(enterprise__credit_code=E2, year=2025)
    assert new.value_added_wan == -12.5 and new.revenue_wan is None and new.employees is None
    assert counts(run("indicators", path)) == (0, 0, 2)


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_land_grants(district, tmp_path, ext):
    header = [
        "parcel",
        "enterprise",
        "contract_start_on",
        "contract_price_wan",
        "started_on",
        "built_ratio",
        "invested_ratio",
        "halted_since",
    ]
    rows = [
        ["P-002", E1, "2022-01-01", 900, "", "0.2", "35%", "2023-05-01"],  # existing grant: updated
        [
            "P-003",
            E2,
            dt.date(2019, 3, 1) if ext == "xlsx" else "2019/3/1",
            "",
            "2019-10-01",
            1,
            1,
            "",
        ],
    ]
    path = write(tmp_path, f"grants.{ext}", header, rows)
    report = run("land-grants", path)
    assert report.errors == [] and counts(report) == (1, 1, 0)
    g = LandGrant.objects.get(parcel__code="P-002")
    assert (g.built_ratio, g.invested_ratio, g.halted_since) == (0.2, 0.35, dt.date(2023, 5, 1))
    assert LandGrant.objects.get(parcel__code="P-003").contract_start_on == dt.date(2019, 3, 1)
    assert counts(run("land-grants", path)) == (0, 0, 2)


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_teams_and_members(district, tmp_path, ext):
    header = [
        "code",
        "name",
        "unit",
        "speciality",
        "member_name",
        "member_title",
        "member_phone",
        "member_speciality",
    ]
    rows = [
        [
            "TEAM-T01",
            "东湖镇招商一组",
            "T01",
            "新能源汽车",
            "王五",
            "组长",
            "13700001111",
            "新能源",
        ],  # unchanged
        ["TEAM-T01", "", "", "", "李雷", "专员", "", ""],  # new member of an existing team
        [
            "TEAM-P01",
            "科创园招商组",
            "P01",
            "集成电路",
            "韩梅梅",
            "组长",
            "13700009999",
            "",
        ],  # new team
        ["TEAM-D", "区招商中心", "D", "", "", "", "", ""],  # a team without members yet
    ]
    path = write(tmp_path, f"teams.{ext}", header, rows)
    report = run("teams", path)
    assert report.errors == [], report.error_lines()
    assert report.counts["team"] == {"created": 2, "updated": 0, "unchanged": 1}
    assert report.counts["team member"] == {"created": 2, "updated": 0, "unchanged": 1}
    assert counts(report) == (4, 0, 2)
    new = Team.objects.get(code="TEAM-P01")
    assert new.org_unit.kind == OrgKind.TEAM and new.org_unit.parent == district["park"].org_unit
    assert new.members.get().phone == "13700009999"
    assert Team.objects.get(code="TEAM-D").org_unit.parent == district["root"]
    assert TeamMember.objects.filter(team__code="TEAM-T01").count() == 2
    assert counts(run("teams", path)) == (0, 0, 6)


def test_team_moved_to_another_unit_is_an_update(district, tmp_path):
    path = write(
        tmp_path, "teams.csv", ["code", "name", "unit"], [["TEAM-T02", "西山招商组", "T01"]]
    )
    report = run("teams", path)
    assert counts(report) == (0, 1, 0)
    team = Team.objects.get(code="TEAM-T02")
    assert team.org_unit.parent.code == "T01" and team.version == 2


def test_towns_and_parks_create_their_org_units(district, tmp_path):
    towns = write(
        tmp_path,
        "towns.geojson",
        ["code", "name"],
        [["T03", "南湖镇"], ["T01", "东湖新镇"]],
        [
            square(121.2, 31.0, 0.1),
            district["towns"]["T01"].geometry and json.loads(district["towns"]["T01"].geometry),
        ],
    )
    report = run("towns", towns)
    assert report.errors == [] and counts(report) == (1, 1, 0)
    t3 = Town.objects.get(code="T03")
    assert (t3.org_unit.code, t3.org_unit.kind, t3.org_unit.parent) == (
        "T03",
        OrgKind.TOWN,
        district["root"],
    )
    assert t3.area_m2 > 9e7  # ~0.1° square
    t1 = Town.objects.get(code="T01")
    assert t1.name == t1.org_unit.name == "东湖新镇" and t1.version == 2
    parks = write(
        tmp_path,
        "parks.geojson",
        ["code", "name", "town"],
        [["P02", "南湖园", "T03"]],
        [square(121.22, 31.02, 0.02)],
    )
    assert counts(run("parks", parks)) == (1, 0, 0)
    assert Park.objects.get(code="P02").org_unit.parent == t3.org_unit
    # A park moved to another town follows in the org tree.
    moved = write(
        tmp_path,
        "parks2.geojson",
        ["code", "name", "town"],
        [["P02", "南湖园", "T02"]],
        [square(121.22, 31.02, 0.02)],
    )
    assert counts(run("parks", moved)) == (0, 1, 0)
    assert Park.objects.get(code="P02").org_unit.parent.code == "T02"


def test_buildings_geojson(district, tmp_path):
    header = [
        "code",
        "name",
        "town",
        "park",
        "parcel",
        "building_type",
        "floors",
        "height_m",
        "total_floor_m2",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
        "floor_load_kn_m2",
        "clear_height_m",
    ]
    rows = [["B-010", "标准厂房", "", "", "P-003", "factory", 3, 18.5, 9000, "", 1.2, 25, 8]]
    path = write(tmp_path, "b.geojson", header, rows, [square(121.151, 31.051, 0.0005)])
    report = run("buildings", path)
    assert report.errors == [] and counts(report) == (1, 0, 0)
    b = Building.objects.get(code="B-010")
    assert b.town.code == "T02" and b.parcel.code == "P-003" and b.vacant_floor_m2 is None
    assert b.min_lon == 121.151 and abs(b.lon - 121.15125) < 1e-6
    assert counts(run("buildings", path)) == (0, 0, 1)


# --- idempotency, updates, history ----------------------------------------------------------


def parcel_file(tmp_path, status="available", name="parcels.geojson", geometry=None, extra=None):
    header = ["code", "name", "town", "park", "land_use", "status", "price_wan", "enterprise"]
    rows = [
        ["N-001", "新地块一", "T01", "", "M1", status, 800, ""],
        ["N-002", "新地块二", "", "P01", "M0", "planned", "", E1],
        ["P-001", "科创园一号地块", "T01", "P01", "M1", "available", 1200, ""],
    ]
    geoms = [geometry or square(121.06, 31.01), square(121.03, 31.03), square(121.021, 31.021)]
    return write(tmp_path, name, header, rows, geoms)


def test_reimport_changes_nothing(district, tmp_path):
    path = parcel_file(tmp_path)
    first = run("parcels", path)
    assert first.errors == [] and counts(first) == (2, 0, 1)
    assert Parcel.objects.get(code="N-002").town.code == "T01"
    before_history, before_versions = (
        history_rows(),
        dict(Parcel.objects.values_list("code", "version")),
    )
    before_updated = dict(Parcel.objects.values_list("code", "updated_at"))
    again = run("parcels", path)
    assert counts(again) == (0, 0, 3)
    assert history_rows() == before_history
    assert dict(Parcel.objects.values_list("code", "version")) == before_versions
    assert dict(Parcel.objects.values_list("code", "updated_at")) == before_updated


def test_update_bumps_version_and_adds_history(district, bureau_user, tmp_path):
    run("parcels", parcel_file(tmp_path))
    n1 = Parcel.objects.get(code="N-001")
    assert n1.version == 1 and n1.history.count() == 1
    report = run(
        "parcels", parcel_file(tmp_path, status="idle", name="v2.geojson"), user=bureau_user
    )
    assert counts(report) == (0, 1, 2)
    n1 = Parcel.objects.get(code="N-001")
    assert n1.status == "idle" and n1.version == 2
    latest = n1.history.first()
    assert latest.history_type == "~" and latest.status == "idle" and latest.version == 2
    assert latest.history_user == bureau_user and "v2.geojson" in latest.history_change_reason


def test_changed_geometry_recomputes_shape(district, tmp_path):
    run("parcels", parcel_file(tmp_path))
    small = Parcel.objects.get(code="N-001").area_m2
    report = run(
        "parcels", parcel_file(tmp_path, geometry=square(121.06, 31.01, 0.004), name="big.geojson")
    )
    assert counts(report) == (0, 1, 2)
    big = Parcel.objects.get(code="N-001")
    assert 3.9 < big.area_m2 / small < 4.1 and big.max_lon == pytest.approx(121.064)


def test_table_updates_attributes_of_stored_polygons_only(district, tmp_path):
    path = write(
        tmp_path,
        "status.csv",
        ["code", "status", "enterprise"],
        [["P-001", "in_use", E1], ["P-002", "idle", ""]],
    )
    report = run("parcels", path)
    assert report.errors == [] and counts(report) == (0, 1, 1)
    p1 = Parcel.objects.get(code="P-001")
    assert p1.status == "in_use" and p1.enterprise.credit_code == E1 and p1.town.code == "T01"
    new = write(tmp_path, "new.csv", ["code", "status"], [["N-9", "idle"]])
    report = run("parcels", new)
    assert [(e.row, e.field) for e in report.errors] == [(2, "code")]
    assert "GeoJSON" in report.errors[0].message


def test_absent_column_leaves_field_untouched(district, tmp_path):
    path = write(
        tmp_path,
        "ent.csv",
        ["credit_code", "name", "industry_code", "scale", "town"],
        [[E1, "东湖新能源科技有限公司", "3841", "above", "T01"]],
    )
    report = run("enterprises", path)
    assert counts(report) == (0, 0, 1)
    e1 = Enterprise.objects.get(credit_code=E1)
    assert e1.contact_phone == "13812345678" and e1.certifications == ["high_tech", "srdi"]


def test_dry_run_reports_what_a_real_run_does_and_writes_nothing(district, tmp_path):
    path = parcel_file(tmp_path, status="idle")
    before = (Parcel.objects.count(), history_rows(), AuditEvent.objects.count())
    dry = run("parcels", path, dry_run=True)
    assert dry.dry_run and dry.errors == []
    assert (Parcel.objects.count(), history_rows(), AuditEvent.objects.count()) == before
    real = run("parcels", path)
    assert dry.as_dict() | {"dry_run": False} == real.as_dict()
    assert AuditEvent.objects.filter(action="import", target="parcels").count() == 1


def test_values_in_labels_and_case_are_accepted(district, tmp_path):
    path = parcel_file(tmp_path)
    rows = [
        ["N-001", "x", "T01", "", "m1", "Idle"],
        ["N-002", "y", "T01", "", "M0", "Low efficiency"],
    ]
    path = write(
        tmp_path,
        "labels.geojson",
        ["code", "name", "town", "park", "land_use", "status"],
        rows,
        [square(121.06, 31.01), square(121.07, 31.01)],
    )
    report = run("parcels", path)
    assert report.errors == []
    assert dict(Parcel.objects.filter(code__startswith="N-").values_list("code", "status")) == {
        "N-001": "idle",
        "N-002": "low_efficiency",
    }
    assert Parcel.objects.get(code="N-001").land_use == "M1"


# --- GCJ-02 --------------------------------------------------------------------------------


def test_gcj02_points_land_on_their_wgs84_position(district, tmp_path):
    wgs = (121.4737, 31.2304)  # People's Square, Shanghai
    glon, glat = (float(v) for v in geo.wgs84_to_gcj02(*wgs))
    assert geo.haversine_m(glon, glat, *wgs) > 300  # the offset is real
    path = write(
        tmp_path,
        "amap.csv",
        ["code", "name", "category", "lon", "lat"],
        [["G-1", "人民广场站", "metro_station", glon, glat]],
    )
    report = run("pois", path, crs="gcj02")
    assert report.errors == []
    p = Poi.objects.get(code="G-1")
    assert geo.haversine_m(p.lon, p.lat, *wgs) < 0.5
    assert counts(run("pois", path, crs="gcj02")) == (0, 0, 1)  # re-import: same converted values


def test_gcj02_polygons_convert_every_vertex(district, tmp_path):
    wgs = square(121.06, 31.01)
    ring = wgs["coordinates"][0]
    lons, lats = geo.wgs84_to_gcj02([p[0] for p in ring], [p[1] for p in ring])
    gcj = {
        "type": "Polygon",
        "coordinates": [[[float(x), float(y)] for x, y in zip(lons, lats, strict=True)]],
    }
    path = write(
        tmp_path,
        "amap.geojson",
        ["code", "town", "land_use", "status"],
        [["G-P", "T01", "M1", "idle"]],
        [gcj],
    )
    assert run("parcels", path, crs="gcj02").errors == []
    stored = json.loads(Parcel.objects.get(code="G-P").geometry)["coordinates"][0]
    for (x, y), (ex, ey) in zip(stored, ring, strict=True):
        assert geo.haversine_m(x, y, ex, ey) < 0.5
    assert counts(run("parcels", path, crs="gcj02")) == (0, 0, 1)


# --- refusals, scope, audit ------------------------------------------------------------------


def test_file_over_the_size_limit_is_refused(district, tmp_path, settings):
    settings.INVESTMAP_IMPORT_MAX_BYTES = 200
    path = write(tmp_path, "pois.csv", POI_HEADER, POI_ROWS * 5)
    report = run("pois", path)
    assert counts(report) == (0, 0, 0) and len(report.errors) == 1
    assert "largest accepted import" in report.errors[0].message
    assert not Poi.objects.filter(code="NP-1").exists()
    upload = io.BytesIO(path.read_bytes())
    upload.name = "pois.csv"
    assert (
        "largest accepted import"
        in import_file(kind="pois", path_or_file=upload, dry_run=True).errors[0].message
    )


def test_scope_refuses_kinds_the_role_may_not_import(users, tmp_path):
    path = write(tmp_path, "pois.csv", POI_HEADER, POI_ROWS)
    officer = scope_for(users["officer_t01"])
    report = run("pois", path, scope=officer, user=users["officer_t01"])
    assert len(report.errors) == 1 and "may not import pois" in report.errors[0].message
    assert not Poi.objects.filter(code__startswith="NP-").exists()
    assert AuditEvent.objects.get(action="import", user=users["officer_t01"]).detail["ok"] is False
    maintainer = scope_for(users["maintainer"])
    assert run("pois", path, scope=maintainer, dry_run=True).errors == []
    ent = write(tmp_path, "e.csv", ENT_HEADER, ENT_ROWS)
    assert (
        "may not import enterprises" in run("enterprises", ent, scope=maintainer).errors[0].message
    )
    assert run("pois", path, scope=scope_for(users["bureau"]), user=users["bureau"]).ok


def test_real_runs_are_audited(users, tmp_path):
    path = write(tmp_path, "pois.csv", POI_HEADER, POI_ROWS)
    run("pois", path, dry_run=True, user=users["bureau"])
    assert not AuditEvent.objects.filter(action="import").exists()
    run("pois", path, user=users["bureau"])
    ev = AuditEvent.objects.get(action="import")
    assert ev.user == users["bureau"] and ev.target == "pois"
    assert (
        ev.detail["created"] == 3
        and ev.detail["filename"] == "pois.csv"
        and ev.detail["ok"] is True
    )


def test_upload_file_object(district):
    data = "code,name,category,lon,lat\nU-1,上传站,bus_stop,121.01,31.01\n".encode()
    f = io.BytesIO(data)
    f.name = "upload.csv"
    report = import_file(kind="pois", path_or_file=f, dry_run=False)
    assert counts(report) == (1, 0, 0) and report.filename == "upload.csv"


def test_unknown_kind_and_crs(db, tmp_path):
    path = write(tmp_path, "x.csv", ["code"], [["1"]])
    assert "accepted: towns, parks" in run("farms", path).errors[0].message
    assert "accepted: wgs84, gcj02" in run("pois", path, crs="bd09").errors[0].message


def test_empty_file_is_a_warning_not_a_write(db, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("code,name,category,lon,lat\n")
    report = run("pois", path)
    assert report.ok and counts(report) == (0, 0, 0) and report.warnings


def test_unknown_columns_are_reported_as_ignored(district, tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        ["code", "name", "category", "lon", "lat", "colour"],
        [["C-1", "站", "bus_stop", 121.01, 31.01, "red"]],
    )
    report = run("pois", path)
    assert report.ok and any("colour" in w for w in report.warnings)


@pytest.fixture
def users(district):
    """The roles these tests need (no passwords: hashing them is slow and not tested here)."""

    def make(username, role, unit):
        return User.objects.create(
            username=username, role=role, org_unit=OrgUnit.objects.get(code=unit)
        )

    return {
        "bureau": make("bureau", Role.BUREAU_STAFF, "D"),
        "maintainer": make("maintainer", Role.DATA_MAINTAINER, "D"),
        "officer_t01": make("officer_t01", Role.TOWN_OFFICER, "T01"),
    }


@pytest.fixture
def bureau_user(users):
    return users["bureau"]
