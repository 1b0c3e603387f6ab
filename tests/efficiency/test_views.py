"""The efficiency pages through Django's test client: who may open them, what they show,
the results filters, and 404 for what does not exist. (Browser tests with charts, the
map and the land-status preview: tests/browser/test_efficiency_pages.py.)"""

import re

import pytest
from django.test import Client

from investmap.core.scope import scope_for
from investmap.efficiency import services
from investmap.efficiency.models import Evaluation

E1 = "91310000MA1FL00001"
E2 = "91310000MA1FL00002"

PAGES = [
    "/efficiency/",
    f"/efficiency/enterprises/{E1}/",
    "/efficiency/map/",
    "/efficiency/land/",
    "/efficiency/rulesets/",
    "/efficiency/rulesets/huangyan-2022/",
]


def client_for(user=None, lang=None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    if lang:
        c.cookies["django_language"] = lang
    return c


@pytest.fixture
def evaluated(district, users):
    """2023 and 2024 evaluated with the default ruleset (the engine reads committed rows)."""
    scope = scope_for(users["bureau"])
    for year in (2023, 2024):
        services.evaluate(year=year, scope=scope, user=users["bureau"])
    return district


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", PAGES)
def test_pages_open_for_an_officer(evaluated, users, url):
    r = client_for(users["officer_t01"]).get(url)
    assert r.status_code == 200, url
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.content.decode()
    assert '<html lang="zh-hans">' in html
    assert 'href="/efficiency/"' in html  # the nav entry


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_go_to_the_login_page(district, url):
    r = Client().get(url)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("role", ["enterprise", "sysadmin", "auditor"])
def test_roles_without_business_data_are_refused(district, users, url, role, zh):
    r = client_for(users[role]).get(url)
    assert r.status_code == 403
    assert zh("Your role has no access to the resource library") in r.content.decode()
    assert 'href="/efficiency/"' not in r.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/efficiency/enterprises/NO-SUCH-CODE/",
        "/efficiency/rulesets/no-such-ruleset/",
        "/efficiency/rulesets/huangyan-2022/?version=99",
        "/efficiency/rulesets/huangyan-2022/?version=abc",
    ],
)
def test_unknown_enterprise_or_ruleset_is_404(district, users, url):
    assert client_for(users["officer_t01"]).get(url).status_code == 404


