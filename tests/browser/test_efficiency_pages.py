"""The land-use efficiency pages in headless Chromium over the tiny demo district:
the overview (figures, charts, filters, export, running an evaluation), an
enterprise's indicators against the benchmarks, the efficiency map, idle and
low-efficiency land with the land-status dry run, and the rulesets.
Screenshots: test-artifacts/screenshots/efficiency-*.png."""

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from investmap.core.choices import Role
from investmap.core.models import OrgUnit, User
from investmap.core.scope import scope_for
from investmap.demo.generator import generate
from investmap.demo.writer import write
from investmap.efficiency import services
from investmap.efficiency.models import Evaluation, EvaluationResult, LandStatusChange
from investmap.resources.models import Enterprise, Parcel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-pass-12345"
AS_OF = "2026-03-31"  # the demo district's date
IDLE = "() => window.investmapEfficiency && window.investmapEfficiency.idle()"


@pytest.fixture
def demo():
    """The tiny demo district with 2023 and 2024 evaluated (2025 is left for the page),
    and one user per role the pages treat differently."""
    d = generate(seed=7, scale="tiny")
    write(d, history=False)
    root = OrgUnit.objects.get(code=d.code)
    t01 = OrgUnit.objects.get(code="T01")

    def make(username, role, unit):
        return User.objects.create_user(
            username=username, password=PASSWORD, role=role, org_unit=unit
        )

    users = {
        "bureau": make("bureau", Role.BUREAU_STAFF, root),
        "leader": make("leader", Role.DISTRICT_LEADER, root),
        "officer_t01": make("officer_t01", Role.TOWN_OFFICER, t01),
        "enterprise": make("enterprise", Role.ENTERPRISE, None),
    }
    scope = scope_for(users["bureau"])
    for year in (2023, 2024):
        services.evaluate(year=year, scope=scope, user=users["bureau"])
    return {"district": d, "users": users}


@pytest.fixture
def sign_in(page, live_server):
    def as_(username: str):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return as_


def table_rows(page):
    return page.locator("#eff-table tbody tr[data-code]")


def chart_drawn(page, selector):
    """A chart is drawn when ECharts put a canvas of some size inside its container."""
    canvas = page.locator(f"{selector} canvas")
    expect(canvas.first).to_be_attached()
    box = canvas.first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, (selector, box)


def assert_chinese(page, zh):
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".mainnav")).to_contain_text(zh("Map"))
    expect(page.locator(".mainnav")).to_contain_text(zh("Efficiency"))


