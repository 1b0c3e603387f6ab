"""Overview figures (issue 5, P5): Sanming counting, groups that add up, funnel, performance.

The hand-made set below (as of 2025-06-30, period 2025-01-01 – 2025-06-30):

code  category     town  park team  total   milestones (stage now)                 signings / capital
P1    new_land     T01   -    T01   5000    lead 24-10-01 … construction 25-04-01  first 25-01-10 3000, increase 25-03-15 2000;
                                                                                    capital 25-02-01 500, 25-05-01 700
P2    stock_space  T02   -    T02   1200    lead 25-01-05 … construction 25-05-10  first 25-03-01 1500 (decreased to 1200 in April:
                                                                                    no row), new investor 25-06-01 1200
P3    new_land     T01   P01  T01   None    lead 24-12-01, negotiating 25-01-15
P4    expansion    -     -    -     800     lead 25-02-01
P5    hq_rd        T02   -    T02   25000   lead 24-06-01 … registered 24-10-01    first 24-09-01 20000, increase 25-05-20 5000
P6    new_land     T01   -    T01   3000    lead 24-01-01 … land 24-06-01          first 24-03-01 3000
P7    new_land     T02   -    T02   100     lead 25-03-01, dropped 25-04-01
P8    new_land     T01   -    T01   900     lead 25-08-01 (after as_of: does not exist yet)
"""

import datetime as dt
import random
import statistics

import pytest
import yaml

from investmap.core.scope import scope_for
from investmap.projects import stats
from investmap.projects.models import (
    MILESTONE_FIELDS,
    CapitalArrival,
    Project,
    SigningEvent,
    StageChange,
)
from investmap.resources.models import Team
from investmap.resources.services import InvalidFilter

D = dt.date
AS_OF = D(2025, 6, 30)
YEAR = {"date_from": D(2025, 1, 1), "date_to": D(2025, 6, 30), "as_of": AS_OF}


def _project(code, district, *, town=None, park=False, team=None, **kw):
    towns = district["towns"]
    return Project.objects.create(
        code=code,
        name=f"项目{code}",
        town=towns[town] if town else None,
        park=district["park"] if park else None,
        team=Team.objects.get(code=f"TEAM-{team}") if team else None,
        **kw,
    )


def _moves(project, *dated):
    """StageChange rows along the given (to_stage, date) pairs, starting from lead."""
    before = "lead"
    for to, on in dated:
        StageChange.objects.create(project=project, from_stage=before, to_stage=to, on=on)
        before = to


