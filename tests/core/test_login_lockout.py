"""Login audit and lockout after repeated failures (SPEC X1)."""

import pytest
from django.urls import reverse

from investmap.core.auth import locked_until
from investmap.core.models import AuditEvent, User

PASSWORD = "correct-horse-1"


@pytest.fixture
def officer(db, settings):
    settings.INVESTMAP_LOGIN_MAX_FAILURES = 3
    settings.INVESTMAP_LOGIN_LOCK_MINUTES = 15
    return User.objects.create_user("officer", password=PASSWORD, role="bureau_staff")


def login(client, password, username="officer"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_logins_are_audited(client, officer):
    assert login(client, PASSWORD).status_code == 302
    client.logout()
    login(client, "wrong")
    actions = list(AuditEvent.objects.filter(target="officer").values_list("action", flat=True))
    assert sorted(actions) == ["login", "login_failed"]


def test_account_locks_after_repeated_failures_and_says_why(client, officer, zh):
    for _ in range(3):
        assert login(client, "wrong").status_code == 200
    assert locked_until("officer") is not None
    r = login(client, PASSWORD)  # the right password no longer helps
    assert r.status_code == 200 and not r.wsgi_request.user.is_authenticated
    html = r.content.decode()
    assert (
        zh("Too many failed logins for this account. Try again in %(minutes)s minutes.")
        % {"minutes": 15}
        in html
    )
    # The backend enforces it on every path, e.g. the admin login.
    r = client.post("/admin/login/", {"username": "officer", "password": PASSWORD})
    assert not r.wsgi_request.user.is_authenticated


def test_lock_ends_after_the_window(client, officer):
    for _ in range(3):
        login(client, "wrong")
    AuditEvent.objects.filter(target="officer").update(
        at=AuditEvent.objects.first().at.replace(year=2000)
    )
    assert locked_until("officer") is None
    assert login(client, PASSWORD).status_code == 302


def test_a_successful_login_resets_the_count(client, officer):
    for _ in range(2):
        login(client, "wrong")
    assert login(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        login(client, "wrong")
    assert locked_until("officer") is None