def test_overview_figures_charts_filters_and_export(page, live_server, sign_in, shoot, demo, zh):
    sign_in("bureau")
    page.goto(f"{live_server.url}/efficiency/")
    assert_chinese(page, zh)
    expect(page.locator(".mainnav a.active")).to_have_text(zh("Efficiency"))
    expect(page.locator("#eff-year")).to_have_value("2024")
    expect(page.locator("#eff-ruleset")).to_have_value("huangyan-2022")
    ev = Evaluation.objects.get(year=2024)
    total = ev.results.count()
    expect(page.locator('[data-figure="total"] .value')).to_have_text(str(total))
    graded_d = ev.results.filter(grade="D").count()
    expect(page.locator('[data-figure="grade-D"] .value')).to_have_text(str(graded_d))
    # Charts: grade distribution by town, the grade donut and the trend over two years.
    page.wait_for_function(IDLE)
    chart_drawn(page, "#chart-dist")
    chart_drawn(page, "#chart-grades")
    chart_drawn(page, "#chart-trend")
    expect(page.locator("#chart-dist")).to_have_attribute("data-by", "town")
    expect(page.locator("#chart-trend")).to_have_attribute("data-rendered", "2")
    # A Chinese company name in the table (fonts render it: see the screenshot).
    expect(table_rows(page)).to_have_count(50)  # first page of the results
    expect(page.locator("#results .result-count strong")).to_have_text(str(total))
    expect(page.locator("#results .pagination")).to_be_visible()
    assert re.search(r"[\u4e00-\u9fff]", table_rows(page).first.locator("td").nth(1).inner_text())
    shoot("efficiency-overview")

    # Switch the distribution to industries and to parks.
    page.click('.eff-switch button[data-by="industry"]')
    expect(page.locator("#chart-dist")).to_have_attribute("data-by", "industry")
    expect(page.locator('.eff-switch button[data-by="industry"]')).to_have_class(
        re.compile(r"\bon\b")
    )
    page.click('.eff-switch button[data-by="park"]')
    expect(page.locator("#chart-dist")).to_have_attribute("data-by", "park")
    page.wait_for_function(IDLE)
    chart_drawn(page, "#chart-dist")

    # Filter: grade D only (htmx swaps the table, the address and the export link follow).
    page.locator("#eff-filter label.check", has_text="D").click()
    expect(table_rows(page)).to_have_count(graded_d)
    for i in range(graded_d):
        expect(table_rows(page).nth(i)).to_have_attribute("data-grade", "D")
    expect(page).to_have_url(re.compile(r"grade=D"))
    export = page.locator("#eff-export")
    expect(export).to_have_attribute(
        "href", re.compile(r"export\.xlsx\?year=2024&ruleset=huangyan-2022&grade=D$")
    )
    r = page.request.get(live_server.url + export.get_attribute("href"))
    assert r.status == 200 and "spreadsheetml" in r.headers["content-type"]
    wb = load_workbook(io.BytesIO(r.body()))
    exported = sum(ws.max_row - 1 for ws in wb.worksheets if ws.title != wb.worksheets[-1].title)
    assert exported == graded_d

    # Filter: insufficient data, in a population; then a name search.
    page.locator("#eff-filter label.check", has_text="D").click()
    page.select_option("#f-status", "insufficient_data")
    insufficient = ev.results.filter(status="insufficient_data").count()
    expect(page.locator("#results .result-count strong")).to_have_text(str(insufficient))
    expect(table_rows(page).first).to_have_attribute("data-status", "insufficient_data")
    expect(table_rows(page).first.locator(".eff-missing-item").first).to_be_visible()
    page.select_option("#f-status", "")
    some = ev.results.exclude(name="").order_by("credit_code").first()
    page.fill("#f-q", some.credit_code)
    expect(table_rows(page)).to_have_count(1)
    expect(table_rows(page).first).to_have_attribute("data-code", some.credit_code)
    shoot("efficiency-overview-filtered")

    # Paging: the second page of all results.
    page.goto(f"{live_server.url}/efficiency/?year=2024")
    page.locator("#results .pagination a", has_text="2").first.click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#results .pagination .page.current")).to_have_text("2")
    expect(table_rows(page)).to_have_count(min(50, total - 50))


def test_run_evaluation_as_bureau_not_as_leader(
    page, live_server, sign_in, shoot, demo, zh, no_script_errors
):
    sign_in("bureau")
    page.goto(f"{live_server.url}/efficiency/")
    page.wait_for_function(IDLE)
    expect(page.locator("#eff-run-form")).to_be_visible()
    # Record that the progress line shows while the engine works.
    page.evaluate(
        """() => {
        const el = document.getElementById('eff-run-progress');
        window.__sawProgress = false;
        new MutationObserver(() => { if (!el.hidden) window.__sawProgress = true; })
            .observe(el, {attributes: true});
    }"""
    )
    page.fill("#eff-run-year", "2025")
    page.click("#eff-run-submit")
    result = page.locator("#eff-run-result")
    expect(result).to_be_visible()
    expect(result.locator("[data-run-created]")).to_have_attribute("data-run-created", "1")
    assert page.evaluate("() => window.__sawProgress")
    expect(page.locator("#eff-run-progress")).to_be_hidden()
    assert Evaluation.objects.filter(year=2025).count() == 1
    shoot("efficiency-run-done")
    page.click("#eff-run-show")
    expect(page).to_have_url(re.compile(r"year=2025"))
    expect(page.locator("#eff-year")).to_have_value("2025")
    page.wait_for_function(IDLE)
    expect(page.locator("#chart-trend")).to_have_attribute("data-rendered", "3")

    # Running again on unchanged figures returns the stored evaluation.
    page.fill("#eff-run-year", "2025")
    page.click("#eff-run-submit")
    expect(page.locator("#eff-run-result [data-run-created]")).to_have_attribute(
        "data-run-created", "0"
    )
    assert Evaluation.objects.filter(year=2025).count() == 1
    # An invalid year is refused with the API's message.
    page.fill("#eff-run-year", "1800")
    page.click("#eff-run-submit")
    expect(page.locator("#eff-run-error")).to_be_visible()
    # The browser reports the API's 422 answer as a console error: expected here.
    no_script_errors[:] = [e for e in no_script_errors if "status of 422" not in e]

    # A district leader sees the results, but no run form.
    page.context.clear_cookies()
    sign_in("leader")
    page.goto(f"{live_server.url}/efficiency/")
    expect(table_rows(page).first).to_be_visible()
    expect(page.locator("#eff-run-form")).to_have_count(0)
    expect(page.locator("#eff-run-submit")).to_have_count(0)


