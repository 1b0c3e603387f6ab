"""The project endpoints under /api/v1: the fixed names, ETag/If-Match, transitions,
approvals, idempotent import, activities and scope."""

import datetime as dt
import json

import pytest
from django.test import Client

from investmap.core.models import ApiToken, Notification
from investmap.projects.models import Activity, Project, SigningEvent, StageChange

AS_OF = "2025-06-30"


@pytest.fixture
def api(users):
    def make(name):
        _token, raw = ApiToken.issue(user=users[name])
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def body(r):
    return json.loads(r.content)


def send(client, method, url, data=None, **headers):
    return getattr(client, method)(
        url,
        data=json.dumps(data) if data is not None else "",
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )


def new(client, **fields):
    data = {"name": "年产10万套汽车零部件项目", "category": "new_land", "town": "T01", **fields}
    r = send(client, "post", f"/api/v1/projects?as_of={AS_OF}", data)
    assert r.status_code == 201, r.content
    return body(r), r["ETag"]


def test_create_read_and_the_fixed_field_names(api):
    c = api("officer_t01")
    out, tag = new(c, industry_code="3670", total_investment_wan=8000, team="TEAM-T01")
    assert out["code"].startswith("XM2025-") and out["stage"] == "lead"
    assert out["officer"] == "officer_t01"  # an officer's own project by default
    assert out["grade"] == "general"
    r = c.get(f"/api/v1/projects/{out['code']}")
    assert r.status_code == 200 and r["ETag"] == tag
    got = body(r)
    for k in (
        "code",
        "name",
        "category",
        "industry_code",
        "total_investment_wan",
        "town",
        "team",
        "officer",
        "stage",
        "milestones",
    ):
        assert k in got
    assert got["milestones"] == {
        s: None
        for s in (
            "negotiating",
            "signed",
            "registered",
            "land_obtained",
            "construction",
            "completed",
            "production",
        )
    }
    assert [a["kind"] for a in got["activities"]] == ["created"]


def test_create_refuses_bad_fields_with_what_is_accepted(api):
    c = api("bureau")
    r = send(
        c,
        "post",
        "/api/v1/projects",
        {"name": "x", "category": "mall", "bogus": 1, "total_investment_wan": -5, "town": "T99"},
    )
    assert r.status_code == 422
    errors = body(r)["errors"]
    assert set(errors) == {"category", "bogus", "total_investment_wan", "town"}
    assert "new_land" in errors["category"][0]
    r = send(c, "post", "/api/v1/projects", {"category": "new_land"})
    assert r.status_code == 422 and "name" in body(r)["errors"]


def test_patch_needs_if_match_and_detects_concurrent_edits(api):
    c = api("bureau")
    out, tag = new(c)
    url = f"/api/v1/projects/{out['code']}"
    r = send(c, "patch", url, {"chain_node": "电池"})
    assert r.status_code == 428 and body(r)["code"] == "precondition_required"
    r = send(c, "patch", url, {"chain_node": "电池"}, **{"If-Match": tag})
    assert r.status_code == 200 and body(r)["chain_node"] == "电池"
    new_tag = r["ETag"]
    assert new_tag != tag
    # A second officer still holding the old ETag is refused, nothing is overwritten.
    r = send(c, "patch", url, {"chain_node": "电机"}, **{"If-Match": tag})
    assert r.status_code == 412 and body(r)["etag"] == new_tag
    assert Project.objects.get(code=out["code"]).chain_node == "电池"
    r = send(c, "patch", url, {"nope": 1}, **{"If-Match": new_tag})
    assert r.status_code == 422 and "nope" in body(r)["errors"]


