"""API tokens: created by the management command, stored hashed, revocable."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from investmap.core.models import ApiToken, hash_token


def create_token(username) -> str:
    out = io.StringIO()
    call_command("api-token", "create", "--user", username, "--name", "OA", stdout=out)
    return out.getvalue().strip()


def test_token_from_the_command_authenticates(users):
    raw = create_token("bureau")
    assert raw.startswith(ApiToken.PREFIX) and len(raw) > 30
    r = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/parcels")
    assert r.status_code == 200 and r.json()["count"] == 3
    token = ApiToken.objects.get()
    assert token.user == users["bureau"] and token.name == "OA" and token.last_used_at is not None


def test_token_is_stored_hashed(users):
    raw = create_token("leader")
    token = ApiToken.objects.get()
    assert token.digest == hash_token(raw) and token.digest != raw
    # The raw token appears in no column of the table.
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {ApiToken._meta.db_table}")
        values = [str(v) for row in cur.fetchall() for v in row]
    assert not any(raw in v for v in values)
    assert token.prefix == raw[:12]  # only the short prefix, to find a token to revoke


def test_revoked_token_is_refused(users):
    raw = create_token("leader")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/parcels").status_code == 200
    out = io.StringIO()
    call_command("api-token", "revoke", raw[:12], stdout=out)
    assert "revoked 1" in out.getvalue()
    r = client.get("/api/v1/parcels")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    with pytest.raises(CommandError):
        call_command("api-token", "revoke", raw[:12])


def test_inactive_users_token_is_refused(users):
    raw = create_token("leader")
    users["leader"].is_active = False
    users["leader"].save()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/parcels").status_code == 401


def test_unknown_user(db):
    with pytest.raises(CommandError):
        create_token("nobody")


def test_admin_token_gets_403_not_data(users):
    raw = create_token("sysadmin")
    r = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/enterprises")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