@pytest.fixture
def made(district, users):
    p1 = _project(
        "P1",
        district,
        town="T01",
        team="T01",
        officer=users["officer_t01"],
        category="new_land",
        industry_code="3841",
        chain_node="动力电池",
        total_investment_wan=5000,
        stage="construction",
        lead_on=D(2024, 10, 1),
        negotiating_on=D(2024, 11, 1),
        signed_on=D(2025, 1, 10),
        registered_on=D(2025, 2, 10),
        land_obtained_on=D(2025, 3, 1),
        construction_on=D(2025, 4, 1),
    )
    _moves(
        p1,
        ("negotiating", D(2024, 11, 1)),
        ("signed", D(2025, 1, 10)),
        ("registered", D(2025, 2, 10)),
        ("land_obtained", D(2025, 3, 1)),
        ("construction", D(2025, 4, 1)),
    )
    SigningEvent.objects.create(project=p1, kind="first", on=D(2025, 1, 10), amount_wan=3000)
    SigningEvent.objects.create(project=p1, kind="increase", on=D(2025, 3, 15), amount_wan=2000)
    CapitalArrival.objects.create(project=p1, on=D(2025, 2, 1), amount_wan=500)
    CapitalArrival.objects.create(project=p1, on=D(2025, 5, 1), amount_wan=700)
    p2 = _project(
        "P2",
        district,
        town="T02",
        team="T02",
        officer=users["officer_t02"],
        category="stock_space",
        industry_code="C3421",
        total_investment_wan=1200,
        stage="construction",
        lead_on=D(2025, 1, 5),
        negotiating_on=D(2025, 2, 1),
        signed_on=D(2025, 3, 1),
        registered_on=D(2025, 4, 1),
        construction_on=D(2025, 5, 10),
    )
    SigningEvent.objects.create(project=p2, kind="first", on=D(2025, 3, 1), amount_wan=1500)
    SigningEvent.objects.create(
        project=p2, kind="new_investor", on=D(2025, 6, 1), amount_wan=1200, investor_name="新投资方"
    )
    _project(
        "P3",
        district,
        town="T01",
        park=True,
        team="T01",
        category="new_land",
        industry_code="38",
        chain_node="动力电池",
        total_investment_wan=None,
        stage="negotiating",
        lead_on=D(2024, 12, 1),
        negotiating_on=D(2025, 1, 15),
    )
    _project("P4", district, category="expansion", total_investment_wan=800, lead_on=D(2025, 2, 1))
    p5 = _project(
        "P5",
        district,
        town="T02",
        team="T02",
        category="hq_rd",
        industry_code="7320",
        grade="key",
        total_investment_wan=25000,
        stage="registered",
        lead_on=D(2024, 6, 1),
        negotiating_on=D(2024, 7, 1),
        signed_on=D(2024, 9, 1),
        registered_on=D(2024, 10, 1),
    )
    SigningEvent.objects.create(project=p5, kind="first", on=D(2024, 9, 1), amount_wan=20000)
    SigningEvent.objects.create(project=p5, kind="increase", on=D(2025, 5, 20), amount_wan=5000)
    p6 = _project(
        "P6",
        district,
        town="T01",
        team="T01",
        category="new_land",
        industry_code="3841",
        total_investment_wan=3000,
        stage="land_obtained",
        lead_on=D(2024, 1, 1),
        negotiating_on=D(2024, 2, 1),
        signed_on=D(2024, 3, 1),
        registered_on=D(2024, 4, 1),
        land_obtained_on=D(2024, 6, 1),
    )
    SigningEvent.objects.create(project=p6, kind="first", on=D(2024, 3, 1), amount_wan=3000)
    p7 = _project(
        "P7",
        district,
        town="T02",
        team="T02",
        category="new_land",
        total_investment_wan=100,
        stage="dropped",
        lead_on=D(2025, 3, 1),
    )
    _moves(p7, ("dropped", D(2025, 4, 1)))
    _project(
        "P8",
        district,
        town="T01",
        team="T01",
        category="new_land",
        total_investment_wan=900,
        lead_on=D(2025, 8, 1),
    )
    return users


def _group(result, key):
    return next(g for g in result["groups"] if g["key"] == key)


def _sum_groups(result):
    """The additive figures summed over the groups (None amounts skipped, as the service does)."""
    out = {}
    for k in stats.ADDITIVE:
        values = [g[k] for g in result["groups"] if g[k] is not None]
        out[k] = sum(values) if values else None
    out["by_stage"] = {
        s: sum(g["by_stage"][s] for g in result["groups"]) for s in result["total"]["by_stage"]
    }
    return out


def _assert_adds_up(result):
    summed = _sum_groups(result)
    total = result["total"]
    for k in stats.ADDITIVE:
        assert summed[k] == pytest.approx(total[k]), (result["group_by"], k)
    assert summed["by_stage"] == total["by_stage"], result["group_by"]


# --- counting rules -----------------------------------------------------------------------


def test_district_total_is_hand_computed(made):
    r = stats.stats(scope=scope_for(made["leader"]), group_by="town", **YEAR)
    assert (r["from"], r["to"], r["as_of"]) == ("2025-01-01", "2025-06-30", "2025-06-30")
    t = r["total"]
    assert t["projects"] == 7  # P8's lead date is after as_of
    assert t["total_investment_wan"] == 5000 + 1200 + 800 + 25000 + 3000 + 100
    assert t["missing_investment"] == 1  # P3, skipped in the sum, not counted as 0
    # P1 3000 + 2000, P2 1500 + 1200 (new investor), P5 only its 2025 increase 5000.
    assert t["signed_wan"] == 12700
    assert t["signed_projects"] == 2  # first signings of P1 and P2
    assert t["capital_wan"] == 1200
    assert t["started"] == 2  # P1, P2
    assert t["by_stage"]["construction"] == 2
    assert t["by_stage"]["dropped"] == 1
    assert t["by_stage"]["lead"] == 1  # P4
    assert sum(t["by_stage"].values()) == 7