def test_empty_state(page, live_server, sign_in, shoot, demo, zh):
    sign_in("leader")
    # No evaluation with the min–max ruleset yet: the page says how to make one.
    page.goto(f"{live_server.url}/efficiency/?ruleset=minmax-2022")
    empty = page.locator("#eff-empty")
    expect(empty).to_be_visible()
    expect(empty.locator(".eff-cli")).to_contain_text(
        "investmap efficiency evaluate --year 2025 --ruleset minmax-2022"
    )
    expect(page.locator("#eff-run-form")).to_have_count(0)
    shoot("efficiency-empty-leader")
    page.context.clear_cookies()
    sign_in("bureau")
    page.goto(f"{live_server.url}/efficiency/?ruleset=minmax-2022")
    expect(page.locator("#eff-empty #eff-run-form")).to_be_visible()
    expect(page.locator("#eff-run-ruleset")).to_have_value("minmax-2022")
    shoot("efficiency-empty-bureau")
    page.click("#eff-run-submit")
    page.click("#eff-run-show")
    expect(page.locator("#eff-empty")).to_have_count(0)
    expect(page.locator("#eff-ruleset")).to_have_value("minmax-2022")
    expect(table_rows(page).first).to_be_visible()


def test_enterprise_page(page, live_server, sign_in, shoot, demo, zh):
    sign_in("officer_t01")
    ev = Evaluation.objects.get(year=2024)
    # A scored enterprise of the officer's own town, reached from the table.
    r = (
        ev.results.filter(status="scored", town__code="T01", population="above")
        .order_by("rank")
        .first()
    )
    page.goto(f"{live_server.url}/efficiency/?year=2024&q={r.credit_code}")
    table_rows(page).first.locator("td.code a").click()
    expect(page).to_have_url(re.compile(rf"/efficiency/enterprises/{r.credit_code}/"))
    assert_chinese(page, zh)
    expect(page.locator("h1")).to_contain_text(r.name)
    expect(page.locator("h1 .eff-grade")).to_have_text(r.grade)
    expect(page.locator('[data-figure="rank"] .value')).to_contain_text(str(r.rank))
    # Both years, the latest first; each indicator with value, benchmark, weight and score.
    years = page.locator(".eff-year")
    expect(years.first).to_have_attribute("data-year", "2024")
    latest = years.first
    tax = latest.locator('tr[data-indicator="tax_per_mu"] td')
    expect(tax.nth(3)).to_have_text("24.097")  # the benchmark of the ruleset
    expect(tax.nth(5)).to_have_text("30")  # its weight
    value = r.indicator_values["tax_per_mu"]
    expect(tax.nth(1)).to_have_text(f"{value:,.4f}".rstrip("0").rstrip("."))
    expect(tax.nth(6)).to_have_text(
        f"{r.indicator_scores['tax_per_mu']:,.2f}".rstrip("0").rstrip(".")
    )
    expect(latest.locator("tbody tr")).to_have_count(6)
    page.wait_for_function(IDLE)
    chart_drawn(page, "#chart-indicators")
    chart_drawn(page, "#chart-history")
    expect(page.locator("#chart-indicators")).to_have_attribute("data-rendered", "6")
    expect(page.locator("#eff-masked-note")).to_have_count(0)
    shoot("efficiency-enterprise")

    # An enterprise of another town: grade and score shown, indicator figures masked.
    other = ev.results.filter(status="scored").exclude(town__code="T01").order_by("rank").first()
    page.goto(f"{live_server.url}/efficiency/enterprises/{other.credit_code}/")
    expect(page.locator("#eff-masked-note")).to_be_visible()
    expect(page.locator(".eff-year").first.locator(".masked").first).to_have_text("***")
    expect(page.locator("#chart-indicators")).to_have_count(0)
    chart_drawn(page, "#chart-history")
    shoot("efficiency-enterprise-masked")


