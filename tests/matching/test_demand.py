"""The demand parser: every rule, each error naming its field and what is accepted."""

import pytest

from investmap.matching import demand as dm
from investmap.matching.demand import InvalidDemand, Near, parse
from investmap.resources.choices import BuildingType, LandUse, ParcelStatus, PoiCategory

PLACES = {"towns": {"T01", "T02"}, "parks": {"P01"}}


def errors_of(data, **kw) -> dict[str, list[str]]:
    with pytest.raises(InvalidDemand) as info:
        parse(data, **kw)
    errors = info.value.errors
    assert errors and all(isinstance(v, list) and v for v in errors.values())
    assert all(isinstance(m, str) and m for v in errors.values() for m in v)
    return errors


def text(errors, field) -> str:
    return " ".join(errors[field])


# --- defaults ---------------------------------------------------------------------


def test_minimal_land_demand_fills_defaults():
    d = parse({"area_mu_min": 30})
    assert d.area_mu_min == 30.0 and d.area_mu_max is None
    assert d.status == ("available", "idle", "low_efficiency") == dm.DEFAULT_STATUSES
    assert d.limit == dm.DEFAULT_LIMIT == 20
    assert d.max_parcels == dm.DEFAULT_MAX_PARCELS == 3
    assert d.adjacency_m == 1.0
    assert d.allow_combine is True
    assert d.land_use == () and d.near == () and d.weights == {}
    assert d.wants_land and not d.wants_floor
    out = d.as_dict()
    assert out == {
        "area_mu_min": 30.0,
        "status": ["available", "idle", "low_efficiency"],
        "allow_combine": True,
        "max_parcels": 3,
        "adjacency_m": 1.0,
        "limit": 20,
    }


def test_floor_demand_and_full_document():
    d = parse(
        {
            "floor_m2_min": "1000",
            "floor_m2_max": 5000,
            "floor_load_min_kn_m2": 3,
            "clear_height_min_m": 4.5,
            "building_type": ["factory", "office", "factory"],
            "max_rent_yuan_m2_day": 1.2,
            "towns": "T01, T02",
            "exclude_parks": ["P01"],
        },
        place_codes=PLACES,
    )
    assert d.wants_floor and not d.wants_land
    assert d.floor_m2_min == 1000.0 and d.floor_m2_max == 5000.0
    assert d.building_type == ("factory", "office")  # deduplicated, order kept
    assert d.towns == ("T01", "T02") and d.exclude_parks == ("P01",)
    assert d.clear_height_min_m == 4.5


def test_full_land_document_round_trips_through_as_dict():
    data = {
        "area_mu_min": 40,
        "area_mu_max": 60,
        "land_use": ["M1", "M2"],
        "status": ["available"],
        "max_price_wan": 3000,
        "plot_ratio_min": 1.2,
        "investment_wan_per_mu": 500,
        "tax_wan_per_mu": 30,
        "near": [
            {"category": "metro_station", "within_m": 3000},
            {"category": "school", "weight": 2},
            {"category": "hospital", "within_m": 5000, "weight": 0.5},
        ],
        "allow_combine": False,
        "max_parcels": 4,
        "adjacency_m": 0.5,
        "limit": 5,
        "weights": {"area": 2, "combine_penalty": 0.2},
    }
    d = parse(data)
    assert d.near == (
        Near("metro_station", 3000.0, None),
        Near("school", None, 2.0),
        Near("hospital", 5000.0, 0.5),
    )
    assert d.near[0].hard and not d.near[1].hard
    assert d.near[1].reference_m == dm.DEFAULT_NEAR_REFERENCE_M
    assert d.near[2].reference_m == 5000.0
    assert d.weights == {"area": 2.0, "combine_penalty": 0.2}
    assert d.allow_combine is False and d.max_parcels == 4 and d.limit == 5
    again = parse(d.as_dict())
    assert again == d


def test_empty_strings_and_none_count_as_absent():
    d = parse({"area_mu_min": 10, "area_mu_max": "", "land_use": None, "near": "", "limit": None})
    assert d.area_mu_max is None and d.land_use == () and d.near == () and d.limit == 20


def test_status_and_code_lists_accept_comma_strings():
    d = parse({"area_mu_min": 1, "land_use": "M1,M0", "status": "idle"})
    assert d.land_use == ("M1", "M0") and d.status == ("idle",)


# --- errors -----------------------------------------------------------------------


def test_not_an_object():
    for data in ([], "x", None, 3):
        errors = errors_of(data)
        assert list(errors) == ["__all__"]


def test_space_is_required():
    errors = errors_of({"land_use": ["M1"]})
    msg = text(errors, "__all__")
    for name in ("area_mu_min", "area_mu_max", "floor_m2_min", "floor_m2_max"):
        assert name in msg


def test_unknown_field_names_the_accepted_fields():
    errors = errors_of({"area_mu_min": 10, "area": 5, "colour": "red"})
    assert set(errors) == {"area", "colour"}
    for name in dm.KNOWN:
        assert name in text(errors, "area")


