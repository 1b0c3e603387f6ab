"""Regressions found in review: admin separation, default role, PATCH validation, pages."""

import json

import pytest
from django.contrib.auth.models import Permission

from investmap.core.choices import Role
from investmap.core.models import OrgUnit, User
from investmap.core.scope import scope_for
from investmap.resources.models import Enterprise, Parcel


def patch(client, url, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def test_separated_admins_see_no_data_even_as_superusers(client, users):
    sysadmin = users["sysadmin"]
    sysadmin.is_superuser = sysadmin.is_staff = True
    sysadmin.save()
    assert not scope_for(sysadmin).sees_resources
    client.force_login(sysadmin)
    assert client.get("/api/v1/enterprises").status_code == 403
    assert client.get("/admin/resources/enterprise/").status_code == 403


def test_a_new_account_has_no_role_and_sees_nothing(db):
    user = User.objects.create_user("newbie", password="x" * 12)
    assert user.role == "" and not scope_for(user).sees_resources
    root = User.objects.create_superuser("root", password="x" * 12)
    assert scope_for(root).sees_all_sensitive  # a superuser without a role acts as bureau staff


def test_staff_officer_with_view_permissions_cannot_read_the_admin(client, users):
    officer = users["officer_t01"]
    officer.is_staff = True
    officer.save()
    officer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_enterprise", "view_teammember", "view_team"])
    )
    client.force_login(officer)
    assert client.get("/admin/resources/enterprise/").status_code == 403
    html = client.get("/admin/").content.decode()
    assert "13987654321" not in html and "resources/enterprise" not in html


@pytest.mark.parametrize(
    "change",
    [
        {"price_wan": -500},
        {"price_wan": "NaN"},
        {"price_wan": 1e400},
        {"name": ["x", "y"]},
        {"plot_ratio_max": "abc"},
    ],
)
def test_patch_refuses_bad_numbers_and_types(client, users, change):
    client.force_login(users["bureau"])
    r = patch(client, "/api/v1/parcels/P-001", {"version": 1, **change})
    assert r.status_code == 422, r.content
    assert Parcel.objects.get(code="P-001").version == 1


def test_patch_refuses_fractional_floors_and_bad_dates(client, users):
    client.force_login(users["bureau"])
    assert (
        patch(client, "/api/v1/buildings/B-001", {"version": 1, "floors": 2.7}).status_code == 422
    )
    r = patch(client, "/api/v1/enterprises/91310000MA1FL00001", {"version": 1, "founded_on": 12345})
    assert r.status_code == 422, r.content


@pytest.mark.parametrize("version", [True, 1.5, "one", None])
def test_patch_needs_a_whole_version(client, users, version):
    client.force_login(users["bureau"])
    r = patch(client, "/api/v1/parcels/P-001", {"version": version, "status": "idle"})
    assert r.status_code == 422 and Parcel.objects.get(code="P-001").status == "available"


def test_renaming_a_team_renames_its_org_unit(client, users):
    client.force_login(users["bureau"])
    r = patch(client, "/api/v1/teams/TEAM-T01", {"version": 1, "name": "东湖镇招商二组"})
    assert r.status_code == 200, r.content
    assert OrgUnit.objects.get(code="TEAM-T01").name == "东湖镇招商二组"


def test_enterprise_without_coordinates_is_placed_by_its_building(client, users):
    Enterprise.objects.filter(credit_code="91310000MA1FL00001").update(lon=None, lat=None)
    client.force_login(users["bureau"])
    body = client.get("/api/v1/enterprises/91310000MA1FL00001").json()
    assert body["geometry"] is not None and body["geometry"]["type"] == "Polygon"


def test_huge_page_number_is_a_clear_error(client, users):
    client.force_login(users["bureau"])
    r = client.get("/api/v1/parcels?page=1000000000000000000")
    assert r.status_code == 422 and r.json()["code"] == "invalid"


def test_role_is_on_the_admin_add_form(admin_client):
    html = admin_client.get("/admin/core/user/add/").content.decode()
    assert 'name="role"' in html and 'name="org_unit"' in html
    assert Role.BUREAU_STAFF.value in html
