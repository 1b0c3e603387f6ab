"""The facts of an enterprise at an evaluation date D, in the engine and in Python.

Facts (conditions.FACTS), fixed by the issue:

* ``industry_code``, ``scale`` — the enterprise's; blank is unknown;
* ``town``, ``park`` — the codes of its town and park; an enterprise in no park
  has ``park`` = ``""`` (known: in no park), so ``park in [...]`` is false for
  it rather than "need more information";
* ``age_years`` — whole years from ``founded_on`` to D (a birthday on D counts;
  a 29 February founding has its anniversary on 1 March in other years);
  unknown when ``founded_on`` is unknown or after D;
* ``certifications`` — the enterprise's list (``[]`` is known: none);
* ``employees``, ``revenue_wan``, ``tax_wan``, ``rd_spend_wan``,
  ``value_added_wan``, ``output_wan`` — from the enterprise's latest
  IndicatorYear with ``year <= D.year`` (that row's value, even when missing:
  an older year never fills a gap);
* ``rd_intensity`` — ``rd_spend_wan / revenue_wan`` of that row; unknown when
  either is unknown or revenue is 0;
* ``efficiency_grade`` — the enterprise's grade in the latest stored efficiency
  Evaluation of the default ruleset (settings.INVESTMAP_EFFICIENCY_RULESET)
  with ``year <= D.year`` (latest: highest year, then highest ruleset version,
  then the last run); unknown when there is none or it has no grade there.

The engine side (`create_sql`) builds the temp table ``pf`` (one row per
enterprise, ordered by id, ``rn`` = 0…N-1) from the record store's tables —
the attached ``rec.*`` tables, or the same columns handed over with
`load_orm_tables` when the rows are not committed yet. The Python side
(`python_facts`, `facts_of`, `facts_for`) is the reference's, through the ORM.

Module level imports no models: the engine's helper process imports it.
"""

from __future__ import annotations

import datetime as dt
import json

from .conditions import FACTS

# DuckDB type of each fact column in `pf`.
FACT_TYPES = {
    name: {"str": "VARCHAR", "num": "DOUBLE", "list": "VARCHAR[]"}[kind]
    for name, kind in FACTS.items()
}
NUMERIC_FACTS = frozenset(n for n, k in FACTS.items() if k == "num")
INDICATOR_FACTS = (
    "employees",
    "revenue_wan",
    "tax_wan",
    "rd_spend_wan",
    "value_added_wan",
    "output_wan",
)

# The record-store tables the facts read, by role.
RECORD_TABLES = {
    "enterprise": "resources_enterprise",
    "town": "resources_town",
    "park": "resources_park",
    "indicator": "resources_indicatoryear",
    "result": "efficiency_evaluationresult",
}
# Their columns (as handed over by load_orm_tables) and DuckDB types.
TABLE_COLUMNS = {
    "enterprise": {
        "id": "BIGINT",
        "credit_code": "VARCHAR",
        "industry_code": "VARCHAR",
        "scale": "VARCHAR",
        "founded_on": "DATE",
        "town_id": "BIGINT",
        "park_id": "BIGINT",
        "certifications": "VARCHAR",
    },
    "town": {"id": "BIGINT", "code": "VARCHAR"},
    "park": {"id": "BIGINT", "code": "VARCHAR"},
    "indicator": {
        "enterprise_id": "BIGINT",
        "year": "BIGINT",
        **{f: "DOUBLE" for f in INDICATOR_FACTS},
    },
    "result": {
        "id": "BIGINT",
        "evaluation_id": "BIGINT",
        "enterprise_id": "BIGINT",
        "grade": "VARCHAR",
    },
}


def as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def record_tables(prefix: str = "rec") -> dict[str, str]:
    """Role → engine table name in the attached record store."""
    return {role: f"{prefix}.{name}" for role, name in RECORD_TABLES.items()}


LOADED_TABLES = {role: f"pf_{role}" for role in RECORD_TABLES}


