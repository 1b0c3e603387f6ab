"""Pages of the resource library through Django's test client (no browser).

Town and park figures come from the analysis engine, which reads committed rows
(ATTACH), so the tests that render them use the transactional database.
"""

import re

import pytest
from django.urls import reverse

E1 = "91310000MA1FL00001"  # T01 / park P01, contacts 张三丰 13812345678, tax 2100 in 2024
E2 = "91310000MA1FL00002"  # T02, contacts 李四 13987654321, tax 60 in 2024

pytestmark = pytest.mark.django_db(transaction=True)


PASSWORD = "view-test-pass-1"


@pytest.fixture
def login(client, users):
    def as_(name):
        client.force_login(users[name])
        return client

    return as_


def text(response) -> str:
    return response.content.decode()


def tbody_rows(html: str, table_id: str = "result-table") -> list[str]:
    m = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert m, f"no table #{table_id}"
    return [
        r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", m.group(1), re.S) if 'class="empty"' not in r
    ]


PAGES = [
    ("map", []),
    ("parcel-list", []),
    ("building-list", []),
    ("poi-list", []),
    ("enterprise-list", []),
    ("team-list", []),
    ("parcel-detail", ["P-001"]),
    ("building-detail", ["B-001"]),
    ("poi-detail", ["POI-M1"]),
    ("enterprise-detail", [E1]),
    ("team-detail", ["TEAM-T01"]),
    ("town-detail", ["T01"]),
    ("park-detail", ["P01"]),
    ("map-panel", []),
    ("map-feature-panel", ["parcels", "P-001"]),
]


def test_every_page_needs_login(client, db):
    for name, args in PAGES:
        url = reverse(name, args=args)
        r = client.get(url)
        assert r.status_code == 302, url
        assert r["Location"].startswith(reverse("login")), url
    assert client.get(reverse("login")).status_code == 200
    ping = client.get(reverse("ping"))
    assert ping.status_code == 200 and ping.content == b"ok"


@pytest.mark.parametrize("role", ["sysadmin", "auditor", "enterprise"])
def test_roles_without_resource_access_get_a_friendly_403(login, role, zh):
    c = login(role)
    for name, args in PAGES:
        r = c.get(reverse(name, args=args))
        assert r.status_code == 403, name
    html = text(c.get(reverse("parcel-list")))
    assert zh("Your role has no access to the resource library") in html
    # Their nav offers no resource pages.
    assert f'href="{reverse("parcel-list")}"' not in html


def test_every_page_renders_for_the_district_leader(login):
    c = login("leader")
    for name, args in PAGES:
        r = c.get(reverse(name, args=args))
        assert r.status_code == 200, (name, r.status_code)

    html = text(c.get(reverse("map")))
    assert 'id="map"' in html and 'id="layer-panel"' in html
    assert 'data-poi-category value="metro_station"' in html
    assert "vendor/leaflet-1.9.4/leaflet.js" in html and "js/map.js" in html
    assert '"panelUrl": "/map/panel/"' in html  # the page scripts' configuration

    html = text(c.get(reverse("parcel-list")))
    assert len(tbody_rows(html)) == 3
    assert "科创园一号地块" in html and "东湖镇" in html  # town shown by name
    assert 'data-im-map="list"' in html and 'data-layer="parcels"' in html
    assert 'href="/api/v1/parcels/export.xlsx"' in html
    assert 'href="/api/v1/parcels/export.geojson"' in html
    # choice filters render as checkboxes with the enum labels, places as selects
    assert 'name="status" value="idle"' in html
    assert '<select id="f-town" name="town"' in html and '<option value="T02"' in html

    html = text(c.get(reverse("team-list")))
    assert "东湖镇招商一组" in html and "西山招商组" in html
    assert 'data-im-map="list"' not in html  # teams have no map

    html = text(c.get(reverse("parcel-detail", args=["P-001"])))
    assert "科创园一号地块" in html and "科创大厦" in html  # building on the parcel
    assert "东湖新能源科技有限公司" in html  # enterprise on the parcel
    nearby = html.split('id="nearby"')[1]
    assert "东湖站" in nearby and "m</td>" in nearby  # the metro station ~280 m away
    assert "东湖小学" not in nearby  # the school is just beyond 1 km
    assert 'data-im-map="record"' in html

    html = text(c.get(reverse("parcel-detail", args=["P-002"])))
    assert 'id="related-grants"' in html and "东湖新能源科技有限公司" in html  # the land grant

    html = text(c.get(reverse("enterprise-detail", args=[E1])))
    assert "13812345678" in html and "张三丰" in html  # the leader sees contacts
    assert 'id="indicator-chart"' in html and "indicator-chart-data" in html
    rows = tbody_rows(html, "indicator-table")
    assert len(rows) == 2 and "2,100" in rows[1]

    html = text(c.get(reverse("team-detail", args=["TEAM-T01"])))
    assert "王五" in html and "13700001111" in html

    html = text(c.get(reverse("poi-detail", args=["POI-M1"])))
    assert "东湖站" in html and "1号线" in html

    html = text(c.get(reverse("town-detail", args=["T01"])))
    assert "东湖镇" in html and "东湖科创园" in html  # the park is the town's child
    assert 'data-figure="land"' in html and 'data-chart-type="pie"' in html
    assert 'data-im-map="place"' in html

    html = text(c.get(reverse("map-panel") + "?level=district"))
    assert "<html" not in html and 'data-level="district"' in html
    assert (
        'data-drill="town" data-code="T01"' in html and 'data-drill="town" data-code="T02"' in html
    )

    html = text(c.get(reverse("map-feature-panel", args=["enterprises", E1]) + "?compact=1"))
    assert 'class="popup"' in html and reverse("enterprise-detail", args=[E1]) in html


