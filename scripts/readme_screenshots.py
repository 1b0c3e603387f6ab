"""Take the README screenshots from a running demo (`make demo`) with Debian's Chromium.

.venv/bin/python scripts/readme_screenshots.py --url http://127.0.0.1:8000 --user admin --password …
"""

import argparse
import json
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", required=True)
    ap.add_argument(
        "--only",
        default="map,parcels,matching,efficiency,projects",
        help="comma-separated shots to take",
    )
    a = ap.parse_args()
    only = set(a.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
        page.goto(f"{a.url}/login/")
        page.fill("input[name=username]", a.user)
        page.fill("input[name=password]", a.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{a.url}/")
        if "map" in only:
            shoot_map(page, a.url)
        if "parcels" in only:
            page.goto(f"{a.url}/parcels/?status=idle")
            page.wait_for_timeout(2500)
            page.screenshot(path=str(OUT / "parcels.png"))
        if "matching" in only:
            shoot_matching(page, a.url)
        if "efficiency" in only:
            shoot_efficiency(page, a.url)
        if "projects" in only:
            shoot_projects(page, a.url)
        if "policies" in only:
            shoot_policies(page, a.url)
        browser.close()


def shoot_map(page, url: str) -> None:
    page.wait_for_function(
        "window.investmapMap && window.investmapMap.idle && window.investmapMap.idle()",
        timeout=60000,
    )
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / "map.png"))
    # Street level: parcels one by one around the first metro station.
    page.evaluate("""async () => {
        const r = await fetch('/api/v1/pois?category=metro_station&page_size=1');
        const s = (await r.json()).items[0];
        window.investmapMap.map.setView([s.lat, s.lon], 16);
    }""")
    page.wait_for_timeout(800)
    page.wait_for_function("window.investmapMap.idle()", timeout=60000)
    page.wait_for_timeout(1200)
    page.screenshot(path=str(OUT / "map-street.png"))


def shoot_matching(page, url: str) -> None:
    # Site matching: a demand that needs combinations of adjacent parcels.
    demand = json.dumps(
        {
            "area_mu_min": 100,
            "area_mu_max": 130,
            "land_use": ["M1", "M2"],
            "max_parcels": 4,
            "near": [
                {"category": "metro_station", "within_m": 3000},
                {"category": "talent_housing", "weight": 1},
            ],
        }
    )
    page.goto(f"{url}/match/?demand={quote(demand)}")
    page.wait_for_selector("#match-results .match-result", timeout=60000)
    page.locator("#match-results .match-result .mr-head").first.click()
    page.wait_for_function("window.investmapMatch.idle()", timeout=60000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / "matching.png"))


def shoot_efficiency(page, url: str) -> None:
    """The 亩均 overview (charts and the top of the table) and the map by grade."""
    page.goto(f"{url}/efficiency/")
    page.wait_for_selector("#chart-dist canvas", timeout=60000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(OUT / "efficiency.png"), full_page=False)
    page.goto(f"{url}/efficiency/map/")
    page.wait_for_timeout(6000)
    page.screenshot(path=str(OUT / "efficiency-map.png"))


def shoot_projects(page, url: str) -> None:
    """The project library: the list, the board by stage, the largest project's file and
    the overview charts."""
    page.goto(f"{url}/projects/")
    page.wait_for_selector("#pj-table", timeout=60000)
    page.screenshot(path=str(OUT / "projects-list.png"), full_page=False)
    page.goto(f"{url}/projects/board/")
    page.wait_for_selector("#pj-board", timeout=60000)
    page.screenshot(path=str(OUT / "projects-board.png"), full_page=False)
    largest = page.evaluate("""async () => {
        const r = await fetch('/api/v1/projects?order=investment&size=1');
        const items = (await r.json()).items || [];
        return items.length ? items[0].code : null;
    }""")
    if largest:
        page.goto(f"{url}/projects/{quote(largest)}/")
        page.wait_for_selector("#pj-path", timeout=60000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(OUT / "projects-file.png"), full_page=False)
    page.goto(f"{url}/projects/overview/")
    page.wait_for_selector("#chart-groups canvas", timeout=60000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / "projects-overview.png"), full_page=False)


def shoot_policies(page, url: str) -> None:
    """The policy library: a search, the first hit's page with who matches it, and the digest."""
    page.goto(f"{url}/policies/?q={quote('高新技术企业')}")
    page.wait_for_selector("#po-hits", timeout=60000)
    page.screenshot(path=str(OUT / "policies-search.png"), full_page=False)
    first = page.locator(".po-hit").first
    if first.count():
        page.goto(f"{url}/policies/{quote(first.get_attribute('data-code'))}/")
        page.wait_for_selector("#matches", timeout=120000)
        page.screenshot(path=str(OUT / "policies-detail.png"), full_page=False)
    page.goto(f"{url}/policies/digest/")
    page.wait_for_selector("#po-digest-total", timeout=60000)
    page.screenshot(path=str(OUT / "policies-digest.png"), full_page=False)


if __name__ == "__main__":
    main()
