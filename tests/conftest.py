"""Shared fixtures: a small two-town district and one user per role.

The district is built through the same shape service as imports (engine
areas), so fixtures exercise the real path. Larger data comes from the demo
generator in the tests that need it.
"""

import datetime as dt
import functools
import json

import pytest

from investmap.core.choices import OrgKind, Role
from investmap.core.models import OrgUnit, User
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
from investmap.resources.spatial import mu, shape_fields

PASSWORD = "test-pass-12345"


def square(lon, lat, size=0.01):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


@functools.cache
def _shape(geometry_text: str) -> dict:
    # The fixture's geometries never change: measure each once per session.
    return shape_fields([geometry_text])[0]


def _shaped(model, geometry, **fields):
    shape = dict(_shape(json.dumps(geometry)))
    assert "error" not in shape, shape
    names = {f.name for f in model._meta.fields}
    obj = model(**fields, **{k: v for k, v in shape.items() if k in names})
    if hasattr(obj, "area_mu"):
        obj.area_mu = mu(obj.area_m2)
    obj.save()
    return obj


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 is the production hasher (tested in tests/core); fixtures need not pay for it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def district(db):
    """Towns T01 (west) and T02 (east), park P01 in T01, parcels, buildings, POIs,
    enterprises with indicators, a land grant and a team per town."""
    root = OrgUnit.objects.create(code="D", name="示范区", kind=OrgKind.DISTRICT)
    t1u = OrgUnit.objects.create(code="T01", name="东湖镇", kind=OrgKind.TOWN, parent=root)
    t2u = OrgUnit.objects.create(code="T02", name="西山街道", kind=OrgKind.TOWN, parent=root)
    p1u = OrgUnit.objects.create(code="P01", name="东湖科创园", kind=OrgKind.PARK, parent=t1u)
    t1 = _shaped(Town, square(121.0, 31.0, 0.1), code="T01", name="东湖镇", org_unit=t1u)
    t2 = _shaped(Town, square(121.1, 31.0, 0.1), code="T02", name="西山街道", org_unit=t2u)
    p1 = _shaped(
        Park, square(121.02, 31.02, 0.03), code="P01", name="东湖科创园", town=t1, org_unit=p1u
    )
    parcels = {
        "P-001": _shaped(
            Parcel,
            square(121.021, 31.021, 0.002),
            code="P-001",
            name="科创园一号地块",
            town=t1,
            park=p1,
            land_use="M1",
            status="available",
            price_wan=1200.0,
        ),
        "P-002": _shaped(
            Parcel,
            square(121.023, 31.021, 0.002),
            code="P-002",
            name="科创园二号地块",
            town=t1,
            park=p1,
            land_use="M0",
            status="idle",
        ),
        "P-003": _shaped(
            Parcel,
            square(121.15, 31.05, 0.003),
            code="P-003",
            name="西山工业地块",
            town=t2,
            land_use="M2",
            status="in_use",
        ),
    }
    b1 = _shaped(
        Building,
        square(121.0212, 31.0212, 0.0005),
        code="B-001",
        name="科创大厦",
        town=t1,
        park=p1,
        parcel=parcels["P-001"],
        building_type="office",
        floors=12,
        total_floor_m2=24000,
        vacant_floor_m2=3500,
        floor_load_kn_m2=5,
        clear_height_m=3.2,
    )
    Poi.objects.create(
        code="POI-M1",
        name="东湖站",
        category="metro_station",
        town=t1,
        lon=121.025,
        lat=31.025,
        extra={"line": "1号线", "seq": 1},
    )
    Poi.objects.create(
        code="POI-S1", name="东湖小学", category="school", town=t1, lon=121.03, lat=31.03
    )
    Poi.objects.create(
        code="POI-H1", name="西山医院", category="hospital", town=t2, lon=121.16, lat=31.06
    )
    e1 = Enterprise.objects.create(
        credit_code="91310000MA1FL00001",
        name="东湖新能源科技有限公司",
        industry_code="3841",
        scale="above",
        founded_on=dt.date(2015, 3, 1),
        town=t1,
        park=p1,
        parcel=parcels["P-001"],
        building=b1,
        lon=121.022,
        lat=31.022,
        certifications=["high_tech", "srdi"],
        contact_name="张三丰",
        contact_phone="13812345678",
        contact_email="zhang@example.cn",
    )
    e2 = Enterprise.objects.create(
        credit_code="91310000MA1FL00002",
        name="西山精密机械有限公司",
        industry_code="3421",
        scale="below",
        founded_on=dt.date(2019, 6, 1),
        town=t2,
        parcel=parcels["P-003"],
        lon=121.151,
        lat=31.051,
        certifications=[],
        contact_name="李四",
        contact_phone="13987654321",
    )
    parcels["P-003"].enterprise = e2
    parcels["P-003"].save()
    for year, (rev, tax) in {2023: (52000.0, 1800.0), 2024: (61000.0, 2100.0)}.items():
        IndicatorYear.objects.create(
            enterprise=e1,
            year=year,
            revenue_wan=rev,
            output_wan=rev * 0.9,
            value_added_wan=rev * 0.25,
            tax_wan=tax,
            employees=420,
            rd_spend_wan=rev * 0.05,
            energy_tce=3100,
            electricity_kwh=2.1e7,
            emissions_t=12.5,
            land_area_mu=45,
        )
    IndicatorYear.objects.create(
        enterprise=e2, year=2024, revenue_wan=1800.0, tax_wan=60.0, employees=35
    )
    LandGrant.objects.create(
        parcel=parcels["P-002"],
        enterprise=e1,
        contract_start_on=dt.date(2022, 1, 1),
        contract_price_wan=900,
    )
    tu = OrgUnit.objects.create(
        code="TEAM-T01", name="东湖镇招商一组", kind=OrgKind.TEAM, parent=t1u
    )
    team = Team.objects.create(
        code="TEAM-T01", name="东湖镇招商一组", org_unit=tu, speciality="新能源汽车"
    )
    TeamMember.objects.create(
        team=team, name="王五", title="组长", phone="13700001111", speciality="新能源"
    )
    tu2 = OrgUnit.objects.create(code="TEAM-T02", name="西山招商组", kind=OrgKind.TEAM, parent=t2u)
    Team.objects.create(code="TEAM-T02", name="西山招商组", org_unit=tu2, speciality="高端装备")
    return {
        "root": root,
        "towns": {"T01": t1, "T02": t2},
        "park": p1,
        "parcels": parcels,
        "building": b1,
        "enterprises": {"e1": e1, "e2": e2},
    }


