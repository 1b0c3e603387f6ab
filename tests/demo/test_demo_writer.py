"""Writing the demo district into the record store, and the `investmap demo` command."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from investmap.core.models import OrgUnit
from investmap.demo.generator import generate
from investmap.demo.writer import LibraryNotEmpty, library_counts, write
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

pytestmark = pytest.mark.django_db

M2_PER_MU = 10000 / 15
VOLATILE = {"created_at", "updated_at"}


@pytest.fixture(scope="module")
def tiny():
    return generate(seed=5, scale="tiny")


def snapshot() -> dict[str, list[tuple]]:
    """Every resource row (without timestamps), in id order."""
    out = {}
    for model in (
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
    ):
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE]
        out[model.__name__] = list(model.objects.order_by("pk").values_list(*names))
    return out


def test_write_stores_every_kind(tiny):
    written = write(tiny)
    counts = tiny.counts()
    assert written == counts
    assert library_counts() == counts


def test_written_rows_have_shapes_and_consistent_areas(tiny):
    write(tiny)
    assert not Parcel.objects.filter(area_m2__lte=0).exists()
    assert not Town.objects.filter(area_m2__lte=0).exists()
    for p in Parcel.objects.all():
        assert p.area_mu == pytest.approx(p.area_m2 / M2_PER_MU, rel=1e-9)
        assert p.min_lon <= p.lon <= p.max_lon and p.min_lat <= p.lat <= p.max_lat
        assert p.geom_simple
    # The engine's areas agree with the generator's plane areas (local projection vs UTM).
    planar = {p.code: p.area_m2 for p in tiny.parcels}
    for code, area in Parcel.objects.values_list("code", "area_m2"):
        assert area == pytest.approx(planar[code], rel=0.01)
    town_area = sum(Town.objects.values_list("area_m2", flat=True))
    assert sum(planar.values()) < town_area


def test_written_references_and_values(tiny):
    write(tiny)
    e = {x.credit_code: x for x in tiny.enterprises}
    for obj in Enterprise.objects.select_related("town", "parcel", "building", "park"):
        src = e[obj.credit_code]
        assert obj.town.code == src.town
        assert (obj.parcel.code if obj.parcel else None) == src.parcel
        assert (obj.building.code if obj.building else None) == src.building
        assert (obj.park.code if obj.park else None) == src.park
        assert obj.certifications == src.certifications and obj.founded_on == src.founded_on
    occupied = {p.code: p.enterprise for p in tiny.parcels}
    for code, credit in Parcel.objects.values_list("code", "enterprise__credit_code"):
        assert credit == occupied[code]
    metro = Poi.objects.filter(category="metro_station").order_by("code").first()
    assert metro.extra["line"].startswith("轨道交通") and metro.extra["seq"] == 1
    blank = IndicatorYear.objects.filter(energy_tce__isnull=True).count()
    assert blank > 0 and not IndicatorYear.objects.filter(energy_tce=0).exists()
    idle = LandGrant.objects.filter(started_on__isnull=True, parcel__status="idle")
    assert idle.exists() and all(
        g.contract_start_on < tiny.as_of - dt.timedelta(days=365) for g in idle
    )
    assert not Building.objects.filter(vacant_floor_m2__gt=F("total_floor_m2")).exists()


def test_org_tree_and_teams(tiny):
    write(tiny)
    root = OrgUnit.objects.get(code=tiny.code)
    assert root.kind == "district" and root.name == tiny.name and root.parent is None
    for t in Town.objects.select_related("org_unit"):
        assert (
            t.org_unit.kind == "town"
            and t.org_unit.parent_id == root.pk
            and t.org_unit.name == t.name
        )
    for p in Park.objects.select_related("org_unit", "town"):
        assert p.org_unit.kind == "park" and p.org_unit.parent_id == p.town.org_unit_id
    for team in Team.objects.select_related("org_unit__parent"):
        assert team.org_unit.kind == "team" and team.members.count() >= 3
        assert team.org_unit.parent.code in {tiny.code} | {t.code for t in tiny.towns} | {
            p.code for p in tiny.parks
        }


def test_history_records_every_row(tiny):
    write(tiny)
    for model in (
        Town,
        Parcel,
        Building,
        Poi,
        Enterprise,
        IndicatorYear,
        LandGrant,
        Team,
        TeamMember,
    ):
        assert model.history.count() == model.objects.count(), model.__name__
    h = Parcel.history.order_by("history_id").first()
    assert h.history_type == "+" and h.history_change_reason == "demo district"
    assert h.instance.code == Parcel.objects.get(pk=h.id).code


def test_refuses_to_write_into_a_non_empty_library(tiny):
    write(tiny)
    before = snapshot()
    other = generate(seed=6, scale="tiny")
    with pytest.raises(LibraryNotEmpty, match="--reset"):
        write(other)
    assert snapshot() == before


def test_reset_replaces_the_library(tiny):
    write(tiny)
    other = generate(seed=6, scale="tiny")
    write(other, reset=True)
    assert library_counts() == other.counts()
    assert set(Parcel.objects.values_list("code", flat=True)) == {p.code for p in other.parcels}
    assert Parcel.history.count() == len(other.parcels)  # the old history went with the old rows
    assert set(OrgUnit.objects.filter(kind="park").values_list("code", flat=True)) == {
        p.code for p in other.parks
    }


def test_fast_and_orm_paths_write_the_same_rows(tiny):
    write(tiny, method="fast")
    fast = snapshot()
    hist_fast = Enterprise.history.count()
    write(tiny, reset=True, method="orm")
    assert snapshot() == fast
    assert Enterprise.history.count() == hist_fast


def test_command_writes_refuses_and_skips(capsys):
    call_command("demo", "--scale", "tiny", "--seed", "3")
    out = capsys.readouterr().out
    name = OrgUnit.objects.get(code="D").name
    assert "team_members" in out and name in out  # the summary, whatever the language
    n = Parcel.objects.count()
    assert n > 200
    with pytest.raises(CommandError, match="--reset"):
        call_command("demo", "--scale", "tiny", "--seed", "4")
    call_command("demo", "--scale", "tiny", "--seed", "4", "--if-empty")
    assert Parcel.objects.count() == n


def test_command_exports_without_writing(tmp_path):
    call_command("demo", "--scale", "tiny", "--export", str(tmp_path), "--no-write")
    assert (tmp_path / "parcels.geojson").stat().st_size > 0 and (
        tmp_path / "land-grants.csv"
    ).exists()
    assert library_counts()["parcels"] == 0


def test_rows_created_after_the_demo_get_fresh_ids(tiny):
    """Ids were assigned by the writer: the sequences (PostgreSQL) must have moved past them."""
    write(tiny)
    town = Town.objects.order_by("pk").first()
    unit = OrgUnit.objects.create(
        code="TEAM-NEW", name="新招商组", kind="team", parent=town.org_unit
    )
    team = Team.objects.create(code="TEAM-NEW", name="新招商组", org_unit=unit)
    TeamMember.objects.create(team=team, name="新成员")
    ent = Enterprise.objects.create(
        credit_code="91310119MA1XXXXX0X",
        name="新企业有限公司",
        industry_code="6513",
        scale="below",
        town=town,
    )
    poi = Poi.objects.create(
        code="POI-NEW", name="新站点", category="bus_stop", town=town, lon=121.3, lat=31.05
    )
    IndicatorYear.objects.create(enterprise=ent, year=2025, revenue_wan=100.0)
    assert team.pk > max(t for t in Team.objects.exclude(pk=team.pk).values_list("pk", flat=True))
    assert poi.pk > Poi.objects.exclude(pk=poi.pk).order_by("-pk").values_list("pk", flat=True)[0]