@pytest.mark.parametrize(
    ("start", "end", "signed", "first"),
    [
        # The first signing counts its amount then, in the month it happened.
        (D(2025, 1, 1), D(2025, 1, 31), 3000, 1),
        # P1's increase counts only the 2000 more, in March; P2's first signing 1500.
        (D(2025, 3, 1), D(2025, 3, 31), 2000 + 1500, 1),
        # P2's total went down to 1200 in April: nothing is counted, nothing subtracted.
        (D(2025, 4, 1), D(2025, 4, 30), 0, 0),
        # P5 signed in 2024; its increase counts in May 2025, the 20000 never again.
        (D(2025, 5, 1), D(2025, 5, 31), 5000, 0),
        # A change of investor is a new signing at the full amount (P2, June).
        (D(2025, 6, 1), D(2025, 6, 30), 1200, 0),
        # 2024: P6 3000 and P5 20000, their first signings.
        (D(2024, 1, 1), D(2024, 12, 31), 23000, 2),
    ],
)
def test_signed_investment_is_counted_when_it_happens(made, start, end, signed, first):
    r = stats.stats(
        scope=scope_for(made["bureau"]),
        group_by="stage",
        date_from=start,
        date_to=end,
        as_of=AS_OF,
    )
    assert r["total"]["signed_wan"] == signed
    assert r["total"]["signed_projects"] == first


def test_counted_once_over_adjacent_periods(made):
    """Months add up to the half year: no signing is counted twice or lost between periods."""
    scope = scope_for(made["leader"])
    months = [
        stats.stats(
            scope=scope,
            group_by="team",
            date_from=D(2025, m, 1),
            date_to=D(2025, m + 1, 1) - dt.timedelta(days=1),
            as_of=AS_OF,
        )["total"]
        for m in range(1, 6)
    ] + [
        stats.stats(
            scope=scope, group_by="team", date_from=D(2025, 6, 1), date_to=AS_OF, as_of=AS_OF
        )["total"]
    ]
    half = stats.stats(scope=scope, group_by="team", **YEAR)["total"]
    for k in ("signed_wan", "signed_projects", "capital_wan", "started"):
        assert sum(m[k] for m in months) == half[k]


def test_period_end_is_cut_at_as_of(made):
    r = stats.stats(
        scope=scope_for(made["leader"]),
        group_by="stage",
        date_from=D(2025, 1, 1),
        date_to=D(2025, 12, 31),
        as_of=D(2025, 5, 31),
    )
    assert r["to"] == "2025-05-31"
    assert r["total"]["signed_wan"] == 3000 + 2000 + 1500 + 5000  # not P2's June signing


def test_by_town_and_the_none_group(made, zh):
    r = stats.stats(scope=scope_for(made["leader"]), group_by="town", **YEAR)
    assert [g["key"] for g in r["groups"]] == ["T01", "T02", None]
    t01, t02, none = r["groups"]
    assert t01["label"] == "东湖镇"
    assert (t01["projects"], t01["total_investment_wan"], t01["missing_investment"]) == (3, 8000, 1)
    assert (t01["signed_wan"], t01["signed_projects"], t01["capital_wan"]) == (5000, 1, 1200)
    assert (t02["projects"], t02["total_investment_wan"], t02["signed_wan"]) == (3, 26300, 7700)
    assert none["label"] == zh("(none)")
    assert (none["projects"], none["total_investment_wan"], none["signed_wan"]) == (1, 800, 0)
    _assert_adds_up(r)


def test_missing_amounts_are_not_zero(made):
    r = stats.stats(scope=scope_for(made["leader"]), group_by="park", **YEAR)
    p01 = _group(r, "P01")
    assert p01["projects"] == 1
    assert p01["total_investment_wan"] is None  # P3 has no amount: unknown, not 0
    assert p01["missing_investment"] == 1


def test_by_industry_uses_the_division(made):
    r = stats.stats(scope=scope_for(made["leader"]), group_by="industry", **YEAR)
    keys = {g["key"]: g for g in r["groups"]}
    assert set(keys) == {"38", "34", "73", None}
    assert keys["38"]["projects"] == 3  # 3841, 38, 3841
    assert keys["34"]["projects"] == 1  # C3421: the section letter is skipped
    assert keys["38"]["label"] == "电气机械和器材制造业"
    _assert_adds_up(r)


def test_stage_at_an_earlier_date_replays_the_moves(made):
    r = stats.stats(scope=scope_for(made["leader"]), group_by="stage", as_of=D(2025, 3, 20))
    stages = r["total"]["by_stage"]
    # P1 was at land_obtained then, P7 still a lead (dropped 2025-04-01); P2 has no recorded
    # moves, so its current stage stands.
    assert stages["land_obtained"] == 1 + 1  # P1, P6
    assert stages["dropped"] == 0
    assert stages["lead"] == 2  # P4, P7
    assert _group(r, "lead")["projects"] == 2
    assert _group(r, "construction")["projects"] == 1  # P2
    _assert_adds_up(r)


