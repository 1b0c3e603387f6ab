"""The project library in headless Chromium: the list (filters through htmx, export,
new project), the board by stage, one project's file (lifecycle path, timeline, site map,
moving a stage, logging an activity), the overview charts against the API, alerts, and
scope (an officer of another town gets 404, a leader reads without forms).
Screenshots: test-artifacts/screenshots/projects-*.png."""

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from investmap.core.models import Notification
from investmap.core.scope import scope_for
from investmap.matching.models import CandidateList
from investmap.projects import services
from investmap.projects.models import Project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TODAY = dt.date.today()
IDLE = "() => window.investmapProjects && window.investmapProjects.idle()"


def ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


# (name, category, town, team, total investment, stage, milestones as days ago)
PROJECTS = [
    ("东湖新能源汽车零部件项目", "new_land", "T01", "TEAM-T01", 5000, "lead", {}),
    ("西山智能传感器研发中心", "hq_rd", "T02", "TEAM-T02", 3000, "lead", {}),
    (
        "东湖储能电池模组项目",
        "new_land",
        "T01",
        "TEAM-T01",
        8600,
        "negotiating",
        {"negotiating": 50},
    ),
    (
        "东湖高端装备制造基地",
        "new_land",
        "T01",
        "TEAM-T01",
        98000,
        "registered",
        {"negotiating": 200, "signed": 150, "registered": 120},
    ),
    (
        "西山精密模具扩产项目",
        "expansion",
        "T02",
        "TEAM-T02",
        26000,
        "construction",
        {
            "negotiating": 400,
            "signed": 360,
            "registered": 330,
            "land_obtained": 300,
            "construction": 200,
        },
    ),
    (
        "东湖生物医药中试基地",
        "stock_space",
        "T01",
        "TEAM-T01",
        2600,
        "production",
        {
            "negotiating": 500,
            "signed": 450,
            "registered": 420,
            "construction": 380,
            "completed": 200,
            "production": 90,
        },
    ),
    ("西山物流分拨中心", "new_land", "T02", "TEAM-T02", 1500, "dropped", {}),
    # A major project whose signing waits for the bureau's decision.
    (
        "东湖氢燃料电池项目",
        "new_land",
        "T01",
        "TEAM-T01",
        150000,
        "pending",
        {"negotiating": 30, "signed": 3},
    ),
]


@pytest.fixture
def data(users, tmp_path, settings):
    """Seven projects at different stages over the two towns, with a timeline, capital,
    a chosen site and a scheduled visit; built through the services."""
    settings.MEDIA_ROOT = tmp_path
    bureau, scope = users["bureau"], scope_for(users["bureau"])
    made = {}
    for name, category, town, team, total, stage, ms in PROJECTS:
        p = services.create(
            data={
                "name": name,
                "category": category,
                "town": town,
                "team": team,
                "industry_code": "3670",
                "total_investment_wan": total,
                "fixed_asset_investment_wan": total * 0.8,
                "land_area_mu": 30 if category == "new_land" else None,
                "expected_tax_wan": total / 10,
                "investor_name": f"{name[:2]}实业集团有限公司",
                "officer": "officer_t01" if town == "T01" else "officer_t02",
                "lead_on": ago(600),
            },
            scope=scope,
            user=bureau,
        )
        # The town's officer moves it; a move that needs a decision is approved by the bureau
        # (except the pending one).
        officer = users["officer_t01" if town == "T01" else "officer_t02"]
        if stage == "dropped":
            services.transition(
                code=p.code, to="dropped", reason="企业战略调整", scope=scope, user=bureau
            )
        elif stage != "lead":
            result = services.transition(
                code=p.code,
                to="signed" if stage == "pending" else stage,
                milestones={s: ago(n) for s, n in ms.items()},
                scope=scope_for(officer),
                user=officer,
            )
            if result["approval"] is not None and stage != "pending":
                services.decide(
                    code=p.code,
                    approval_id=result["approval"].pk,
                    decision="approve",
                    reason="符合产业导向",
                    scope=scope,
                    user=bureau,
                )
        made[name] = Project.objects.get(pk=p.pk)
    main = made["东湖高端装备制造基地"]
    for kind, days, text in (
        ("visit", 140, "走访企业总部，确认用地需求"),
        ("meeting", 100, "规划方案评审会"),
        ("call", 20, "电话沟通施工许可进度"),
        ("visit", -14, "计划陪同企业考察配套园区"),
    ):
        services.add_activity(
            code=main.code, kind=kind, on=ago(days), text=text, scope=scope, user=bureau
        )
    services.record_capital(
        code=main.code, on=ago(60), amount_wan=2600, note="首期到位", scope=scope, user=bureau
    )
    clist = CandidateList.objects.create(
        name="东湖40亩工业用地",
        demand={"area_mu_min": 30, "area_mu_max": 60},
        results=[
            {
                "rank": 1,
                "kind": "parcel",
                "parcels": ["P-001"],
                "town": "T01",
                "area_mu": 45.0,
                "score": 0.91,
            },
            {
                "rank": 2,
                "kind": "parcel",
                "parcels": ["P-002"],
                "town": "T01",
                "area_mu": 44.9,
                "score": 0.77,
            },
        ],
        created_by=bureau,
    )
    services.choose_site(code=main.code, candidates=clist.pk, index=0, scope=scope, user=bureau)
    made[main.name] = Project.objects.get(pk=main.pk)
    return made


