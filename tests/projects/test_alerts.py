"""Project alerts (SPEC P4): each type at its day boundary, the rot clock, scope, queries."""

import datetime as dt

import pytest
from django.utils import timezone

from investmap.core.scope import scope_for
from investmap.projects import alerts
from investmap.projects.models import Activity, Project

D = dt.date
START = D(2025, 1, 1)
LIMITS = {
    "lead": 30,
    "negotiating": 30,
    "signed": 45,
    "registered": 60,
    "land_obtained": 60,
    "construction": 90,
    "completed": 90,
    "on_hold": 180,
}


@pytest.fixture(autouse=True)
def limits(settings):
    settings.INVESTMAP_PROJECT_STALE_DAYS = dict(LIMITS)
    settings.INVESTMAP_PROJECT_SIGNED_NOT_REGISTERED_DAYS = 90
    settings.INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS = 180


def make(district, code, *, town="T01", touched=START, created=None, **fields):
    """A project created on `created` (default: 2024-12-01) with one timeline entry."""
    fields.setdefault("name", f"项目{code}")
    project = Project.objects.create(code=code, town=district["towns"][town], **fields)
    born = created or D(2024, 12, 1)
    Project.objects.filter(pk=project.pk).update(
        created_at=timezone.make_aware(dt.datetime.combine(born, dt.time(10)))
    )
    if touched is not None:
        Activity.objects.create(project=project, kind="created", on=touched)
    return project


def of(type_, found):
    return [a for a in found if a["type"] == type_]


def days_after(n, start=START):
    return start + dt.timedelta(days=n)


# --- stale ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage,limit", [("lead", 30), ("signed", 45), ("construction", 90), ("on_hold", 180)]
)
def test_stale_at_the_day_boundary(district, stage, limit):
    make(district, "P1", stage=stage)
    assert of("stale", alerts.compute(as_of=days_after(limit))) == []
    [alert] = of("stale", alerts.compute(as_of=days_after(limit + 1)))
    assert alert["project"] == "P1"
    assert (alert["days"], alert["limit_days"]) == (limit + 1, limit)
    assert alert["stage"] == stage
    assert alert["since"] == "2025-01-01"
    assert alert["key"] == "P1:stale:2025-01-01"
    assert alert["town"] == "T01"


@pytest.mark.parametrize("stage", ["production", "dropped"])
def test_stages_without_a_limit_never_rot(district, stage):
    make(district, "P1", stage=stage)
    assert alerts.compute(as_of=days_after(3000)) == []


def test_limits_are_settings(district, settings):
    settings.INVESTMAP_PROJECT_STALE_DAYS = {"lead": 5}
    make(district, "P1")
    make(district, "P2", stage="signed")  # no limit for signed any more
    found = alerts.compute(as_of=days_after(6))
    assert [(a["project"], a["limit_days"]) for a in found] == [("P1", 5)]


def test_any_activity_resets_the_clock(district):
    project = make(district, "P1")
    assert of("stale", alerts.compute(as_of=days_after(31)))
    Activity.objects.create(project=project, kind="document", on=days_after(20))
    assert of("stale", alerts.compute(as_of=days_after(31))) == []
    assert of("stale", alerts.compute(as_of=days_after(50))) == []
    [alert] = of("stale", alerts.compute(as_of=days_after(51)))
    assert alert["days"] == 31
    assert alert["since"] == days_after(20).isoformat()
    assert alert["key"] == f"P1:stale:{days_after(20).isoformat()}"  # a new occurrence


def test_a_future_scheduled_activity_does_not_reset(district):
    project = make(district, "P1")
    Activity.objects.create(project=project, kind="visit", on=days_after(60), text="planned visit")
    [alert] = of("stale", alerts.compute(as_of=days_after(31)))
    assert (alert["days"], alert["since"]) == (31, "2025-01-01")
    # once that day has come, it counts
    assert of("stale", alerts.compute(as_of=days_after(60))) == []


