"""`investmap projects alerts|notify|stats|funnel|performance|test-rulesets`."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from investmap.core.scope import scope_for
from investmap.projects import services


def run(*args):
    out = io.StringIO()
    call_command("projects", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def signed_project(users):
    user = users["bureau"]
    p = services.create(
        data={
            "name": "签约未注册项目",
            "town": "T01",
            "total_investment_wan": 3000,
            "officer": "officer_t01",
        },
        scope=scope_for(user),
        user=user,
        as_of=dt.date(2025, 1, 1),
    )
    services.transition(
        code=p.code,
        to="signed",
        milestones={"negotiating": "2025-01-01", "signed": "2025-01-01"},
        scope=scope_for(user),
        user=user,
        as_of=dt.date(2025, 1, 1),
    )
    return p


def test_alerts_json_at_the_day_boundary(signed_project):
    rows = json.loads(run("alerts", "--as-of", "2025-04-01", "--json"))  # 90 days after signing
    assert [r["type"] for r in rows if r["project"] == signed_project.code] == ["stale"]
    rows = json.loads(run("alerts", "--as-of", "2025-04-02", "--json"))  # 91 days
    mine = {r["type"]: r for r in rows if r["project"] == signed_project.code}
    assert set(mine) == {"stale", "signed_not_registered"}
    assert (
        mine["signed_not_registered"]["days"] == 91
        and mine["signed_not_registered"]["limit_days"] == 90
    )
    assert set(mine["stale"]) >= {"project", "type", "stage", "days", "limit_days", "officer"}
    text = run("alerts", "--as-of", "2025-04-02")
    assert signed_project.code in text


def test_alerts_by_a_users_scope(signed_project):
    assert (
        json.loads(run("alerts", "--as-of", "2025-04-02", "--json", "--user", "officer_t02")) == []
    )
    with pytest.raises(CommandError):
        run("alerts", "--user", "nobody")


def test_notify_sends_once(signed_project, users, settings):
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    officer = users["officer_t01"]
    officer.manager, officer.email = users["bureau"], "officer@example.cn"
    officer.save()
    first = json.loads(run("notify", "--as-of", "2025-04-02", "--json"))
    assert first["new"] == 2 and first["inbox"] == 4 and first["email"] == 2  # officer + manager
    assert len(mail.outbox) == 2 and officer.notifications.count() == 2
    again = json.loads(run("notify", "--as-of", "2025-04-02", "--json"))
    assert again["new"] == 0 and again["inbox"] == 0


def test_stats_funnel_performance_and_rulesets(signed_project):
    out = json.loads(
        run("stats", "--group-by", "town", "--from", "2025-01-01", "--to", "2025-12-31", "--json")
    )
    assert out["total"]["signed_wan"] == 3000
    assert sum(g["projects"] for g in out["groups"]) == out["total"]["projects"] == 1
    assert "T01" in {g["key"] for g in out["groups"]}
    funnel = json.loads(run("funnel", "--as-of", "2025-06-01"))
    assert funnel and isinstance(funnel, dict)
    perf = json.loads(run("performance", "--from", "2025-01-01", "--to", "2025-12-31"))
    assert perf["ruleset"]
    assert "district-2025" in run("test-rulesets")
    with pytest.raises(CommandError):
        run("stats", "--group-by", "planet")