@pytest.mark.parametrize("group_by", stats.GROUP_BYS)
def test_groups_add_up_to_the_total(made, group_by):
    r = stats.stats(scope=scope_for(made["leader"]), group_by=group_by, **YEAR)
    _assert_adds_up(r)
    assert r["total"]["projects"] == 7 and r["total"]["signed_wan"] == 12700


def test_counting_through_the_services(district, users):
    """The rows the services write, read back: first signing, increase, decrease, new investor."""
    from investmap.projects import services

    bureau, user = scope_for(users["bureau"]), users["bureau"]
    data = {"name": "整车项目", "category": "stock_space", "town": "T01", "team": "TEAM-T01"}
    p = services.create(
        data={**data, "total_investment_wan": 3000, "lead_on": "2025-01-02"},
        scope=bureau,
        user=user,
        as_of=D(2025, 1, 2),
    )
    services.transition(
        code=p.code,
        to="signed",
        milestones={"negotiating": "2025-01-05", "signed": "2025-01-10"},
        scope=bureau,
        user=user,
        as_of=D(2025, 1, 10),
    )

    def edit(changes, on):
        tag = services.etag(Project.objects.get(pk=p.pk))
        services.update(
            code=p.code, changes=changes, if_match=tag, scope=bureau, user=user, as_of=on
        )

    edit({"total_investment_wan": 5000}, D(2025, 3, 15))  # +2000
    edit({"total_investment_wan": 4000}, D(2025, 4, 10))  # a decrease: not counted
    edit({"investor_name": "新投资方"}, D(2025, 6, 1))  # a new signing: 4000

    def signed(start, end):
        r = stats.stats(
            scope=bureau, group_by="team", date_from=start, date_to=end, as_of=D(2025, 6, 30)
        )
        return r["total"]["signed_wan"], r["total"]["signed_projects"]

    assert signed(D(2025, 1, 1), D(2025, 1, 31)) == (3000, 1)
    assert signed(D(2025, 3, 1), D(2025, 3, 31)) == (2000, 0)
    assert signed(D(2025, 4, 1), D(2025, 4, 30)) == (0, 0)
    assert signed(D(2025, 6, 1), D(2025, 6, 30)) == (4000, 0)
    assert signed(D(2025, 1, 1), D(2025, 6, 30)) == (9000, 1)


# --- an oracle over random data -----------------------------------------------------------


def _oracle(group_by, as_of, start, end):
    """Row-by-row figures per group key (the public key), the service's rules in plain Python."""
    changes = {}
    for c in StageChange.objects.order_by("on", "id"):
        changes.setdefault(c.project_id, []).append(c)

    def stage_at(p):
        later = [c for c in changes.get(p.pk, []) if c.on > as_of]
        return later[0].from_stage if later else p.stage

    def key(p):
        if group_by == "stage":
            return stage_at(p)
        if group_by == "industry":
            code = p.industry_code.lstrip("ABCDEFGHIJKLMNOPQRST")
            return code[:2] if len(code) >= 2 else None
        if group_by == "chain":
            return p.chain_node or None
        if group_by == "category":
            return p.category
        obj = getattr(p, group_by)
        return None if obj is None else (obj.username if group_by == "officer" else obj.code)

    out = {}
    projects = {p.pk: p for p in Project.objects.select_related("town", "park", "team", "officer")}
    for p in projects.values():
        exists = (p.lead_on or p.created_at.date()) <= as_of
        g = out.setdefault(
            key(p),
            {"projects": 0, "inv": None, "missing": 0, "signed": 0.0, "first": 0, "cap": 0.0},
        )
        if exists:
            g["projects"] += 1
            if p.total_investment_wan is None:
                g["missing"] += 1
            else:
                g["inv"] = (g["inv"] or 0) + p.total_investment_wan
    for e in SigningEvent.objects.all():
        if start <= e.on <= end:
            g = out[key(projects[e.project_id])]
            g["signed"] += e.amount_wan
            g["first"] += e.kind == "first"
    for e in CapitalArrival.objects.all():
        if start <= e.on <= end:
            out[key(projects[e.project_id])]["cap"] += e.amount_wan
    return {k: v for k, v in out.items() if v["projects"] or v["signed"] or v["cap"]}


