"""Real bad files (tests/data/import/, built by make_files.py): every error is reported with
row, field, value and an actionable message, and nothing at all is written."""

from pathlib import Path

import pytest
from django.utils import translation

from investmap.core.models import OrgUnit
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

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
MODELS = [Town, Park, Parcel, Building, Poi, Enterprise, IndicatorYear, LandGrant, Team, TeamMember]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def snapshot():
    """Every row of every resource table, their history tables and the org tree."""
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in MODELS}
    state.update({f"history {m.__name__}": m.history.count() for m in MODELS})
    state["org units"] = list(OrgUnit.objects.order_by("pk").values())
    return state


# (kind, file, {(row, field): substring of the message}); None row = the whole file.
BAD_FILES = [
    (
        "parcels",
        "parcels_wrong_types.geojson",
        {
            (2, "price_wan"): "not a number",
            (
                3,
                "status",
            ): "status 'vacant' not accepted; accepted: planned, available, in_use, idle",
            (4, "land_use"): "land_use 'X9' not accepted; accepted: M1, M2",
            (5, "plot_ratio_max"): "must not be negative",
            (6, "code"): "a value is required",
            (7, "plot_ratio_min"): "cannot exceed the maximum",
        },
    ),
    (
        "parcels",
        "parcels_unknown_town.geojson",
        {
            (2, "town"): "unknown town 'T99'; known towns: T01, T02",
            (3, "park"): "unknown park 'P99'; known parks: P01",
            (4, "park"): "park 'P01' is in town T01, not in T02",
            (5, "town"): "lies in no town",
        },
    ),
    ("parcels", "parcels_bowtie.geojson", {(2, "geometry"): "self-intersecting"}),
    ("parcels", "parcels_unclosed_ring.geojson", {(3, "geometry"): "must be closed"}),
    (
        "parcels",
        "parcels_nonnumeric_coordinates.geojson",
        {(1, "geometry"): "coordinates must be numbers"},
    ),
    (
        "parcels",
        "parcels_wrong_geometry_type.geojson",
        {
            (
                2,
                "geometry",
            ): "geometry type 'Point' not accepted for parcels; accepted: Polygon, MultiPolygon",
            (3, "geometry"): "no geometry",
        },
    ),
    (
        "parcels",
        "parcels_duplicate_codes.geojson",
        {
            (3, "code"): "duplicate key N-001: also in feature 1",
            (5, "code"): "duplicate key P-001: also in feature 4",
        },
    ),
    (
        "parcels",
        "parcels_bad_last_of_many.geojson",
        {(301, "status"): "status 'vacant' not accepted"},
    ),
    (
        "parcels",
        "parcels_missing_columns.geojson",
        {(None, "status"): "required column 'status' is missing"},
    ),
    ("parcels", "parcels_projected_crs.geojson", {(None, "crs"): "EPSG::3857"}),
    ("parcels", "parcels_broken_json.geojson", {(None, None): "not valid JSON"}),
    (
        "towns",
        "towns_not_a_featurecollection.geojson",
        {(None, None): "expected a GeoJSON FeatureCollection"},
    ),
    (
        "parks",
        "parks_unknown_town.geojson",
        {
            (2, "town"): "unknown town 'T09'; known towns: T01, T02",
            (3, "code"): "code 'T02' is already used by the org unit",
        },
    ),
    (
        "buildings",
        "buildings_wrong_types.geojson",
        {
            (2, "floors"): "not a number",
            (
                3,
                "building_type",
            ): "building_type 'warehouse' not accepted; accepted: office, factory, mixed",
            (4, "vacant_floor_m2"): "cannot exceed the total",
            (5, "parcel"): "unknown parcel 'P-999'",
            (6, "floors"): "not a whole number",
        },
    ),
    (
        "pois",
        "pois_bad.csv",
        {
            (3, "category"): "category 'bookshop' not accepted; accepted: metro_station",
            (4, "lon"): "not a number",
            (5, "lon"): "is not a lon/lat position",
            (6, "code"): "duplicate key NP-1: also in row 2",
            (7, "lon"): "are lon and lat swapped?",
            (8, "name"): "a value is required",
            (9, "lat"): "lon and lat must both be given",
            (10, "seq"): "not a number",
        },
    ),
    (
        "pois",
        "pois_not_text.csv",
        {(None, None): "accepted: UTF-8 (with or without BOM), GB18030/GBK"},
    ),
    (
        "pois",
        "pois_wrong_extension.txt",
        {(None, "file"): "accepted: .csv, .geojson, .json, .xlsx"},
    ),
    (
        "enterprises",
        "enterprises_bad_row.xlsx",
        {
            (6, "scale"): "scale 'big' not accepted; accepted: above, below",
            (6, "founded_on"): "date must be YYYY-MM-DD",
            (6, "certifications"): "certification 'iso9001' not accepted",
            (6, "contact_email"): "not an e-mail address",
        },
    ),
    (
        "indicators",
        "indicators_wrong_types.csv",
        {
            (3, "year"): "not a number",
            (4, "employees"): "not a whole number",
            (5, "revenue_wan"): "not a number",
            (6, "credit_code"): "unknown enterprise '91310000MA1FL09999'",
            (7, "credit_code"): "duplicate key 91310000MA1FL00001 / 2022: also in row 2",
            (8, "credit_code"): "not a unified social credit code",
            (9, "revenue_wan"): "must not be negative",
        },
    ),
    (
        "land-grants",
        "land_grants_bad.csv",
        {
            (2, "contract_start_on"): "date must be YYYY-MM-DD",
            (3, "built_ratio"): "share from 0 to 1",
            (4, "parcel"): "unknown parcel 'P-999'",
            (5, "contract_start_on"): "a value is required",
            (6, "contract_start_on"): "not a calendar date",
        },
    ),
    (
        "teams",
        "teams_bad.csv",
        {
            (3, "name"): "all rows of a team must agree",
            (4, "member_name"): "duplicate member '甲' of team 'TEAM-N1': also in row 2",
            (5, "unit"): "unknown unit 'X99'",
            (6, "member_name"): "give the member's name",
            (6, "name"): "blank on every row of team 'TEAM-N3'",
            (6, "unit"): "blank on every row of team 'TEAM-N3'",
            (7, "code"): "code 'T01' is already used by the org unit",
        },
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "expected"), BAD_FILES, ids=[f for _k, f, _e in BAD_FILES]
)
def test_bad_file_reports_every_error_and_writes_nothing(district, kind, name, expected):
    before = snapshot()
    dry = import_file(kind=kind, path_or_file=DATA / name, dry_run=True)
    real = import_file(kind=kind, path_or_file=DATA / name, dry_run=False)
    assert snapshot() == before

    got = {(e.row, e.field): e for e in real.errors}
    assert set(got) == set(expected), real.error_lines()
    for where, fragment in expected.items():
        assert fragment in got[where].message, (where, got[where].message)
    for e in real.errors:
        blank = any(w in e.message for w in ("blank", "required", "no geometry"))
        if e.row is not None and not blank:
            assert e.value != "", e  # the bad value is repeated
        assert set(e.as_dict()) == {"row", "field", "value", "message"}
    assert (real.created, real.updated, real.unchanged) == (0, 0, 0)
    assert dry.as_dict() | {"dry_run": False} == real.as_dict()


