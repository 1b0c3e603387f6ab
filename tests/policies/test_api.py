"""The policy endpoints under /api/v1: search, the policy page, matches, the reverse view,
import, and the push with its digest."""

import datetime as dt
import json

import pytest
from django.test import Client

from investmap.core.models import ApiToken, Notification
from investmap.policies import engine, push, services
from investmap.policies.document import EXAMPLES_DIR

pytestmark = pytest.mark.django_db(transaction=True)
E1, E2 = "91310000MA1FL00001", "91310000MA1FL00002"


@pytest.fixture
def api(users):
    def make(name):
        _token, raw = ApiToken.issue(user=users[name])
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


@pytest.fixture
def examples(district, users):
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        report = services.import_policies(
            content=path.read_bytes(), filename=path.name, user=users["bureau"]
        )
        assert not report["errors"], report["errors"]


def body(r):
    return json.loads(r.content)


def test_search_finds_a_policy_despite_a_typo(api, examples):
    c = api("officer_t01")
    out = body(c.get("/api/v1/policies", {"q": "高薪技术企业", "as_of": "2026-06-01"}))
    assert out["items"][0]["code"] == "KJ-2025-01"
    out = body(c.get("/api/v1/policies", {"tags": "talent", "as_of": "2026-06-01"}))
    assert {i["code"] for i in out["items"]} == {"RC-2027-01"}
    r = c.get("/api/v1/policies", {"colour": "red"})
    assert r.status_code == 422 and "colour" in body(r)["errors"]


def test_policy_page_data(api, examples, zh):
    out = body(api("leader").get("/api/v1/policies/KJ-2025-01", {"as_of": "2026-06-01"}))
    assert out["validity"] == "in_force" and out["version"] == 1
    assert out["conditions"][0]["data"] == {
        "fact": "certifications",
        "op": "contains",
        "value": "high_tech",
    }
    assert zh("certifications") in out["conditions"][0]["text"]
    assert out["manual_conditions"] and out["benefit"]["unit"] == "万元"
    assert api("leader").get("/api/v1/policies/NOPE").status_code == 404
    v = body(api("leader").get("/api/v1/policies/KJ-2025-01/versions/1"))
    assert v["document"]["code"] == "KJ-2025-01"


def test_matches_in_the_users_scope(api, examples):
    out = body(api("bureau").get("/api/v1/policies/KJ-2025-01/matches", {"as_of": "2026-06-01"}))
    assert out["policy"] == "KJ-2025-01" and out["in_force"] is True
    rows = {r["credit_code"]: r for r in out["results"]}
    assert rows[E1]["result"] == "eligible" and rows[E1]["amount_wan"] == 30
    assert rows[E2]["result"] == "ineligible" and rows[E2]["near_miss"] is True
    assert rows[E2]["failed"][0]["index"] == 0 and rows[E2]["amount_wan"] is None
    officer = body(
        api("officer_t02").get("/api/v1/policies/KJ-2025-01/matches", {"as_of": "2026-06-01"})
    )
    assert [r["credit_code"] for r in officer["results"]] == [E2]
    # Outside its validity a policy matches nobody.
    out = body(api("bureau").get("/api/v1/policies/KJ-2025-01/matches", {"as_of": "2028-01-01"}))
    assert out["in_force"] is False and out["results"] == []
    assert api("enterprise").get("/api/v1/policies/KJ-2025-01/matches").status_code == 403


def test_reverse_view_for_one_enterprise(api, examples):
    out = body(api("bureau").get(f"/api/v1/enterprises/{E1}/policies", {"as_of": "2026-06-01"}))
    by_code = {r["policy"]: r for r in out["results"]}
    assert by_code["KJ-2025-01"]["result"] == "eligible"
    assert "RC-2027-01" not in by_code  # not yet in force
    assert out["results"][0]["result"] == "eligible"  # eligible first
    assert api("officer_t02").get(f"/api/v1/enterprises/{E1}/policies").status_code == 404


def test_import_over_the_api(api, district):
    c = api("bureau")
    path = EXAMPLES_DIR / "rd-and-innovation.yaml"
    with path.open("rb") as f:
        r = c.post("/api/v1/policies/import", {"file": f, "dry_run": "true"})
    assert r.status_code == 200 and body(r)["dry_run"] is True and body(r)["created"] >= 1
    assert body(c.get("/api/v1/policies"))["count"] == 0
    bad = b"- code: X\n  title: t\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = c.post("/api/v1/policies/import", {"file": SimpleUploadedFile("bad.yaml", bad)})
    assert r.status_code == 422 and body(r)["errors"]
    with path.open("rb") as f:
        assert api("officer_t01").post("/api/v1/policies/import", {"file": f}).status_code == 403


def test_push_once_and_the_digest(api, examples, users, district):
    from investmap.policies.models import Policy

    # The import's commit refreshed the stored matches and pushed the new eligible firms.
    kj = Policy.objects.get(code="KJ-2025-01").current
    e1, e2 = district["enterprises"]["e1"], district["enterprises"]["e2"]
    mine = Notification.objects.filter(user=users["officer_t01"], kind="policy_match")
    assert mine.filter(key=f"policy-match:{kj.pk}:{e1.pk}").count() == 1
    # A near miss is for the digest, never a message of its own.
    assert not Notification.objects.filter(key=f"policy-match:{kj.pk}:{e2.pk}").exists()
    assert push.push()["sent"] == 0  # never twice
    engine.refresh(as_of=dt.date(2026, 6, 1))
    assert push.push()["sent"] == 0
    assert mine.filter(key=f"policy-match:{kj.pk}:{e1.pk}").count() == 1
    out = body(api("bureau").get("/api/v1/policies/digest"))
    kj = next(p for p in out["policies"] if p["code"] == "KJ-2025-01")
    assert [f["credit_code"] for f in kj["eligible"]] == [E1]
    assert (
        kj["near_misses"][0]["count"] == 1 and kj["near_misses"][0]["firms"][0]["credit_code"] == E2
    )


def test_match_and_refresh_commands(examples):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "policies", "match", "--policy", "KJ-2025-01", "--as-of", "2026-06-01", "--json", stdout=out
    )
    answer = json.loads(out.getvalue())
    assert answer["policy"] == "KJ-2025-01" and answer["in_force"] is True
    rows = {r["credit_code"]: r for r in answer["results"]}
    assert set(rows[E1]) >= {
        "credit_code",
        "result",
        "near_miss",
        "failed",
        "unknown",
        "amount_wan",
    }
    assert rows[E1]["result"] == "eligible"
    out = io.StringIO()
    call_command(
        "policies", "match", "--policy", "KJ-2025-01", "--user", "officer_t02", "--json", stdout=out
    )
    assert [r["credit_code"] for r in json.loads(out.getvalue())["results"]] == [E2]
    out = io.StringIO()
    call_command("policies", "refresh", "--as-of", "2026-06-01", stdout=out)
    assert '"sent"' in out.getvalue()
    with pytest.raises(SystemExit):
        call_command("policies", "match", "--policy", "NOPE", "--json", stdout=io.StringIO())