def rows(page):
    return page.locator("#pj-table tbody tr[data-code]")


def chart_drawn(page, selector):
    canvas = page.locator(f"{selector} canvas")
    expect(canvas.first).to_be_attached()
    box = canvas.first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, (selector, box)


def test_list_filters_export_and_new_project(page, live_server, log_in, shoot, data, zh):
    log_in("bureau")
    page.goto(f"{live_server.url}/projects/")
    expect(page.locator(".mainnav a.active")).to_have_text(zh("Projects"))
    expect(rows(page)).to_have_count(len(PROJECTS))
    expect(page.locator("#results .result-count strong")).to_have_text(str(len(PROJECTS)))
    first = rows(page).filter(has_text="东湖高端装备制造基地")
    expect(first.locator(".pj-stage")).to_have_text(zh("Registered"))
    shoot("projects-list")

    # Filter by town, then by stage (htmx swaps the table, the address and export follow).
    page.select_option("#f-town", "T02")
    expect(rows(page)).to_have_count(3)
    expect(page).to_have_url(re.compile(r"town=T02"))
    page.locator("#pj-filter label.check", has_text=zh("Under construction")).click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-stage", "construction")
    href = page.locator("#pj-export").get_attribute("href")
    assert "town=T02" in href and "stage=construction" in href
    r = page.request.get(live_server.url + href)
    assert r.status == 200
    ws = load_workbook(io.BytesIO(r.body())).active
    assert [row[1] for row in ws.iter_rows(min_row=2, values_only=True)] == ["西山精密模具扩产项目"]

    # A new project from the form on the list.
    page.goto(f"{live_server.url}/projects/")
    page.click("#pj-new-open")
    expect(page.locator("#pj-new-form")).to_be_visible()
    page.fill("#n-name", "东湖氢能装备项目")
    page.fill("#n-total", "120000")
    page.select_option("#n-town", "T01")
    page.click("#pj-new-form button[type=submit]")
    expect(page.locator("#pj-title")).to_contain_text("东湖氢能装备项目")
    expect(page.locator("#pj-grade")).to_have_attribute("data-grade", "major")
    expect(page.locator("#pj-stage")).to_have_attribute("data-stage", "lead")


def test_board_by_stage(page, live_server, log_in, shoot, data, zh):
    log_in("bureau")
    page.goto(f"{live_server.url}/projects/board/")
    cols = page.locator(".pj-col")
    expect(cols).to_have_count(10)
    expect(page.locator('.pj-col[data-stage="lead"] .pj-col-count')).to_have_text("3")
    expect(page.locator('.pj-col[data-stage="lead"] .pj-card')).to_have_count(3)
    expect(page.locator('.pj-col[data-stage="production"] .pj-card')).to_contain_text(
        "东湖生物医药中试基地"
    )
    expect(page.locator('.pj-col[data-stage="dropped"] .pj-col-count')).to_have_text("1")
    shoot("projects-board")
    page.locator('.pj-col[data-stage="registered"] .pj-card-name').click()
    expect(page.locator("#pj-title")).to_contain_text("东湖高端装备制造基地")