def test_error_lines_name_file_row_field_value(district):
    report = import_file(kind="pois", path_or_file=DATA / "pois_bad.csv", dry_run=True)
    assert (
        "pois_bad.csv row 3, field category, value \"bookshop\": category 'bookshop' not accepted"
        in (report.error_lines()[0])
    )


def test_bad_last_row_of_many_good_ones_writes_none_of_them(district):
    report = import_file(
        kind="parcels", path_or_file=DATA / "parcels_bad_last_of_many.geojson", dry_run=False
    )
    assert report.rows == 301 and len(report.errors) == 1
    assert not Parcel.objects.filter(code__startswith="M-").exists()


def test_gbk_csv_is_decoded(district):
    report = import_file(
        kind="enterprises", path_or_file=DATA / "enterprises_gbk.csv", dry_run=False
    )
    assert report.errors == [] and report.created == 2
    e = Enterprise.objects.get(credit_code="91310000MA1FL0GB01")
    assert (
        e.name == "东湖微电子有限公司"
        and e.contact_name == "赵六"
        and e.certifications == ["high_tech", "srdi"]
    )
    assert (
        Enterprise.objects.get(credit_code="91310000MA1FL0GB02").founded_on.isoformat()
        == "2020-07-01"
    )


def test_utf8_bom_csv_is_read(district):
    report = import_file(kind="pois", path_or_file=DATA / "pois_utf8_bom.csv", dry_run=False)
    assert report.errors == [] and report.created == 2 and report.warnings == []
    assert Poi.objects.get(code="BOM-2").extra == {"line": "1号线", "seq": 4}


def test_xlsx_good_rows_import_once_the_bad_row_is_gone(district, tmp_path):
    from openpyxl import load_workbook

    wb = load_workbook(DATA / "enterprises_bad_row.xlsx")
    wb.active.delete_rows(6)
    fixed = tmp_path / "enterprises.xlsx"
    wb.save(fixed)
    report = import_file(kind="enterprises", path_or_file=fixed, dry_run=False)
    assert report.errors == [] and report.created == 4
    e2 = Enterprise.objects.get(credit_code="91310000MA1FLX0002")
    assert (
        e2.industry_code == "2761" and e2.founded_on.isoformat() == "2019-09-09"
    )  # numeric and date cells
    e3 = Enterprise.objects.get(credit_code="91310000MA1FLX0003")
    assert e3.town.code == "T02" and e3.certifications == ["srdi", "little_giant"]
