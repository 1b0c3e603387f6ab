"""Project library at city scale: overview figures, funnel, team performance and alerts.

    .venv/bin/python bench/projects.py                       # 50,000 projects, as of 2025-12-31
    .venv/bin/python bench/projects.py --projects 100000 --repeat 7
    .venv/bin/python bench/projects.py --store district      # towns and teams of a demo store
    .venv/bin/python bench/projects.py --fresh               # rebuild the projects

One run, one data set:

1. The record store is var/bench/<--store>.sqlite3 (default `projects`), migrated.
   Its towns, parks and teams are used when it has some (e.g. a demo district
   store of the other benches); otherwise the bench creates a city-sized org
   tree itself: 40 towns, 10 parks, 64 teams, 2 officers per town.
2. --projects projects (codes BP-…) are built with bulk_create when the store
   does not hold exactly that many (or with --fresh), with a realistic mix:
   categories and stages by quota, milestones walked along each category's
   path with typical gaps and never after --as-of, on-hold and dropped
   projects, 8 % without a total investment, a few imported with milestones out
   of order; one StageChange per move, SigningEvents as the services count them
   (first signing, some increases, a few changes of investor), capital arrivals
   after the construction start, and several activities per project (created,
   visits/calls/meetings/notes, stage moves, capital) with last_touched_on.
3. Timed, each --repeat times (median and best printed): projects.stats for every
   group_by over the year to --as-of, the same for a town officer's scope and for
   an earlier as_of (stage replayed from the moves), funnel, performance (the
   default ruleset), key_projects, ranking by both keys, and alerts.compute
   (projects/alerts.py) over all projects. It checks that every group_by's
   groups add up to its total and prints the counts.
"""

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import time
from collections import Counter

import benchkit  # noqa: E402  (beside this script)

