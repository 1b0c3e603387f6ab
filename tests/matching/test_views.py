"""The site-matching page through Django's test client (no browser): access by
role, what the page hands its script, prefilling from the address and saved
lists, and the session + CSRF path the page script uses for the API."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from investmap.core.scope import scope_for
from investmap.matching import services
from investmap.matching.views import DEFAULT_DEMAND

URL = "/match/"


def im_config(response) -> dict:
    m = re.search(
        r'<script id="im-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert m, "the page has no im-config"
    return json.loads(m.group(1))


def test_url_name():
    assert reverse("matching:match") == URL


@pytest.mark.parametrize("role", ["bureau", "officer_t01", "leader", "maintainer", "team_t01"])
def test_page_renders_for_business_roles(client, users, role):
    client.force_login(users[role])
    r = client.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="demand-form"' in html
    assert 'id="match-map"' in html
    assert 'id="match-results"' in html
    # The form's choices come from the enums.
    for value in ("M1", "M2", "M0", "W1"):
        assert f'name="land_use" value="{value}"' in html
    for value in ("available", "idle", "low_efficiency", "in_use"):
        assert f'name="status" value="{value}"' in html
    assert '<option value="T01">' in html and '<option value="P01">' in html
    assert "js/matching.js" in html
    # The nav link is there and marked as the current page.
    assert re.search(r'<a href="/match/" class="active">', html)
    cfg = im_config(r)
    assert cfg["demand"] == DEFAULT_DEMAND
    assert cfg["autorun"] is False
    assert set(cfg["kinds"]) == {"parcel", "combination", "floor_space"}
    assert cfg["poiCategories"]["metro_station"]["color"]
    assert cfg["townNames"] == {"T01": "东湖镇", "T02": "西山街道"}
    assert cfg["api"] == "/api/v1/"


@pytest.mark.parametrize("role", ["sysadmin", "enterprise", "auditor"])
def test_page_refuses_roles_without_business_data(client, users, role):
    client.force_login(users[role])
    r = client.get(URL)
    assert r.status_code == 403
    assert 'id="demand-form"' not in r.content.decode()


def test_nav_link_only_for_business_roles(client, users):
    client.force_login(users["bureau"])
    assert 'href="/match/"' in client.get(reverse("parcel-list")).content.decode()
    client.force_login(users["sysadmin"])
    assert 'href="/match/"' not in client.get(URL).content.decode()


def test_anonymous_goes_to_login(client, district):
    r = client.get(URL)
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("login")) and "next=/match/" in r["Location"]


def test_demand_in_the_address_prefills_and_runs(client, users):
    client.force_login(users["bureau"])
    demand = {"floor_m2_min": 1000, "towns": ["T01"]}
    r = client.get(URL, {"demand": json.dumps(demand)})
    cfg = im_config(r)
    assert cfg["demand"] == demand and cfg["autorun"] is True


def test_bad_demand_in_the_address_shows_the_default(client, users):
    client.force_login(users["bureau"])
    r = client.get(URL, {"demand": "[1, 2"})
    assert r.status_code == 200
    cfg = im_config(r)
    assert cfg["demand"] == DEFAULT_DEMAND and cfg["autorun"] is False
    assert 'class="message message-error"' in r.content.decode()


def test_saved_lists_are_listed_and_reload(client, users):
    user = users["bureau"]
    saved = services.save_candidates(
        name="新能源项目选址",
        data={"area_mu_min": 30, "area_mu_max": 140},
        scope=scope_for(user),
        user=user,
    )
    client.force_login(user)
    html = client.get(URL).content.decode()
    assert "新能源项目选址" in html
    assert f'data-load-list="{saved["id"]}"' in html
    r = client.get(URL, {"list": saved["id"]})
    cfg = im_config(r)
    assert cfg["autorun"] is True
    assert cfg["demand"]["area_mu_min"] == 30 and cfg["demand"]["area_mu_max"] == 140
    assert 'class="loaded-note"' in r.content.decode()
    # A list that does not exist: the default demand and a message.
    r = client.get(URL, {"list": saved["id"] + 1000})
    assert im_config(r)["demand"] == DEFAULT_DEMAND
    assert 'class="message message-error"' in r.content.decode()


def test_api_from_the_page_needs_the_csrf_token(users):
    """The page script posts with the session cookie and the X-CSRFToken header."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["bureau"])
    page = client.get(URL)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    demand = {"area_mu_min": 30, "area_mu_max": 140}
    r = client.post("/api/v1/match/sites", demand, content_type="application/json")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post(
        "/api/v1/match/sites", demand, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert r.status_code == 200
    assert {x["parcels"][0] for x in r.json()["results"]} == {"P-001", "P-002"}
    # An invalid demand answers 422 with the errors by field, as the form shows them.
    r = client.post(
        "/api/v1/match/sites",
        {"area_mu_min": 80, "area_mu_max": 40, "near": [{"category": "nowhere", "within_m": 1}]},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"area_mu_min", "near[0]"}