def test_transition_names_each_missing_and_out_of_order_milestone(api):
    c = api("bureau")
    out, _tag = new(c, total_investment_wan=5000)
    url = f"/api/v1/projects/{out['code']}/transitions?as_of={AS_OF}"
    r = send(
        c,
        "post",
        url,
        {"to": "registered", "milestones": {"negotiating": "2025-03-01", "signed": "2025-02-01"}},
    )
    assert r.status_code == 422
    errors = body(r)["errors"]
    assert set(errors) == {"milestones.signed", "milestones.registered"}
    r = send(
        c,
        "post",
        url,
        {"to": "signed", "milestones": {"negotiating": "2025-03-01", "signed": "2025-07-01"}},
    )
    assert r.status_code == 422 and set(body(r)["errors"]) == {"milestones.signed"}
    r = send(
        c,
        "post",
        url,
        {"to": "signed", "milestones": {"negotiating": "2025-03-01", "signed": "2025-04-01"}},
    )
    assert r.status_code == 200, r.content
    got = body(r)
    assert got["stage"] == "signed" and got["milestones"]["signed"] == "2025-04-01"
    # The first signing is counted once, on the signing date, with the amount then.
    assert list(SigningEvent.objects.values_list("kind", "on", "amount_wan")) == [
        ("first", dt.date(2025, 4, 1), 5000.0)
    ]
    # A new_land project's commitments are checked against 标准地 at signing, on file.
    assert [c["phase"] for c in got["standard_checks"]] == ["signing"]
    assert got["standard_checks"][0]["passed"] is None  # no commitments given: missing, not 0
    r = send(c, "post", url, {"to": "lead"})
    assert r.status_code == 422 and "to" in body(r)["errors"]
    r = send(c, "post", url, {"to": "dropped"})
    assert r.status_code == 422 and "reason" in body(r)["errors"]


def test_hold_resume_and_drop(api):
    c = api("bureau")
    out, _tag = new(c)
    url = f"/api/v1/projects/{out['code']}/transitions?as_of={AS_OF}"
    assert send(c, "post", url, {"to": "on_hold", "reason": "等待规划调整"}).status_code == 200
    r = send(c, "post", url, {"to": "negotiating", "milestones": {"negotiating": "2025-05-01"}})
    assert r.status_code == 422  # on hold resumes only to the stage it left
    r = send(c, "post", url, {"to": "lead"})
    assert r.status_code == 200 and body(r)["stage"] == "lead" and body(r)["held_from"] is None
    r = send(c, "post", url, {"to": "dropped", "reason": "投资方另选他址"})
    assert body(r)["stage"] == "dropped" and body(r)["drop_reason"] == "投资方另选他址"
    assert send(c, "post", url, {"to": "lead"}).status_code == 422
    assert [s.to_stage for s in StageChange.objects.order_by("id")] == [
        "on_hold",
        "lead",
        "dropped",
    ]


def test_signing_a_key_project_needs_another_bureau_members_approval(api, users):
    from investmap.core.choices import Role
    from investmap.core.models import User

    other = User.objects.create_user(
        username="bureau2", password="x", role=Role.BUREAU_STAFF, org_unit=users["bureau"].org_unit
    )
    c = api("officer_t01")
    out, _tag = new(c, total_investment_wan=20000)  # 2亿: a key project
    assert out["grade"] == "key"
    url = f"/api/v1/projects/{out['code']}/transitions?as_of={AS_OF}"
    r = send(
        c,
        "post",
        url,
        {"to": "signed", "milestones": {"negotiating": "2025-03-01", "signed": "2025-04-01"}},
    )
    assert r.status_code == 202 and body(r)["code"] == "approval_required"
    approval = body(r)["approval"]
    assert Project.objects.get(code=out["code"]).stage == "lead"
    assert Notification.objects.filter(user__username="bureau", kind="approval").count() == 1
    # Invalid requests are refused before they reach a decider.
    r = send(c, "post", url, {"to": "signed"})
    assert r.status_code == 422
    decide = f"/api/v1/projects/{out['code']}/approvals/{approval['id']}?as_of={AS_OF}"
    assert send(c, "post", decide, {"decision": "approve"}).status_code == 403  # not bureau
    assert send(api("leader"), "post", decide, {"decision": "approve"}).status_code == 403
    r = send(api("bureau"), "post", decide, {"decision": "reject"})
    assert r.status_code == 422 and "reason" in body(r)["errors"]
    r = send(api("bureau"), "post", decide, {"decision": "approve", "reason": "符合产业导向"})
    assert (
        r.status_code == 200
        and body(r)["status"] == "approved"
        and body(r)["decided_by"] == "bureau"
    )
    p = Project.objects.get(code=out["code"])
    assert p.stage == "signed" and p.signed_on == dt.date(2025, 4, 1)
    assert send(api("bureau"), "post", decide, {"decision": "approve"}).status_code == 422
    # The requester can never approve their own request.
    _token, raw = ApiToken.issue(user=other)
    c2 = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    r = send(c2, "post", url, {"to": "dropped", "reason": "撤资"})
    assert r.status_code == 202
    own = f"/api/v1/projects/{out['code']}/approvals/{body(r)['approval']['id']}"
    assert send(c2, "post", own, {"decision": "approve"}).status_code == 403
    assert send(api("bureau"), "post", own, {"decision": "approve"}).status_code == 200
    assert Project.objects.get(code=out["code"]).stage == "dropped"


