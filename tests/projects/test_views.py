"""The project pages through Django's test client: the list with its filters, export
and the "new project" form, the board, one project's file with its forms (edit with
If-Match and the 412 merge, stage moves with their 422 messages, approvals, activities,
documents, capital, site), alerts, approvals, the overview against the API, the inbox,
and scope (an officer of another town gets 404, a leader reads without forms).
(Browser tests with screenshots: tests/browser/test_projects_pages.py.)"""

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from investmap.core.models import Notification
from investmap.core.scope import scope_for
from investmap.matching.models import CandidateList
from investmap.projects import services
from investmap.projects.models import Activity, Approval, Project

D = dt.date
TODAY = dt.date.today()


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def client_for(user=None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def make(users, *, by="bureau", **fields) -> Project:
    data = {
        "name": "东湖新能源汽车零部件项目",
        "category": "new_land",
        "town": "T01",
        "team": "TEAM-T01",
        "industry_code": "3670",
        "total_investment_wan": 5000,
        **fields,
    }
    user = users[by]
    return services.create(data=data, scope=scope_for(user), user=user)


def move(users, project, to, by="bureau", **milestones):
    user = users[by]
    return services.transition(
        code=project.code, to=to, milestones=milestones, scope=scope_for(user), user=user
    )


@pytest.fixture
def projects(users):
    """Three projects: a T01 lead, a T01 signed key project, a T02 stock-space project."""
    lead = make(users, name="东湖新能源汽车零部件项目")
    signed = make(
        users,
        name="东湖高端装备制造基地",
        total_investment_wan=12000,
        fixed_asset_investment_wan=9000,
        land_area_mu=40,
        expected_tax_wan=1200,
        expected_output_wan=60000,
    )
    # A key project: the signing needs a decision; an officer asks, the bureau approves.
    result = move(
        users, signed, "signed", by="officer_t01", negotiating=days_ago(60), signed=days_ago(30)
    )
    services.decide(
        code=signed.code,
        approval_id=result["approval"].pk,
        decision="approve",
        scope=scope_for(users["bureau"]),
        user=users["bureau"],
    )
    stock = make(
        users,
        name="西山研发中心入驻项目",
        category="stock_space",
        town="T02",
        team="TEAM-T02",
        total_investment_wan=800,
    )
    return {"lead": lead, "signed": Project.objects.get(pk=signed.pk), "stock": stock}


# --- access ------------------------------------------------------------------------------

PAGES = [
    "/projects/",
    "/projects/board/",
    "/projects/overview/",
    "/projects/alerts/",
    "/projects/approvals/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_pages_open_for_project_roles_and_not_for_others(projects, users, url):
    for role in ("bureau", "leader", "officer_t01", "team_t01"):
        r = client_for(users[role]).get(url)
        assert r.status_code == 200, (role, url)
        assert '<html lang="zh-hans">' in r.content.decode()
    for role in ("maintainer", "sysadmin", "enterprise"):
        assert client_for(users[role]).get(url).status_code == 403, (role, url)
    assert Client().get(url).status_code == 302


@pytest.mark.django_db
def test_nav_has_the_projects_entry(projects, users, zh):
    html = client_for(users["officer_t01"]).get("/projects/").content.decode()
    assert f'href="/projects/" class="active">{zh("Projects")}</a>' in html
    html = client_for(users["maintainer"]).get("/parcels/").content.decode()
    assert 'href="/projects/"' not in html  # maintainers have no project library


@pytest.mark.django_db
def test_officer_of_another_town_gets_404_for_the_file_and_its_forms(projects, users):
    code = projects["lead"].code
    c = client_for(users["officer_t02"])
    assert c.get(f"/projects/{code}/").status_code == 404
    assert c.get(f"/projects/{code}/edit/").status_code == 404
    assert c.get(f"/projects/{code}/sheet.pdf").status_code == 404
    r = c.post(f"/projects/{code}/activities/", {"kind": "visit", "on": days_ago(1), "text": "x"})
    assert r.status_code == 404
    assert not Activity.objects.filter(project=projects["lead"], text="x").exists()
    # Their own town's project opens.
    assert c.get(f"/projects/{projects['stock'].code}/").status_code == 200


@pytest.mark.django_db
def test_leader_reads_the_file_without_any_form(projects, users, zh):
    code = projects["signed"].code
    c = client_for(users["leader"])
    r = c.get(f"/projects/{code}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "东湖高端装备制造基地" in html
    for marker in (
        'id="pj-edit"',
        'id="pj-move-form"',
        'id="pj-activity-form"',
        'id="pj-capital-form"',
        'id="pj-document-form"',
        'class="pj-decide"',
    ):
        assert marker not in html, marker
    assert zh("You may read this project but not change it.") in html
    assert c.get(f"/projects/{code}/edit/").status_code == 403
    r = c.post(f"/projects/{code}/move/", {"to": "registered", "milestone_registered": days_ago(1)})
    assert r.status_code == 403
    assert Project.objects.get(code=code).stage == "signed"
    r = c.post(f"/projects/{code}/capital/", {"on": days_ago(1), "amount_wan": "100"})
    assert r.status_code == 403
    # The leader has no "new project" form and cannot post one.
    assert 'id="pj-new-form"' not in c.get("/projects/").content.decode()
    assert c.post("/projects/new/", {"name": "x"}).status_code == 403


# --- the list ---------------------------------------------------------------------------


def codes_in(html: str) -> list[str]:
    return re.findall(r'<tr data-code="([^"]+)"', html)


@pytest.mark.django_db
def test_list_is_scoped_filtered_and_exported_with_the_same_filters(projects, users, zh):
    c = client_for(users["bureau"])
    html = c.get("/projects/").content.decode()
    assert sorted(codes_in(html)) == sorted(p.code for p in projects.values())
    assert zh("Signed") in html and "#1e88e5" in html  # stage badge with its colour
    # Officer of T01: the two T01 projects only.
    own = codes_in(client_for(users["officer_t01"]).get("/projects/").content.decode())
    assert sorted(own) == sorted([projects["lead"].code, projects["signed"].code])
    # Filters: stage, town, category, grade, investment range, search.
    assert codes_in(c.get("/projects/?stage=signed").content.decode()) == [projects["signed"].code]
    assert codes_in(c.get("/projects/?town=T02").content.decode()) == [projects["stock"].code]
    assert codes_in(c.get("/projects/?category=stock_space").content.decode()) == [
        projects["stock"].code
    ]
    assert codes_in(c.get("/projects/?grade=key").content.decode()) == [projects["signed"].code]
    r = c.get("/projects/?min_investment=1000&max_investment=6000")
    assert codes_in(r.content.decode()) == [projects["lead"].code]
    assert codes_in(c.get("/projects/?q=研发中心").content.decode()) == [projects["stock"].code]
    two = codes_in(c.get("/projects/?stage=negotiating&stage=signed").content.decode())
    assert two == [projects["signed"].code]
    assert len(codes_in(c.get("/projects/?stage=lead&stage=signed").content.decode())) == 3
    # The export link carries the filters; the workbook holds the same rows.
    html = c.get("/projects/?town=T01&stage=signed").content.decode()
    href = re.search(r'href="([^"]+export\.xlsx[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "town=T01" in href and "stage=signed" in href
    r = c.get(href)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [row[0] for row in ws.iter_rows(min_row=2, values_only=True)] == [
        projects["signed"].code
    ]


@pytest.mark.django_db
def test_list_htmx_request_gets_the_table_only_and_bad_filters_are_named(projects, users, zh):
    c = client_for(users["bureau"])
    r = c.get("/projects/?town=T02", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.lstrip().startswith('<div id="results"')
    assert "<html" not in html
    assert codes_in(html) == [projects["stock"].code]
    r = c.get("/projects/?min_investment=abc")
    assert r.status_code == 200
    html = r.content.decode()
    assert zh("Some filters are not valid; nothing is shown until they are corrected.") in html
    assert "min_investment" in html and codes_in(html) == []


@pytest.mark.django_db
def test_list_pages(users):
    scope, user = scope_for(users["bureau"]), users["bureau"]
    for i in range(53):
        services.create(data={"name": f"项目{i:02d}", "town": "T01"}, scope=scope, user=user)
    c = client_for(user)
    first = codes_in(c.get("/projects/?order=code").content.decode())
    second = codes_in(c.get("/projects/?order=code&page=2").content.decode())
    assert len(first) == 50 and len(second) == 3
    assert not set(first) & set(second)


@pytest.mark.django_db
def test_new_project_form(projects, users, zh):
    c = client_for(users["officer_t01"])
    assert 'id="pj-new-form"' in c.get("/projects/").content.decode()
    r = c.post(
        "/projects/new/",
        {
            "name": "东湖储能电池项目",
            "category": "new_land",
            "industry_code": "3841",
            "total_investment_wan": "150000",
            "town": "T01",
            "strategic": "on",
        },
    )
    assert r.status_code == 302
    p = Project.objects.get(name="东湖储能电池项目")
    assert r["Location"] == f"/projects/{p.code}/"
    assert (p.stage, p.grade, p.strategic, p.officer.username) == (
        "lead",
        "major",
        True,
        "officer_t01",
    )
    # Refused: the form comes back open with the input and the service's message.
    r = c.post("/projects/new/", {"name": "", "industry_code": "abc", "town": "T01"})
    assert r.status_code == 422
    html = r.content.decode()
    assert 'id="pj-new" open' in html
    assert 'value="abc"' in html
    assert "industry_code" in html
    # An officer of T01 cannot create a project for T02.
    r = c.post("/projects/new/", {"name": "越权项目", "town": "T02", "officer": "officer_t02"})
    assert r.status_code == 403
    assert not Project.objects.filter(name="越权项目").exists()


# --- the board ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_board_columns_count_and_sum_by_stage(projects, users, zh):
    c = client_for(users["bureau"])
    html = c.get("/projects/board/").content.decode()
    cols = dict(
        re.findall(r'<section class="pj-col[^"]*" data-stage="(\w+)" data-count="(\d+)"', html)
    )
    assert len(cols) == 10
    assert cols["lead"] == "2" and cols["signed"] == "1" and cols["production"] == "0"
    assert "12,000" in html  # the signed column's amount
    # Same filters as the list.
    html = c.get("/projects/board/?town=T02").content.decode()
    cols = dict(re.findall(r'data-stage="(\w+)" data-count="(\d+)"', html))
    assert cols["lead"] == "1" and cols["signed"] == "0"
    html = client_for(users["officer_t02"]).get("/projects/board/").content.decode()
    assert "东湖高端装备制造基地" not in html and "东湖新能源汽车零部件项目" not in html


# --- the project file --------------------------------------------------------------------


@pytest.mark.django_db
def test_file_shows_everything_on_one_screen(projects, users, zh):
    p = projects["signed"]
    services.add_activity(
        code=p.code,
        kind="visit",
        on=days_ago(3),
        text="走访企业总部",
        scope=scope_for(users["bureau"]),
        user=users["bureau"],
    )
    services.add_activity(
        code=p.code,
        kind="meeting",
        on=(TODAY + dt.timedelta(days=10)).isoformat(),
        text="签约后首次协调会",
        scope=scope_for(users["bureau"]),
        user=users["bureau"],
    )
    html = client_for(users["bureau"]).get(f"/projects/{p.code}/").content.decode()
    assert "东湖高端装备制造基地" in html and p.code in html
    # Lifecycle path: dates of the milestones reached; the current stage marked.
    assert re.search(r'data-stage="signed" data-state="current"', html)
    assert days_ago(30) in html and days_ago(60) in html
    # Timeline with system entries and the scheduled meeting marked.
    assert "走访企业总部" in html and "签约后首次协调会" in html
    assert re.search(r'class="pj-event scheduled"[^>]*data-kind="meeting"', html)
    assert re.search(r'class="pj-event system"[^>]*data-kind="stage"', html)
    # The signing counted once, the 标准地 check at signing, the approval decided.
    assert zh("First signing") in html
    assert 'data-phase="signing"' in html
    assert 'data-indicator="investment_intensity_wan_per_mu"' in html
    assert 'data-status="approved"' in html
    # Forms for an editor; move targets are the allowed moves.
    assert 'id="pj-move-form"' in html
    targets = re.findall(r'<option value="(\w+)" data-kind="(\w+)"', html)
    assert [t for t, _k in targets] == services.detail(
        code=p.code, scope=scope_for(users["bureau"])
    )["allowed_moves"]
    # Change history.
    assert 'class="data compact pj-history"' in html


@pytest.mark.django_db
def test_existing_space_path_shows_land_as_skipped(projects, users, zh):
    html = client_for(users["bureau"]).get(f"/projects/{projects['stock'].code}/").content.decode()
    assert re.search(r'data-stage="land_obtained" data-state="skipped"', html)
    assert zh("skipped") in html
    assert re.search(r'data-stage="lead" data-state="current"', html)


@pytest.mark.django_db
def test_move_refused_keeps_input_and_names_missing_milestones(projects, users, zh):
    p = projects["lead"]
    c = client_for(users["officer_t01"])
    r = c.post(
        f"/projects/{p.code}/move/",
        {"to": "registered", "milestone_negotiating": days_ago(20), "reason": "推进"},
    )
    assert r.status_code == 422
    html = r.content.decode()
    assert "milestones.signed" in html and "milestones.registered" in html
    assert f'value="{days_ago(20)}"' in html  # the date typed is kept
    assert 'value="推进"' in html
    assert Project.objects.get(pk=p.pk).stage == "lead"
    # A future date is refused too.
    future = (TODAY + dt.timedelta(days=5)).isoformat()
    r = c.post(f"/projects/{p.code}/move/", {"to": "negotiating", "milestone_negotiating": future})
    assert r.status_code == 422
    # With the dates: moved (a general project needs no approval).
    r = c.post(
        f"/projects/{p.code}/move/",
        {
            "to": "signed",
            "milestone_negotiating": days_ago(20),
            "milestone_signed": days_ago(10),
            # a date the target does not need is not sent
            "milestone_registered": days_ago(5),
        },
    )
    assert r.status_code == 302
    p.refresh_from_db()
    assert (p.stage, p.signed_on.isoformat()) == ("signed", days_ago(10))
    assert p.registered_on is None


@pytest.mark.django_db
def test_drop_needs_a_reason_and_hold_resumes(projects, users):
    p = projects["stock"]  # general grade: no approval
    c = client_for(users["officer_t02"])
    r = c.post(f"/projects/{p.code}/move/", {"to": "dropped", "reason": ""})
    assert r.status_code == 422 and "reason" in r.content.decode()
    assert c.post(f"/projects/{p.code}/move/", {"to": "on_hold"}).status_code == 302
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert re.search(r'<option value="lead" data-kind="resume"', html)
    assert c.post(f"/projects/{p.code}/move/", {"to": "lead"}).status_code == 302
    assert Project.objects.get(pk=p.pk).stage == "lead"


@pytest.mark.django_db
def test_approval_requested_by_officer_decided_by_bureau_on_the_page(users, zh):
    p = make(users, name="东湖重大项目", total_investment_wan=150000)
    officer = client_for(users["officer_t01"])
    r = officer.post(
        f"/projects/{p.code}/move/",
        {"to": "signed", "milestone_negotiating": days_ago(9), "milestone_signed": days_ago(2)},
        follow=True,
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="pj-pending-banner"' in html
    assert 'class="pj-decide"' not in html  # officers do not decide
    approval = Approval.objects.get(project=p)
    assert Project.objects.get(pk=p.pk).stage == "lead"
    # The bureau sees the buttons; a rejection needs a reason (422, nothing decided).
    bureau = client_for(users["bureau"])
    html = bureau.get(f"/projects/{p.code}/").content.decode()
    assert f'action="/projects/{p.code}/approvals/{approval.pk}/"' in html
    r = bureau.post(f"/projects/{p.code}/approvals/{approval.pk}/", {"decision": "reject"})
    assert r.status_code == 422
    assert Approval.objects.get(pk=approval.pk).status == "pending"
    r = bureau.post(
        f"/projects/{p.code}/approvals/{approval.pk}/", {"decision": "approve", "reason": "同意"}
    )
    assert r.status_code == 302
    assert Project.objects.get(pk=p.pk).stage == "signed"
    assert Approval.objects.get(pk=approval.pk).decided_by == users["bureau"]


@pytest.mark.django_db
def test_bureau_cannot_decide_own_request(users, zh):
    p = make(users, name="东湖重点项目", total_investment_wan=20000)
    bureau = client_for(users["bureau"])
    bureau.post(
        f"/projects/{p.code}/move/",
        {"to": "signed", "milestone_negotiating": days_ago(9), "milestone_signed": days_ago(2)},
    )
    approval = Approval.objects.get(project=p)
    html = bureau.get(f"/projects/{p.code}/").content.decode()
    assert 'class="pj-decide"' not in html
    assert zh("Your own request: another member of the bureau decides.") in html
    r = bureau.post(f"/projects/{p.code}/approvals/{approval.pk}/", {"decision": "approve"})
    assert r.status_code == 403
    assert Approval.objects.get(pk=approval.pk).status == "pending"


@pytest.mark.django_db
def test_activities_capital_and_their_errors(projects, users):
    p = projects["lead"]
    c = client_for(users["officer_t01"])
    r = c.post(
        f"/projects/{p.code}/activities/",
        {"kind": "call", "on": days_ago(1), "text": "电话沟通用地需求"},
    )
    assert r.status_code == 302 and r["Location"].endswith("#timeline")
    a = Activity.objects.get(project=p, text="电话沟通用地需求")
    assert (a.kind, a.user) == ("call", users["officer_t01"])
    r = c.post(f"/projects/{p.code}/activities/", {"kind": "call", "on": "bad", "text": ""})
    assert r.status_code == 422
    html = r.content.decode()
    assert 'value="bad"' in html and "text" in html
    r = c.post(f"/projects/{p.code}/capital/", {"on": days_ago(2), "amount_wan": "300"})
    assert r.status_code == 302
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert "300" in html and 'id="pj-capital"' in html
    r = c.post(f"/projects/{p.code}/capital/", {"on": days_ago(2), "amount_wan": "-5"})
    assert r.status_code == 422


@pytest.mark.django_db
def test_documents_upload_and_download_checks_scope(projects, users, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    p = projects["signed"]
    c = client_for(users["officer_t01"])
    upload = SimpleUploadedFile("投资协议.pdf", b"%PDF-1.4 test", "application/pdf")
    r = c.post(
        f"/projects/{p.code}/documents/",
        {"doc_type": "contract", "title": "投资协议", "on": days_ago(30), "file": upload},
    )
    assert r.status_code == 302
    doc = p.documents.get()
    html = c.get(f"/projects/{p.code}/").content.decode()
    url = f"/projects/{p.code}/documents/{doc.pk}/"
    assert f'href="{url}"' in html and "投资协议" in html
    r = c.get(url)
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"%PDF-1.4 test"
    assert "attachment" in r["Content-Disposition"]
    assert client_for(users["officer_t02"]).get(url).status_code == 404
    assert client_for(users["leader"]).get(url).status_code == 200
    assert c.get(f"/projects/{p.code}/documents/{doc.pk + 99}/").status_code == 404
    # No file: refused with the message, nothing stored.
    r = c.post(f"/projects/{p.code}/documents/", {"doc_type": "contract"})
    assert r.status_code == 422 and p.documents.count() == 1


@pytest.mark.django_db
def test_choose_a_saved_candidate_site(projects, users):
    p = projects["lead"]
    clist = CandidateList.objects.create(
        name="东湖40亩工业用地",
        demand={"area_mu_min": 30},
        results=[
            {
                "rank": 1,
                "kind": "parcel",
                "parcels": ["P-001"],
                "town": "T01",
                "area_mu": 45.1,
                "score": 0.9,
            },
            {
                "rank": 2,
                "kind": "floor_space",
                "building": "B-001",
                "town": "T01",
                "floor_m2": 3500,
                "score": 0.7,
            },
        ],
        created_by=users["officer_t01"],
    )
    c = client_for(users["officer_t01"])
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert "东湖40亩工业用地" in html  # offered in the link form
    assert c.post(f"/projects/{p.code}/site/", {"candidates": clist.pk}).status_code == 302
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert 'id="pj-candidates"' in html and "P-001" in html
    r = c.post(f"/projects/{p.code}/site/", {"candidates": clist.pk, "index": "0"})
    assert r.status_code == 302
    assert list(Project.objects.get(pk=p.pk).parcels.values_list("code", flat=True)) == ["P-001"]
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert 'id="pj-site-map"' in html and 'id="pj-site-data"' in html
    assert '"code": "P-001"' in html
    r = c.post(f"/projects/{p.code}/site/", {"candidates": clist.pk, "index": "7"})
    assert r.status_code == 422


# --- edit: If-Match and the 412 merge -----------------------------------------------------


def etag_in(html: str) -> str:
    return re.search(r'name="if_match" value="([^"]+)"', html).group(1).replace("&quot;", '"')


@pytest.mark.django_db
def test_edit_saves_only_the_changed_fields(projects, users):
    p = projects["lead"]
    c = client_for(users["officer_t01"])
    html = c.get(f"/projects/{p.code}/edit/").content.decode()
    etag = etag_in(html)
    assert etag == services.etag(p)
    form = {
        "if_match": etag,
        "name": "东湖新能源汽车零部件项目（一期）",
        "category": "new_land",
        "industry_code": "3670",
        "total_investment_wan": "5000",
        "town": "T01",
        "team": "TEAM-T01",
        "officer": "",
        "tags": "新能源, 汽车",
    }
    r = c.post(f"/projects/{p.code}/edit/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    p.refresh_from_db()
    assert p.name == "东湖新能源汽车零部件项目（一期）"
    assert p.tags == ["新能源", "汽车"]
    assert p.version == 2 and p.total_investment_wan == 5000
    # The history on the file names the change.
    html = c.get(f"/projects/{p.code}/").content.decode()
    assert "东湖新能源汽车零部件项目（一期）" in html and "pj-old" in html
    # A value the service refuses: 422, input kept, the same ETag to try again.
    r = c.post(
        f"/projects/{p.code}/edit/",
        {**form, "if_match": services.etag(p), "expected_rd_share": "7"},
    )
    assert r.status_code == 422
    html = r.content.decode()
    assert 'value="7"' in html and "expected_rd_share" in html
    assert etag_in(html) == services.etag(p)


@pytest.mark.django_db
def test_stale_etag_gets_412_and_keeps_the_input_merged_with_the_other_change(projects, users, zh):
    p = projects["lead"]
    a = client_for(users["officer_t01"])
    read = etag_in(a.get(f"/projects/{p.code}/edit/").content.decode())
    # Someone else saves in between (total investment).
    services.update(
        code=p.code,
        changes={"total_investment_wan": 8000, "chain_node": "动力电池"},
        if_match=read,
        scope=scope_for(users["bureau"]),
        user=users["bureau"],
    )
    form = {
        "if_match": read,
        "name": "我的新名称",
        "category": "new_land",
        "industry_code": "3670",
        "total_investment_wan": "5000",  # as read: left alone by this user
        "chain_node": "电池包",  # changed by both
        "town": "T01",
        "team": "TEAM-T01",
    }
    r = a.post(f"/projects/{p.code}/edit/", form)
    assert r.status_code == 412
    html = r.content.decode()
    assert 'id="pj-conflict"' in html
    assert zh("Someone changed this project after you opened it.") in html
    assert 'value="我的新名称"' in html  # the user's input is kept
    assert 'id="e-total_investment_wan" name="total_investment_wan" value="8000"' in html
    assert 'value="电池包"' in html and 'data-now="动力电池"' in html
    p.refresh_from_db()
    assert p.name == "东湖新能源汽车零部件项目" and p.total_investment_wan == 8000
    # Saving again with the new ETag applies the input and keeps the other change.
    new = etag_in(html)
    assert new == services.etag(p)
    r = a.post(
        f"/projects/{p.code}/edit/",
        {**form, "if_match": new, "total_investment_wan": "8000"},
    )
    assert r.status_code == 302
    p.refresh_from_db()
    assert (p.name, p.total_investment_wan, p.chain_node) == ("我的新名称", 8000, "电池包")


# --- alerts, approvals, overview, PDF, inbox -----------------------------------------------


@pytest.mark.django_db
def test_alerts_page_as_of(projects, users, zh):
    c = client_for(users["bureau"])
    far = (TODAY + dt.timedelta(days=400)).isoformat()
    html = c.get(f"/projects/alerts/?as_of={far}").content.decode()
    rows = re.findall(r'<tr data-project="([^"]+)" data-type="(\w+)"', html)
    assert (projects["lead"].code, "stale") in rows
    assert (projects["signed"].code, "signed_not_registered") in rows
    html = c.get(f"/projects/alerts/?as_of={far}&type=signed_not_registered").content.decode()
    rows = re.findall(r'<tr data-project="([^"]+)" data-type="(\w+)"', html)
    assert rows == [(projects["signed"].code, "signed_not_registered")]
    html = client_for(users["officer_t02"]).get(f"/projects/alerts/?as_of={far}").content.decode()
    assert {
        code for code, _t in re.findall(r'<tr data-project="([^"]+)" data-type="(\w+)"', html)
    } == {projects["stock"].code}
    r = c.get("/projects/alerts/?as_of=not-a-date")
    assert r.status_code == 200
    assert "not-a-date" in r.content.decode()


@pytest.mark.django_db
def test_approvals_page_lists_pending_and_decides(users, zh):
    p = make(users, name="东湖重大项目", total_investment_wan=150000)
    move(users, p, "signed", by="officer_t01", negotiating=days_ago(9), signed=days_ago(2))
    approval = Approval.objects.get(project=p)
    bureau = client_for(users["bureau"])
    html = bureau.get("/projects/approvals/").content.decode()
    assert f'data-id="{approval.pk}"' in html and "东湖重大项目" in html
    assert '<span class="pj-count"' in html  # the tab shows the pending count
    r = bureau.post(
        f"/projects/{p.code}/approvals/{approval.pk}/",
        {"decision": "approve", "next": "/projects/approvals/"},
    )
    assert r.status_code == 302 and r["Location"] == "/projects/approvals/"
    assert Project.objects.get(pk=p.pk).stage == "signed"
    html = client_for(users["officer_t02"]).get("/projects/approvals/").content.decode()
    assert "东湖重大项目" not in html


def table_numbers(html: str, by: str) -> dict:
    table = re.search(
        rf'<table class="data compact" id="pj-by-{by}">(.*?)</table>', html, re.S
    ).group(1)
    out = {}
    for key, n in re.findall(r'<tr data-key="([^"]*)">.*?data-projects>(\d+)<', table, re.S):
        out[key or None] = int(n)
    total = re.search(r"<tr data-total>.*?data-projects>(\d+)<", table, re.S).group(1)
    return {"groups": out, "total": int(total)}


@pytest.mark.django_db
def test_overview_numbers_equal_the_api(projects, users, zh):
    c = client_for(users["bureau"])
    html = c.get("/projects/overview/").content.decode()
    for by in ("stage", "category", "town", "team"):
        api = c.get(f"/api/v1/projects/stats?group_by={by}").json()
        page = table_numbers(html, by)
        assert page["total"] == api["total"]["projects"] == 3
        assert page["groups"] == {g["key"]: g["projects"] for g in api["groups"]}, by
        assert sum(page["groups"].values()) == page["total"]
    funnel = c.get("/api/v1/projects/funnel").json()
    for s in funnel["stages"]:
        m = re.search(rf'<tr data-stage="{s["stage"]}">.*?data-reached>(\d+)<', html, re.S)
        assert int(m.group(1)) == s["reached"]
    assert "东湖高端装备制造基地" in html  # a key project
    # The officer's overview covers their projects only.
    html = client_for(users["officer_t01"]).get("/projects/overview/").content.decode()
    assert table_numbers(html, "town")["total"] == 2
    # A period and as_of are passed on; a bad date is named.
    r = c.get(f"/projects/overview/?from={days_ago(40)}&to={days_ago(1)}&as_of={days_ago(1)}")
    assert r.status_code == 200
    api = c.get(
        f"/api/v1/projects/stats?group_by=stage&from={days_ago(40)}&to={days_ago(1)}&as_of={days_ago(1)}"
    ).json()
    assert f"{api['total']['signed_wan']:,.0f}" in r.content.decode()
    assert c.get("/projects/overview/?from=xx").status_code == 200


@pytest.mark.django_db
def test_sheet_pdf_is_served_inline(projects, users):
    r = client_for(users["leader"]).get(f"/projects/{projects['signed'].code}/sheet.pdf")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")


@pytest.mark.django_db
def test_inbox_counts_and_marks_read_on_open(users, zh):
    p = make(users, name="东湖重大项目", total_investment_wan=150000)
    move(users, p, "signed", by="officer_t01", negotiating=days_ago(9), signed=days_ago(2))
    c = client_for(users["bureau"])
    assert c.get("/inbox/count/").json() == {"unread": 1}
    html = c.get("/inbox/").content.decode()
    assert "东湖重大项目" in html and 'class="unread"' in html
    assert f'href="/projects/{p.code}/"' in html
    assert c.get("/inbox/count/").json() == {"unread": 0}
    assert Notification.objects.filter(user=users["bureau"], read_at__isnull=True).count() == 0
    assert 'class="unread"' not in c.get("/inbox/").content.decode()
    assert Client().get("/inbox/").status_code == 302