@pytest.mark.django_db
def test_empty_state_says_how_to_evaluate(district, users):
    assert not Evaluation.objects.exists()
    bureau = client_for(users["bureau"]).get("/efficiency/").content.decode()
    assert 'id="eff-empty"' in bureau
    assert 'id="eff-run-form"' in bureau  # the bureau may run one here
    assert "investmap efficiency evaluate --year 2024 --ruleset huangyan-2022" in bureau
    leader = client_for(users["leader"]).get("/efficiency/").content.decode()
    assert 'id="eff-empty"' in leader
    assert 'id="eff-run-form"' not in leader
    assert "investmap efficiency evaluate --year 2024" in leader
    # The map and the land page work without an evaluation too.
    for url in ("/efficiency/map/", "/efficiency/land/"):
        assert client_for(users["leader"]).get(url).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_overview_figures_table_and_filters(evaluated, users):
    c = client_for(users["bureau"])
    html = c.get("/efficiency/").content.decode()
    assert 'id="eff-empty"' not in html
    assert '<option value="2024" selected>' in html
    assert 'id="eff-run-form"' in html
    assert 'id="chart-dist"' in html and 'id="chart-trend"' in html
    # Both enterprises are in the table, each linked to its page.
    assert html.count('<tr data-code="') == 2
    assert f'href="/efficiency/enterprises/{E1}/?ruleset=huangyan-2022"' in html
    assert re.search(
        r'data-figure="total">\s*<div class="label">[^<]*</div>\s*<div class="value">2<', html
    )
    assert "/api/v1/efficiency/evaluations/export.xlsx?year=2024&amp;ruleset=huangyan-2022" in html

    # Filters (htmx asks for the results fragment only).
    part = c.get(
        "/efficiency/",
        {"year": 2024, "ruleset": "huangyan-2022", "status": "insufficient_data"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "<html" not in part
    assert part.count('<tr data-code="') == 1 and f'data-code="{E2}"' in part
    assert "status=insufficient_data" in part  # the export link follows the filters
    part = c.get(
        "/efficiency/",
        {"year": 2024, "grade": ["A", "B", "C", "D"], "q": "东湖"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert part.count('<tr data-code="') == 1 and f'data-code="{E1}"' in part
    assert "grade=A%2CB%2CC%2CD" in part
    part = c.get("/efficiency/", {"year": 2024, "grade": "Z"}, headers={"HX-Request": "true"})
    assert part.status_code == 200 and 'class="form-error"' in part.content.decode()

    # Another year; a year not evaluated falls back to the latest with a message.
    assert '<option value="2023" selected>' in c.get("/efficiency/?year=2023").content.decode()
    r = c.get("/efficiency/?year=2019")
    assert '<option value="2024" selected>' in r.content.decode()
    assert 'class="message message-warning"' in r.content.decode()

    # A district leader sees the results but cannot run an evaluation.
    leader = client_for(users["leader"]).get("/efficiency/").content.decode()
    assert '<tr data-code="' in leader and 'id="eff-run-form"' not in leader


@pytest.mark.django_db(transaction=True)
def test_enterprise_page_indicators_and_masking(evaluated, users):
    html = client_for(users["officer_t01"]).get(f"/efficiency/enterprises/{E1}/").content.decode()
    assert "东湖新能源科技有限公司" in html
    assert html.count('class="card section-gap eff-year"') == 2  # 2024 and 2023
    assert 'data-indicator="tax_per_mu"' in html
    assert "24.097" in html  # the tax-per-mu benchmark
    assert 'id="eff-indicator-data"' in html and 'id="eff-history-data"' in html
    assert 'id="eff-masked-note"' not in html
    # An officer of the other town sees E1's grade, not its tax-derived figures.
    other = client_for(users["officer_t02"]).get(f"/efficiency/enterprises/{E1}/").content.decode()
    assert 'id="eff-masked-note"' in other
    assert '<span class="masked">***</span>' in other
    assert 'id="eff-indicator-data"' not in other
    assert 'id="eff-history-data"' in other


@pytest.mark.django_db(transaction=True)
def test_pages_in_english(evaluated, users):
    c = client_for(users["bureau"], lang="en")
    html = c.get("/efficiency/").content.decode()
    assert '<html lang="en">' in html
    assert "Per-mu efficiency evaluation" in html and "Export to Excel" in html
    assert (
        "Huangyan District industrial enterprise per-mu evaluation"
        in c.get("/efficiency/rulesets/huangyan-2022/").content.decode()
    )
    land = c.get("/efficiency/land/?as_of=2026-03-31").content.decode()
    assert "Not started one year after the contracted date" in land  # P-002's grant
    assert 'data-parcel="P-002"' in land


@pytest.mark.django_db
def test_ruleset_pages(district, users):
    c = client_for(users["leader"])
    html = c.get("/efficiency/rulesets/").content.decode()
    for name in ("huangyan-2021", "huangyan-2022", "minmax-2022"):
        assert f'data-ruleset="{name}"' in html
    detail = c.get("/efficiency/rulesets/minmax-2022/").content.decode()
    assert 'data-population="above"' in detail and 'data-population="below"' in detail
    assert "max(tenants - 1, 0) * 5" in detail  # a deduction's formula
    assert 'id="eff-yaml"' in detail and "name: minmax-2022" in detail
    assert "wl.gov.cn" in detail  # the source link
    assert (
        c.get("/efficiency/rulesets/minmax-2022/?version=1").status_code == 404
    )  # reading registers nothing
    services.ruleset_version("minmax-2022")  # using it does
    v1 = c.get("/efficiency/rulesets/minmax-2022/?version=1")
    assert v1.status_code == 200