@pytest.mark.parametrize("name", dm.NUMBERS)
def test_negative_and_non_numbers(name):
    data = {"area_mu_min": 10, name: -1}
    errors = errors_of(data)
    assert name in errors and "-1" in text(errors, name)
    errors = errors_of({**data, name: "lots"})
    assert name in errors and "lots" in text(errors, name)
    for bad in ("nan", "inf", float("inf"), float("nan"), True, [1], {"a": 1}):
        errors = errors_of({**data, name: bad})
        assert name in errors, bad


def test_min_above_max():
    errors = errors_of({"area_mu_min": 60, "area_mu_max": 40})
    assert list(errors) == ["area_mu_min"]
    assert "60" in text(errors, "area_mu_min") and "40" in text(errors, "area_mu_min")
    errors = errors_of({"floor_m2_min": 6000, "floor_m2_max": 500})
    assert list(errors) == ["floor_m2_min"]
    assert "m²" in text(errors, "floor_m2_min")
    # equal bounds are fine
    assert parse({"area_mu_min": 40, "area_mu_max": 40}).area_mu_max == 40


def test_zero_maximum():
    errors = errors_of({"area_mu_max": 0})
    assert "area_mu_max" in errors
    assert "__all__" not in errors  # the field error says enough
    errors = errors_of({"floor_m2_max": 0})
    assert "floor_m2_max" in errors


def test_a_bad_area_does_not_also_ask_for_an_area():
    errors = errors_of({"area_mu_min": -5})
    assert list(errors) == ["area_mu_min"]


@pytest.mark.parametrize(
    ("name", "enum", "bad"),
    [
        ("land_use", LandUse, "M9"),
        ("status", ParcelStatus, "sold"),
        ("building_type", BuildingType, "castle"),
    ],
)
def test_unknown_codes_name_the_accepted_codes(name, enum, bad):
    errors = errors_of({"area_mu_min": 1, name: [enum.values[0], bad]})
    assert list(errors) == [name]
    msg = text(errors, name)
    assert bad in msg
    for code in enum.values:
        assert code in msg
    errors = errors_of({"area_mu_min": 1, name: {"x": 1}})
    assert list(errors) == [name]
    errors = errors_of({"area_mu_min": 1, name: 7})
    assert list(errors) == [name]


def test_empty_status_list():
    errors = errors_of({"area_mu_min": 1, "status": []})
    msg = text(errors, "status")
    for code in ParcelStatus.values:
        assert code in msg


def test_place_codes_checked_when_known():
    errors = errors_of(
        {"area_mu_min": 1, "towns": ["T01", "T99"], "exclude_parks": ["P77"]},
        place_codes=PLACES,
    )
    assert set(errors) == {"towns", "exclude_parks"}
    assert "T99" in text(errors, "towns") and "T01, T02" in text(errors, "towns")
    assert "P77" in text(errors, "exclude_parks") and "P01" in text(errors, "exclude_parks")
    # without the district's codes, anything goes (the command checks through services)
    assert parse({"area_mu_min": 1, "towns": ["T99"]}).towns == ("T99",)
    errors = errors_of({"area_mu_min": 1, "parks": 5})
    assert list(errors) == ["parks"]


def test_place_list_with_non_string_items_is_an_error_not_a_crash():
    errors = errors_of({"area_mu_min": 1, "towns": [{"code": "T01"}]}, place_codes=PLACES)
    assert list(errors) == ["towns"]
    errors = errors_of({"area_mu_min": 1, "parks": [["P01"]]}, place_codes=PLACES)
    assert list(errors) == ["parks"]


@pytest.mark.parametrize(
    ("items", "field", "needle"),
    [
        ({"category": "metro_station"}, "near", "category"),  # not a list
        (["metro_station"], "near[0]", "category"),  # not an object
        ([{"category": "volcano", "within_m": 10}], "near[0]", "volcano"),
        ([{"within_m": 10}], "near[0]", "metro_station"),
        ([{"category": "school"}], "near[0]", "within_m"),  # neither limit nor weight
        ([{"category": "school", "within_m": 0}], "near[0]", "within_m"),
        ([{"category": "school", "within_m": -5}], "near[0]", "within_m"),
        ([{"category": "school", "within_m": 100_001}], "near[0]", "100000"),
        ([{"category": "school", "within_m": "far"}], "near[0]", "within_m"),
        ([{"category": "school", "weight": 0}], "near[0]", "weight"),
        ([{"category": "school", "weight": -1}], "near[0]", "weight"),
        ([{"category": "school", "weight": "much"}], "near[0]", "weight"),
        ([{"category": "school", "within_m": 10, "radius": 5}], "near[0]", "radius"),
    ],
)
def test_bad_near_items(items, field, needle):
    errors = errors_of({"area_mu_min": 1, "near": items})
    assert list(errors) == [field], errors
    assert needle in text(errors, field)