def test_project_file_move_and_activity(
    page, live_server, log_in, shoot, data, zh, no_script_errors
):
    p = data["东湖高端装备制造基地"]
    log_in("officer_t01")
    page.goto(f"{live_server.url}/projects/{p.code}/")
    # Lifecycle: reached stages done, registered current, the rest to do.
    expect(page.locator('.pj-step[data-stage="signed"]')).to_have_attribute("data-state", "done")
    expect(page.locator('.pj-step[data-stage="registered"]')).to_have_attribute(
        "data-state", "current"
    )
    expect(page.locator('.pj-step[data-stage="signed"] time')).to_have_text(ago(150))
    # Timeline: the scheduled visit is marked; system entries are there too.
    expect(page.locator(".pj-event.scheduled")).to_contain_text("计划陪同企业考察配套园区")
    expect(page.locator('.pj-event[data-kind="stage"]').first).to_be_visible()
    # The chosen site on the small map, and the candidates.
    expect(page.locator("#pj-site-map")).to_have_attribute("data-features", "1")
    expect(
        page.locator("#pj-site-map .leaflet-overlay-pane path, #pj-site-map canvas").first
    ).to_be_attached()
    expect(page.locator("#pj-candidates tr.chosen")).to_contain_text("P-001")
    # Move form: only the dates the chosen target needs are shown.
    page.select_option("#m-to", "land_obtained")
    expect(page.locator('.pj-date[data-stage="land_obtained"]')).to_be_visible()
    expect(page.locator('.pj-date[data-stage="construction"]')).to_be_hidden()
    page.select_option("#m-to", "construction")
    expect(page.locator('.pj-date[data-stage="construction"]')).to_be_visible()
    shoot("projects-file")

    # A move missing a date is refused with the milestone named; the input stays.
    page.select_option("#m-to", "construction")
    page.fill("#m-land_obtained", ago(30))
    page.click("#pj-move-form button[type=submit]")
    expect(page.locator("#pj-move-error")).to_contain_text("milestones.construction")
    expect(page.locator("#m-land_obtained")).to_have_value(ago(30))
    no_script_errors[:] = [e for e in no_script_errors if "status of 422" not in e]
    page.fill("#m-construction", ago(5))
    page.click("#pj-move-form button[type=submit]")
    expect(page.locator("#pj-stage")).to_have_attribute("data-stage", "construction")
    expect(page.locator('.pj-step[data-stage="construction"]')).to_have_attribute(
        "data-state", "current"
    )

    # Log a visit.
    form = page.locator("#pj-activity-form")
    form.locator("select[name=kind]").select_option("visit")
    form.locator("input[name=text]").fill("开工仪式现场协调")
    form.locator("button[type=submit]").click()
    expect(page.locator("#pj-timeline")).to_contain_text("开工仪式现场协调")
    shoot("projects-file-after-move")


def test_scope_in_pages(page, live_server, log_in, data, zh, no_script_errors):
    p = data["东湖高端装备制造基地"]
    log_in("officer_t02")
    r = page.goto(f"{live_server.url}/projects/{p.code}/")
    assert r.status == 404
    expect(page.locator(".notice-code")).to_have_text("404")
    no_script_errors[:] = [e for e in no_script_errors if "status of 404" not in e]
    page.goto(f"{live_server.url}/projects/")
    expect(rows(page)).to_have_count(3)  # the T02 projects only
    expect(rows(page).filter(has_text="东湖")).to_have_count(0)


def test_leader_reads_without_forms(page, live_server, log_in, data, zh):
    p = data["东湖高端装备制造基地"]
    log_in("leader")
    page.goto(f"{live_server.url}/projects/{p.code}/")
    expect(page.locator("#pj-title")).to_contain_text("东湖高端装备制造基地")
    expect(page.locator(".pj-readonly")).to_be_visible()
    for sel in ("#pj-edit", "#pj-move-form", "#pj-activity-form", "#pj-document-form"):
        expect(page.locator(sel)).to_have_count(0)
    page.goto(f"{live_server.url}/projects/")
    expect(rows(page)).to_have_count(len(PROJECTS))
    expect(page.locator("#pj-new-form")).to_have_count(0)


def test_overview_charts_and_numbers_equal_the_api(page, live_server, log_in, shoot, data, zh):
    log_in("bureau")
    page.goto(f"{live_server.url}/projects/overview/")
    page.wait_for_function(IDLE)
    chart_drawn(page, "#chart-groups")
    chart_drawn(page, "#chart-funnel")
    expect(page.locator("#chart-groups")).to_have_attribute("data-by", "stage")
    api = page.request.get(f"{live_server.url}/api/v1/projects/stats?group_by=stage").json()
    expect(page.locator('[data-figure="projects"] .value')).to_have_text(
        str(api["total"]["projects"])
    )
    table = page.locator("#pj-by-stage")
    for g in api["groups"]:
        expect(table.locator(f'tr[data-key="{g["key"]}"] [data-projects]')).to_have_text(
            str(g["projects"])
        )
    shoot("projects-overview")
    # By town: the chart and the table switch; towns add up to the district.
    page.click('.pj-switch button[data-by="town"]')
    expect(page.locator("#chart-groups")).to_have_attribute("data-by", "town")
    expect(page.locator('.pj-group-table[data-by="town"]')).to_be_visible()
    api = page.request.get(f"{live_server.url}/api/v1/projects/stats?group_by=town").json()
    town = page.locator("#pj-by-town")
    for g in api["groups"]:
        expect(town.locator(f'tr[data-key="{g["key"]}"] [data-projects]')).to_have_text(
            str(g["projects"])
        )
    assert sum(g["projects"] for g in api["groups"]) == api["total"]["projects"]
    expect(town.locator("tr[data-total] [data-projects]")).to_have_text(
        str(api["total"]["projects"])
    )
    # The funnel table is the API's funnel.
    funnel = page.request.get(f"{live_server.url}/api/v1/projects/funnel").json()
    for s in funnel["stages"]:
        expect(
            page.locator(f'#pj-funnel tr[data-stage="{s["stage"]}"] [data-reached]')
        ).to_have_text(str(s["reached"]))


