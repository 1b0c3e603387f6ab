"""List, record and town/park pages in headless Chromium, with screenshots."""

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

E1 = "91310000MA1FL00001"
E2 = "91310000MA1FL00002"

MAP_DRAWN = """(id) => {
    const m = window.investmapMaps && window.investmapMaps[id];
    if (!m) return false;
    const layers = m.layer ? [m.layer] : Object.values(m.layers);
    return layers.every(l => !l.state.loading) && layers.some(l => l.state.drawn > 0);
}"""


def rows(page):
    return page.locator("#result-table tbody tr:not(:has(td.empty))")


def test_list_pages_filter_export_and_map(page, live_server, log_in, shoot, zh):
    log_in("bureau")

    # Parcels: three rows, a map of the results, then filter by status with htmx.
    page.goto(f"{live_server.url}/parcels/")
    expect(rows(page)).to_have_count(3)
    expect(page.locator(".result-count strong")).to_have_text("3")
    page.wait_for_function(MAP_DRAWN, arg="list-map")
    expect(page.locator("#list-map-legend")).to_contain_text(zh("Idle"))
    shoot("list-parcels")

    before = page.evaluate(
        "() => performance.getEntriesByType('navigation').length + ':' + window.performance.timeOrigin"
    )
    page.locator("label.check", has_text=zh("Idle")).click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("P-002")
    expect(page).to_have_url(re.compile(r"/parcels/\?status=idle$"))
    # htmx swapped the results: no page load happened.
    after = page.evaluate(
        "() => performance.getEntriesByType('navigation').length + ':' + window.performance.timeOrigin"
    )
    assert before == after
    export = page.locator("a[data-export=xlsx]")
    expect(export).to_have_attribute("href", "/api/v1/parcels/export.xlsx?status=idle")
    # The map follows the filter: one parcel in the results layer.
    page.wait_for_function(
        "() => { const m = window.investmapMaps['list-map']; return m.query === 'status=idle' && !m.layer.state.loading && m.layer.state.total === 1; }"
    )
    shoot("list-parcels-idle")

    # The export link returns the filtered list as an Excel workbook.
    r = page.request.get(live_server.url + export.get_attribute("href"))
    assert r.status == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.body())).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert len(values) == 2 and "P-002" in values[1]
    r = page.request.get(
        live_server.url + page.locator("a[data-export=geojson]").get_attribute("href")
    )
    assert r.status == 200 and [f["properties"]["code"] for f in r.json()["features"]] == ["P-002"]

    # Sorting by area (largest first) through the table header, still without a reload.
    page.goto(f"{live_server.url}/parcels/")
    header = page.locator("#result-table th a", has_text=zh("Area (mu)"))
    header.click()
    expect(page).to_have_url(re.compile(r"sort=area_mu"))
    page.locator("#result-table th a", has_text=zh("Area (mu)")).click()
    expect(page).to_have_url(re.compile(r"sort=-area_mu"))
    expect(rows(page).first).to_contain_text("P-003")

    # Town select filters buildings; a free-text search filters enterprises.
    page.goto(f"{live_server.url}/buildings/")
    expect(rows(page)).to_have_count(1)
    page.wait_for_function(MAP_DRAWN, arg="list-map")
    shoot("list-buildings")
    page.select_option("#f-town", "T02")
    expect(page.locator("#result-table td.empty")).to_be_visible()
    expect(page.locator(".result-count strong")).to_have_text("0")

    page.goto(f"{live_server.url}/pois/")
    expect(rows(page)).to_have_count(3)
    page.wait_for_function(MAP_DRAWN, arg="list-map")
    shoot("list-pois")
    page.locator("label.check", has_text=zh("Hospital")).click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("西山医院")

    page.goto(f"{live_server.url}/enterprises/")
    expect(rows(page)).to_have_count(2)
    page.wait_for_function(MAP_DRAWN, arg="list-map")
    shoot("list-enterprises")
    page.fill("#f-q", "精密")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("西山精密机械有限公司")

    page.goto(f"{live_server.url}/teams/")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#list-map")).to_have_count(0)
    shoot("list-teams")

    # The language switcher posts to /i18n/setlang/ and comes back to the same page.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    with page.expect_navigation():
        page.select_option("#lang-select", "en")
    expect(page).to_have_url(re.compile(r"/teams/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_town_officer_sees_other_towns_masked(page, live_server, log_in, shoot, zh):
    log_in("officer_t01")
    page.goto(f"{live_server.url}/enterprises/")
    expect(rows(page)).to_have_count(2)
    expect(page.locator(".masked-note")).to_be_visible()
    other = rows(page).filter(has_text=E2)
    expect(other).to_contain_text("139****4321")
    expect(other.locator(".masked").first).to_be_visible()
    own = rows(page).filter(has_text=E1)
    expect(own).to_contain_text("13812345678")
    page.wait_for_function(MAP_DRAWN, arg="list-map")
    shoot("list-enterprises-officer")

    page.goto(f"{live_server.url}/enterprises/{E2}/")
    expect(page.locator("dd[data-key=contact_phone]")).to_have_text("139****4321")
    expect(page.locator("dd[data-key=tax_wan] .masked")).to_be_visible()
    expect(page.locator("#indicators .masked-note")).to_be_visible()
    expect(page.locator("#indicator-table thead")).not_to_contain_text(zh("Tax"))
    page.wait_for_function("() => document.querySelector('#indicator-chart canvas') !== null")
    shoot("enterprise-masked")


def test_record_pages(page, live_server, log_in, shoot, zh):
    log_in("leader")

    page.goto(f"{live_server.url}/parcels/P-001/")
    expect(page.locator("h1")).to_contain_text("科创园一号地块")
    expect(page.locator("dd[data-key=status]")).to_contain_text(zh("Available"))
    expect(page.locator("#related-buildings tbody tr")).to_have_count(1)
    expect(page.locator("#related-enterprises")).to_contain_text("东湖新能源科技有限公司")
    expect(page.locator("#nearby")).to_contain_text("东湖站")
    page.wait_for_function(MAP_DRAWN, arg="record-map")
    shoot("detail-parcel")
    # "Show on the map": the map opens at the parcel's park with its popup.
    page.click("a[data-show-on-map]")
    expect(page.locator("#panel-body .feature-panel[data-code='P-001']")).to_be_visible()
    expect(page.locator(".leaflet-popup .popup[data-code='P-001']")).to_be_visible()
    page.wait_for_function("() => window.investmapMap.idle()")

    page.goto(f"{live_server.url}/buildings/B-001/")
    expect(page.locator("h1")).to_contain_text("科创大厦")
    expect(page.locator("dd[data-key=vacant_floor_m2]")).to_have_text("3,500")
    expect(page.locator("#related-enterprises")).to_contain_text("东湖新能源科技有限公司")
    page.wait_for_function(MAP_DRAWN, arg="record-map")
    shoot("detail-building")

    page.goto(f"{live_server.url}/enterprises/{E1}/")
    expect(page.locator("h1")).to_contain_text("东湖新能源科技有限公司")
    expect(page.locator("dd[data-key=contact_phone]")).to_have_text("13812345678")
    expect(page.locator("#indicator-table tbody tr")).to_have_count(2)
    expect(page.locator("#indicator-table thead")).to_contain_text(zh("Tax"))
    page.wait_for_function(
        "() => document.getElementById('indicator-chart').dataset.rendered === '2'"
    )
    expect(page.locator("#related-parcel")).to_contain_text("P-001")
    page.wait_for_function(MAP_DRAWN, arg="record-map")
    shoot("detail-enterprise")

    page.goto(f"{live_server.url}/teams/TEAM-T01/")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    expect(page.locator("#members")).to_contain_text("13700001111")
    shoot("detail-team")

    page.goto(f"{live_server.url}/pois/POI-M1/")
    expect(page.locator("h1")).to_contain_text("东湖站")
    page.wait_for_function(MAP_DRAWN, arg="record-map")
    shoot("detail-poi")

    # Town page: key figures, the land-by-status and land-use charts, its park, a map.
    page.goto(f"{live_server.url}/towns/T01/")
    expect(page.locator("h1")).to_contain_text("东湖镇")
    expect(page.locator("[data-figure=enterprises] .value")).to_have_text("1")
    expect(page.locator("[data-figure=tax] .value")).to_contain_text("2,100")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart-src]')].every(el => el.querySelector('canvas'))"
    )
    expect(page.locator(".children-list a.child")).to_have_count(1)
    page.wait_for_function(MAP_DRAWN, arg="place-map")
    shoot("town")
    page.locator(".children-list a.child").click()
    expect(page).to_have_url(re.compile(r"/parks/P01/$"))
    expect(page.locator("h1")).to_contain_text("东湖科创园")
    expect(page.locator(".breadcrumbs")).to_contain_text("东湖镇")
    page.wait_for_function(MAP_DRAWN, arg="place-map")
    shoot("park")


def test_unknown_code_shows_404(page, live_server, log_in, shoot, no_script_errors):
    log_in("leader")
    response = page.goto(f"{live_server.url}/parcels/NO-SUCH/")
    assert response.status == 404
    expect(page.locator(".notice-page h1")).to_be_visible()
    shoot("404")
    no_script_errors[:] = [e for e in no_script_errors if "status of 404" not in e]
