"""The efficiency pages (亩均效益): overview, enterprise, map, idle and low-efficiency land,
rulesets.

Views are thin: the data comes from `efficiency.services` (the functions the
REST API calls, so scope and masking are the same) and, for what a page needs
in another shape, from `efficiency.presenters` (read-only). Charts, the map,
running an evaluation and applying land status are done by the page script
(static/js/efficiency.js) through the REST API under /api/v1/efficiency/.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from investmap.core.scope import request_scope
from investmap.core.views import resource_access_required
from investmap.resources import services as resource_services
from investmap.resources.choices import ParcelStatus
from investmap.resources.services import Forbidden, InvalidFilter, NotFound
from investmap.resources.views import api_base, fmt, js_config

from . import presenters, services

FILTER_KEYS = ("population", "grade", "status", "town", "park", "q")

# Strings the page script shows (translated here, handed over in "im-config").
JS_MSGIDS = [
    gettext_noop("Loading…"),
    gettext_noop("Could not load the chart data."),
    gettext_noop("Could not load the map data."),
    gettext_noop("No results to chart."),
    gettext_noop("Insufficient data"),
    gettext_noop("Mean score"),
    gettext_noop("Enterprises"),
    gettext_noop("Score"),
    gettext_noop("Weight"),
    gettext_noop("Value"),
    gettext_noop("Benchmark"),
    gettext_noop("Share of the benchmark"),
    gettext_noop("Grade"),
    gettext_noop("Rank"),
    gettext_noop("Evaluating…"),
    gettext_noop("Could not run the evaluation."),
    gettext_noop("Stored a new evaluation of %(year)s: %(n)s enterprises in %(ms)s ms."),
    gettext_noop(
        "These inputs were already evaluated with this ruleset version; the stored results are shown."
    ),
    gettext_noop("Show the results"),
    gettext_noop("Checking the parcels…"),
    gettext_noop("Applying…"),
    gettext_noop("Could not compute the changes."),
    gettext_noop("Could not apply the changes."),
    gettext_noop("No parcel status would change."),
    gettext_noop("%(n)s parcels would change status. Nothing has been saved yet."),
    gettext_noop("%(n)s parcels would go back to their earlier status."),
    gettext_noop("Applied: %(changed)s parcels changed, %(reverted)s went back."),
    gettext_noop("Parcel"),
    gettext_noop("From"),
    gettext_noop("To"),
    gettext_noop("Findings"),
    gettext_noop("finding ended"),
    gettext_noop("Idle since"),
    gettext_noop("Area"),
    gettext_noop("mu"),
    gettext_noop("Open the record"),
    gettext_noop("Parcels on the map: %(n)s"),
    gettext_noop("Showing the first %(n)s of %(total)s parcels; zoom in to see all."),
    gettext_noop("No graded or idle parcels in this view."),
    gettext_noop("not graded"),
    gettext_noop("Name"),
    gettext_noop("Parcel status"),
    gettext_noop("Idle"),
]

KEY_FIGURE_ACCENTS = {"total": "#1d5fb4", "scored": "#2e7d32", "insufficient": "#9e9e9e"}


def _config(request, **extra) -> dict:
    cfg = js_config(request, **extra)
    cfg["strings"].update({m: gettext(m) for m in JS_MSGIDS})
    return cfg


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rulesets(request, scope) -> tuple[list[dict], str]:
    """The valid rulesets and the one the page shows (?ruleset=, else the setting)."""
    try:
        listed = services.list_rulesets(scope=scope)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from None
    valid = [r for r in listed if r.get("valid")]
    names = {r["name"] for r in valid}
    default = settings.INVESTMAP_EFFICIENCY_RULESET
    wanted = request.GET.get("ruleset") or default
    if wanted not in names:
        if request.GET.get("ruleset"):
            messages.error(
                request,
                gettext("There is no ruleset %(name)s; the default one is shown.")
                % {"name": wanted},
            )
        wanted = default
    return valid, wanted


def _run_year() -> int:
    years = presenters.indicator_years()
    return years[0] if years else timezone.localdate().year - 1


TABS = (
    ("overview", _("Evaluation results"), "efficiency:overview"),
    ("map", _("Efficiency map"), "efficiency:grade-map"),
    ("land", _("Idle and low-efficiency land"), "efficiency:land"),
    ("rulesets", _("Rulesets"), "efficiency:rulesets"),
)


def _base_ctx(active: str, **extra) -> dict:
    """What every efficiency page has: the tabs between them."""
    tabs = [
        {"key": key, "label": label, "href": reverse(url), "active": key == active}
        for key, label, url in TABS
    ]
    return {"tabs": tabs, "active_tab": active, **extra}


def _filter_params(request) -> dict:
    """The results filters of the address, as the services take them (grades comma-joined)."""
    params = {}
    for key in FILTER_KEYS:
        values = [v.strip() for v in request.GET.getlist(key) if v.strip()]
        if values:
            params[key] = ",".join(values) if key == "grade" else values[-1]
    return params


def _query(**items) -> str:
    q = QueryDict(mutable=True)
    for k, v in items.items():
        if v in (None, "", []):
            continue
        if isinstance(v, list | tuple):
            q.setlist(k, [str(x) for x in v])
        else:
            q[k] = str(v)
    return q.urlencode()


# --- overview ----------------------------------------------------------------


@resource_access_required
def overview(request):
    """Key figures, grade charts, the trend and the results table of one year and ruleset.

    An htmx request (the filter form and the page links) gets only the results card."""
    scope = request_scope(request)
    rulesets, ruleset = _rulesets(request, scope)
    years = presenters.evaluated_years(ruleset)
    asked = _int(request.GET.get("year"))
    year = asked if asked in years else (years[0] if years else None)
    if asked is not None and asked not in years and years and not request.headers.get("HX-Request"):
        messages.warning(
            request,
            gettext("No evaluation of %(year)s with this ruleset yet; the latest one is shown.")
            % {"year": asked},
        )
    can_run = presenters.can_run(scope)
    run_year = asked if asked is not None and year is None else _run_year()
    ctx = _base_ctx(
        "overview",
        rulesets=rulesets,
        ruleset=ruleset,
        ruleset_info=next((r for r in rulesets if r["name"] == ruleset), None),
        years=years,
        year=year,
        can_run=can_run,
        run_year=run_year,
        default_ruleset=settings.INVESTMAP_EFFICIENCY_RULESET,
    )
    config = {
        "page": "overview",
        "year": year,
        "ruleset": ruleset,
        "canRun": can_run,
        "overviewUrl": reverse("efficiency:overview"),
        "legend": presenters.legends(),
        "industryNames": presenters.industry_division_names(),
    }
    if year is None:
        ctx["im_config"] = _config(request, **config)
        return render(request, "efficiency/overview.html", ctx)

    ev = services.find_evaluation(year=year, ruleset=ruleset)
    labels = presenters.ruleset_labels(ev)
    params = _filter_params(request)
    page_no = max(1, _int(request.GET.get("page")) or 1)
    errors = None
    try:
        answer = services.results(
            year=year,
            ruleset=ruleset,
            scope=scope,
            params=params,
            limit=presenters.PAGE_SIZE,
            offset=(page_no - 1) * presenters.PAGE_SIZE,
        )
        paging = presenters.page_links(answer["count"], page_no)
        if paging["page"] != page_no:  # past the last page: show the last one
            answer = services.results(
                year=year,
                ruleset=ruleset,
                scope=scope,
                params=params,
                limit=presenters.PAGE_SIZE,
                offset=paging["offset"],
            )
    except InvalidFilter as exc:
        errors = exc.errors
        answer = {"count": 0, "results": [], "evaluation": services.describe_evaluation(ev)}
        paging = presenters.page_links(0, 1)
    base = {"year": year, "ruleset": ruleset}
    filters_only = {k: request.GET.getlist(k) for k in FILTER_KEYS if request.GET.getlist(k)}
    filter_query = _query(**base, **filters_only)

    def page_href(n):
        return "?" + _query(**base, **filters_only, page=n if n > 1 else None)

    towns = resource_services.places(level="towns", scope=scope)
    parks = resource_services.places(level="parks", scope=scope)
    selected_grades = set(params.get("grade", "").split(",")) - {""}
    ctx.update(
        evaluation=answer["evaluation"],
        evaluated_at=timezone.localtime(ev.created_at),
        figures=presenters.figures(ev.summary or {}),
        population_rows=presenters.population_rows(ev.summary or {}, labels["populations"]),
        populations=labels["population_list"],
        grades=[
            {**g, "selected": g["value"] in selected_grades} for g in presenters.legends()["grade"]
        ],
        statuses=presenters.legends()["status"],
        towns=towns,
        parks=parks,
        params=params,
        errors=errors,
        rows=presenters.result_rows(answer["results"], labels),
        count=answer["count"],
        count_fmt=fmt(answer["count"]),
        paging=paging,
        page_links=[
            {"n": n, "href": page_href(n) if n else None, "current": n == paging["page"]}
            for n in paging["numbers"]
        ],
        prev_href=page_href(paging["page"] - 1) if paging["page"] > 1 else None,
        next_href=page_href(paging["page"] + 1) if paging["page"] < paging["pages"] else None,
        filter_query=filter_query,
        export_xlsx=f"{api_base()}efficiency/evaluations/export.xlsx?" + _query(**base, **params),
        filtered=bool(params),
    )
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render(request, "efficiency/_results.html", ctx)
    ctx["im_config"] = _config(request, **config, populationLabels=labels["populations"])
    return render(request, "efficiency/overview.html", ctx)


# --- one enterprise ----------------------------------------------------------------


def _ratio(value, benchmark):
    if value is None or not benchmark:
        return None
    return value / benchmark


@resource_access_required
def enterprise(request, credit_code: str):
    """One enterprise's results year by year: each indicator against its benchmark."""
    scope = request_scope(request)
    rulesets, ruleset = _rulesets(request, scope)
    try:
        data = services.enterprise_history(credit_code=credit_code, ruleset=ruleset, scope=scope)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    years = []
    for y in reversed(data["years"]):  # latest first
        indicators = []
        for ind in y["indicators"]:
            ratio = _ratio(ind["value"], ind["benchmark"])
            indicators.append(
                {
                    **ind,
                    "ratio": ratio,
                    "ratio_pct": fmt(100 * ratio, 1) if ratio is not None else None,
                    "value_fmt": fmt(ind["value"], 4) if ind["value"] is not None else None,
                    "benchmark_fmt": fmt(ind["benchmark"], 4)
                    if ind["benchmark"] is not None
                    else None,
                    "score_fmt": fmt(ind["score"], 2) if ind["score"] is not None else None,
                    "weight_fmt": fmt(ind["weight"], 2),
                }
            )
        years.append(
            {
                **y,
                "indicators": indicators,
                "grade_info": presenters.grade_of(y["grade"]),
                "status_info": presenters.status_of(y["status"]),
                "missing_labels": [presenters.field_label(m) for m in y["missing"] or ()],
                "score_fmt": fmt(y["score"], 2) if y["score"] is not None else None,
                "weight_total": fmt(sum(i["weight"] for i in y["indicators"]), 2),
            }
        )
    latest = years[0] if years else None
    chart = None
    if latest and not data["masked"]:
        chart = {
            "year": latest["year"],
            "indicators": [
                {
                    "label": i["label"],
                    "unit": i["unit"],
                    "weight": i["weight"],
                    "score": i["score"],
                    "value": i["value"],
                    "benchmark": i["benchmark"],
                    "ratio": i["ratio"],
                    "filled": i["filled"],
                }
                for i in latest["indicators"]
            ],
        }
    history = {
        "years": [y["year"] for y in data["years"]],
        "scores": [y["score"] for y in data["years"]],
        "grades": [y["grade"] for y in data["years"]],
        "ranks": [
            [y["rank"], y["population_size"]] if y["rank"] is not None else None
            for y in data["years"]
        ],
    }
    ctx = _base_ctx(
        "overview",
        ent=data,
        years=years,
        latest=latest,
        rulesets=rulesets,
        ruleset=ruleset,
        indicator_chart=chart,
        history_chart=history,
        overview_href=reverse("efficiency:overview")
        + ("?" + _query(year=latest["year"], ruleset=ruleset) if latest else ""),
        record_href=reverse("enterprise-detail", args=[data["credit_code"]]),
    )
    ctx["im_config"] = _config(
        request, page="enterprise", ruleset=ruleset, legend=presenters.legends()
    )
    return render(request, "efficiency/enterprise.html", ctx)


