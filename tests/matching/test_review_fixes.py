"""Edge cases found in review: marks, places, empty buildings, list visibility, exports."""

import io
import json

import pytest
from openpyxl import load_workbook

from investmap.core.scope import scope_for
from investmap.matching import features, services
from investmap.matching.models import ParcelFeature, StaleMark
from investmap.resources.models import Building, Parcel, Town

LAND = {"area_mu_min": 100, "area_mu_max": 140}


@pytest.mark.django_db
def test_refresh_deletes_only_the_marks_it_read(users, monkeypatch):
    """A mark committed while a refresh runs (lower id on PostgreSQL) survives it."""
    services.match_sites(data=LAND, scope=scope_for(users["bureau"]))
    p = Parcel.objects.get(code="P-001")
    p.status = "idle"
    p.save()
    late = {}
    real_plan = features._plan

    def plan_then_mark(marks, full):
        # Another writer's mark arrives after this refresh read its marks.
        late["mark"] = StaleMark.objects.create(kind="parcel", ref_id=p.pk, shape=False)
        return real_plan(marks, full)

    monkeypatch.setattr(features, "_plan", plan_then_mark)
    features.refresh()
    assert StaleMark.objects.filter(pk=late["mark"].pk).exists()
    assert features.pending()


@pytest.mark.django_db
def test_renaming_a_town_renews_the_index(users):
    scope = scope_for(users["bureau"])
    services.match_sites(data=LAND, scope=scope)
    token = features.state().token
    town = Town.objects.get(code="T01")
    town.code = "T01X"
    town.save()
    answer = services.match_sites(data={**LAND, "towns": ["T01X"]}, scope=scope)
    assert features.state().token != token
    assert answer["total"] == 1 and answer["results"][0]["town"] == "T01X"


@pytest.mark.django_db
def test_a_building_without_vacant_space_is_never_offered(users):
    scope = scope_for(users["bureau"])
    b = Building.objects.get(code="B-001")
    b.vacant_floor_m2 = 0
    b.save()
    assert services.match_sites(data={"floor_m2_min": 0}, scope=scope)["total"] == 0
    b.vacant_floor_m2 = 10
    b.save()
    answer = services.match_sites(data={"floor_m2_min": 0}, scope=scope)
    assert [r["building"] for r in answer["results"]] == ["B-001"]


@pytest.mark.django_db
def test_saved_lists_are_seen_across_a_unit_not_beyond(users):
    saved = services.save_candidates(
        name="园区项目", data=LAND, scope=scope_for(users["team_t01"]), user=users["team_t01"]
    )
    seen = {
        name: [x["id"] for x in services.candidate_lists(scope=scope_for(users[name]))]
        for name in ("team_t01", "officer_t01", "officer_t02", "bureau", "leader", "maintainer")
    }
    # The team's list is seen in its town (a team widens to its town), and district-wide.
    assert seen["team_t01"] == [saved["id"]] and seen["officer_t01"] == [saved["id"]]
    assert seen["bureau"] == [saved["id"]] and seen["leader"] == [saved["id"]]
    assert seen["officer_t02"] == []
    # A maintainer whose unit is the district sees everything below it.
    assert seen["maintainer"] == [saved["id"]]
    with pytest.raises(services.NotFound):
        services.candidate_list(pk=saved["id"], scope=scope_for(users["officer_t02"]))


@pytest.mark.django_db
def test_excel_export_keeps_formula_like_text_as_text(users):
    p = Parcel.objects.get(code="P-001")
    Parcel.objects.filter(pk=p.pk).update(code="=HYPERLINK(1)")
    p.refresh_from_db()
    p.save()  # a mark, as an edit would leave
    content = services.export_xlsx(data=LAND, scope=scope_for(users["bureau"]), user=None)
    ws = load_workbook(io.BytesIO(content)).worksheets[0]
    site = ws.cell(row=2, column=3)
    assert site.data_type == "s" and site.value.startswith("=HYPERLINK(1)")


@pytest.mark.django_db
def test_exports_are_capped(users, monkeypatch):
    monkeypatch.setattr(services, "EXPORT_MAX", 1)
    data = {
        "area_mu_min": 1,
        "limit": 50,
        "allow_combine": False,
        "status": ["available", "idle", "in_use"],
    }
    answer = services._export_answer(json.loads(json.dumps(data)), scope_for(users["bureau"]))
    assert answer["total"] > 1 and len(answer["results"]) == 1


@pytest.mark.django_db
def test_the_packed_distances_load_the_same_index_as_the_json(users):
    import numpy as np

    from investmap.matching import index as index_mod

    features.rebuild()
    st = features.state()
    assert st.detail["packed_order"] == list(index_mod.CATEGORIES)
    packed = index_mod.load(st.token, st.detail["packed_order"])
    plain = index_mod.load(st.token, None)  # the JSON path
    for a, b in ((packed.parcels, plain.parcels), (packed.buildings, plain.buildings)):
        assert np.array_equal(a.distances, b.distances, equal_nan=True)
        assert not np.isnan(a.distances).all()
    # another category order (code changed, tables not rebuilt): the JSON path is used
    assert index_mod._packed(ParcelFeature, "parcel", packed.parcels.ids, ["school"]) is None
