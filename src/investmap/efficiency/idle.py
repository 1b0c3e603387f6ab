"""Idle land (闲置土地) under the 2012 national measures, evaluated as of a date.

闲置土地处置办法 (国土资源部令第53号, 2012), art. 2: land is idle when
construction has not started one full year after the start date agreed in the
grant contract, or when it started but less than one third of the floor area
is built or less than 25% of the total investment is made and construction
has been halted for one full year. Art. 14: idle for one year → an idle fee of
20% of the grant price; idle for two years → the land may be taken back
without compensation (无偿收回).

`classify(grant, as_of)` is a pure function of a grant's dates and shares:
one year "has passed" on the anniversary itself (满一年), so a grant whose
contracted start was 2024-03-01 is idle from 2025-03-01 on, not on
2025-02-28. A 29 February anniversary falls on 28 February.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FEE_SHARE = 0.20
BUILT_MIN = 1 / 3
INVESTED_MIN = 0.25


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Finding:
    reason: str | None  # not_started_1y | halted_1y | None (not idle or undetermined)
    idle_since: dt.date | None = None
    recoverable: bool = False
    recoverable_since: dt.date | None = None
    missing: tuple[str, ...] = ()  # halted, but the shares needed to decide are unknown


NOT_IDLE = Finding(None)


def classify(
    *,
    contract_start_on: dt.date,
    started_on: dt.date | None,
    built_ratio: float | None,
    invested_ratio: float | None,
    halted_since: dt.date | None,
    as_of: dt.date,
) -> Finding:
    started = started_on is not None and started_on <= as_of
    if not started:
        limit = add_years(contract_start_on, 1)
        if as_of < limit:
            return NOT_IDLE
        two = add_years(contract_start_on, 2)
        return Finding("not_started_1y", limit, as_of >= two, two)
    if halted_since is None or halted_since > as_of:
        return NOT_IDLE
    low_built = built_ratio is not None and built_ratio < BUILT_MIN
    low_invested = invested_ratio is not None and invested_ratio < INVESTED_MIN
    limit = add_years(halted_since, 1)
    if not (low_built or low_invested):
        unknown = tuple(
            f
            for f, v in (("built_ratio", built_ratio), ("invested_ratio", invested_ratio))
            if v is None
        )
        if unknown and as_of >= limit:
            return Finding(None, missing=unknown)
        return NOT_IDLE
    if as_of < limit:
        return NOT_IDLE
    two = add_years(halted_since, 2)
    return Finding("halted_1y", limit, as_of >= two, two)


def fee_estimate(contract_price_wan: float | None) -> float | None:
    """The idle fee: 20% of the grant price (万元), unknown when the price is."""
    if contract_price_wan is None:
        return None
    return round(contract_price_wan * FEE_SHARE, 4)
