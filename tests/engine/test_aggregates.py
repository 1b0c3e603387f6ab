"""Drill-down figures computed by the engine, checked against the fixture computed here.

The engine reads the record store through ATTACH, so rows must be committed:
these tests use the transactional database.
"""

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from investmap.core.scope import scope_for
from investmap.engine import aggregates
from investmap.resources import services
from investmap.resources.models import (
    Building,
    Enterprise,
    IndicatorYear,
    Parcel,
    Park,
    Poi,
    Team,
    TeamMember,
    Town,
)

pytestmark = pytest.mark.django_db(transaction=True)


def expected(parcels, buildings, enterprises, pois, teams):
    """The overview figures of a set of records, computed in Python from the ORM."""
    by_status, by_use = defaultdict(lambda: [0.0, 0]), defaultdict(lambda: [0.0, 0])
    for p in parcels:
        by_status[p.status][0] += p.area_mu
        by_status[p.status][1] += 1
        by_use[p.land_use][0] += p.area_mu
        by_use[p.land_use][1] += 1
    inds = list(IndicatorYear.objects.filter(enterprise__in=enterprises))
    year = max((i.year for i in inds), default=None)
    latest = [i for i in inds if i.year == year]

    def total(field):
        vals = [getattr(i, field) for i in latest if getattr(i, field) is not None]
        return round(sum(vals), 2) if vals else None

    return {
        "total_mu": round(sum(p.area_mu for p in parcels), 2),
        "by_status": {k: (round(v[0], 2), v[1]) for k, v in by_status.items()},
        "by_land_use": {k: (round(v[0], 2), v[1]) for k, v in by_use.items()},
        "buildings": {
            "count": len(buildings),
            "total_floor_m2": round(sum(b.total_floor_m2 or 0 for b in buildings), 1),
            "vacant_floor_m2": round(sum(b.vacant_floor_m2 or 0 for b in buildings), 1),
        },
        "enterprises": {
            "count": len(enterprises),
            "above": sum(e.scale == "above" for e in enterprises),
            "below": sum(e.scale == "below" for e in enterprises),
        },
        "economy": {
            "year": year,
            "output_wan": total("output_wan"),
            "revenue_wan": total("revenue_wan"),
            "tax_wan": total("tax_wan"),
        },
        "pois": dict(Counter(p.category for p in pois)),
        "teams": {
            "count": len(teams),
            "members": TeamMember.objects.filter(team__in=teams).count(),
        },
    }


def same_groups(items, key, exp):
    got = {i[key]: (i["area_mu"], i["count"]) for i in items}
    assert set(got) == set(exp)
    for k, (area, n) in exp.items():
        assert got[k][0] == pytest.approx(area, abs=0.01) and got[k][1] == n, k


def check(ov, exp, *, tax_visible=True):
    assert ov["land"]["total_mu"] == pytest.approx(exp["total_mu"], abs=0.01)
    same_groups(ov["land"]["by_status"], "status", exp["by_status"])
    same_groups(ov["land"]["by_land_use"], "land_use", exp["by_land_use"])
    assert ov["buildings"] == exp["buildings"]
    assert ov["enterprises"] == exp["enterprises"]
    economy = dict(exp["economy"])
    if not tax_visible:
        economy["tax_wan"] = None
    assert ov["economy"] == {**economy, "masked": not tax_visible}
    assert {p["category"]: p["count"] for p in ov["pois"]["by_category"]} == exp["pois"]
    assert ov["teams"] == exp["teams"]


def test_district_overview_matches_the_records(users, district):
    ov = services.overview(level="district", code=None, scope=scope_for(users["leader"]))
    exp = expected(
        list(Parcel.objects.all()),
        list(Building.objects.all()),
        list(Enterprise.objects.all()),
        list(Poi.objects.all()),
        list(Team.objects.all()),
    )
    check(ov, exp)
    # The fixture in plain numbers: both 2024 reports; e2 reported no output.
    assert ov["economy"] == {
        "year": 2024,
        "output_wan": 54900.0,
        "revenue_wan": 62800.0,
        "tax_wan": 2160.0,
        "masked": False,
    }
    assert ov["level"] == "district" and ov["code"] == "D" and ov["name"] == "示范区"
    assert ov["bbox"] == pytest.approx([121.0, 31.0, 121.2, 31.1])
    assert [c["code"] for c in ov["children"]] == ["T01", "T02"]
    t1, t2 = ov["children"]
    p1, p2, p3 = (Parcel.objects.get(code=c) for c in ("P-001", "P-002", "P-003"))
    assert t1["land_total_mu"] == pytest.approx(p1.area_mu + p2.area_mu, abs=0.01)
    assert t1["idle_mu"] == pytest.approx(p2.area_mu, abs=0.01)
    assert (t1["vacant_floor_m2"], t1["enterprises"], t1["output_wan"]) == (3500.0, 1, 54900.0)
    assert t2["land_total_mu"] == pytest.approx(p3.area_mu, abs=0.01) and t2["idle_mu"] == 0
    assert (t2["enterprises"], t2["output_wan"]) == (1, None)  # unknown output stays unknown
    # Labels and colours come from the enums.
    idle = next(s for s in ov["land"]["by_status"] if s["status"] == "idle")
    assert idle["color"] == "#e53935" and idle["label"]


