"""Project services beyond the API shapes: documents, capital, site choice, history,
board, 标准地 checks at signing and production, grades."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from investmap.core.scope import scope_for
from investmap.matching.models import CandidateList
from investmap.projects import services
from investmap.projects.models import Activity, StandardCheck
from investmap.resources.services import Forbidden, InvalidChange, NotFound

D = dt.date


@pytest.fixture
def bureau(users):
    return users["bureau"], scope_for(users["bureau"])


def make(bureau, **fields):
    user, scope = bureau
    data = {"name": "年产5万吨新材料项目", "category": "new_land", "town": "T01", **fields}
    return services.create(data=data, scope=scope, user=user, as_of=D(2025, 1, 10))


def move(bureau, project, to, **milestones):
    user, scope = bureau
    return services.transition(
        code=project.code,
        to=to,
        milestones=milestones,
        scope=scope,
        user=user,
        as_of=D(2025, 6, 30),
    )


def test_grades_by_bands_and_strategic_flag(settings):
    assert services.grade_for(None, False) == "general"
    assert services.grade_for(9999.9, False) == "general"
    assert services.grade_for(10000, False) == "key"
    assert services.grade_for(100000, False) == "major"
    assert services.grade_for(500, True) == "key"
    assert services.grade_for(200000, True) == "major"
    settings.INVESTMAP_PROJECT_GRADE_BANDS = (("major", 50000.0), ("key", 5000.0), ("general", 0))
    assert services.grade_for(60000, False) == "major"


def test_documents_are_stored_and_reset_the_clock(bureau, users, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    user, scope = bureau
    p = make(bureau)
    pdf = SimpleUploadedFile(
        "投资协议.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n%%EOF\n", "application/pdf"
    )
    doc = services.add_document(
        code=p.code,
        upload=pdf,
        doc_type="contract",
        title="投资协议",
        on="2025-02-01",
        scope=scope,
        user=user,
    )
    assert doc.size == pdf.size and (tmp_path / doc.file.name).read_bytes().startswith(b"%PDF")
    assert services.document(code=p.code, doc_id=doc.pk, scope=scope).title == "投资协议"
    assert Activity.objects.filter(project=p, kind="document").exists()
    with pytest.raises(InvalidChange) as exc:
        services.add_document(code=p.code, upload=None, doc_type="poster", scope=scope, user=user)
    assert set(exc.value.errors) == {"file", "doc_type"}
    other = scope_for(users["officer_t02"])
    with pytest.raises(NotFound):
        services.document(code=p.code, doc_id=doc.pk, scope=other)


def test_capital_and_its_checks(bureau):
    user, scope = bureau
    p = make(bureau)
    c = services.record_capital(
        code=p.code, on="2025-03-01", amount_wan=1200, scope=scope, user=user
    )
    assert c.amount_wan == 1200
    with pytest.raises(InvalidChange) as exc:
        services.record_capital(code=p.code, on="2999-01-01", amount_wan=-1, scope=scope, user=user)
    assert set(exc.value.errors) == {"on", "amount_wan"}


def test_choose_a_site_from_saved_candidates(bureau, district):
    user, scope = bureau
    p = make(bureau)
    clist = CandidateList.objects.create(
        name="新材料项目选址",
        demand={"area_mu_min": 10},
        results=[
            {"kind": "combination", "parcels": ["P-001", "P-002"], "area_mu": 31.5},
            {"kind": "floor_space", "building": district["building"].code},
        ],
        created_by=user,
    )
    services.choose_site(code=p.code, candidates=clist.pk, index=0, scope=scope, user=user)
    p.refresh_from_db()
    assert sorted(x.code for x in p.parcels.all()) == ["P-001", "P-002"] and p.land_area_mu == 31.5
    services.choose_site(code=p.code, candidates=clist.pk, index=1, scope=scope, user=user)
    p.refresh_from_db()
    assert p.building == district["building"] and p.parcels.count() == 0
    with pytest.raises(InvalidChange):
        services.choose_site(code=p.code, candidates=clist.pk, index=5, scope=scope, user=user)
    with pytest.raises(InvalidChange):
        services.choose_site(code=p.code, candidates=999999, scope=scope, user=user)
    detail = services.detail(code=p.code, scope=scope)
    assert (
        detail["candidates"]["name"] == "新材料项目选址"
        and detail["building"] == district["building"].code
    )


def test_standard_land_checked_at_signing_and_at_production(bureau):
    p = make(
        bureau,
        industry_code="3670",
        land_area_mu=50,
        fixed_asset_investment_wan=1,  # far below any investment-intensity floor
        expected_tax_wan=2000,
        expected_output_wan=50000,
    )
    dates = {
        "negotiating": "2025-01-15",
        "signed": "2025-02-01",
        "registered": "2025-02-10",
        "land_obtained": "2025-03-01",
        "construction": "2025-04-01",
        "completed": "2025-05-01",
        "production": "2025-06-01",
    }
    move(bureau, p, "signed", negotiating=dates["negotiating"], signed=dates["signed"])
    signing = StandardCheck.objects.get(project=p, phase="signing")
    assert signing.passed is False and signing.on == D(2025, 2, 1)
    item = next(i for i in signing.items if i["indicator"] == "investment_intensity_wan_per_mu")
    assert item["value"] == pytest.approx(1 / 50) and item["met"] is False
    move(
        bureau,
        p,
        "production",
        **{k: v for k, v in dates.items() if k not in ("negotiating", "signed")},
    )
    production = StandardCheck.objects.get(project=p, phase="production")
    # No actual figures on file: every checked indicator is missing, never read as 0.
    assert production.passed is None and all(i["met"] is None for i in production.items)
    assert [
        c["phase"] for c in services.detail(code=p.code, scope=bureau[1])["standard_checks"]
    ] == [
        "signing",
        "production",
    ]


def test_stock_space_projects_are_not_checked_and_skip_land(bureau):
    p = make(bureau, category="stock_space")
    move(
        bureau,
        p,
        "construction",
        negotiating="2025-01-15",
        signed="2025-02-01",
        registered="2025-02-10",
        construction="2025-03-01",
    )
    assert not StandardCheck.objects.filter(project=p).exists()


def test_history_board_and_edits_by_scope(bureau, users):
    user, scope = bureau
    p = make(bureau, total_investment_wan=3000)
    services.update(
        code=p.code,
        changes={"total_investment_wan": 4000, "chain_node": "电池材料"},
        if_match=services.etag(p),
        scope=scope,
        user=user,
    )
    history = services.detail(code=p.code, scope=scope)["history"]
    assert history[0]["user"] == "bureau"
    assert {c["field"] for c in history[0]["changes"]} >= {"total_investment_wan", "chain_node"}
    board = {c["stage"]: c for c in services.board(params={}, scope=scope)}
    assert board["lead"]["count"] == 1 and board["lead"]["amount_wan"] == 4000
    assert board["signed"]["count"] == 0 and board["signed"]["cards"] == []
    leader = scope_for(users["leader"])
    with pytest.raises(Forbidden):
        services.update(code=p.code, changes={"name": "x"}, if_match=services.etag(p), scope=leader)
    # Milestone corrections by edit are checked for order and the future.
    p.refresh_from_db()
    with pytest.raises(InvalidChange) as exc:
        services.update(
            code=p.code, changes={"signed_on": "2099-01-01"}, if_match=services.etag(p), scope=scope
        )
    assert "milestones.signed" in exc.value.errors


def test_an_officer_creates_in_their_own_unit(users):
    officer = users["team_t01"]
    p = services.create(data={"name": "组内项目"}, scope=scope_for(officer), user=officer)
    assert p.team.code == "TEAM-T01" and p.town.code == "T01" and p.officer == officer