MAP_LOADED = "() => { const m = window.investmapEfficiency.map; return m && m.state.loads > 0 && !m.state.loading; }"


def map_settled(page):
    """The map's state once its loads are done (debounced reloads after layout included),
    with the number of parcel paths drawn."""
    page.wait_for_function(MAP_LOADED)
    page.wait_for_timeout(500)  # the moveend debounce is 250 ms
    page.wait_for_function(f"() => ({MAP_LOADED})() && window.investmapEfficiency.idle()")
    return page.evaluate(
        """() => ({...window.investmapEfficiency.map.state,
        paths: document.querySelectorAll('#eff-map path.leaflet-interactive').length})"""
    )


def test_map_page(page, live_server, sign_in, shoot, demo, zh):
    sign_in("leader")
    page.goto(f"{live_server.url}/efficiency/map/")
    assert_chinese(page, zh)
    state = map_settled(page)
    assert state["drawn"] > 10, state
    assert state["paths"] == state["drawn"], state
    # The legend comes from the answer: four grades and the two idle reasons.
    legend = page.locator("#eff-map-legend")
    expect(legend.locator("[data-legend]")).to_have_count(6)
    expect(legend.locator('[data-legend="A"]')).to_be_visible()
    expect(page.locator("#eff-map-eval")).to_contain_text("2024")
    shoot("efficiency-map")

    # A parcel's popup: its code and grade (or idle reason).
    page.evaluate(
        """() => {
        const l = window.investmapEfficiency.map.layer.getLayers()[0];
        l.openPopup();
    }"""
    )
    popup = page.locator(".leaflet-popup .eff-popup")
    expect(popup).to_be_visible()
    # Leaflet fades the popup in: wait until it is fully shown before the screenshot.
    page.wait_for_function(
        "() => { const p = document.querySelector('.leaflet-popup');"
        " return p && getComputedStyle(p).opacity === '1' && window.investmapEfficiency.idle(); }"
    )
    code = popup.get_attribute("data-code")
    assert Parcel.objects.filter(code=code).exists()
    shoot("efficiency-map-popup")

    # Zooming in reloads the parcels of the new view (bbox).
    loads = state["loads"]
    page.evaluate(
        "() => window.investmapEfficiency.map.map.setZoom(window.investmapEfficiency.map.map.getZoom() + 2)"
    )
    page.wait_for_function(
        f"() => {{ const s = window.investmapEfficiency.map.state; return s.loads > {loads} && !s.loading; }}"
    )
    zoomed = map_settled(page)
    assert zoomed["total"] <= state["total"]

    # Another year.
    page.select_option("#eff-year", "2023")
    expect(page).to_have_url(re.compile(r"year=2023"))
    map_settled(page)
    expect(page.locator("#eff-map-eval")).to_contain_text("2023")