def test_unknown_codes_are_404(login, zh):
    c = login("leader")
    for name, args in [
        ("parcel-detail", ["NOPE"]),
        ("building-detail", ["NOPE"]),
        ("poi-detail", ["NOPE"]),
        ("enterprise-detail", ["NOPE"]),
        ("team-detail", ["NOPE"]),
        ("town-detail", ["NOPE"]),
        ("park-detail", ["NOPE"]),
        ("map-feature-panel", ["parcels", "NOPE"]),
        ("map-feature-panel", ["teams", "TEAM-T01"]),  # not a map kind
    ]:
        r = c.get(reverse(name, args=args))
        assert r.status_code == 404, (name, args)
    r = c.get(reverse("parcel-detail", args=["NOPE"]))
    assert zh("Nothing here") in text(r)
    assert c.get(reverse("map-panel") + "?level=town&code=NOPE").status_code == 404


def test_list_filters_sorting_htmx_and_exports(login):
    c = login("bureau")
    html = text(c.get(reverse("parcel-list") + "?status=idle"))
    rows = tbody_rows(html)
    assert len(rows) == 1 and "P-002" in rows[0]
    assert 'name="status" value="idle" checked' in html
    assert 'href="/api/v1/parcels/export.xlsx?status=idle"' in html

    # Several towns, by repeat; the park select groups parks by town.
    html = text(c.get(reverse("parcel-list") + "?town=T01&town=T02"))
    assert len(tbody_rows(html)) == 3
    assert '<optgroup label="东湖镇">' in html

    # htmx gets the results fragment only, with the query for the map and exports.
    r = c.get(reverse("parcel-list") + "?town=T02", HTTP_HX_REQUEST="true")
    frag = text(r)
    assert "<html" not in frag and frag.lstrip().startswith('<section id="results"')
    assert 'data-query="town=T02"' in frag
    assert len(tbody_rows(frag)) == 1 and "P-003" in frag

    # Sorting by area, both ways; the sort link toggles.
    html = text(c.get(reverse("parcel-list") + "?sort=-area_mu"))
    order = re.findall(r'href="/parcels/(P-\d+)/"', "".join(tbody_rows(html)))
    assert order[0] == "P-003"  # the largest parcel
    assert "?sort=area_mu" in html
    html = text(c.get(reverse("parcel-list") + "?sort=area_mu"))
    order = re.findall(r'href="/parcels/(P-\d+)/"', "".join(tbody_rows(html)))
    assert order[-1] == "P-003"

    # Free-text search and a POI category filter.
    html = text(c.get(reverse("enterprise-list") + "?q=精密"))
    assert len(tbody_rows(html)) == 1 and E2 in html
    html = text(c.get(reverse("poi-list") + "?category=school,hospital"))
    assert len(tbody_rows(html)) == 2 and "东湖站" not in "".join(tbody_rows(html))

    # An invalid filter value is explained, nothing is listed.
    r = c.get(reverse("parcel-list") + "?status=bogus")
    assert r.status_code == 200
    html = text(r)
    assert "bogus" in html and 'class="form-error"' in html
    assert tbody_rows(html) == []

    # The export link the page shows returns an Excel workbook.
    r = c.get("/api/v1/parcels/export.xlsx?status=idle")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/vnd.openxmlformats")
    assert r.content[:2] == b"PK"