@pytest.fixture
def random_set(district, users):
    rng = random.Random(7)
    officers = [users["officer_t01"], users["officer_t02"], None]
    codes = ["3841", "C3421", "C", "", "7320", "26", "2614"]
    for i in range(120):
        category = rng.choice(["new_land", "stock_space", "expansion", "hq_rd"])
        path = [s for s in ("lead", *MILESTONE_FIELDS) if s != "land_obtained"]
        if category in ("new_land", "expansion"):
            path = ["lead", *MILESTONE_FIELDS]
        depth = rng.randrange(len(path))
        day = D(2023, 1, 1) + dt.timedelta(days=rng.randrange(700))
        dates = {}
        for s in path[1 : depth + 1]:
            day += dt.timedelta(days=rng.randrange(5, 120))
            dates[MILESTONE_FIELDS[s]] = day
        p = _project(
            f"R{i:03d}",
            district,
            town=rng.choice(["T01", "T02", None]),
            park=rng.random() < 0.2,
            team=rng.choice(["T01", "T02", None]),
            officer=rng.choice(officers),
            category=category,
            industry_code=rng.choice(codes),
            chain_node=rng.choice(["", "动力电池", "精密机械"]),
            total_investment_wan=rng.choice([None, round(rng.uniform(50, 90000), 2)]),
            stage=path[depth],
            lead_on=rng.choice([None, D(2023, 1, 1) + dt.timedelta(days=rng.randrange(400))]),
            **dates,
        )
        before = "lead"
        for s in path[1 : depth + 1]:
            StageChange.objects.create(
                project=p, from_stage=before, to_stage=s, on=dates[MILESTONE_FIELDS[s]]
            )
            before = s
        if "signed_on" in dates:
            on = dates["signed_on"]
            SigningEvent.objects.create(
                project=p, kind="first", on=on, amount_wan=rng.uniform(10, 5000)
            )
            for _ in range(rng.randrange(3)):
                on += dt.timedelta(days=rng.randrange(10, 200))
                kind = rng.choice(["increase", "new_investor"])
                SigningEvent.objects.create(
                    project=p, kind=kind, on=on, amount_wan=rng.uniform(10, 5000)
                )
            for _ in range(rng.randrange(3)):
                on += dt.timedelta(days=rng.randrange(10, 200))
                CapitalArrival.objects.create(project=p, on=on, amount_wan=rng.uniform(1, 900))
    return users


@pytest.mark.parametrize("group_by", stats.GROUP_BYS)
@pytest.mark.parametrize("as_of", [D(2024, 3, 31), D(2025, 12, 31)])
def test_random_set_matches_the_row_by_row_oracle(random_set, group_by, as_of):
    start = D(2023, 7, 1)
    r = stats.stats(
        scope=None, group_by=group_by, date_from=start, date_to=D(2026, 12, 31), as_of=as_of
    )
    want = _oracle(group_by, as_of, start, as_of)
    got = {g["key"]: g for g in r["groups"]}
    assert set(got) == set(want)
    for k, w in want.items():
        g = got[k]
        assert g["projects"] == w["projects"], k
        assert g["missing_investment"] == w["missing"], k
        assert g["total_investment_wan"] == pytest.approx(w["inv"]), k
        assert g["signed_wan"] == pytest.approx(w["signed"]), k
        assert g["signed_projects"] == w["first"], k
        assert g["capital_wan"] == pytest.approx(w["cap"]), k
    _assert_adds_up(r)
    assert r["total"]["projects"] == sum(w["projects"] for w in want.values())


# --- scope --------------------------------------------------------------------------------


def test_officer_sees_only_own_town_and_leader_all(made):
    mine = stats.stats(scope=scope_for(made["officer_t01"]), group_by="town", **YEAR)
    assert [g["key"] for g in mine["groups"]] == ["T01"]
    assert mine["total"]["projects"] == 3
    assert mine["total"]["signed_wan"] == 5000
    assert mine["total"]["capital_wan"] == 1200
    everything = stats.stats(scope=scope_for(made["leader"]), group_by="town", **YEAR)
    assert everything["total"]["projects"] == 7
    assert everything["total"]["signed_wan"] == 12700
    nothing = stats.stats(scope=scope_for(made["maintainer"]), group_by="town", **YEAR)
    assert nothing["groups"] == [] and nothing["total"]["projects"] == 0
    assert nothing["total"]["signed_wan"] == 0


