"""docs/examples/: every example file imports, in the documented order, into an empty library."""

import math
from pathlib import Path

import pytest
from django.utils import translation

from investmap.core.choices import OrgKind
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
from investmap.resources.spatial import mu

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"

# The documented order (docs/import-formats.md): each kind references only earlier ones;
# parcels' occupying enterprises are linked once enterprises exist.
ORDER = [
    ("towns", "towns.geojson", 2),
    ("parks", "parks.geojson", 1),
    ("parcels", "parcels.geojson", 3),
    ("buildings", "buildings.geojson", 2),
    ("pois", "pois.csv", 5),
    ("enterprises", "enterprises.csv", 3),
    ("indicators", "indicators.csv", 3),
    ("land-grants", "land-grants.csv", 2),
    ("teams", "teams.csv", 2 + 3),  # two teams, three members
]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_every_example_file_is_listed():
    listed = {name for _kind, name, _n in ORDER} | {"parcels-occupants.csv"}
    assert {p.name for p in EXAMPLES.iterdir() if p.is_file()} == listed  # matching/ has demands


def test_examples_import_in_order_then_nothing_changes(db):
    for kind, name, n in ORDER:
        report = import_file(kind=kind, path_or_file=EXAMPLES / name, dry_run=False)
        assert report.errors == [], (name, report.error_lines())
        assert (report.created, report.updated, report.unchanged) == (n, 0, 0), name

    occupants = import_file(
        kind="parcels", path_or_file=EXAMPLES / "parcels-occupants.csv", dry_run=False
    )
    assert occupants.errors == []
    assert (occupants.created, occupants.updated, occupants.unchanged) == (0, 2, 0)
    assert Parcel.objects.get(code="P-001").enterprise.credit_code == "91310000MA1FL00001"

    # Re-importing every file changes nothing.
    for kind, name, n in [*ORDER, ("parcels", "parcels-occupants.csv", 2)]:
        if name == "parcels.geojson":
            continue  # its blank `enterprise` column would unlink the occupants again (by design)
        report = import_file(kind=kind, path_or_file=EXAMPLES / name, dry_run=False)
        assert (report.created, report.updated, report.unchanged) == (0, 0, n), name


def test_examples_values_land_where_documented(db):
    for kind, name, _n in ORDER:
        assert import_file(kind=kind, path_or_file=EXAMPLES / name, dry_run=False).ok

    root = OrgUnit.objects.get(kind=OrgKind.DISTRICT)
    t1, t2 = Town.objects.get(code="T01"), Town.objects.get(code="T02")
    assert (t1.org_unit.code, t1.org_unit.kind, t1.org_unit.parent) == ("T01", OrgKind.TOWN, root)
    park = Park.objects.get(code="P01")
    assert (
        park.town == t1
        and park.org_unit.parent == t1.org_unit
        and park.org_unit.kind == OrgKind.PARK
    )

    p1 = Parcel.objects.get(code="P-001")
    assert (
        p1.plot_ratio_max == 2.5
        and p1.min_tax_wan_per_mu == 40
        and p1.owner == "东湖镇集体经济联合社"
    )
    # ~0.002° square at 31° N: about 190 m × 214 m.
    assert 38_000 < p1.area_m2 < 43_000
    assert math.isclose(p1.area_mu, mu(p1.area_m2))
    p2 = Parcel.objects.get(code="P-002")
    assert p2.town == t1  # blank town: found by containment
    assert p2.price_wan is None and p2.plot_ratio_min is None  # blank is unknown, not 0
    p3 = Parcel.objects.get(code="P-003")
    assert p3.town == t2 and p3.park is None and '"MultiPolygon"' in p3.geometry

    b2 = Building.objects.get(code="B-002")
    assert b2.town == t2 and b2.parcel == p3 and b2.vacant_floor_m2 is None

    m1, m2 = Poi.objects.get(code="POI-M1"), Poi.objects.get(code="POI-M2")
    assert (
        m1.extra == {"line": "轨道交通1号线", "seq": 1} and m1.park == park
    )  # park by containment
    assert m2.town == t2 and m2.extra["seq"] == 2
    assert Poi.objects.get(code="POI-I1").town == t1

    e1 = Enterprise.objects.get(credit_code="91310000MA1FL00001")
    assert e1.certifications == ["high_tech", "srdi"] and e1.building.code == "B-001"
    assert e1.founded_on.isoformat() == "2015-03-01" and e1.contact_email == "zhang@example.cn"
    e2 = Enterprise.objects.get(credit_code="91310000MA1FL00002")
    assert e2.town == t2 and e2.park is None  # town by containment of lon/lat
    e3 = Enterprise.objects.get(credit_code="91310000MA1FL00003")
    assert e3.lon is None and e3.certifications == ["tech_sme"]

    small = IndicatorYear.objects.get(enterprise=e2, year=2024)
    assert small.revenue_wan == 1800 and small.tax_wan == 60 and small.employees == 35
    assert small.output_wan is None and small.energy_tce is None

    g = LandGrant.objects.get(parcel__code="P-003")
    assert g.invested_ratio == 1.0 and g.built_ratio == 1.0 and g.halted_since is None
    assert LandGrant.objects.get(parcel__code="P-002").halted_since.isoformat() == "2023-06-30"

    team = Team.objects.get(code="TEAM-T01")
    assert team.org_unit.parent == t1.org_unit and team.org_unit.kind == OrgKind.TEAM
    assert sorted(TeamMember.objects.filter(team=team).values_list("name", flat=True)) == [
        "王五",
        "赵敏",
    ]
    assert Team.objects.get(code="TEAM-P01").org_unit.parent == park.org_unit
