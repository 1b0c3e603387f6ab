"""The site-matching page in headless Chromium: run the default demand, open a
result (reasons, map highlight, surroundings), field errors, export, save and
reload a candidate list. Screenshots: test-artifacts/screenshots/match-*.png."""

import io
import json
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from investmap.resources.models import Parcel
from investmap.resources.spatial import mu, shape_fields

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IDLE = "() => window.investmapMatch && window.investmapMatch.idle()"


def square(lon, lat, size):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


def add_parcel(district, code, geometry, **fields):
    shape = shape_fields([json.dumps(geometry)])[0]
    names = {f.name for f in Parcel._meta.fields}
    p = Parcel(
        code=code,
        town=district["towns"]["T01"],
        park=district["park"],
        status="available",
        **fields,
        **{k: v for k, v in shape.items() if k in names},
    )
    p.area_mu = mu(p.area_m2)
    p.save()


@pytest.fixture
def sites(district):
    """The default demand (30–60 mu of M1/M2 within 3 km of a metro station) finds a
    40-mu parcel and a combination of two adjacent 23-mu parcels in park P01."""
    add_parcel(
        district, "P-012", square(121.030, 31.032, 0.0016), name="科创园十二号", land_use="M1"
    )
    add_parcel(
        district,
        "P-010",
        square(121.026, 31.026, 0.0012),
        name="十号",
        land_use="M2",
        price_wan=800,
    )
    add_parcel(
        district,
        "P-011",
        square(121.0272, 31.026, 0.0012),
        name="十一号",
        land_use="M2",
        price_wan=750,
    )
    return district


def results(page):
    return page.locator("#match-results .match-result")