def test_alerts_page(page, live_server, log_in, shoot, data, zh):
    log_in("bureau")
    far = (TODAY + dt.timedelta(days=200)).isoformat()
    page.goto(f"{live_server.url}/projects/alerts/?as_of={far}")
    api = page.request.get(f"{live_server.url}/api/v1/projects/alerts?as_of={far}").json()
    expect(page.locator("#pj-alerts tbody tr[data-project]")).to_have_count(api["count"])
    assert api["count"] > 0
    page.locator('.pj-type[data-type="stale"]').click()
    stale = [a for a in api["alerts"] if a["type"] == "stale"]
    expect(page.locator("#pj-alerts tbody tr[data-project]")).to_have_count(len(stale))
    shoot("projects-alerts")


def test_approvals_and_inbox(page, live_server, log_in, shoot, data, zh):
    pending = data["东湖氢燃料电池项目"]
    log_in("bureau")
    # The requests reached the bureau's inbox: the top bar shows the unread count.
    unread = Notification.objects.filter(user__username="bureau", read_at__isnull=True).count()
    assert unread == 3  # three moves needed a decision, one still pending
    expect(page.locator("#inbox-count")).to_have_text(str(unread))
    page.goto(f"{live_server.url}/projects/approvals/")
    row = page.locator(f'#pj-approvals tr[data-project="{pending.code}"]')
    expect(row).to_contain_text("东湖氢燃料电池项目")
    expect(page.locator('.pj-tab[data-tab="approvals"] .pj-count')).to_have_text("1")
    shoot("projects-approvals")
    row.locator("input[name=reason]").fill("重大项目，同意签约")
    row.locator('button[value="approve"]').click()
    expect(page.locator("#pj-approvals tbody tr[data-id]")).to_have_count(0)
    page.goto(f"{live_server.url}/projects/{pending.code}/")
    expect(page.locator("#pj-stage")).to_have_attribute("data-stage", "signed")
    expect(page.locator('.pj-approval[data-status="approved"]')).to_contain_text(
        "重大项目，同意签约"
    )
    # Opening the inbox marks the message read.
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator("#inbox tr.unread")).to_have_count(unread)
    expect(page.locator("#inbox")).to_contain_text("东湖氢燃料电池项目")
    page.goto(f"{live_server.url}/projects/")
    expect(page.locator("#inbox-count")).to_be_hidden()


def test_edit_conflict_keeps_the_input(
    page, live_server, log_in, shoot, data, zh, users, no_script_errors
):
    p = data["东湖储能电池模组项目"]
    log_in("officer_t01")
    page.goto(f"{live_server.url}/projects/{p.code}/edit/")
    page.fill("#e-name", "东湖储能电池模组项目（二期）")
    page.fill("#e-chain_node", "储能电池")
    # Meanwhile the bureau changes the investment and the chain node.
    services.update(
        code=p.code,
        changes={"total_investment_wan": 9900, "chain_node": "电池管理系统"},
        if_match=services.etag(p),
        scope=scope_for(users["bureau"]),
        user=users["bureau"],
    )
    page.click("#pj-save")
    expect(page.locator("#pj-conflict")).to_be_visible()
    no_script_errors[:] = [e for e in no_script_errors if "status of 412" not in e]
    expect(page.locator("#e-name")).to_have_value("东湖储能电池模组项目（二期）")
    expect(page.locator("#e-total_investment_wan")).to_have_value("9900")  # theirs, taken
    expect(page.locator("#e-chain_node")).to_have_value("储能电池")  # both changed: mine kept
    expect(page.locator('[data-field="chain_node"] .pj-now')).to_contain_text("电池管理系统")
    page.locator('[data-field="chain_node"]').scroll_into_view_if_needed()
    shoot("projects-edit-conflict", full_page=False)
    page.click("#pj-save")
    expect(page.locator("#pj-title")).to_contain_text("东湖储能电池模组项目（二期）")
    p.refresh_from_db()
    assert (p.name, p.total_investment_wan, p.chain_node) == (
        "东湖储能电池模组项目（二期）",
        9900,
        "储能电池",
    )