def test_rankings_and_key_projects_are_scoped(made):
    leader, officer = scope_for(made["leader"]), scope_for(made["officer_t01"])
    assert [r["code"] for r in stats.key_projects(scope=leader, as_of=AS_OF)] == ["P5"]
    assert stats.key_projects(scope=officer, as_of=AS_OF) == []
    by_signed = stats.ranking(scope=leader, by="signed_wan", **YEAR)
    assert [(r["code"], r["signed_wan"], r["rank"]) for r in by_signed] == [
        ("P1", 5000, 1),
        ("P5", 5000, 2),
        ("P2", 2700, 3),
    ]
    by_total = stats.ranking(scope=leader, by="total_investment_wan", **YEAR, limit=2)
    assert [r["code"] for r in by_total] == ["P2", "P4"]  # came in during 2025: 1200, 800, 100
    officer_rank = stats.ranking(scope=officer, by="signed_wan", **YEAR)
    assert [r["code"] for r in officer_rank] == ["P1"]


# --- funnel -------------------------------------------------------------------------------


def test_funnel_hand_computed(made):
    f = stats.funnel(scope=scope_for(made["leader"]), as_of=AS_OF)
    assert f["projects"] == 7
    by = {s["stage"]: s for s in f["stages"]}
    reached = {s: by[s]["reached"] for s in by}
    assert reached == {
        "lead": 7,
        "negotiating": 5,  # P1 P2 P3 P5 P6
        "signed": 4,  # P1 P2 P5 P6
        "registered": 4,
        "land_obtained": 2,  # P1 P6 (P2 and P5 skip it)
        "construction": 2,  # P1 P2
        "completed": 0,
        "production": 0,
    }
    assert by["lead"]["conversion"] == pytest.approx(5 / 7)
    assert by["negotiating"]["conversion"] == pytest.approx(4 / 5)
    assert by["signed"]["conversion"] == 1.0
    # Registered → the next stage on each project's own path: P1 and P6 got land, P2 started
    # (stock space skips land), P5 (hq_rd) has not started.
    assert by["registered"]["conversion"] == pytest.approx(3 / 4)
    assert by["land_obtained"]["conversion"] == pytest.approx(1 / 2)
    assert by["construction"]["conversion"] == 0.0
    assert by["completed"]["conversion"] is None  # nobody completed: no base
    assert by["production"]["conversion"] is None  # the end of the path
    # lead → negotiating: 31 (P1), 27 (P2), 45 (P3), 30 (P5), 31 (P6) days.
    assert by["lead"]["days"] == {"n": 5, "median": 31, "mean": 32.8}
    # negotiating → signed: 70 (P1), 28 (P2), 62 (P5), 29 (P6; 2024 is a leap year).
    assert by["negotiating"]["days"] == {"n": 4, "median": 45.5, "mean": 47.25}
    # land → construction: P1 2025-03-01 → 2025-04-01.
    assert by["land_obtained"]["days"] == {"n": 1, "median": 31, "mean": 31}


def test_funnel_cohort_and_out_of_order_dates(made, district):
    # Imported with the signing before the negotiation: it reached both, but no time is taken.
    _project(
        "P9",
        district,
        town="T01",
        category="stock_space",
        stage="signed",
        lead_on=D(2025, 1, 10),
        negotiating_on=D(2025, 2, 1),
        signed_on=D(2025, 1, 20),
    )
    f = stats.funnel(scope=scope_for(made["leader"]), **YEAR)
    by = {s["stage"]: s for s in f["stages"]}
    # The 2025 cohort: P2, P4, P7, P9 (lead dates in the period).
    assert f["projects"] == 4
    assert by["negotiating"]["reached"] == 2 and by["signed"]["reached"] == 2
    assert by["negotiating"]["days"]["n"] == 1  # P2 only; P9's dates are out of order
    assert by["negotiating"]["days"]["median"] == 28
    assert statistics.fmean([27, 22]) == by["lead"]["days"]["mean"]  # P2 27, P9 22


# --- performance --------------------------------------------------------------------------


def test_performance_hand_computed(made):
    r = stats.performance(scope=scope_for(made["leader"]), **YEAR)
    assert r["ruleset"]["name"] == "district-2025"
    assert len(r["ruleset"]["version"]) == 64
    rows = {row["key"]: row for row in r["rows"]}
    assert set(rows) == {"TEAM-T01", "TEAM-T02"}
    t1, t2 = rows["TEAM-T01"], rows["TEAM-T02"]
    # TEAM-T01: P3 first milestone 2025-01-15 (P1's and P6's are in 2024); P6 land
    # 2024-06-01 + 180 days < as_of, not started.
    assert t1["figures"] == {
        "leads_converted": 1,
        "signed_wan": 5000,
        "projects_started": 1,
        "capital_wan": 1200,
        "overdue_starts": 1,
    }
    assert t2["figures"] == {
        "leads_converted": 1,  # P2 (P5 in 2024, P7 never negotiated)
        "signed_wan": 7700,
        "projects_started": 1,
        "capital_wan": 0,
        "overdue_starts": 0,
    }
    assert t1["scores"]["signed_wan"] == pytest.approx(5000 / 7700 * 30)
    assert t1["score"] == pytest.approx(20 + 5000 / 7700 * 30 + 20 + 30 - 2)
    assert t2["score"] == pytest.approx(70)
    assert (t1["rank"], t2["rank"]) == (1, 2)
    assert r["unassigned"]["leads_converted"] == 0  # P4 has no team and no milestone