def test_match_page(page, live_server, log_in, shoot, sites, no_script_errors, zh):
    log_in("bureau")
    page.goto(f"{live_server.url}/match/")
    expect(page.locator("#demand-form")).to_be_visible()
    # The default demand is in the form.
    expect(page.locator("#f-area_mu_min")).to_have_value("30")
    expect(page.locator("#f-area_mu_max")).to_have_value("60")
    expect(page.locator('input[name=land_use][value="M1"]')).to_be_checked()
    expect(page.locator('input[name=status][value="idle"]')).to_be_checked()
    expect(page.locator("[data-near-row]")).to_have_count(1)
    expect(page.locator('[data-near-row] [data-near="within_m"]')).to_have_value("3000")
    page.wait_for_function("() => window.investmapMatch.map.getZoom() > 0")
    shoot("match-empty")

    page.click("#match-submit")
    expect(results(page)).to_have_count(2)
    expect(page.locator("#match-total")).to_have_text("2")
    expect(page.locator('[data-kind-count="parcel"]')).to_contain_text("1")
    expect(page.locator('[data-kind-count="combination"]')).to_contain_text("1")
    ranked = [results(page).nth(i).get_attribute("data-kind") for i in range(2)]
    assert sorted(ranked) == ["combination", "parcel"]
    combo = page.locator('.match-result[data-kind="combination"]')
    expect(combo.locator(".mr-name")).to_contain_text("P-010")
    expect(combo.locator(".mr-name")).to_contain_text("P-011")
    # Both outlines are on the map (the combination as one shape).
    page.wait_for_function("() => window.investmapMatch.drawn().results === 2")
    # The address now holds the demand: the view is a link.
    assert "demand=" in page.url

    # Open the first result: its reasons, the highlight and the POIs around it.
    first = results(page).first
    first.locator(".mr-head").click()
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    expect(first.locator(".mr-detail")).to_be_visible()
    expect(first.locator(".reason.met").first).to_be_visible()
    expect(first.locator('.reason[data-criterion="area"] .reason-added')).to_have_text(
        re.compile(r"^\+\d\.\d\d$")
    )
    expect(first.locator('.reason[data-criterion="near"]')).to_contain_text(
        zh("%(km).1f km") % {"km": 3.0}
    )
    expect(first.locator('.surround-counts li[data-category="metro_station"]')).to_be_visible()
    page.wait_for_function(IDLE)
    drawn = page.evaluate("() => window.investmapMatch.drawn()")
    assert drawn["highlight"] == 1 and drawn["pois"] >= 2  # metro station and school
    expect(page.locator("#surround-legend")).to_be_visible()
    shoot("match-results")

    # Clicking the other result's outline on the map selects it in the list.
    page.evaluate(
        "() => { const s = window.investmapMatch; s.select(2, {fit: true, scroll: true}); }"
    )
    expect(results(page).nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(results(page).first).not_to_have_class(re.compile(r"\bselected\b"))
    page.wait_for_function(IDLE)

    # Export Excel: the download holds the same two rows.
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    download = dl.value
    assert download.suggested_filename.endswith(".xlsx")
    ws = load_workbook(io.BytesIO(open(download.path(), "rb").read())).active
    sites_col = [row[2].value for row in ws.iter_rows(min_row=2)]
    assert sorted(sites_col) == ["P-010 + P-011", "P-012"]
    with page.expect_download() as dl:
        page.click("#export-pdf")
    assert dl.value.suggested_filename.endswith(".pdf")
    assert open(dl.value.path(), "rb").read(4) == b"%PDF"

    # Save as candidate sites: a name, a confirmation with a link, the list below the form.
    page.click("#save-open")
    expect(page.locator("#save-dialog")).to_be_visible()
    page.fill("#save-name", "新能源电池项目")
    page.click("#save-submit")
    expect(page.locator("#save-dialog")).to_be_hidden()
    expect(page.locator("#save-confirm")).to_be_visible()
    expect(page.locator("#save-confirm")).to_contain_text("新能源电池项目")
    link = page.locator("#saved-link")
    expect(link).to_have_attribute("href", re.compile(r"^/match/\?list=\d+$"))
    saved_href = link.get_attribute("href")
    expect(page.locator("#saved-list-items li").first).to_contain_text("新能源电池项目")
    shoot("match-saved")

    # A demand the server refuses: the message is next to the field.
    page.fill("#f-area_mu_min", "80")
    page.fill("#f-area_mu_max", "40")
    page.click("#match-submit")
    error = page.locator('[data-error-for="area_mu_min"]')
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("#f-area_mu_min")).to_have_attribute("aria-invalid", "true")
    shoot("match-errors", full_page=False)
    # The browser logs the 422 answer; it was expected.
    no_script_errors[:] = [e for e in no_script_errors if "422" not in e]

    # Loading the saved list puts its demand back and runs it.
    page.locator("#saved-list-items [data-load-list]").first.click()
    expect(page.locator("#f-area_mu_min")).to_have_value("30")
    expect(error).to_be_hidden()
    expect(results(page)).to_have_count(2)

    # The confirmation's link opens the page with the list's demand and runs it at once.
    page.goto(live_server.url + saved_href)
    expect(page.locator(".loaded-note")).to_contain_text("新能源电池项目")
    expect(results(page)).to_have_count(2)
    page.wait_for_function("() => window.investmapMatch.drawn().results === 2")


def test_floor_space_demand_from_the_address(page, live_server, log_in, shoot, sites):
    log_in("officer_t01")
    demand = {
        "floor_m2_min": 1000,
        "floor_load_min_kn_m2": 4,
        "near": [{"category": "school", "weight": 2}],
    }
    page.goto(f"{live_server.url}/match/?demand={json.dumps(demand)}")
    expect(page.locator("#want-floor")).to_be_checked()
    expect(page.locator("#mf-floor")).to_be_visible()
    expect(page.locator("#mf-land")).to_be_hidden()
    expect(page.locator('[data-near-row] [data-near="mode"]')).to_have_value("preferred")
    expect(results(page)).to_have_count(1)
    result = results(page).first
    expect(result).to_have_attribute("data-kind", "floor_space")
    expect(result).to_contain_text("B-001")
    result.locator(".mr-head").click()
    expect(result.locator('.reason[data-criterion="floor_load"]')).to_be_visible()
    expect(result.locator(".surround-counts li").first).to_be_visible()
    page.wait_for_function(IDLE)
    shoot("match-floor-space")