def test_without_activity_the_clock_starts_at_creation(district):
    make(district, "P1", touched=None, created=D(2025, 3, 1))
    assert alerts.compute(as_of=D(2025, 3, 31)) == []
    [alert] = alerts.compute(as_of=D(2025, 4, 1))
    assert (alert["type"], alert["days"], alert["since"]) == ("stale", 31, "2025-03-01")


def test_a_project_created_later_does_not_exist_yet(district):
    # out-of-order milestones too, so that only its non-existence hides it
    make(
        district,
        "P1",
        touched=None,
        created=D(2025, 6, 1),
        stage="signed",
        negotiating_on=D(2025, 5, 1),
        signed_on=D(2025, 4, 1),
    )
    assert alerts.compute(as_of=D(2025, 5, 31)) == []
    assert {a["type"] for a in alerts.compute(as_of=D(2025, 6, 1))} == {
        "milestones_out_of_order",
    }


def test_officer_is_the_username_or_none(district, users):
    make(district, "P1", officer=users["officer_t01"])
    make(district, "P2")
    found = {a["project"]: a for a in alerts.compute(as_of=days_after(31))}
    assert found["P1"]["officer"] == "officer_t01"
    assert found["P2"]["officer"] is None


# --- anomalies -------------------------------------------------------------------


def test_signed_not_registered_at_the_day_boundary(district):
    signed = D(2025, 2, 1)
    make(
        district,
        "P1",
        stage="signed",
        negotiating_on=D(2025, 1, 10),
        signed_on=signed,
        touched=D(2026, 1, 1),  # recent activity: not stale
    )
    assert of("signed_not_registered", alerts.compute(as_of=days_after(90, signed))) == []
    [alert] = of("signed_not_registered", alerts.compute(as_of=days_after(91, signed)))
    assert (alert["days"], alert["limit_days"], alert["since"]) == (91, 90, "2025-02-01")
    assert alert["stage"] == "signed"
    assert alert["key"] == "P1:signed_not_registered:2025-02-01"


def test_signed_not_registered_needs_an_active_unregistered_project(district):
    common = {"negotiating_on": D(2025, 1, 10), "signed_on": D(2025, 2, 1)}
    make(district, "REG", stage="registered", registered_on=D(2025, 3, 1), **common)
    make(district, "HOLD", stage="on_hold", held_from="signed", **common)
    make(district, "DROP", stage="dropped", drop_reason="moved away", **common)
    make(district, "OK", stage="signed", **common)
    found = of("signed_not_registered", alerts.compute(as_of=D(2025, 12, 31)))
    assert [a["project"] for a in found] == ["OK"]
    # signed after the day asked: not yet
    assert of("signed_not_registered", alerts.compute(as_of=D(2025, 1, 31))) == []


def test_land_not_started_at_the_day_boundary(district):
    land = D(2025, 3, 1)
    make(
        district,
        "P1",
        stage="land_obtained",
        negotiating_on=D(2025, 1, 5),
        signed_on=D(2025, 1, 10),
        registered_on=D(2025, 2, 1),
        land_obtained_on=land,
        touched=D(2026, 1, 1),
    )
    assert of("land_not_started", alerts.compute(as_of=days_after(180, land))) == []
    [alert] = of("land_not_started", alerts.compute(as_of=days_after(181, land)))
    assert (alert["days"], alert["limit_days"], alert["since"]) == (181, 180, "2025-03-01")
    assert alert["key"] == "P1:land_not_started:2025-03-01"


def test_land_not_started_not_after_construction_or_when_dropped(district):
    common = {
        "negotiating_on": D(2025, 1, 5),
        "signed_on": D(2025, 1, 10),
        "registered_on": D(2025, 2, 1),
        "land_obtained_on": D(2025, 3, 1),
    }
    make(district, "BUILT", stage="construction", construction_on=D(2025, 4, 1), **common)
    make(district, "DROP", stage="dropped", drop_reason="no money", **common)
    make(district, "LATE", stage="land_obtained", **common)
    found = of("land_not_started", alerts.compute(as_of=D(2026, 1, 1)))
    assert [a["project"] for a in found] == ["LATE"]