def test_pagination(login, district):
    from investmap.resources.models import Poi

    Poi.objects.bulk_create(
        [
            Poi(code=f"POI-X{i:03d}", name=f"公交站{i}", category="bus_stop", lon=121.05, lat=31.05)
            for i in range(60)
        ]
    )
    c = login("leader")
    html = text(c.get(reverse("poi-list")))
    assert len(tbody_rows(html)) == 50
    assert 'aria-current="page">1<' in html and "?page=2" in html
    html = text(c.get(reverse("poi-list") + "?page=2"))
    assert len(tbody_rows(html)) == 13  # 63 POIs in all


def test_town_officer_sees_another_towns_contacts_and_tax_masked(login, zh):
    c = login("officer_t01")
    # Another town's enterprise: contacts masked, tax withheld, in list and detail.
    html = text(c.get(reverse("enterprise-detail", args=[E2])))
    assert "13987654321" not in html and "李四" not in html
    assert "139****4321" in html and "李*" in html
    assert zh("Tax is outside your data scope and is not shown.") in html
    assert (
        'id="indicator-table"' in html
        and zh("Tax (10k yuan)") not in html.split('id="indicator-table"')[1].split("</thead>")[0]
    )
    assert '"tax_wan"' not in html.split('id="indicator-chart-data"')[1].split("</script>")[0]

    html = text(c.get(reverse("enterprise-list")))
    assert "13987654321" not in html and "139****4321" in html
    assert "13812345678" in html  # own town: unmasked
    assert zh("Some sensitive values are hidden") in html

    # Own town's enterprise: everything visible.
    html = text(c.get(reverse("enterprise-detail", args=[E1])))
    assert "13812345678" in html and "2,100" in html

    # Team phones of another town are masked.
    c.logout()
    c2 = login("officer_t02")
    html = text(c2.get(reverse("team-detail", args=["TEAM-T01"])))
    assert "13700001111" not in html and "137****1111" in html

    # Town figures: tax of another town is hidden, of one's own shown.
    html = text(c2.get(reverse("town-detail", args=["T01"])))
    tax = html.split('data-figure="tax"')[1].split("</div>\n    </div>")[0]
    assert zh("hidden") in tax
    html = text(c2.get(reverse("town-detail", args=["T02"])))
    tax = html.split('data-figure="tax"')[1].split('data-figure="teams"')[0]
    assert zh("hidden") not in tax and "60" in tax

    # The panel of the map masks the same way.
    c2.logout()
    c = login("officer_t01")
    html = text(c.get(reverse("map-feature-panel", args=["enterprises", E2])))
    assert "13987654321" not in html and "139****4321" in html


def test_nav_by_role(login, zh):
    c = login("maintainer")
    html = text(c.get(reverse("map")))
    assert 'href="/imports/"' in html  # data maintainers import spatial kinds
    assert reverse("admin:index") not in html
    c.logout()
    c = login("leader")
    html = text(c.get(reverse("map")))
    assert 'href="/imports/"' not in html  # leaders read, they do not import
    for name in ("parcel-list", "building-list", "poi-list", "enterprise-list", "team-list"):
        assert f'href="{reverse(name)}"' in html
    assert zh("District leader") in html  # role label in the top bar
    assert 'action="/i18n/setlang/"' in html


def test_login_page_and_redirect(client, users):
    users["leader"].set_password(PASSWORD)
    users["leader"].save()
    html = text(client.get(reverse("login")))
    assert 'name="username"' in html and 'name="password"' in html
    r = client.post(reverse("login"), {"username": "leader", "password": PASSWORD})
    assert r.status_code == 302 and r["Location"] == reverse("map")
    # Signed in, the login page sends you on to the map.
    assert client.get(reverse("login"))["Location"] == reverse("map")
    client.logout()
    r = client.post(
        reverse("login"), {"username": "leader", "password": "wrong-password"}, follow=True
    )
    assert 'class="form-error"' in text(r)
