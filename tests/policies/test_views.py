"""The policy pages through Django's test client: search (filters, highlights, paging, bad
input), the policy page with who matches it (the same figures as the API), the enterprise's
policy view, the digest, and scope (officer of another town, enterprise role)."""

import datetime as dt
import json
import re

import pytest
from django.test import Client

from investmap.policies import engine, services
from investmap.policies.document import EXAMPLES_DIR

pytestmark = pytest.mark.django_db(transaction=True)
E1, E2 = "91310000MA1FL00001", "91310000MA1FL00002"
DAY = "2026-06-01"


@pytest.fixture
def examples(district, users):
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        report = services.import_policies(
            content=path.read_bytes(), filename=path.name, user=users["bureau"]
        )
        assert not report["errors"], report["errors"]


@pytest.fixture
def client_for(users):
    def make(name):
        c = Client()
        c.force_login(users[name])
        return c

    return make


def html(r) -> str:
    assert r.status_code == 200, r.status_code
    return r.content.decode()


def codes(page: str) -> list[str]:
    return re.findall(r'class="po-hit" data-code="([^"]+)"', page)


def test_search_ranks_despite_a_typo_and_marks_only_the_snippets(client_for, examples):
    c = client_for("officer_t01")
    page = html(c.get("/policies/", {"q": "高薪技术企业", "as_of": DAY}))
    assert codes(page)[0] == "KJ-2025-01"
    assert "<mark>" in page  # the highlight is rendered as HTML
    api = json.loads(c.get("/api/v1/policies", {"q": "高薪技术企业", "as_of": DAY}).content)
    assert codes(page) == [i["code"] for i in api["items"]]
    assert f'data-count="{api["count"]}"' in page


def test_search_filters_and_validity_badges(client_for, examples, zh):
    c = client_for("leader")
    page = html(c.get("/policies/", {"tags": "talent", "as_of": DAY}))
    assert codes(page) == ["RC-2027-01"]
    assert 'data-validity="not_yet"' in page and zh("Not yet in force") in page
    both = html(c.get("/policies/", {"level": ["national", "municipal"], "as_of": DAY}))
    api = json.loads(
        c.get("/api/v1/policies", {"level": "national,municipal", "as_of": DAY}).content
    )
    assert codes(both) == [i["code"] for i in api["items"]] and len(api["items"]) >= 2
    expired = html(c.get("/policies/", {"validity": "expired", "as_of": DAY}))
    assert "SJX-2025-01" in codes(expired) and 'data-validity="in_force"' not in expired


def test_search_escapes_the_query_and_shows_bad_filters(client_for, examples):
    c = client_for("bureau")
    page = html(c.get("/policies/", {"q": "<script>alert(1)</script>"}))
    assert "<script>alert(1)</script>" not in page
    bad = html(c.get("/policies/", {"industry": "not-a-code", "level": "galactic"}))
    assert 'class="form-error"' in bad and "industry" in bad and "level" in bad
    assert codes(bad) == []


def test_search_paging(client_for, examples, monkeypatch):
    from investmap.policies import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    c = client_for("bureau")
    first, second = (html(c.get("/policies/", {"page": n})) for n in (1, 2))
    assert len(codes(first)) == 2 and codes(second) and not set(codes(first)) & set(codes(second))
    assert 'rel="next"' in first


def test_policy_page_shows_conditions_versions_and_who_matches(client_for, examples, zh):
    c = client_for("bureau")
    page = html(c.get("/policies/KJ-2025-01/", {"as_of": DAY}))
    detail = services.detail(code="KJ-2025-01", scope=_scope("bureau"), as_of=DAY)
    for cond in detail["conditions"]:
        assert cond["text"] in page
    for text in detail["manual_conditions"]:
        assert text in page
    assert detail["benefit"]["formula"] in page
    assert 'data-version="1"' in page and 'data-validity="in_force"' in page
    rows = dict(re.findall(r'data-credit-code="([^"]+)" data-result="([^"]+)"', page))
    assert rows == {E1: "eligible", E2: "ineligible"}
    assert "data-near-miss" in page and zh("misses only:") in page
    assert re.search(rf'data-credit-code="{E1}".*?<td class="num">30</td>', page, re.S)
    only = html(c.get("/policies/KJ-2025-01/", {"as_of": DAY, "result": "near_miss"}))
    assert dict(re.findall(r'data-credit-code="([^"]+)" data-result="([^"]+)"', only)) == {
        E2: "ineligible"
    }
    out = html(c.get("/policies/KJ-2025-01/", {"as_of": "2028-01-01"}))
    assert 'id="po-out-of-force"' in out and "data-credit-code" not in out
    assert c.get("/policies/NOPE/").status_code == 404


def _scope(name):
    from investmap.core.models import User
    from investmap.core.scope import scope_for

    return scope_for(User.objects.get(username=name))


def test_policy_page_scope(client_for, examples):
    page = html(client_for("officer_t02").get("/policies/KJ-2025-01/", {"as_of": DAY}))
    assert re.findall(r'<tr data-credit-code="([^"]+)"', page) == [E2]
    assert client_for("enterprise").get("/policies/KJ-2025-01/").status_code == 403
    assert client_for("enterprise").get("/policies/").status_code == 403
    assert Client().get("/policies/").status_code == 302  # to the login page


def test_enterprise_view_groups_and_scope(client_for, examples, zh):
    c = client_for("officer_t01")
    page = html(c.get(f"/policies/enterprises/{E1}/", {"as_of": DAY}))
    out = services.enterprise_policies(credit_code=E1, scope=_scope("officer_t01"), as_of=DAY)
    eligible = [r["policy"] for r in out["results"] if r["result"] == "eligible"]
    assert "KJ-2025-01" in eligible
    section = page.split('id="eligible"')[1].split('id="near-misses"')[0]
    assert re.findall(r'<tr data-policy="([^"]+)"', section) == eligible
    assert "RC-2027-01" not in page  # not yet in force on that day
    assert zh("Near misses") in page and 'id="ineligible"' in page
    assert client_for("officer_t02").get(f"/policies/enterprises/{E1}/").status_code == 404
    assert client_for("enterprise").get(f"/policies/enterprises/{E1}/").status_code == 403


def test_enterprise_record_links_to_its_policies(client_for, examples):
    page = html(client_for("officer_t01").get(f"/enterprises/{E1}/"))
    assert f'href="/policies/enterprises/{E1}/"' in page
    other = html(client_for("officer_t02").get(f"/enterprises/{E1}/"))
    assert 'id="enterprise-policies"' not in other  # outside the officer's scope


def test_digest_groups_near_misses_by_condition(client_for, examples, zh):
    engine.refresh(as_of=dt.date(2026, 6, 1))
    c = client_for("bureau")
    page = html(c.get("/policies/digest/"))
    api = json.loads(c.get("/api/v1/policies/digest").content)
    kj = next(p for p in api["policies"] if p["code"] == "KJ-2025-01")
    block = page.split('data-policy="KJ-2025-01"')[1].split("</section>")[0]
    assert f'data-credit-code="{E1}"' in block
    near = kj["near_misses"][0]
    assert f'data-condition="{near["condition"]}"' in block
    assert re.findall(r'data-policy="([^"]+)"', page) == [p["code"] for p in api["policies"]]
    mine = html(client_for("officer_t02").get("/policies/digest/"))
    assert E1 not in mine
    empty = html(c.get("/policies/digest/", {"days": "abc"}))
    assert zh("New policy matches") in empty