# --- map -----------------------------------------------------------------------------


@resource_access_required
def map_page(request):
    """Parcels coloured by their occupants' worst grade and idle parcels, for a year."""
    scope = request_scope(request)
    rulesets, ruleset = _rulesets(request, scope)
    years = presenters.evaluated_years(ruleset)
    asked = _int(request.GET.get("year"))
    year = asked if asked in years else (years[0] if years else None)
    ctx = _base_ctx("map", rulesets=rulesets, ruleset=ruleset, years=years, year=year)
    ctx["im_config"] = _config(
        request,
        page="map",
        year=year,
        ruleset=ruleset,
        asOf=timezone.localdate().isoformat(),
        legend=presenters.legends(),
        statuses={s["value"]: s for s in ParcelStatus.legend()},
    )
    return render(request, "efficiency/map.html", ctx)


# --- land ------------------------------------------------------------------------------


@resource_access_required
def land(request):
    """Idle land as of a date, land that lacks the data to decide, low-efficiency land;
    for the bureau, feeding the findings into parcel status (dry run first)."""
    scope = request_scope(request)
    today = timezone.localdate()
    raw = request.GET.get("as_of") or today.isoformat()
    try:
        as_of = dt.date.fromisoformat(raw)
    except ValueError:
        messages.error(
            request,
            gettext("“%(value)s” is not a date (YYYY-MM-DD); today is shown.") % {"value": raw},
        )
        as_of = today
    try:
        idle = services.idle_land(as_of=as_of, scope=scope)
        low = services.low_efficiency_land(scope=scope)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from None
    reason_colors = {i["value"]: i["color"] for i in presenters.legends()["idle"]}
    low_colors = {i["value"]: i["color"] for i in presenters.legends()["low"]}
    status_legend = {s["value"]: s for s in ParcelStatus.legend()}
    for r in idle["results"]:
        r["reason_color"] = reason_colors.get(r["reason"], "#888")
        r["area_fmt"] = fmt(r["area_mu"], 2)
        r["fee_fmt"] = fmt(r["fee_estimate_wan"], 2) if r["fee_estimate_wan"] is not None else None
    for r in idle["undetermined"]:
        r["area_fmt"] = fmt(r["area_mu"], 2)
        r["missing_labels"] = [presenters.grant_field_label(m) for m in r["missing"]]
    for r in low["results"]:
        r["area_fmt"] = fmt(r["area_mu"], 2)
        r["reason_items"] = [
            {"label": label, "color": low_colors.get(code, "#888")}
            for code, label in zip(r["reasons"], r["reason_labels"], strict=False)
        ]
        r["status_info"] = status_legend.get(r["status"])
        for o in r.get("occupants", ()):
            o["grade_info"] = presenters.grade_of(o["grade"])
    any_masked = any(r["fee_estimate_wan"] is None for r in idle["results"])
    can_run = presenters.can_run(scope)
    ctx = _base_ctx(
        "land",
        as_of=as_of,
        today=today,
        idle=idle,
        low=low,
        idle_area_fmt=fmt(idle["area_mu"], 2),
        idle_fee_fmt=fmt(idle["fee_estimate_wan"], 2),
        low_area_fmt=fmt(low["area_mu"], 2),
        low_grades=", ".join(low["grades"]),
        far_share_pct=fmt(100 * low["far_share"]),
        any_masked=any_masked,
        can_run=can_run,
        low_evaluation=low["evaluation"],
    )
    ctx["im_config"] = _config(
        request,
        page="land",
        asOf=as_of.isoformat(),
        canRun=can_run,
        statuses={s["value"]: s for s in ParcelStatus.legend()},
        reasons={i["value"]: i for i in presenters.legends()["idle"] + presenters.legends()["low"]},
    )
    return render(request, "efficiency/land.html", ctx)


