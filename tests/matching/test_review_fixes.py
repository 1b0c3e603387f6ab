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


def _same_index(a, b) -> None:
    import numpy as np

    for pa, pb in ((a.parcels, b.parcels), (a.buildings, b.buildings)):
        for name in type(pa).__dataclass_fields__:
            if name.startswith("edge_"):
                continue
            x, y = getattr(pa, name), getattr(pb, name)
            if x.dtype == object:
                assert list(x) == list(y), name
            else:
                assert np.array_equal(x, y, equal_nan=True), name
    ea = {
        (int(a.parcels.ids[i]), int(a.parcels.ids[j]), g)
        for i, j, g in zip(a.parcels.edge_a, a.parcels.edge_b, a.parcels.edge_gap, strict=True)
    }
    eb = {
        (int(b.parcels.ids[i]), int(b.parcels.ids[j]), g)
        for i, j, g in zip(b.parcels.edge_a, b.parcels.edge_b, b.parcels.edge_gap, strict=True)
    }
    assert ea == eb


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(3))
def test_a_patched_index_equals_a_fresh_load(district, seed):
    """After random edits, the index patched from the previous one equals a full load."""
    import numpy as np

    from investmap.matching import index as index_mod
    from investmap.resources.models import Poi

    from .test_features import set_outline, square

    rng = np.random.default_rng(seed)
    t1 = district["towns"]["T01"]
    lon0, lat0, cell = 121.04, 31.04, 0.001

    def parcel(code, lon, lat, size):
        p = Parcel(code=code, town=t1, land_use="M1", status="available", area_mu=10.0)
        set_outline(p, square(lon, lat, size)).save()
        return p

    for r in range(4):
        for c in range(4):
            parcel(f"G-{r}{c}", lon0 + c * cell, lat0 + r * cell, cell)
    features.rebuild()

    def state_index():
        st = features.state()
        d = st.detail
        return index_mod.current(
            st.token,
            d.get("packed_order"),
            previous_token=d.get("previous_token"),
            touched=d.get("touched"),
        )

    state_index()
    serial = 0
    for _round in range(8):
        for _op in range(int(rng.integers(1, 4))):
            op = rng.choice(["status", "price", "vacancy", "poi", "add", "drop", "reshape"])
            parcels = list(Parcel.objects.filter(code__startswith="G-"))
            if op == "status":
                p = parcels[int(rng.integers(len(parcels)))]
                p.status = str(rng.choice(["available", "idle", "in_use"]))
                p.save()
            elif op == "price":
                p = parcels[int(rng.integers(len(parcels)))]
                p.price_wan = float(rng.uniform(100, 900))
                p.save()
            elif op == "vacancy":
                b = Building.objects.get(code="B-001")
                b.vacant_floor_m2 = float(rng.uniform(0, 3000))
                b.save()
            elif op == "poi":
                serial += 1
                Poi.objects.create(
                    code=f"Q-{serial}",
                    name="q",
                    category="school",
                    lon=float(lon0 + rng.uniform(0, 0.004)),
                    lat=float(lat0 + rng.uniform(0, 0.004)),
                )
            elif op == "add":
                serial += 1
                parcel(f"G-N{serial}", lon0 + 4 * cell, lat0 + float(rng.integers(4)) * cell, cell)
            elif op == "drop" and len(parcels) > 4:
                parcels[int(rng.integers(len(parcels)))].delete()
            elif op == "reshape":
                p = parcels[int(rng.integers(len(parcels)))]
                lon, lat = json.loads(p.geometry)["coordinates"][0][0]
                set_outline(p, square(lon, lat, cell * 0.7)).save()
        features.refresh()
        st = features.state()
        assert st.detail["touched"] is not None  # small changes: a patch, not a reload
        patched = state_index()
        assert patched.token == st.token
        _same_index(patched, index_mod.load(st.token, st.detail["packed_order"]))