def test_performance_scope_and_settings(made, settings):
    mine = stats.performance(scope=scope_for(made["officer_t01"]), **YEAR)
    assert [row["key"] for row in mine["rows"]] == ["TEAM-T01"]
    assert mine["rows"][0]["score"] == pytest.approx(20 + 30 + 20 + 30 - 2)
    settings.INVESTMAP_PROJECT_PERFORMANCE_RULESET = "nope"
    with pytest.raises(InvalidFilter) as exc:
        stats.performance(scope=scope_for(made["leader"]), **YEAR)
    assert "district-2025" in exc.value.errors["ruleset"][0]
    assert stats.performance(scope=None, ruleset="district-2025", **YEAR)["rows"]


def test_overdue_starts_at_the_day_boundary(made, settings):
    settings.INVESTMAP_PROJECT_LAND_NOT_STARTED_DAYS = 180
    # P6: land 2024-06-01 + 180 days = 2024-11-28; overdue only when that is before as_of.
    on_day = stats.performance(scope=None, as_of=D(2024, 11, 28))
    after = stats.performance(scope=None, as_of=D(2024, 11, 29))
    fig = {r["key"]: r["figures"]["overdue_starts"] for r in on_day["rows"]}
    assert fig["TEAM-T01"] == 0
    fig = {r["key"]: r["figures"]["overdue_starts"] for r in after["rows"]}
    assert fig["TEAM-T01"] == 1
    # On hold (or dropped) it is not overdue, as for the land_not_started alert.
    Project.objects.filter(code="P6").update(stage="on_hold", held_from="land_obtained")
    held = stats.performance(scope=None, as_of=D(2024, 11, 29))
    assert {r["key"]: r["figures"]["overdue_starts"] for r in held["rows"]}["TEAM-T01"] == 0


# --- rulesets -----------------------------------------------------------------------------

SHIPPED = sorted(stats.rulesets())


def test_the_example_ruleset_ships():
    assert "district-2025" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_ruleset_is_sourced_and_its_cases_pass(name):
    rs = stats.load_ruleset(name)
    assert rs.source.get("title") and rs.source.get("url", "").startswith("http")
    assert rs.notes and rs.cases
    assert {i.code for i in rs.indicators} == set(stats.INDICATORS)
    assert stats.check_ruleset(rs) == []


def test_run_ruleset_cases_reports_per_ruleset(tmp_path, monkeypatch):
    assert stats.run_ruleset_cases() == {name: [] for name in SHIPPED}
    broken = yaml.safe_load(OTHER_METHODS)
    broken["indicators"][0]["weight"] = "ten"
    (tmp_path / "performance-methods-test.yaml").write_text(yaml.safe_dump(broken))
    monkeypatch.setattr(stats, "RULESET_DIR", tmp_path)
    got = stats.run_ruleset_cases()
    assert got == {"methods-test": ["methods-test: indicators[0].weight: must be a number"]}
    assert stats.run_ruleset_cases(["nope"])["nope"][0].startswith("nope: no such ruleset")


def test_a_wrong_expectation_fails():
    rs = stats.load_ruleset("district-2025")
    doc = yaml.safe_load(rs.text)
    doc["cases"][0]["expect"][0]["score"] = 87
    doc["cases"][0]["expect"][1]["rank"] = 1
    problems = stats.check_ruleset(stats.parse_ruleset(yaml.safe_dump(doc, allow_unicode=True)))
    assert len(problems) == 2
    assert "three teams / A: score expected 87, got 88.0000" in problems[0]