def _q(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def create_sql(
    as_of: dt.date,
    evaluation_id: int | None,
    tables: dict[str, str],
    ids_table: str | None = None,
) -> str:
    """SQL creating temp table ``pf``: the facts of every enterprise (or those in
    ``ids_table(id)``) at `as_of`, one row each, ordered by id, with ``rn`` 0…N-1."""
    t = tables
    y, md = as_of.year, as_of.month * 100 + as_of.day
    only = f"WHERE e.id IN (SELECT id FROM {ids_table})" if ids_table else ""
    only_ind = f"AND enterprise_id IN (SELECT id FROM {ids_table})" if ids_table else ""
    ind_cols = ", ".join(f"CAST({f} AS DOUBLE) AS {f}" for f in INDICATOR_FACTS)
    if evaluation_id is None:
        grade = "SELECT NULL::BIGINT AS enterprise_id, NULL::VARCHAR AS grade WHERE false"
    else:
        grade = f"""SELECT enterprise_id, arg_max(grade, id) AS grade FROM {t["result"]}
            WHERE evaluation_id = {int(evaluation_id)} AND enterprise_id IS NOT NULL
              AND grade IS NOT NULL AND grade <> ''
            GROUP BY enterprise_id"""
    certs = "CAST(e.certifications AS VARCHAR)"
    return f"""
CREATE OR REPLACE TEMP TABLE pf AS
WITH ind AS (
    SELECT enterprise_id, {ind_cols}
    FROM {t["indicator"]}
    WHERE year <= {y} {only_ind}
    QUALIFY row_number() OVER (PARTITION BY enterprise_id ORDER BY year DESC) = 1
), grade AS (
    {grade}
)
SELECT CAST(row_number() OVER (ORDER BY e.id) - 1 AS INTEGER) AS rn,
       e.id AS enterprise_id, e.credit_code,
       nullif(e.industry_code, '') AS industry_code,
       nullif(e.scale, '') AS scale,
       tw.code AS town,
       CASE WHEN e.park_id IS NULL THEN '' ELSE pk.code END AS park,
       CASE WHEN fo IS NULL OR fo > DATE '{as_of.isoformat()}' THEN NULL
            ELSE CAST({y} - year(fo) - CASE WHEN month(fo) * 100 + day(fo) > {md} THEN 1 ELSE 0 END
                      AS DOUBLE) END AS age_years,
       CASE WHEN json_valid({certs}) THEN
            CASE WHEN json_type({certs}) = 'ARRAY' THEN from_json({certs}, '["VARCHAR"]') END
       END AS certifications,
       i.employees, i.revenue_wan, i.tax_wan, i.rd_spend_wan,
       i.rd_spend_wan / NULLIF(i.revenue_wan, 0) AS rd_intensity,
       i.value_added_wan, i.output_wan,
       g.grade AS efficiency_grade
FROM (SELECT *, TRY_CAST(founded_on AS DATE) AS fo FROM {t["enterprise"]}) e
LEFT JOIN {t["town"]} tw ON tw.id = e.town_id
LEFT JOIN {t["park"]} pk ON pk.id = e.park_id
LEFT JOIN ind i ON i.enterprise_id = e.id
LEFT JOIN grade g ON g.enterprise_id = e.id
{only}
ORDER BY e.id
"""


# --- the ORM side -----------------------------------------------------------------


def grade_evaluation_id(as_of) -> int | None:
    """The efficiency Evaluation whose grades are the facts at `as_of` (see the module doc)."""
    from django.conf import settings

    from investmap.efficiency.models import Evaluation

    ev = (
        Evaluation.objects.filter(
            ruleset__name=settings.INVESTMAP_EFFICIENCY_RULESET, year__lte=as_date(as_of).year
        )
        .order_by("-year", "-ruleset__version", "-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    return ev


def _orm_rows(enterprise_ids, as_of: dt.date, evaluation_id):
    from investmap.efficiency.models import EvaluationResult
    from investmap.resources.models import Enterprise, IndicatorYear, Park, Town

    ents = Enterprise.objects.all()
    inds = IndicatorYear.objects.filter(year__lte=as_of.year)
    res = EvaluationResult.objects.filter(evaluation_id=evaluation_id)
    if enterprise_ids is not None:
        ids = sorted(set(enterprise_ids))
        ents = ents.filter(id__in=ids)
        inds = inds.filter(enterprise_id__in=ids)
        res = res.filter(enterprise_id__in=ids)
    ent_rows = list(ents.values(*TABLE_COLUMNS["enterprise"]).iterator(chunk_size=10000))
    ind_rows = list(inds.values(*TABLE_COLUMNS["indicator"]).iterator(chunk_size=10000))
    res_rows = (
        list(res.values(*TABLE_COLUMNS["result"]).iterator(chunk_size=10000))
        if evaluation_id is not None
        else []
    )
    return {
        "enterprise": ent_rows,
        "town": list(Town.objects.values("id", "code")),
        "park": list(Park.objects.values("id", "code")),
        "indicator": ind_rows,
        "result": res_rows,
    }


def load_orm_tables(con, *, enterprise_ids, as_of, evaluation_id) -> dict[str, str]:
    """Hand the rows the facts read (uncommitted ones included) to a private engine
    session as temp tables; returns the role → table map for `create_sql`."""
    rows = _orm_rows(enterprise_ids, as_date(as_of), evaluation_id)
    for r in rows["enterprise"]:
        if r["founded_on"] is not None:
            r["founded_on"] = r["founded_on"].isoformat()
        c = r["certifications"]
        r["certifications"] = None if c is None else json.dumps(c, ensure_ascii=False)
    from investmap.engine.connection import load_rows

    for role, table in LOADED_TABLES.items():
        load_rows(con, table, rows[role], TABLE_COLUMNS[role])
    return dict(LOADED_TABLES)


def _age(founded_on, as_of: dt.date):
    if founded_on is None or founded_on > as_of:
        return None
    return (
        as_of.year
        - founded_on.year
        - ((as_of.month, as_of.day) < (founded_on.month, founded_on.day))
    )


def _certs(value):
    if not isinstance(value, list):
        return None
    return [None if x is None else (x if isinstance(x, str) else json.dumps(x)) for x in value]


def python_facts(
    *,
    industry_code,
    scale,
    town,
    park,
    founded_on,
    certifications,
    indicator: dict | None,
    grade,
    as_of,
) -> dict:
    """The facts from an enterprise's fields, its latest indicator row (or None) and its grade."""
    as_of = as_date(as_of)
    ind = indicator or {}
    vals = {f: (None if ind.get(f) is None else float(ind[f])) for f in INDICATOR_FACTS}
    rd, rev = vals["rd_spend_wan"], vals["revenue_wan"]
    return {
        "industry_code": industry_code or None,
        "scale": scale or None,
        "town": town,
        "park": park if park is not None else "",
        "age_years": _age(founded_on, as_of),
        "certifications": _certs(certifications),
        **vals,
        "rd_intensity": None if rd is None or rev is None or rev == 0 else rd / rev,
        "efficiency_grade": grade or None,
    }


def facts_for(enterprise_ids, as_of) -> dict[int, tuple[str, dict]]:
    """id → (credit code, facts) for the enterprises (None: all), through the ORM in bulk."""
    from investmap.efficiency.models import EvaluationResult
    from investmap.resources.models import Enterprise, IndicatorYear

    as_of = as_date(as_of)
    ev = grade_evaluation_id(as_of)
    ents = Enterprise.objects.select_related("town", "park").order_by("id")
    inds = IndicatorYear.objects.filter(year__lte=as_of.year).order_by("enterprise_id", "year")
    grades = EvaluationResult.objects.filter(evaluation_id=ev).exclude(enterprise_id=None)
    if enterprise_ids is not None:
        ids = set(enterprise_ids)
        ents, inds = ents.filter(id__in=ids), inds.filter(enterprise_id__in=ids)
        grades = grades.filter(enterprise_id__in=ids)
    latest: dict[int, dict] = {}
    for row in inds.values("enterprise_id", *INDICATOR_FACTS).iterator(chunk_size=10000):
        latest[row["enterprise_id"]] = row  # ordered by year: the last one wins
    grade_of: dict[int, str] = {}
    if ev is not None:
        for eid, g in grades.order_by("id").values_list("enterprise_id", "grade"):
            if g:
                grade_of[eid] = g
    out = {}
    for e in ents.iterator(chunk_size=10000):
        out[e.id] = (
            e.credit_code,
            _facts_of_instance(e, latest.get(e.id), grade_of.get(e.id), as_of),
        )
    return out


def _facts_of_instance(e, indicator, grade, as_of) -> dict:
    return python_facts(
        industry_code=e.industry_code,
        scale=e.scale,
        town=e.town.code if e.town_id else None,
        park=e.park.code if e.park_id else None,
        founded_on=e.founded_on,
        certifications=e.certifications,
        indicator=indicator,
        grade=grade,
        as_of=as_of,
    )


def facts_of(enterprise, as_of) -> dict:
    """The facts of one enterprise (instance or id) at `as_of`, through the ORM."""
    from investmap.efficiency.models import EvaluationResult
    from investmap.resources.models import Enterprise

    as_of = as_date(as_of)
    if not isinstance(enterprise, Enterprise):
        enterprise = Enterprise.objects.select_related("town", "park").get(pk=enterprise)
    ind = (
        enterprise.indicators.filter(year__lte=as_of.year)
        .order_by("-year")
        .values(*INDICATOR_FACTS)
        .first()
    )
    ev = grade_evaluation_id(as_of)
    grade = None
    if ev is not None:
        grade = (
            EvaluationResult.objects.filter(evaluation_id=ev, enterprise_id=enterprise.pk)
            .exclude(grade="")
            .order_by("-id")
            .values_list("grade", flat=True)
            .first()
        )
    return _facts_of_instance(enterprise, ind, grade, as_of)
