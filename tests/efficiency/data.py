"""Test data for the efficiency tests: more enterprises in the shared `district` fixture."""

import datetime as dt

from investmap.resources.models import Enterprise, IndicatorYear

ABOVE = 10
BELOW = 10


def add_enterprises(district) -> list[Enterprise]:
    """Ten 规上 and ten 规下 manufacturers with full figures for 2023 and 2024, better as the
    number rises; half in each town. Scores fall strictly with the number, so ranks are known."""
    t1, t2 = district["towns"]["T01"], district["towns"]["T02"]
    made = []
    for scale, count in (("above", ABOVE), ("below", BELOW)):
        for i in range(count):
            e = Enterprise.objects.create(
                credit_code=f"91310000MA1E{'A' if scale == 'above' else 'B'}{i:04d}",
                name=f"{'规上' if scale == 'above' else '规下'}测试企业{i:02d}",
                industry_code="3311" if i % 2 else "1711",
                scale=scale,
                founded_on=dt.date(2010, 1, 1),
                town=t1 if i < count // 2 else t2,
            )
            for year, k in ((2023, 1.0), (2024, 1.1)):
                IndicatorYear.objects.create(
                    enterprise=e,
                    year=year,
                    revenue_wan=(2000 + 500 * i) * k,
                    output_wan=(1800 + 450 * i) * k,
                    value_added_wan=(500 + 120 * i) * k,
                    tax_wan=(40 + 10 * i) * k,
                    employees=50 + i,
                    rd_spend_wan=(30 + 8 * i) * k,
                    energy_tce=400.0,
                    electricity_kwh=1.0e6,
                    emissions_t=2.0 if i != 3 else None,  # one 规上 firm without emissions
                    land_area_mu=10.0,
                )
            made.append(e)
    return made