OTHER_METHODS = """
name: methods-test
title: methods
source: {title: test}
indicators:
  - {code: signed_wan, label: 签约, weight: 10, method: efficacy}
  - {code: capital_wan, label: 到位, weight: 20, method: target, target: 100, cap: 1.2}
  - {code: overdue_starts, label: 超期, weight: -3, method: max}
cases:
  - name: hand
    # efficacy: 6 + 4 × (v − 0) / (10 − 0); target: 20 × min(v / 100, 1.2); max: −3 × v / 4
    teams:
      - {team: a, signed_wan: 0, capital_wan: 50, overdue_starts: 4}
      - {team: b, signed_wan: 5, capital_wan: 150, overdue_starts: 2}
      - {team: c, signed_wan: 10, capital_wan: 0, overdue_starts: 0}
    expect:
      - {team: a, score: 13, rank: 2, scores: {signed_wan: 6, capital_wan: 10, overdue_starts: -3}}
      - {team: b, score: 30.5, rank: 1, scores: {signed_wan: 8, capital_wan: 24, overdue_starts: -1.5}}
      - {team: c, score: 10, rank: 4, scores: {signed_wan: 10, capital_wan: 0, overdue_starts: 0}}
"""


def test_efficacy_target_and_negative_max():
    rs = stats.parse_ruleset(OTHER_METHODS)
    problems = stats.check_ruleset(rs)
    # c's rank is 3, not 4: the wrong expectation is reported, the others pass.
    assert problems == ["methods-test / hand / c: rank expected 4, got 3"]
    same = {"signed_wan": 3, "capital_wan": 7, "overdue_starts": 0}
    equal = stats.score_teams(rs, {"x": same, "y": same})
    # All equal: efficacy gives the base share (60 %) to everyone.
    assert [r["scores"]["signed_wan"] for r in equal] == [6, 6]
    assert [r["rank"] for r in equal] == [1, 1]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["indicators"][0].update(code="leads"), "indicators[0].code"),
        (lambda d: d["indicators"][1].update(weight=0), "indicators[1].weight"),
        (lambda d: d["indicators"][1].update(method="rank"), "indicators[1].method"),
        (lambda d: d["indicators"][1].pop("target"), "indicators[1].target"),
        (lambda d: d["indicators"][0].update(base=1.5), "indicators[0].base"),
        (lambda d: d["indicators"][0].update(cap=3), "indicators[0].cap"),
        (lambda d: d["indicators"][2].update(colour="red"), "indicators[2].colour"),
        (lambda d: d["cases"][0]["teams"][0].pop("capital_wan"), "cases[0].teams[0].capital_wan"),
        (lambda d: d["cases"][0]["teams"][1].update(signed_wan=-1), "cases[0].teams[1].signed_wan"),
        (lambda d: d["cases"][0]["expect"][0].update(team="zz"), "cases[0].expect[0].team"),
        (lambda d: d["cases"][0]["expect"][0]["scores"].update(x=1), "cases[0].expect[0].scores.x"),
        (lambda d: d.pop("source"), "ruleset.source"),
        (lambda d: d.update(name="Bad Name"), "name"),
        (lambda d: d["indicators"].append(dict(d["indicators"][0])), "indicators"),
    ],
)
def test_validation_names_the_path(change, path):
    doc = yaml.safe_load(OTHER_METHODS)
    change(doc)
    with pytest.raises(stats.RulesetError) as exc:
        stats.parse_ruleset(yaml.safe_dump(doc, allow_unicode=True), name_hint="x")
    assert any(p.startswith(f"{path}:") for p in exc.value.problems), exc.value.problems


# --- bad parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "accepted"),
    [
        ({"group_by": "county"}, "group_by", "town"),
        ({"group_by": "town", "date_from": "2025-13-01"}, "from", "YYYY-MM-DD"),
        ({"group_by": "town", "date_to": "soon"}, "to", "YYYY-MM-DD"),
        ({"group_by": "town", "as_of": 20250101}, "as_of", "YYYY-MM-DD"),
        (
            {"group_by": "town", "date_from": D(2025, 7, 1), "date_to": D(2025, 6, 1)},
            "from",
            "2025-06-01",
        ),
    ],
)
def test_bad_parameters_name_the_field(made, kwargs, field, accepted):
    with pytest.raises(InvalidFilter) as exc:
        stats.stats(scope=scope_for(made["leader"]), **kwargs)
    assert list(exc.value.errors) == [field]
    assert accepted in exc.value.errors[field][0]


def test_bad_ranking_parameters(made):
    scope = scope_for(made["leader"])
    with pytest.raises(InvalidFilter) as exc:
        stats.ranking(scope=scope, by="name")
    assert "signed_wan" in exc.value.errors["by"][0]
    with pytest.raises(InvalidFilter) as exc:
        stats.key_projects(scope=scope, limit=0)
    assert "limit" in exc.value.errors