def test_counting_after_signing_increase_and_new_investor(api):
    c = api("bureau")
    out, _tag = new(c, total_investment_wan=5000, investor_name="甲公司")
    code = out["code"]
    r = send(
        c,
        "post",
        f"/api/v1/projects/{code}/transitions?as_of=2025-04-01",
        {"to": "signed", "milestones": {"negotiating": "2025-03-01", "signed": "2025-04-01"}},
    )
    tag = r["ETag"]
    r = send(
        c,
        "patch",
        f"/api/v1/projects/{code}?as_of=2025-05-10",
        {"total_investment_wan": 6500},
        **{"If-Match": tag},
    )
    tag = r["ETag"]
    r = send(
        c,
        "patch",
        f"/api/v1/projects/{code}?as_of=2025-05-20",
        {"total_investment_wan": 6000},
        **{"If-Match": tag},
    )
    tag = r["ETag"]
    send(
        c,
        "patch",
        f"/api/v1/projects/{code}?as_of=2025-06-01",
        {"investor_name": "乙公司"},
        **{"If-Match": tag},
    )
    assert [
        (s.kind, s.on.isoformat(), s.amount_wan, s.investor_name)
        for s in SigningEvent.objects.order_by("id")
    ] == [
        ("first", "2025-04-01", 5000.0, "甲公司"),
        ("increase", "2025-05-10", 1500.0, "甲公司"),  # only the increase, when it happened
        ("new_investor", "2025-06-01", 6000.0, "乙公司"),  # a decrease counts nothing
    ]


def test_activities_and_the_rot_clock(api):
    c = api("officer_t01")
    out, _tag = new(c)
    url = f"/api/v1/projects/{out['code']}/activities"
    r = send(c, "post", url, {"kind": "visit", "on": "2025-06-01", "text": "走访企业总部"})
    assert r.status_code == 201
    r = send(c, "post", url, {"kind": "meeting", "on": "2099-01-01", "text": "计划签约仪式"})
    assert r.status_code == 201  # scheduled: on the timeline, not on the clock
    p = Project.objects.get(code=out["code"])
    assert p.last_touched_on == dt.date(2025, 6, 30)  # created "as of" then; the visit was earlier
    r = send(c, "post", url, {"kind": "stage", "on": "x", "text": ""})
    assert r.status_code == 422 and set(body(r)["errors"]) == {"kind", "on", "text"}
    assert Activity.objects.filter(project=p).count() == 3


def test_import_is_idempotent(api):
    c = api("bureau")
    payload = {
        "projects": [
            {
                "external_id": "OA-1",
                "name": "智能装备产业园项目",
                "category": "new_land",
                "town": "T01",
                "total_investment_wan": 3000,
            },
            {
                "external_id": "OA-2",
                "name": "研发中心项目",
                "category": "hq_rd",
                "town": "T02",
                "stage": "negotiating",
                "milestones": {"negotiating": "2025-05-01"},
            },
        ]
    }
    url = f"/api/v1/projects/import?as_of={AS_OF}"
    r = send(c, "post", url, payload)
    assert r.status_code == 400 and body(r)["code"] == "bad_request"
    r1 = send(c, "post", url, payload, **{"Idempotency-Key": "k-1"})
    assert r1.status_code == 200, r1.content
    assert body(r1)["created"] == 2 and Project.objects.count() == 2
    assert Project.objects.get(external_id="OA-2").stage == "negotiating"
    r2 = send(c, "post", url, payload, **{"Idempotency-Key": "k-1"})
    assert r2.status_code == 200 and body(r2) == body(r1) and Project.objects.count() == 2
    changed = {"projects": [dict(payload["projects"][0], total_investment_wan=9000)]}
    r3 = send(c, "post", url, changed, **{"Idempotency-Key": "k-1"})
    assert r3.status_code == 422 and "Idempotency-Key" in body(r3)["errors"]
    r4 = send(c, "post", url, changed, **{"Idempotency-Key": "k-2"})
    assert (
        body(r4)["updated"] == 1
        and Project.objects.get(external_id="OA-1").total_investment_wan == 9000
    )
    # All or nothing: one bad item, nothing created.
    bad = {
        "projects": [
            {"external_id": "OA-3", "name": "新项目"},
            {"external_id": "OA-4", "category": "x"},
        ]
    }
    r5 = send(c, "post", url, bad, **{"Idempotency-Key": "k-3"})
    assert r5.status_code == 422 and Project.objects.count() == 2
    assert set(body(r5)["errors"]) == {"projects[1].category", "projects[1].name"}