def test_unknown_near_category_lists_every_category():
    errors = errors_of({"area_mu_min": 1, "near": [{"category": "volcano", "within_m": 10}]})
    for code in PoiCategory.values:
        assert code in text(errors, "near[0]")


def test_near_errors_are_per_item_and_duplicates_rejected():
    errors = errors_of(
        {
            "area_mu_min": 1,
            "near": [
                {"category": "school", "within_m": 500},
                {"category": "volcano", "within_m": 10},
                {"category": "school", "within_m": 900},  # the same hard limit twice
                {"category": "school", "weight": 1},  # a preference beside a limit is fine
            ],
        }
    )
    assert set(errors) == {"near[1]", "near[2]"}
    assert "school" in text(errors, "near[2]")


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("max_parcels", 1, False),
        ("max_parcels", 2, True),
        ("max_parcels", dm.MAX_PARCELS, True),
        ("max_parcels", dm.MAX_PARCELS + 1, False),
        ("max_parcels", 2.5, False),
        ("max_parcels", True, False),
        ("max_parcels", "3", True),
        ("max_parcels", "three", False),
        ("limit", 0, False),
        ("limit", 1, True),
        ("limit", dm.MAX_LIMIT, True),
        ("limit", dm.MAX_LIMIT + 1, False),
        ("limit", -3, False),
        ("limit", "10", True),
        ("limit", "²", False),
    ],
)
def test_whole_number_ranges(name, value, ok):
    data = {"area_mu_min": 1, name: value}
    if ok:
        assert getattr(parse(data), name) == int(value)
    else:
        errors = errors_of(data)
        assert list(errors) == [name]
        lo = 2 if name == "max_parcels" else 1
        hi = dm.MAX_PARCELS if name == "max_parcels" else dm.MAX_LIMIT
        assert str(lo) in text(errors, name) and str(hi) in text(errors, name)


def test_adjacency_is_bounded_by_the_districts(settings):
    assert parse({"area_mu_min": 1, "adjacency_m": 0}).adjacency_m == 0
    assert parse({"area_mu_min": 1, "adjacency_m": 1}).adjacency_m == 1
    for bad in (1.5, -0.1, "x", "nan"):
        errors = errors_of({"area_mu_min": 1, "adjacency_m": bad})
        assert list(errors) == ["adjacency_m"] and "1.0" in text(errors, "adjacency_m")
    settings.INVESTMAP_MATCH_ADJACENCY_M = 5.0
    assert parse({"area_mu_min": 1, "adjacency_m": 4}).adjacency_m == 4
    errors = errors_of({"area_mu_min": 1, "adjacency_m": 6})
    assert "5.0" in text(errors, "adjacency_m")


def test_allow_combine_must_be_boolean():
    errors = errors_of({"area_mu_min": 1, "allow_combine": "yes"})
    assert list(errors) == ["allow_combine"]
    assert parse({"area_mu_min": 1, "allow_combine": False}).allow_combine is False


def test_weights():
    ok = parse({"area_mu_min": 1, "weights": {"near": 0, "price": "2"}}).weights
    assert ok == {"near": 0.0, "price": 2.0}
    errors = errors_of({"area_mu_min": 1, "weights": [1, 2]})
    for key in ("area", "price", "near", "combine_penalty"):
        assert key in text(errors, "weights")
    errors = errors_of({"area_mu_min": 1, "weights": {"beauty": 1}})
    assert "beauty" in text(errors, "weights") and "combine_penalty" in text(errors, "weights")
    for bad in (
        {"area": -1},
        {"area": "x"},
        {"combine_penalty": 1},
        {"combine_penalty": 1.5},
        {"near": "nan"},
        {"near": float("nan")},
        {"area": float("inf")},
        {"price": "inf"},
    ):
        errors = errors_of({"area_mu_min": 1, "weights": bad})
        assert list(errors) == ["weights"], bad
    # the penalty's message gives its range
    errors = errors_of({"area_mu_min": 1, "weights": {"combine_penalty": 1}})
    assert "1" in text(errors, "weights").replace("combine_penalty", "")


def test_near_weight_must_be_finite():
    for bad in (float("nan"), float("inf"), "nan", "inf"):
        errors = errors_of({"area_mu_min": 1, "near": [{"category": "school", "weight": bad}]})
        assert list(errors) == ["near[0]"], bad


def test_every_error_is_reported_at_once():
    errors = errors_of(
        {
            "area_mu_min": -1,
            "land_use": ["M9"],
            "limit": 0,
            "max_parcels": 9,
            "adjacency_m": 50,
            "bogus": 1,
            "near": [{"category": "volcano"}],
        }
    )
    assert set(errors) == {
        "area_mu_min",
        "land_use",
        "limit",
        "max_parcels",
        "adjacency_m",
        "bogus",
        "near[0]",
    }


def test_invalid_demand_message_joins_the_errors():
    with pytest.raises(InvalidDemand) as info:
        parse({"area_mu_min": -1})
    assert "area_mu_min" in str(info.value)
    assert isinstance(info.value, ValueError)
