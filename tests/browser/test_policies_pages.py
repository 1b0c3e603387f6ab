"""The policy library in headless Chromium: search with a typo and filters, the policy page
with who matches it, the enterprise's policy view, the digest, and scope.
Screenshots: test-artifacts/screenshots/policies-*.png."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from investmap.policies import engine, services
from investmap.policies.document import EXAMPLES_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
E1, E2 = "91310000MA1FL00001", "91310000MA1FL00002"
DAY = "2026-06-01"


@pytest.fixture
def examples(district, users):
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        report = services.import_policies(
            content=path.read_bytes(), filename=path.name, user=users["bureau"]
        )
        assert not report["errors"], report["errors"]


def test_search_page(page, live_server, log_in, shoot, examples, zh):
    log_in("officer_t01")
    page.goto(f"{live_server.url}/policies/?as_of={DAY}")
    expect(page.locator(".mainnav a.active")).to_have_text(zh("Policies"))
    hits = page.locator(".po-hit")
    expect(hits.first).to_be_visible()
    total = hits.count()
    page.fill("#f-q", "高薪技术企业")  # a wrong character: 薪 for 新
    page.click("#po-filter button[type=submit]")
    expect(hits.first).to_have_attribute("data-code", "KJ-2025-01")
    expect(hits.first.locator("mark").first).to_be_visible()
    shoot("policies-search")
    page.check("input[name=validity][value=not_yet]")
    page.click("#po-filter button[type=submit]")
    expect(page.locator(".po-hit[data-validity=in_force]")).to_have_count(0)
    page.goto(f"{live_server.url}/policies/?as_of={DAY}&tags=talent")
    expect(hits).to_have_count(1)
    assert hits.count() < total
    # The top bar still fits at 1440px with the new entry.
    width = page.evaluate("() => document.querySelector('.topbar').scrollWidth")
    assert width <= 1440


def test_policy_page(page, live_server, log_in, shoot, examples, zh):
    log_in("bureau")
    page.goto(f"{live_server.url}/policies/?as_of={DAY}")
    page.click(".po-hit[data-code=KJ-2025-01] .po-hit-title")
    expect(page).to_have_url(f"{live_server.url}/policies/KJ-2025-01/?as_of={DAY}")
    expect(page.locator("#po-validity")).to_have_attribute("data-validity", "in_force")
    expect(page.locator("#po-conditions li").first).to_contain_text(zh("certifications"))
    expect(page.locator("#po-manual li").first).to_be_visible()
    expect(page.locator(".po-versions tr[data-version='1']")).to_be_visible()
    expect(page.locator(f"#po-matches tr[data-credit-code='{E1}']")).to_have_attribute(
        "data-result", "eligible"
    )
    expect(page.locator(f"#po-matches tr[data-credit-code='{E2}'] .po-why")).to_contain_text(
        zh("misses only:")
    )
    expect(page.locator(".po-sum[data-key=eligible] b")).to_have_text("1")
    shoot("policies-detail")
    page.click(".po-sum[data-key=near_miss]")
    expect(page.locator("#po-matches tbody tr")).to_have_count(1)
    expect(page.locator(f"#po-matches tr[data-credit-code='{E2}']")).to_be_visible()
    page.fill("#p-as-of", "2028-01-01")
    page.click(".po-period button[type=submit]")
    expect(page.locator("#po-out-of-force")).to_be_visible()
    expect(page.locator("#po-validity")).to_have_attribute("data-validity", "expired")


def test_enterprise_view(page, live_server, log_in, shoot, examples, zh):
    log_in("officer_t01")
    page.goto(f"{live_server.url}/enterprises/{E1}/")
    page.click("#enterprise-policies")
    expect(page).to_have_url(f"{live_server.url}/policies/enterprises/{E1}/")
    page.fill("#e-as-of", DAY)
    page.click(".po-period button[type=submit]")
    expect(page.locator("#eligible tr[data-policy='KJ-2025-01']")).to_be_visible()
    expect(page.locator("#ineligible tr").first).to_be_hidden()  # collapsed
    shoot("policies-enterprise")
    page.click("#ineligible summary")
    if page.locator("#ineligible tbody tr").count():
        expect(page.locator("#ineligible tbody tr").first).to_be_visible()


def test_digest(page, live_server, log_in, shoot, examples, zh):
    engine.refresh(as_of=dt.date(2026, 6, 1))
    log_in("bureau")
    page.goto(f"{live_server.url}/policies/digest/")
    block = page.locator(".po-digest[data-policy='KJ-2025-01']")
    expect(block.locator(f"li[data-credit-code='{E1}']").first).to_be_visible()
    expect(block.locator(f".po-near li[data-credit-code='{E2}']")).to_be_visible()
    shoot("policies-digest")
    page.fill("#d-days", "0")
    page.click(".po-period button[type=submit]")
    expect(page.locator("#po-digest-empty")).to_be_visible()


def test_scope(page, live_server, log_in, examples, no_script_errors):
    log_in("officer_t02")
    page.goto(f"{live_server.url}/policies/KJ-2025-01/?as_of={DAY}")
    expect(page.locator("#po-matches tbody tr")).to_have_count(1)
    expect(page.locator(f"#po-matches tr[data-credit-code='{E2}']")).to_be_visible()
    r = page.goto(f"{live_server.url}/policies/enterprises/{E1}/")
    assert r.status == 404
    no_script_errors[:] = [e for e in no_script_errors if "status of 404" not in e]