def test_town_and_park_overview(users, district):
    leader = scope_for(users["leader"])
    t1 = Town.objects.get(code="T01")
    ov = services.overview(level="town", code="T01", scope=leader)
    exp = expected(
        list(Parcel.objects.filter(town=t1)),
        list(Building.objects.filter(town=t1)),
        list(Enterprise.objects.filter(town=t1)),
        list(Poi.objects.filter(town=t1)),
        list(Team.objects.filter(org_unit__parent=t1.org_unit)),
    )
    check(ov, exp)
    assert [(c["level"], c["code"]) for c in ov["children"]] == [("park", "P01")]
    park = Park.objects.get(code="P01")
    pv = services.overview(level="park", code="P01", scope=leader)
    exp = expected(
        list(Parcel.objects.filter(park=park)),
        list(Building.objects.filter(park=park)),
        list(Enterprise.objects.filter(park=park)),
        list(Poi.objects.filter(park=park)),
        [],
    )
    check(pv, exp)
    assert pv["children"] == [] and pv["name"] == "东湖科创园"
    assert pv["bbox"] == pytest.approx([121.02, 31.02, 121.05, 31.05])
    assert ov["children"][0]["land_total_mu"] == pytest.approx(pv["land"]["total_mu"], abs=0.01)


def test_tax_only_within_the_officers_unit(users, district):
    off = scope_for(users["officer_t01"])
    assert services.overview(level="town", code="T01", scope=off)["economy"]["tax_wan"] == 2100.0
    assert services.overview(level="park", code="P01", scope=off)["economy"]["masked"] is False
    for level, code in (("town", "T02"), ("district", None)):
        economy = services.overview(level=level, code=code, scope=off)["economy"]
        assert economy["tax_wan"] is None and economy["masked"] is True
        assert economy["revenue_wan"] is not None  # non-sensitive figures stay
    maint = services.overview(level="town", code="T01", scope=scope_for(users["maintainer"]))
    assert maint["economy"]["tax_wan"] is None


def test_overview_refusals(users, district):
    with pytest.raises(services.NotFound):
        services.overview(level="town", code="T99", scope=scope_for(users["leader"]))
    with pytest.raises(services.InvalidFilter):
        services.overview(level="city", code=None, scope=scope_for(users["leader"]))
    with pytest.raises(services.Forbidden):
        services.overview(level="district", code=None, scope=scope_for(users["auditor"]))


def test_unknown_figures_are_not_zero(users, district):
    IndicatorYear.objects.all().delete()
    ov = services.overview(level="district", code=None, scope=scope_for(users["leader"]))
    assert ov["economy"] == {
        "year": None,
        "output_wan": None,
        "revenue_wan": None,
        "tax_wan": None,
        "masked": False,
    }
    assert ov["enterprises"]["count"] == 2


def test_area_figures_empty_store():
    # No rows at all: zeros for counts, nothing invented for figures.
    figures = aggregates.area_figures(level="district", area_id=None, unit_id=None)
    assert figures["land"] == {"total_mu": 0.0, "by_status": {}, "by_land_use": {}}
    assert figures["economy"]["year"] is None and figures["children"] == {}
    with pytest.raises(ValueError):
        aggregates.area_figures(level="city", area_id=None, unit_id=None)


def test_overview_does_not_reset_the_wal_index_django_has_mapped(users, district, settings):
    """Regression: with the SQLite file attached by DuckDB in this process, DuckDB's
    own SQLite copy cannot see Django's locks, takes itself for the file's only
    user and truncates the WAL index (-shm) Django has mapped; Django's next large
    write then dies of SIGBUS. The engine must leave the -shm as it found it."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("a SQLite record store only")
    shm = Path(str(settings.DATABASES["default"]["NAME"]) + "-shm")
    # One write transaction larger than one 32 KB region of the WAL index covers.
    Poi.objects.bulk_create(
        [
            Poi(
                code=f"W-{i:06d}",
                name="设施" * 95,
                address="地址" * 95,
                category="bus_stop",
                lon=121.05,
                lat=31.05,
            )
            for i in range(30_000)
        ],
        batch_size=5000,
    )
    # A small write after the checkpoint restarts the WAL: the index now needs one
    # region, while Django's connection keeps the larger file mapped.
    Poi.objects.create(code="W-SMALL", name="站", category="bus_stop", lon=121.05, lat=31.05)
    before = shm.stat().st_size
    assert before > 32768
    ov = services.overview(level="district", code=None, scope=scope_for(users["leader"]))
    assert {p["category"]: p["count"] for p in ov["pois"]["by_category"]}["bus_stop"] == 30_001
    assert shm.stat().st_size >= before
    assert Poi.objects.filter(code__startswith="W-").delete()[0] == 30_001
