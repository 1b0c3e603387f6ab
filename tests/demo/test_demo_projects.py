"""The demo project library (`investmap.demo.projects`) over the tiny demo district."""

import datetime as dt
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from investmap.core.models import OrgUnit, User
from investmap.demo.generator import generate
from investmap.demo.industries import CHAINS
from investmap.demo.projects import (
    ProjectsNotEmpty,
    clear_projects,
    default_count,
    write_projects,
)
from investmap.demo.writer import write
from investmap.projects import alerts, lifecycle
from investmap.projects.models import (
    Activity,
    CapitalArrival,
    Project,
    SigningEvent,
    StageChange,
)
from investmap.projects.services import grade_for
from investmap.resources.models import Town

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 6, 30)
PROJECT_FIELDS = [
    f.attname
    for f in Project._meta.concrete_fields
    if f.attname not in {"id", "created_at", "updated_at", "investor_id", "officer_id"}
]


@pytest.fixture(scope="module")
def tiny():
    return generate(seed=5, scale="tiny")


@pytest.fixture
def library(tiny):
    write(tiny)
    return write_projects(seed=1, as_of=AS_OF)


def snapshot() -> dict[str, list]:
    """Projects and their rows, keyed by codes (not ids), without timestamps."""
    projects = sorted(
        Project.objects.values_list(
            *PROJECT_FIELDS, "investor__credit_code", "officer__username", "parcels__code"
        )
    )
    rows = {"projects": projects}
    for model, fields in (
        (Activity, ("kind", "on", "text", "user__username")),
        (StageChange, ("from_stage", "to_stage", "on", "reason")),
        (SigningEvent, ("kind", "on", "amount_wan", "investor_name", "note")),
        (CapitalArrival, ("on", "amount_wan")),
    ):
        rows[model.__name__] = sorted(model.objects.values_list("project__code", *fields))
    return rows


def test_count_categories_stages_and_grades(library, tiny):
    n = default_count(len(tiny.enterprises))
    assert n == 30  # 220 enterprises: the minimum
    assert library["projects"] == Project.objects.count() == n
    assert default_count(20_000) == 500
    categories = Counter(Project.objects.values_list("category", flat=True))
    assert set(categories) == {"new_land", "stock_space", "expansion", "hq_rd"}
    assert categories["new_land"] >= 8 and categories["stock_space"] >= 7
    stages = Counter(Project.objects.values_list("stage", flat=True))
    assert set(stages) == set(lifecycle.STAGES)  # every stage shows, even with 30 projects
    grades = Counter(Project.objects.values_list("grade", flat=True))
    assert grades["major"] >= 2 and grades["key"] and grades["general"]
    for p in Project.objects.all():
        assert p.grade == grade_for(p.total_investment_wan, p.strategic)
        assert p.code.startswith(f"XM{p.lead_on.year}-") and len(p.code) == len("XM2025-0001")
        assert p.name.endswith("项目") and p.investor_name and p.chain_node
        assert p.industry_code and p.total_investment_wan > 0
        assert p.fixed_asset_investment_wan <= p.total_investment_wan
        for f in ("expected_output_wan", "expected_tax_wan", "registered_capital_wan"):
            assert getattr(p, f) is None or getattr(p, f) > 0  # missing is None, never 0
        if p.category == "new_land":
            assert p.land_area_mu and p.land_area_mu >= 5
        if p.stage == "on_hold":
            assert p.held_from in lifecycle.ACTIVE
        else:
            assert p.held_from == ""
        assert bool(p.drop_reason) == (p.stage == "dropped")


def test_investors_are_enterprises_or_outside_companies_with_contacts(library):
    expansions = Project.objects.filter(category="expansion")
    assert expansions.exists()
    for p in expansions.select_related("investor"):
        assert p.investor is not None and p.investor_name == p.investor.name
        assert p.town_id == p.investor.town_id
    outside = Project.objects.filter(investor__isnull=True)
    assert outside.count() >= 10
    for p in outside:
        assert p.investor_name.endswith("公司") and p.contact_name and len(p.contact_phone) == 11
    # Industries of the district's chains; an expansion keeps its enterprise's class.
    chain_classes = {c[0] for chain in CHAINS.values() for c in chain.classes}
    assert set(Project.objects.values_list("industry_code", flat=True)) <= chain_classes
    for p in expansions.select_related("investor"):
        assert p.industry_code == p.investor.industry_code