def test_scope_officers_their_own_leaders_read_only(api, district):
    bureau = api("bureau")
    t1, _ = new(bureau)
    t2, tag2 = new(bureau, town="T02", name="西山项目")
    officer = api("officer_t01")
    assert officer.get(f"/api/v1/projects/{t2['code']}").status_code == 404
    codes = {p["code"] for p in body(officer.get("/api/v1/projects"))["items"]}
    assert codes == {t1["code"]}
    assert (
        send(
            officer, "patch", f"/api/v1/projects/{t2['code']}", {"name": "x"}, **{"If-Match": tag2}
        ).status_code
        == 404
    )
    r = send(officer, "post", "/api/v1/projects", {"name": "跨镇项目", "town": "T02"})
    assert r.status_code == 403
    leader = api("leader")
    assert len(body(leader.get("/api/v1/projects"))["items"]) == 2
    r = leader.get(f"/api/v1/projects/{t2['code']}")
    assert r.status_code == 200 and body(r)["can_edit"] is False
    assert (
        send(
            leader, "patch", f"/api/v1/projects/{t2['code']}", {"name": "x"}, **{"If-Match": tag2}
        ).status_code
        == 403
    )
    assert send(leader, "post", "/api/v1/projects", {"name": "x"}).status_code == 403
    assert api("maintainer").get("/api/v1/projects").status_code == 403
    assert api("enterprise").get("/api/v1/projects").status_code == 403


def test_list_filters_and_export(api, zh):
    c = api("bureau")
    new(c, total_investment_wan=200000, industry_code="3670", tags=["新能源"])
    new(c, town="T02", category="hq_rd", total_investment_wan=500)
    r = c.get("/api/v1/projects?grade=major&industry=36&tag=新能源")
    assert body(r)["count"] == 1
    r = c.get("/api/v1/projects?grade=huge&order=x")
    assert r.status_code == 422 and set(body(r)["errors"]) == {"grade", "order"}
    r = c.get("/api/v1/projects/export.xlsx?town=T02")
    assert r.status_code == 200
    import io

    import openpyxl

    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    headers = [c.value for c in ws[1]]
    assert ws.max_row == 2 and headers[0] == zh("code")
    assert ws.cell(2, headers.index(zh("category")) + 1).value == zh("Headquarters / R&D")
    assert ws.cell(2, headers.index(zh("total investment (10k yuan)")) + 1).value == 500


def test_documents_upload_over_the_api(api, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    c = api("officer_t01")
    out, _tag = new(c)
    f = SimpleUploadedFile("会议纪要.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    r = c.post(
        f"/api/v1/projects/{out['code']}/documents",
        {"file": f, "doc_type": "minutes", "title": "首次洽谈会议纪要", "on": "2025-06-01"},
    )
    assert r.status_code == 201, r.content
    assert body(r)["title"] == "首次洽谈会议纪要" and body(r)["size"] == 15
    r = c.post(f"/api/v1/projects/{out['code']}/documents", {"doc_type": "poster"})
    assert r.status_code == 422
    docs = body(c.get(f"/api/v1/projects/{out['code']}"))["documents"]
    assert [d["doc_type"] for d in docs] == ["minutes"]
