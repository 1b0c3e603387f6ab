"""Idle land (闲置土地处置办法 2012) at each boundary: one day before, on and after a year."""

import datetime as dt

import pytest

from investmap.efficiency.idle import add_years, classify, fee_estimate

D = dt.date


def not_started(as_of, start=D(2023, 3, 1)):
    return classify(
        contract_start_on=start,
        started_on=None,
        built_ratio=None,
        invested_ratio=None,
        halted_since=None,
        as_of=as_of,
    )


def halted(as_of, *, since=D(2023, 5, 10), built=0.2, invested=0.5, started=D(2022, 1, 1)):
    return classify(
        contract_start_on=D(2021, 6, 1),
        started_on=started,
        built_ratio=built,
        invested_ratio=invested,
        halted_since=since,
        as_of=as_of,
    )


def test_not_started_one_year_boundary():
    assert not_started(D(2024, 2, 29)).reason is None  # the day before the anniversary
    f = not_started(D(2024, 3, 1))
    assert (f.reason, f.idle_since, f.recoverable) == ("not_started_1y", D(2024, 3, 1), False)
    assert not_started(D(2024, 3, 2)).reason == "not_started_1y"


def test_not_started_two_years_is_recoverable():
    assert not_started(D(2025, 2, 28)).recoverable is False
    f = not_started(D(2025, 3, 1))
    assert (
        f.recoverable is True
        and f.recoverable_since == D(2025, 3, 1)
        and f.idle_since == D(2024, 3, 1)
    )
    assert not_started(D(2025, 3, 2)).recoverable is True


def test_started_after_the_as_of_date_counts_as_not_started():
    f = classify(
        contract_start_on=D(2023, 3, 1),
        started_on=D(2024, 6, 1),
        built_ratio=None,
        invested_ratio=None,
        halted_since=None,
        as_of=D(2024, 5, 31),
    )
    assert f.reason == "not_started_1y"
    f = classify(
        contract_start_on=D(2023, 3, 1),
        started_on=D(2024, 6, 1),
        built_ratio=None,
        invested_ratio=None,
        halted_since=None,
        as_of=D(2024, 6, 1),
    )
    assert f.reason is None  # started late, but started: not idle by this rule


def test_halted_one_year_boundary():
    assert halted(D(2024, 5, 9)).reason is None
    f = halted(D(2024, 5, 10))
    assert (f.reason, f.idle_since, f.recoverable) == ("halted_1y", D(2024, 5, 10), False)
    assert halted(D(2024, 5, 11)).reason == "halted_1y"
    assert halted(D(2025, 5, 9)).recoverable is False
    assert halted(D(2025, 5, 10)).recoverable is True


@pytest.mark.parametrize(
    ("built", "invested", "idle"),
    [
        (0.2, 0.5, True),  # under a third built
        (0.5, 0.2, True),  # under 25% invested
        (1 / 3, 0.25, False),  # exactly a third and a quarter: not "less than"
        (0.34, 0.26, False),
        (0.9, None, False),  # built enough; investment unknown → cannot decide
        (None, 0.1, True),
    ],
)
def test_halted_shares(built, invested, idle):
    f = halted(D(2025, 1, 1), built=built, invested=invested)
    assert (f.reason == "halted_1y") is idle


def test_halted_with_unknown_shares_is_undetermined_not_idle():
    f = halted(D(2025, 1, 1), built=None, invested=None)
    assert f.reason is None and f.missing == ("built_ratio", "invested_ratio")
    f = halted(D(2025, 1, 1), built=0.5, invested=None)
    assert f.reason is None and f.missing == ("invested_ratio",)


def test_halted_in_the_future_or_not_halted():
    assert halted(D(2023, 5, 9)).reason is None
    assert halted(D(2030, 1, 1), since=None).reason is None


def test_leap_day_anniversary_and_fee():
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert not_started(D(2025, 2, 27), start=D(2024, 2, 29)).reason is None
    assert not_started(D(2025, 2, 28), start=D(2024, 2, 29)).reason == "not_started_1y"
    assert fee_estimate(900) == 180 and fee_estimate(None) is None