STAGE_MIX = {
    "lead": 0.24,
    "negotiating": 0.17,
    "signed": 0.10,
    "registered": 0.08,
    "land_obtained": 0.06,
    "construction": 0.12,
    "completed": 0.05,
    "production": 0.10,
    "on_hold": 0.04,
    "dropped": 0.04,
}
CATEGORY_MIX = {"new_land": 0.40, "stock_space": 0.30, "expansion": 0.20, "hq_rd": 0.10}
# Days from the previous milestone (low, high) for each stage.
GAPS = {
    "negotiating": (7, 90),
    "signed": (20, 200),
    "registered": (10, 120),
    "land_obtained": (30, 270),
    "construction": (20, 260),
    "completed": (180, 720),
    "production": (30, 200),
}
CHAINS = ["新能源汽车", "动力电池", "集成电路", "生物医药", "高端装备", "新材料", "数字经济", ""]


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--store", default="projects", help="var/bench/<store>.sqlite3")
    p.add_argument("--projects", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--as-of", default="2025-12-31", help="the last day of the data and figures")
    p.add_argument("--fresh", action="store_true", help="rebuild the bench projects")
    p.add_argument("--repeat", type=int, default=5, help="runs per call (median and best)")
    return p.parse_args()


# --- the org tree and the projects --------------------------------------------------------


def _square(i: int) -> str:
    lon, lat = 120.0 + (i % 8) * 0.1, 30.0 + (i // 8) * 0.1
    ring = [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def ensure_org() -> None:
    """Towns, parks, teams and officers: the store's own, or a city-sized tree made here."""
    from investmap.core.choices import OrgKind, Role
    from investmap.core.models import OrgUnit, User
    from investmap.resources.models import Park, Team, Town

    if Town.objects.exists():
        print(
            f"org tree from the store: {Town.objects.count()} towns, {Park.objects.count()} parks, "
            f"{Team.objects.count()} teams"
        )
    else:
        root = OrgUnit.objects.create(code="BD", name="基准市", kind=OrgKind.DISTRICT)
        for i in range(40):
            unit = OrgUnit.objects.create(
                code=f"BT{i:02d}", name=f"基准{i:02d}镇", kind=OrgKind.TOWN, parent=root
            )
            Town.objects.create(
                code=f"BT{i:02d}", name=unit.name, org_unit=unit, geometry=_square(i)
            )
        towns = list(Town.objects.order_by("code"))
        for i, town in enumerate(towns[:10]):
            unit = OrgUnit.objects.create(
                code=f"BP{i:02d}",
                name=f"{town.name}产业园",
                kind=OrgKind.PARK,
                parent=town.org_unit,
            )
            Park.objects.create(
                code=unit.code, name=unit.name, town=town, org_unit=unit, geometry=_square(i)
            )
        for i, town in enumerate(towns):
            for j in range(2 if i < 20 else 1):
                code = f"BTEAM{i:02d}{j}"
                unit = OrgUnit.objects.create(
                    code=code,
                    name=f"{town.name}招商{j + 1}组",
                    kind=OrgKind.TEAM,
                    parent=town.org_unit,
                )
                Team.objects.create(code=code, name=unit.name, org_unit=unit)
        for j in range(4):
            unit = OrgUnit.objects.create(
                code=f"BTEAMD{j}", name=f"市招商局{j + 1}组", kind=OrgKind.TEAM, parent=root
            )
            Team.objects.create(code=unit.code, name=unit.name, org_unit=unit)
        print(
            f"org tree made: {Town.objects.count()} towns, {Park.objects.count()} parks, "
            f"{Team.objects.count()} teams"
        )
    if not User.objects.filter(username__startswith="bench-").exists():
        users = []
        for town in Town.objects.select_related("org_unit"):
            for k in range(2):
                u = User(
                    username=f"bench-{town.code}-{k}",
                    role=Role.TOWN_OFFICER,
                    org_unit=town.org_unit,
                    first_name=f"{town.name}专员{k + 1}",
                )
                u.set_unusable_password()
                users.append(u)
        User.objects.bulk_create(users)


def _quota(mix: dict, n: int, rng: random.Random) -> list:
    counts = {k: math.floor(v * n) for k, v in mix.items()}
    for k in sorted(mix, key=lambda k: -(mix[k] * n - counts[k]))[: n - sum(counts.values())]:
        counts[k] += 1
    items = [k for k, c in counts.items() for _ in range(c)]
    rng.shuffle(items)
    return items


def _industry_codes() -> list[str]:
    import csv
    from importlib import resources

    path = resources.files("investmap.resources") / "data" / "gbt4754_2017.csv"
    with path.open(encoding="utf-8") as f:
        return [row["code"] for row in csv.DictReader(f)]


def build_projects(n: int, seed: int, as_of: dt.date) -> dict:
    """n projects with their rows; the counts written per kind."""
    from django.conf import settings
    from django.db import transaction

    from investmap.core.models import User
    from investmap.projects import lifecycle
    from investmap.projects.models import (
        MILESTONE_FIELDS,
        Activity,
        CapitalArrival,
        Project,
        SigningEvent,
        StageChange,
    )
    from investmap.resources.models import Park, Team, Town

    rng = random.Random(seed)
    towns = list(Town.objects.order_by("code"))
    parks = {}
    for p in Park.objects.all():
        parks.setdefault(p.town_id, []).append(p)
    teams_of = {}
    all_teams = list(Team.objects.select_related("org_unit"))
    for t in all_teams:
        teams_of.setdefault(t.org_unit.parent_id, []).append(t)
    officers = {}
    for u in User.objects.filter(username__startswith="bench-"):
        officers.setdefault(u.org_unit_id, []).append(u)
    codes = _industry_codes()
    bands = settings.INVESTMAP_PROJECT_GRADE_BANDS
    stages = _quota(STAGE_MIX, n, rng)
    categories = _quota(CATEGORY_MIX, n, rng)
    first_day = dt.date(as_of.year - 5, 1, 1)
    span = (as_of - first_day).days - 20

    projects, plans = [], []
    for i in range(n):
        category, target = categories[i], stages[i]
        path = lifecycle.path(category)
        if target in (lifecycle.ON_HOLD, lifecycle.DROPPED):
            reached = path[rng.randrange(len(path) - 1)]
        elif target not in path:
            reached = path[path.index("registered")]
        else:
            reached = target
        lead_on = first_day + dt.timedelta(days=rng.randrange(span))
        dates, day = {}, lead_on
        for s in path[1 : path.index(reached) + 1]:
            lo, hi = GAPS[s]
            nxt = day + dt.timedelta(days=rng.randint(lo, hi))
            if nxt > as_of:
                break
            dates[s] = day = nxt
        stage = list(dates)[-1] if dates else "lead"
        imported = rng.random() < 0.005 and "registered" in dates
        if imported:  # an OA import with registration before signing
            dates["registered"] = dates["signed"] - dt.timedelta(days=rng.randint(1, 30))
        side_on = None
        if target in (lifecycle.ON_HOLD, lifecycle.DROPPED) and stage != "production":
            side_on = min(as_of, day + dt.timedelta(days=rng.randint(10, 200)))
            stage = target
        total = None
        if rng.random() >= 0.08:
            total = round(math.exp(rng.gauss(math.log(6000), 1.3)) / 10) * 10.0 + 10
        strategic = rng.random() < 0.02
        grade = next(g for g, floor in bands if (total or 0) >= floor)
        if strategic and grade == "general":
            grade = "key"
        town = rng.choice(towns) if rng.random() >= 0.03 else None
        park = None
        if town is not None and town.pk in parks and rng.random() < 0.3:
            park = rng.choice(parks[town.pk])
        local = teams_of.get(town.org_unit_id, []) if town else []
        team = rng.choice(local) if local and rng.random() < 0.85 else rng.choice(all_teams)
        if rng.random() < 0.04:
            team = None
        officer = (
            rng.choice(officers[town.org_unit_id])
            if town and town.org_unit_id in officers
            else None
        )
        projects.append(
            Project(
                code=f"BP-{i:06d}",
                name=f"基准项目{i:06d}",
                investor_name=f"投资方{rng.randrange(n // 3):05d}",
                industry_code=rng.choice(codes) if rng.random() >= 0.05 else "",
                chain_node=rng.choice(CHAINS),
                category=category,
                total_investment_wan=total,
                fixed_asset_investment_wan=total * 0.7 if total else None,
                town=town,
                park=park,
                team=team,
                officer=officer,
                strategic=strategic,
                grade=grade,
                stage=stage,
                held_from=(list(dates)[-1] if dates else "lead") if stage == "on_hold" else "",
                drop_reason="投资方战略调整" if stage == "dropped" else "",
                lead_on=lead_on,
                **{MILESTONE_FIELDS[s]: d for s, d in dates.items()},
            )
        )
        plans.append((path, dates, side_on, imported))

    counts = Counter()
    t = time.perf_counter()
    with transaction.atomic():
        Project.objects.bulk_create(projects, batch_size=2000)
        changes, signings, capital, acts = [], [], [], []
        for pr, (_path, dates, side_on, imported) in zip(projects, plans, strict=True):
            acts.append(Activity(project=pr, kind="created", on=pr.lead_on, text="新建项目"))
            before = "lead"
            if imported:
                last = max(dates.values())
                top = list(dates)[-1]
                changes.append(StageChange(project=pr, from_stage="lead", to_stage=top, on=last))
                acts.append(Activity(project=pr, kind="stage", on=last, text="OA导入"))
                before = top
            else:
                for s, d in dates.items():
                    changes.append(StageChange(project=pr, from_stage=before, to_stage=s, on=d))
                    acts.append(Activity(project=pr, kind="stage", on=d, text=f"{before} → {s}"))
                    before = s
            if side_on is not None:
                changes.append(
                    StageChange(project=pr, from_stage=before, to_stage=pr.stage, on=side_on)
                )
                acts.append(Activity(project=pr, kind="stage", on=side_on, text=pr.stage))
            total = pr.total_investment_wan
            if "signed" in dates and total:
                on = dates["signed"]
                if rng.random() < 0.25:
                    first = round(total * rng.uniform(0.5, 0.9), 2)
                    signings.append(SigningEvent(project=pr, kind="first", on=on, amount_wan=first))
                    rest = total - first
                    for k in range(rng.randint(1, 2)):
                        on = on + dt.timedelta(days=rng.randint(30, 400))
                        if on > as_of:
                            break
                        part = rest if k == 1 else round(rest * rng.uniform(0.3, 1.0), 2)
                        rest -= part
                        signings.append(
                            SigningEvent(project=pr, kind="increase", on=on, amount_wan=part)
                        )
                else:
                    signings.append(SigningEvent(project=pr, kind="first", on=on, amount_wan=total))
                if rng.random() < 0.02:
                    later = on + dt.timedelta(days=rng.randint(30, 300))
                    if later <= as_of:
                        signings.append(
                            SigningEvent(
                                project=pr, kind="new_investor", on=later, amount_wan=total
                            )
                        )
            if "construction" in dates:
                day = dates["construction"]
                for _ in range(rng.randint(1, 4)):
                    day = day + dt.timedelta(days=rng.randint(15, 240))
                    if day > as_of:
                        break
                    amount = round((total or 2000) * rng.uniform(0.05, 0.25), 2)
                    capital.append(CapitalArrival(project=pr, on=day, amount_wan=amount))
                    acts.append(
                        Activity(project=pr, kind="capital", on=day, text=f"{amount:g} 万元")
                    )
            end = max(dates.values(), default=pr.lead_on)
            end = max(end, side_on or end)
            horizon = max(1, (as_of - pr.lead_on).days)
            for _ in range(rng.randint(2, 7)):
                # Mostly around the last move, sometimes long before (projects that rot).
                day = pr.lead_on + dt.timedelta(days=rng.randrange(horizon))
                if rng.random() < 0.5:
                    day = min(as_of, end + dt.timedelta(days=rng.randrange(90)))
                kind = rng.choice(("visit", "call", "meeting", "note"))
                acts.append(Activity(project=pr, kind=kind, on=day, text="走访企业,了解需求"))
            if pr.stage in lifecycle.ACTIVE and rng.random() < 0.7:  # followed up lately
                day = max(pr.lead_on, as_of - dt.timedelta(days=rng.randrange(45)))
                acts.append(Activity(project=pr, kind="call", on=day, text="电话跟进"))
            if rng.random() < 0.05:  # a visit scheduled after as_of
                acts.append(
                    Activity(
                        project=pr,
                        kind="visit",
                        on=as_of + dt.timedelta(days=rng.randint(1, 30)),
                        text="计划走访",
                    )
                )
        for model, rows in (
            (StageChange, changes),
            (SigningEvent, signings),
            (CapitalArrival, capital),
            (Activity, acts),
        ):
            model.objects.bulk_create(rows, batch_size=5000)
            counts[model.__name__] = len(rows)
        last = {}
        for a in acts:
            if a.on <= as_of and (a.project_id not in last or a.on > last[a.project_id]):
                last[a.project_id] = a.on
        for pr in projects:
            pr.last_touched_on = last.get(pr.pk)
        Project.objects.bulk_update(projects, ["last_touched_on"], batch_size=2000)
    counts["Project"] = n
    print(
        f"built {n:,} projects in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    return counts


def ensure_projects(args, as_of: dt.date) -> None:
    from investmap.projects.models import Project

    mine = Project.objects.filter(code__startswith="BP-")
    have = mine.count()
    if have == args.projects and not args.fresh:
        print(f"bench projects already stored: {have:,}")
        return
    if have:
        t = time.perf_counter()
        mine.delete()
        print(f"deleted {have:,} earlier bench projects in {time.perf_counter() - t:.1f} s")
    build_projects(args.projects, args.seed, as_of)


# --- timing -------------------------------------------------------------------------------


def timed(repeat: int, fn, **kwargs):
    times, result = [], None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        result = fn(**kwargs)
        times.append(time.perf_counter() - t)
    return result, times


def line(name: str, times: list[float], note: str = "") -> dict:
    med = statistics.median(times)
    print(f"  {name:<44}{med * 1000:9.1f} ms median, best {min(times) * 1000:7.1f}  {note}")
    return {"name": name, "median": med, "best": min(times)}


def adds_up(result: dict) -> bool:
    from investmap.projects import stats

    total = result["total"]
    for k in stats.ADDITIVE:
        values = [g[k] for g in result["groups"] if g[k] is not None]
        got = sum(values) if values else None
        if (got is None) != (total[k] is None):
            return False
        if got is not None and not math.isclose(got, total[k], rel_tol=1e-9, abs_tol=1e-6):
            return False
    return all(
        sum(g["by_stage"][s] for g in result["groups"]) == n for s, n in total["by_stage"].items()
    )


def main() -> int:
    args = parse_args()
    as_of = dt.date.fromisoformat(args.as_of)
    benchkit.setup_django(args.store)
    load0 = os.getloadavg()
    print(
        f"InvestMap projects bench: {args.projects:,} projects, seed {args.seed}, as of {as_of}; "
        f"{benchkit.machine()}; load average {load0[0]:.1f}; code {benchkit.code_version('projects')}"
    )
    ensure_org()
    ensure_projects(args, as_of)

    from django.db import connection

    from investmap.core.models import User
    from investmap.core.scope import scope_for
    from investmap.projects import alerts, stats
    from investmap.projects.models import (
        Activity,
        CapitalArrival,
        Project,
        SigningEvent,
        StageChange,
    )

    print(
        "store: "
        + ", ".join(
            f"{m.__name__} {m.objects.count():,}"
            for m in (Project, StageChange, SigningEvent, CapitalArrival, Activity)
        )
        + f"; SQLite {connection.Database.sqlite_version}"
    )
    year = {"date_from": dt.date(as_of.year, 1, 1), "date_to": as_of, "as_of": as_of}
    results = []
    print(f"\n== stats, period {year['date_from']} – {as_of} (scope: all projects)")
    for group_by in stats.GROUP_BYS:
        r, times = timed(args.repeat, stats.stats, scope=None, group_by=group_by, **year)
        ok = adds_up(r)
        results.append(
            line(f"stats group_by={group_by}", times, f"{len(r['groups'])} groups, adds up: {ok}")
        )
        if not ok:
            print("    GROUPS DO NOT ADD UP")
    t = r["total"]
    print(
        f"  total: projects {t['projects']:,}, investment {t['total_investment_wan']:,.0f} 万元 "
        f"({t['missing_investment']:,} without), signed {t['signed_wan']:,.0f} 万元 "
        f"({t['signed_projects']:,} first signings), capital {t['capital_wan']:,.0f} 万元, "
        f"started {t['started']:,}"
    )
    print("  by stage: " + ", ".join(f"{k} {v:,}" for k, v in t["by_stage"].items()))

    officer = User.objects.filter(username__startswith="bench-").order_by("username").first()
    scope = scope_for(officer)
    r, times = timed(args.repeat, stats.stats, scope=scope, group_by="town", **year)
    results.append(
        line(
            f"stats group_by=town, scope {officer.username}",
            times,
            f"{r['total']['projects']:,} projects visible",
        )
    )
    earlier = as_of - dt.timedelta(days=365)
    later_moves = StageChange.objects.filter(on__gt=earlier).count()
    r, times = timed(args.repeat, stats.stats, scope=None, group_by="stage", as_of=earlier)
    results.append(
        line(
            f"stats group_by=stage as of {earlier}",
            times,
            f"stage replayed ({later_moves:,} later moves), adds up: {adds_up(r)}",
        )
    )

    print("\n== funnel, key projects, rankings, performance, alerts")
    f, times = timed(args.repeat, stats.funnel, scope=None, as_of=as_of)
    results.append(line("funnel (every project)", times, f"cohort {f['projects']:,}"))
    for s in f["stages"]:
        conv = "—" if s["conversion"] is None else f"{s['conversion']:.1%}"
        med = s["days"]["median"]
        print(
            f"    {s['stage']:<14} reached {s['reached']:>7,}  → next {conv:>6}  "
            f"median {('—' if med is None else f'{med:.0f} d'):>6} (n {s['days']['n']:,})"
        )
    f, times = timed(args.repeat, stats.funnel, scope=None, **year)
    results.append(line(f"funnel (cohort {as_of.year})", times, f"cohort {f['projects']:,}"))
    k, times = timed(args.repeat, stats.key_projects, scope=None, as_of=as_of)
    results.append(line("key_projects (20)", times, f"largest {k[0]['total_investment_wan']:,.0f}"))
    for by in stats.RANK_BY:
        _r, times = timed(args.repeat, stats.ranking, scope=None, by=by, **year)
        results.append(line(f"ranking by={by} (20)", times))
    p, times = timed(args.repeat, stats.performance, scope=None, **year)
    best = p["rows"][0]
    results.append(
        line(
            f"performance ({p['ruleset']['name']})",
            times,
            f"{len(p['rows'])} teams; first {best['key']} {best['score']:.1f}",
        )
    )
    figures = Counter()
    for row in p["rows"]:
        figures.update(row["figures"])
    print("    team figures summed: " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()))
    a, times = timed(args.repeat, alerts.compute, as_of=as_of, scope=None)
    by_type = Counter(x["type"] for x in a)
    results.append(line("alerts.compute (every project)", times, f"{len(a):,} alerts"))
    print("    " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_type.items())))

    print("\nsummary (median ms)")
    for r in results:
        print(f"  {r['name']:<44}{r['median'] * 1000:9.1f}")
    load1 = os.getloadavg()
    print(f"load average at the end {load1[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