def test_milestones_out_of_order_names_the_stages(district):
    make(
        district,
        "P1",
        stage="registered",
        negotiating_on=D(2025, 3, 1),
        signed_on=D(2025, 2, 1),  # before negotiating
        registered_on=D(2025, 3, 5),
        touched=D(2025, 3, 5),
    )
    [alert] = of("milestones_out_of_order", alerts.compute(as_of=D(2025, 3, 10)))
    assert alert["out_of_order"] == ["signed"]
    assert (alert["days"], alert["limit_days"]) == (0, 0)
    assert alert["since"] == "2025-02-01"
    assert alert["key"] == "P1:milestones_out_of_order:2025-02-01"


def test_milestones_in_order_and_skipped_land_are_fine(district):
    make(
        district,
        "P1",
        category="stock_space",
        stage="construction",
        negotiating_on=D(2025, 1, 1),
        signed_on=D(2025, 1, 1),  # same day is in order
        registered_on=D(2025, 2, 1),
        land_obtained_on=D(2024, 1, 1),  # not on a stock_space path: ignored
        construction_on=D(2025, 3, 1),
        touched=D(2025, 3, 1),
    )
    assert alerts.compute(as_of=D(2025, 3, 2)) == []


# --- order, scope, queries ----------------------------------------------------------


def test_sorted_by_type_then_days(district):
    make(district, "A", touched=D(2025, 1, 10))
    make(district, "B", touched=D(2025, 1, 1))
    make(
        district,
        "C",
        stage="signed",
        negotiating_on=D(2024, 1, 1),
        signed_on=D(2024, 1, 2),
        touched=D(2025, 3, 1),
    )
    make(
        district,
        "E",
        stage="signed",
        negotiating_on=D(2024, 6, 1),
        signed_on=D(2024, 5, 1),
        touched=D(2025, 3, 1),
    )
    found = alerts.compute(as_of=D(2025, 3, 1))
    assert [(a["type"], a["project"]) for a in found] == [
        ("stale", "B"),
        ("stale", "A"),
        ("milestones_out_of_order", "E"),
        ("signed_not_registered", "C"),
        ("signed_not_registered", "E"),
    ]


def test_scope_officer_sees_only_own_town(district, users):
    make(district, "W1", town="T01")
    make(district, "E1", town="T02")
    as_of = days_after(31)
    t02 = alerts.compute(as_of=as_of, scope=scope_for(users["officer_t02"]))
    assert [a["project"] for a in t02] == ["E1"]
    t01 = alerts.compute(as_of=as_of, scope=scope_for(users["officer_t01"]))
    assert [a["project"] for a in t01] == ["W1"]
    everyone = alerts.compute(as_of=as_of, scope=scope_for(users["leader"]))
    assert sorted(a["project"] for a in everyone) == ["E1", "W1"]
    assert alerts.compute(as_of=as_of, scope=scope_for(users["maintainer"])) == []
    assert sorted(a["project"] for a in alerts.compute(as_of=as_of)) == ["E1", "W1"]


def test_an_officer_sees_projects_assigned_to_them_elsewhere(district, users):
    make(district, "E1", town="T02", officer=users["officer_t01"])
    found = alerts.compute(as_of=days_after(31), scope=scope_for(users["officer_t01"]))
    assert [a["project"] for a in found] == ["E1"]


def test_project_ids_restrict(district):
    p1 = make(district, "P1")
    make(district, "P2")
    found = alerts.compute(as_of=days_after(31), project_ids=[p1.pk])
    assert [a["project"] for a in found] == ["P1"]


def test_a_fixed_number_of_queries(district, users, django_assert_max_num_queries):
    for i in range(40):
        p = make(district, f"P{i:02}", town="T01" if i % 2 else "T02", officer=users["officer_t01"])
        Activity.objects.create(project=p, kind="call", on=days_after(i))
    scope = scope_for(users["officer_t02"])
    with django_assert_max_num_queries(2):
        found = alerts.compute(as_of=D(2025, 6, 1))
    assert len(found) == 40
    with django_assert_max_num_queries(2):
        assert len(alerts.compute(as_of=D(2025, 6, 1), scope=scope)) == 20