def test_land_page_dry_run_then_apply(page, live_server, sign_in, shoot, demo, zh):
    sign_in("bureau")
    page.goto(f"{live_server.url}/efficiency/land/?as_of={AS_OF}")
    assert_chinese(page, zh)
    idle = services.idle_land(as_of=AS_OF, scope=scope_for(demo["users"]["bureau"]))
    expect(page.locator('[data-figure="idle-count"] .value')).to_have_text(str(idle["count"]))
    expect(page.locator("#eff-idle-table tbody tr[data-parcel]")).to_have_count(idle["count"])
    first = idle["results"][0]
    row = page.locator(f'#eff-idle-table tr[data-parcel="{first["parcel"]}"]')
    expect(row).to_contain_text(first["reason_label"])
    expect(row).to_contain_text(first["idle_since"])
    expect(page.locator("#eff-low-table tbody tr[data-parcel]").first).to_be_visible()
    expect(page.locator("#eff-apply")).to_be_visible()

    # Preview: the proposed changes, and nothing saved yet.
    before = dict(Parcel.objects.values_list("code", "status"))
    page.click("#eff-preview")
    preview = page.locator("#eff-apply-preview")
    expect(preview).to_be_visible()
    changes = page.locator("#eff-apply-table tbody tr")
    expect(changes.first).to_be_visible()
    n = changes.count()
    assert n > 0
    code = changes.first.get_attribute("data-parcel")
    assert dict(Parcel.objects.values_list("code", "status")) == before
    assert not LandStatusChange.objects.exists()
    shoot("efficiency-land-preview")

    # Cancel hides the preview; preview again, then apply.
    page.click("#eff-apply-cancel")
    expect(preview).to_be_hidden()
    page.click("#eff-preview")
    expect(preview).to_be_visible()
    page.click("#eff-apply-confirm")
    expect(page.locator("#eff-apply-done")).to_be_visible()
    expect(preview).to_be_hidden()
    assert LandStatusChange.objects.filter(reverted_at=None).count() == n
    assert Parcel.objects.get(code=code).status != before[code]
    shoot("efficiency-land-applied")

    # Nothing left to change.
    page.click("#eff-preview")
    expect(page.locator("#eff-apply-summary")).to_have_text(zh("No parcel status would change."))
    expect(page.locator("#eff-apply-confirm")).to_be_hidden()

    # A district leader sees the lists but not the action.
    page.context.clear_cookies()
    sign_in("leader")
    page.goto(f"{live_server.url}/efficiency/land/?as_of={AS_OF}")
    expect(page.locator("#eff-idle-table tbody tr[data-parcel]").first).to_be_visible()
    expect(page.locator("#eff-apply")).to_have_count(0)
    shoot("efficiency-land-leader")


def test_rulesets_pages_and_english(page, live_server, sign_in, shoot, demo, zh):
    sign_in("leader")
    page.goto(f"{live_server.url}/efficiency/rulesets/")
    assert_chinese(page, zh)
    cards = page.locator(".eff-ruleset-card")
    expect(cards).to_have_count(3)
    expect(page.locator('[data-ruleset="huangyan-2022"]')).to_contain_text(
        "黄岩区2022年度工业企业亩均效益综合评价"
    )
    shoot("efficiency-rulesets")
    page.locator('[data-ruleset="minmax-2022"] .card-title a').click()
    expect(page).to_have_url(re.compile(r"/efficiency/rulesets/minmax-2022/$"))
    above = page.locator('[data-population="above"]')
    expect(above.locator('tr[data-indicator="tax_per_mu"]')).to_contain_text(
        "tax_wan / land_area_mu"
    )
    expect(above.locator(".eff-groups tbody tr")).to_have_count(5)
    expect(above.locator(".eff-deductions")).to_contain_text("max(tenants - 1, 0) * 5")
    expect(page.locator('[data-population="below"] .eff-bands tbody tr')).to_have_count(4)
    expect(page.locator("#eff-yaml")).to_contain_text("name: minmax-2022")
    shoot("efficiency-ruleset-detail")

    # The same pages in English (the language switch in the top bar).
    page.goto(f"{live_server.url}/efficiency/rulesets/huangyan-2022/")
    page.select_option("#lang-select", "en")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text(
        "Huangyan District industrial enterprise per-mu evaluation, data year 2022"
    )
    expect(
        page.locator('[data-population="above"] tr[data-indicator="tax_per_mu"]')
    ).to_contain_text("Tax per mu")
    page.goto(f"{live_server.url}/efficiency/")
    expect(page.locator("h1")).to_have_text("Per-mu efficiency evaluation")
    page.wait_for_function(IDLE)
    chart_drawn(page, "#chart-dist")
    shoot("efficiency-overview-en")


def test_no_data_role_is_refused(page, live_server, sign_in, demo, zh, no_script_errors):
    sign_in("enterprise")
    for url in ("/efficiency/", "/efficiency/map/", "/efficiency/land/"):
        r = page.goto(f"{live_server.url}{url}")
        assert r.status == 403
        expect(page.locator("h1")).to_have_text(
            zh("Your role has no access to the resource library")
        )
    assert Enterprise.objects.exists() and EvaluationResult.objects.exists()
    no_script_errors[:] = [e for e in no_script_errors if "status of 403" not in e]