# --- rulesets ----------------------------------------------------------------------------


@resource_access_required
def rulesets(request):
    scope = request_scope(request)
    try:
        listed = services.list_rulesets(scope=scope)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from None
    for r in listed:
        r["is_default"] = r["name"] == settings.INVESTMAP_EFFICIENCY_RULESET
        r["evaluated_years"] = presenters.evaluated_years(r["name"]) if r.get("valid") else []
    ctx = _base_ctx("rulesets", rulesets=listed)
    ctx["im_config"] = _config(request, page="rulesets")
    return render(request, "efficiency/rulesets.html", ctx)


@resource_access_required
def ruleset_detail(request, name: str):
    scope = request_scope(request)
    version = request.GET.get("version")
    if version not in (None, "") and _int(version) is None:
        raise Http404(gettext("No such ruleset version."))
    try:
        data = services.ruleset_detail(name=name, version=_int(version), scope=scope)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except InvalidFilter as exc:
        if "ruleset" in (exc.errors or {}) and name not in _known_names(scope):
            raise Http404(gettext("No such ruleset.")) from None
        return render(
            request,
            "efficiency/ruleset.html",
            _base_ctx("rulesets", name=name, problems=exc.errors.get("ruleset"), data=None),
            status=422,
        )
    data["populations"] = [presenters.describe_population(p) for p in data["populations"]]
    ctx = _base_ctx(
        "rulesets",
        name=name,
        data=data,
        problems=None,
        is_default=name == settings.INVESTMAP_EFFICIENCY_RULESET,
        evaluated_years=presenters.evaluated_years(name),
        asked_version=_int(version),
    )
    ctx["im_config"] = _config(request, page="ruleset")
    return render(request, "efficiency/ruleset.html", ctx)


def _known_names(scope) -> set[str]:
    return {r["name"] for r in services.list_rulesets(scope=scope)}
