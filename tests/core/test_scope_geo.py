import numpy as np
import pytest

from investmap.core import geo
from investmap.core.scope import mask_text, scope_for

# WGS84 → GCJ-02 reference pairs (lon, lat), as published with the reference
# implementation of the transform (eviltransform test suite).
GCJ_PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
]


@pytest.mark.parametrize(("wgs", "gcj"), GCJ_PAIRS)
def test_wgs_to_gcj_matches_reference(wgs, gcj):
    lon, lat = geo.wgs84_to_gcj02(*wgs)
    assert abs(float(lon) - gcj[0]) < 1e-7 and abs(float(lat) - gcj[1]) < 1e-7


@pytest.mark.parametrize(("wgs", "gcj"), GCJ_PAIRS)
def test_gcj_to_wgs_inverts_within_a_centimetre(wgs, gcj):
    lon, lat = geo.gcj02_to_wgs84_point(*gcj)
    assert geo.haversine_m(lon, lat, wgs[0], wgs[1]) < 0.01


def test_gcj_outside_china_is_identity():
    lon, lat = geo.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)


def test_gcj_round_trip_over_a_grid():
    lons, lats = np.meshgrid(np.linspace(100, 125, 11), np.linspace(20, 45, 11))
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lons, lats))
    assert np.max(geo.haversine_m(back[0], back[1], lons, lats)) < 0.01


def test_mask_text():
    assert mask_text("13812345678") == "138****5678"
    assert mask_text("张三丰") == "张**"
    assert mask_text("") == ""


def test_scope_by_role(users):
    assert scope_for(users["leader"]).sees_all_sensitive
    assert scope_for(users["bureau"]).can_import("parcels")
    off = scope_for(users["officer_t01"])
    t1 = users["officer_t01"].org_unit
    t2 = users["officer_t02"].org_unit
    assert off.sensitive_visible(t1.pk) and not off.sensitive_visible(t2.pk)
    assert not off.can_import("parcels")
    team = scope_for(users["team_t01"])
    assert team.sensitive_visible(t1.pk) and not team.sensitive_visible(t2.pk)
    assert not scope_for(users["maintainer"]).sensitive_visible(t1.pk)
    assert scope_for(users["maintainer"]).can_import("parcels")
    assert not scope_for(users["maintainer"]).can_import("enterprises")
    for name in ("sysadmin", "auditor", "enterprise"):
        assert not scope_for(users[name]).sees_resources


def test_fixture_areas_come_from_the_engine(district):
    p = district["parcels"]["P-001"]
    # 0.002° × 0.002° at 31°N ≈ 222.6 m × 190.8 m
    assert 41_000 < p.area_m2 < 43_500
    assert abs(p.area_mu - p.area_m2 / geo.M2_PER_MU) < 1e-6


def test_production_hasher_is_argon2():
    from django.conf import settings as dj_settings
    from django.test.utils import override_settings

    # The autouse fixture swaps hashers for speed; the project's own setting is Argon2.
    import investmap.settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    with override_settings(PASSWORD_HASHERS=project_settings.PASSWORD_HASHERS):
        from django.contrib.auth.hashers import make_password

        assert make_password("x" * 12).startswith("argon2$")
    assert dj_settings.PASSWORD_HASHERS  # still configured after the override
