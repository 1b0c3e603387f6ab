"""The upload page /imports/: roles, dry run with the error table, real import, CSRF."""

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import include, path

from investmap.core.choices import Role
from investmap.core.models import AuditEvent, OrgUnit, User
from investmap.resources.models import Enterprise, Poi
from investmap.urls import urlpatterns as root_urlpatterns

DATA = Path(__file__).resolve().parents[1] / "data" / "import"

# The root urlconf plus the import page (in case the root does not include it yet).
urlpatterns = [path("", include("investmap.resources.urls_import")), *root_urlpatterns]


@pytest.fixture(autouse=True)
def urlconf(settings):
    settings.ROOT_URLCONF = __name__
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def users(district):
    """The roles these tests need (no passwords: the tests log in with force_login)."""

    def make(username, role, unit):
        return User.objects.create(
            username=username, role=role, org_unit=OrgUnit.objects.get(code=unit)
        )

    return {
        "bureau": make("bureau", Role.BUREAU_STAFF, "D"),
        "maintainer": make("maintainer", Role.DATA_MAINTAINER, "D"),
        "officer_t01": make("officer_t01", Role.TOWN_OFFICER, "T01"),
    }


def client_for(user, **kw):
    c = Client(**kw)
    c.cookies["django_language"] = "en"
    c.force_login(user)
    return c


def upload(name):
    return SimpleUploadedFile(name, (DATA / name).read_bytes())


def kind_options(html):
    return re.findall(
        r'<option value="([a-z-]+)"', html.split('name="kind"', 1)[1].split("</select>", 1)[0]
    )


def test_login_required(db):
    r = Client().get("/imports/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_bureau_sees_every_kind_maintainer_the_spatial_ones(users):
    r = client_for(users["bureau"]).get("/imports/")
    assert r.status_code == 200
    html = r.content.decode()
    assert kind_options(html) == [
        "towns",
        "parks",
        "parcels",
        "buildings",
        "pois",
        "enterprises",
        "indicators",
        "land-grants",
        "teams",
    ]
    assert (
        'name="csrfmiddlewaretoken"' in html
        and 'value="dry_run"' in html
        and 'value="import"' in html
    )
    r = client_for(users["maintainer"]).get("/imports/")
    assert kind_options(r.content.decode()) == [
        "towns",
        "parks",
        "parcels",
        "buildings",
        "pois",
        "land-grants",
    ]


def test_town_officer_is_refused(users):
    c = client_for(users["officer_t01"])
    r = c.get("/imports/")
    assert r.status_code == 403 and b'name="kind"' not in r.content
    r = c.post(
        "/imports/",
        {"kind": "pois", "crs": "wgs84", "action": "import", "file": upload("pois_utf8_bom.csv")},
    )
    assert r.status_code == 403
    assert not Poi.objects.filter(code__startswith="BOM-").exists()


def test_dry_run_shows_the_error_table_and_writes_nothing(users):
    c = client_for(users["bureau"])
    r = c.post(
        "/imports/",
        {"kind": "pois", "crs": "wgs84", "action": "dry_run", "file": upload("pois_bad.csv")},
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "8 errors: nothing was written" in html
    table = html.split('class="import-errors"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 8  # header + one row per error
    assert (
        "bookshop" in table
        and "category &#x27;bookshop&#x27; not accepted; accepted: metro_station" in table
    )
    assert not Poi.objects.filter(code__startswith="NP-").exists()


def test_dry_run_then_import(users):
    c = client_for(users["bureau"])
    r = c.post(
        "/imports/",
        {
            "kind": "enterprises",
            "crs": "wgs84",
            "action": "dry_run",
            "file": upload("enterprises_gbk.csv"),
        },
    )
    html = r.content.decode()
    assert "The file is valid. Nothing was written" in html
    assert re.search(r'class="num import-created">2<', html)
    assert not Enterprise.objects.filter(credit_code__contains="GB").exists()
    r = c.post(
        "/imports/",
        {
            "kind": "enterprises",
            "crs": "wgs84",
            "action": "import",
            "file": upload("enterprises_gbk.csv"),
        },
    )
    assert r.status_code == 200 and "Imported." in r.content.decode()
    assert Enterprise.objects.filter(credit_code__contains="GB").count() == 2
    event = AuditEvent.objects.get(action="import")
    assert event.user == users["bureau"] and event.detail["created"] == 2


def test_kind_outside_the_role_is_a_form_error(users):
    c = client_for(users["maintainer"])
    r = c.post(
        "/imports/",
        {
            "kind": "enterprises",
            "crs": "wgs84",
            "action": "import",
            "file": upload("enterprises_gbk.csv"),
        },
    )
    assert r.status_code == 200 and 'class="form-error"' in r.content.decode()
    assert not Enterprise.objects.filter(credit_code__contains="GB").exists()


def test_csrf_is_enforced(users):
    c = client_for(users["bureau"], enforce_csrf_checks=True)
    data = {
        "kind": "pois",
        "crs": "wgs84",
        "action": "dry_run",
        "file": upload("pois_utf8_bom.csv"),
    }
    assert c.post("/imports/", data).status_code == 403
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', c.get("/imports/").content.decode()
    )[1]
    data["file"] = upload("pois_utf8_bom.csv")
    r = c.post("/imports/", {**data, "csrfmiddlewaretoken": token})
    assert r.status_code == 200 and "The file is valid" in r.content.decode()