@pytest.fixture
def users(district):
    def make(username, role, unit_code=None, **kw):
        unit = OrgUnit.objects.get(code=unit_code) if unit_code else None
        return User.objects.create_user(
            username=username, password=PASSWORD, role=role, org_unit=unit, **kw
        )

    return {
        "leader": make("leader", Role.DISTRICT_LEADER, "D"),
        "bureau": make("bureau", Role.BUREAU_STAFF, "D"),
        "officer_t01": make("officer_t01", Role.TOWN_OFFICER, "T01"),
        "officer_t02": make("officer_t02", Role.TOWN_OFFICER, "T02"),
        "team_t01": make("team_t01", Role.TOWN_OFFICER, "TEAM-T01"),
        "maintainer": make("maintainer", Role.DATA_MAINTAINER, "D"),
        "sysadmin": make("sysadmin", Role.SYSTEM_ADMIN, "D"),
        "auditor": make("auditor", Role.AUDIT_ADMIN, "D"),
        "enterprise": make("enterprise", Role.ENTERPRISE),
    }


def geojson_text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _zh(msgid: str) -> str:
    from django.utils import translation

    with translation.override("zh-hans"):
        return translation.gettext(msgid)


@pytest.fixture
def zh():
    """zh("English msgid") → the Simplified Chinese interface text (the default language)."""
    return _zh