def test_same_seed_same_library_other_seed_other(library):
    first = snapshot()
    assert clear_projects() == library["projects"]
    assert Project.objects.count() == 0 and Project.history.count() == 0
    assert Activity.objects.count() == 0 and SigningEvent.objects.count() == 0
    write_projects(seed=1, as_of=AS_OF)
    assert snapshot() == first
    clear_projects()
    write_projects(seed=2, as_of=AS_OF)
    assert snapshot()["projects"] != first["projects"]


def test_refuses_a_non_empty_project_library(library):
    with pytest.raises(ProjectsNotEmpty, match="--reset"):
        write_projects(seed=1, as_of=AS_OF)


def test_milestones_follow_the_path_except_the_imported_out_of_order_ones(library):
    bad = []
    for p in Project.objects.all():
        ms = p.milestones()
        path = lifecycle.path(p.category)
        recorded = [s for s, d in ms.items() if d is not None]
        assert "land_obtained" in path or ms["land_obtained"] is None
        # The recorded milestones are exactly those of the stages reached on the path.
        reached = p.held_from if p.stage == "on_hold" else p.stage
        if p.stage == "dropped":
            assert path[1 : len(recorded) + 1] == tuple(recorded)
        else:
            assert tuple(recorded) == tuple(lifecycle.milestone_stages(p.category, reached))
        assert all(d <= AS_OF for d in ms.values() if d is not None)
        assert p.lead_on <= AS_OF
        if lifecycle.check_order(p.category, ms):
            bad.append(p)
        else:
            dates = [p.lead_on, *(ms[s] for s in recorded)]
            assert dates == sorted(dates), p.code
    assert len(bad) == library["out_of_order"] >= 2
    for p in bad:
        assert p.external_id and "OA导入" in p.tags
        assert p.stage_changes.count() == 1  # imported at its stage, one row


def test_stage_changes_follow_the_milestones(library):
    for p in Project.objects.filter(external_id__isnull=True):
        changes = list(
            p.stage_changes.order_by("on", "id").values_list("from_stage", "to_stage", "on")
        )
        path = lifecycle.path(p.category)
        ms = p.milestones()
        steps = [s for s in path[1:] if ms.get(s)]
        expected = [(a, b, ms[b]) for a, b in zip(["lead", *steps], steps, strict=False)]
        if p.stage in ("on_hold", "dropped"):
            assert changes[:-1] == expected
            assert changes[-1][1] == p.stage
            assert changes[-1][0] == (
                p.held_from if p.stage == "on_hold" else (steps or ["lead"])[-1]
            )
        else:
            assert changes == expected


def test_signings_are_counted_once_at_the_first_signing(library):
    signed = Project.objects.filter(signed_on__isnull=False)
    assert signed.count() >= 10
    for p in signed:
        firsts = list(p.signings.filter(kind="first"))
        assert len(firsts) == 1
        assert firsts[0].on == p.signed_on and firsts[0].investor_name == p.investor_name
        increases = list(p.signings.filter(kind="increase"))
        for inc in increases:
            assert p.signed_on <= inc.on <= AS_OF and inc.amount_wan > 0
        assert firsts[0].amount_wan + sum(i.amount_wan for i in increases) == pytest.approx(
            p.total_investment_wan
        )
    assert not SigningEvent.objects.filter(project__signed_on__isnull=True).exists()


def test_capital_arrives_only_after_the_works_started(library):
    with_capital = Project.objects.filter(capital__isnull=False).distinct()
    assert with_capital.exists()
    for p in with_capital:
        assert p.construction_on is not None
        arrivals = list(p.capital.all())
        assert all(p.construction_on <= a.on <= AS_OF and a.amount_wan > 0 for a in arrivals)
        assert sum(a.amount_wan for a in arrivals) <= p.fixed_asset_investment_wan * 1.01
    assert not CapitalArrival.objects.filter(project__construction_on__isnull=True).exists()


def test_timeline_and_rot_clock(library):
    for p in Project.objects.all():
        acts = list(p.activities.all())
        kinds = Counter(a.kind for a in acts)
        assert kinds["created"] == 1 and kinds["stage"] == p.stage_changes.count()
        assert any(a.kind in ("visit", "call", "meeting", "note") for a in acts)
        assert all(a.text for a in acts)
        assert p.last_touched_on == max(a.on for a in acts if a.on <= AS_OF)
    assert Activity.objects.filter(on__gt=AS_OF).exists()  # a visit scheduled ahead
    found = {a["type"] for a in alerts.compute(as_of=AS_OF)}
    assert found == {
        "stale",
        "milestones_out_of_order",
        "signed_not_registered",
        "land_not_started",
    }


def test_places_teams_and_officers_are_consistent(library):
    district = OrgUnit.objects.get(code="D")
    for p in Project.objects.select_related(
        "town__org_unit", "park", "team__org_unit", "officer__manager"
    ):
        assert p.town is not None
        if p.park is not None:
            assert p.park.town_id == p.town_id
        assert p.team is not None
        unit = p.team.org_unit.parent
        if unit == district:
            assert p.grade == "major"  # the district team takes some of the major projects
        elif unit.kind == "park":
            assert p.park is not None and unit.pk == p.park.org_unit_id
        else:
            assert unit.pk == p.town.org_unit_id  # the team's town is the project's town
        assert p.officer.username == f"officer-{p.town.code.lower()}"
        assert p.officer.org_unit_id == p.town.org_unit_id and p.officer.role == "town_officer"
        assert p.officer.manager.username == f"manager-{p.town.code.lower()}"
        for parcel in p.parcels.all():
            assert parcel.town_id == p.town_id
        if p.building_id:
            assert p.building.town_id == p.town_id


def test_demo_users(library):
    towns = list(Town.objects.all())
    assert library["users"] == 2 * len(towns) + 1
    for t in towns:
        officer = User.objects.get(username=f"officer-{t.code.lower()}")
        assert not officer.has_usable_password() and officer.first_name
        assert officer.manager.org_unit_id == t.org_unit_id
    bureau = User.objects.get(username="demo-bureau")
    assert bureau.role == "bureau_staff" and bureau.org_unit.code == "D"


def test_history_of_projects_and_parcel_links(library):
    assert Project.history.count() == Project.objects.count()
    h = Project.history.order_by("history_id").first()
    assert h.history_type == "+" and h.history_change_reason == "demo district"
    linked = Project.objects.filter(parcels__isnull=False).distinct()
    assert linked.exists()
    for p in linked:
        record = p.history.first()
        assert sorted(record.parcels.values_list("parcel_id", flat=True)) == sorted(
            p.parcels.values_list("id", flat=True)
        )


def test_command_writes_projects_and_reset_replaces_them(capsys):
    call_command("demo", "--scale", "tiny", "--seed", "3", "--as-of", "2026-06-30")
    out = capsys.readouterr().out
    n = Project.objects.count()
    assert n == 30 and "projects" in out
    before = sorted(Project.objects.values_list("code", "name"))
    with pytest.raises(CommandError, match="--reset"):
        call_command("demo", "--scale", "tiny", "--seed", "3")
    call_command("demo", "--scale", "tiny", "--seed", "3", "--as-of", "2026-06-30", "--reset")
    assert sorted(Project.objects.values_list("code", "name")) == before
    assert Project.history.count() == n  # the old projects' history went with them
    call_command("demo", "--scale", "tiny", "--seed", "3", "--reset", "--projects", "0")
    assert Project.objects.count() == 0
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("demo", "--scale", "tiny", "--reset", "--as-of", "30.6.2026")


def test_if_empty_adds_projects_to_a_demo_district_written_without_them(tiny, capsys):
    write(tiny)
    call_command("demo", "--scale", "tiny", "--if-empty", "--as-of", "2026-06-30")
    assert Project.objects.count() == 30
    call_command("demo", "--scale", "tiny", "--if-empty")
    assert Project.objects.count() == 30


def test_no_projects_over_an_imported_library(district):
    """The fixture district (not written by the demo) gets none from --if-empty."""
    call_command("demo", "--scale", "tiny", "--if-empty")
    assert Project.objects.count() == 0


def test_works_over_a_small_imported_district(district):
    written = write_projects(seed=4, count=12, as_of=AS_OF)
    assert written["projects"] == Project.objects.count() == 12
    assert set(Project.objects.values_list("town__code", flat=True)) <= {"T01", "T02"}
    assert (
        User.objects.filter(username__in=["officer-t01", "officer-t02", "demo-bureau"]).count() == 3
    )
