"""The policy library's pages: search, one policy with who matches it, one enterprise's
policies, and the digest of new matches and near misses.

Views are thin: every figure comes from the functions the REST API calls
(`search.search`, `services.detail/matches/enterprise_policies`, `push.digest`), so the
pages and /api/v1/policies show the same answers in the same scope. A bad filter or
date is shown next to the form; a policy or enterprise outside the user's scope is a
404, a role without the library a 403.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from investmap.core.scope import request_scope
from investmap.core.views import resource_access_required
from investmap.resources.services import Forbidden, InvalidFilter, ServiceError
from investmap.resources.views import (
    api_base,
    as_of_param,
    fmt,
    http_error,
    page_number,
    query_string,
)

from . import push, search, services
from .choices import Level, MatchResult, PolicyType, Tag, Validity

PAGE_SIZE = 20  # search results per page
MATCH_PAGE = 100  # rows of the "who matches it" table per page
DIGEST_DAYS = 30
MATCH_FILTERS = ("eligible", "near_miss", "insufficient_data", "ineligible")
TABS = (
    ("search", _("Policy search"), "policies:search"),
    ("digest", _("New matches"), "policies:digest"),
)


# --- helpers ---------------------------------------------------------------------------------


def badge(enum, value) -> dict:
    """{value, label, color} of an enum member; an unknown value keeps its code, in grey."""
    try:
        m = enum(value)
    except ValueError:
        return {"value": value, "label": value or "—", "color": "#888888"}
    return {"value": m.value, "label": str(m.label), "color": m.color}


def _require(request):
    scope = request_scope(request)
    try:
        services._require(scope)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    return scope


def _paging(count: int, page: int, size: int, href) -> dict:
    pages = max(1, -(-count // size))
    page = min(page, pages)
    near = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    numbers, last = [], 0
    for n in near:
        if n - last > 1:
            numbers.append(None)
        numbers.append(n)
        last = n
    return {
        "page": page,
        "pages": pages,
        "offset": (page - 1) * size,
        "start": (page - 1) * size + 1 if count else 0,
        "end": min(count, page * size),
        "links": [{"n": n, "href": href(n) if n else None, "current": n == page} for n in numbers]
        if pages > 1
        else [],
        "prev": href(page - 1) if page > 1 else None,
        "next": href(page + 1) if page < pages else None,
    }


def _tabs(active: str) -> list[dict]:
    return [
        {"key": key, "label": label, "href": reverse(url), "active": key == active}
        for key, label, url in TABS
    ]


def _amount(value) -> str:
    return fmt(value, 2) if value is not None else "—"


def _facts_words(names) -> list[str]:
    return [str(services.FACT_LABELS.get(n, n)) for n in names or []]


# --- search ----------------------------------------------------------------------------------


def _options(params: dict) -> dict:
    def opts(enum, name):
        chosen = set(params.get(name) or [])
        return [{**badge(enum, v), "selected": v in chosen} for v in enum.values]

    return {
        "tags": opts(Tag, "tags"),
        "level": opts(Level, "level"),
        "type": opts(PolicyType, "type"),
        "validity": opts(Validity, "validity"),
    }


def _item(item: dict) -> dict:
    """A search hit for the template; only the highlights (escaped by search, with <mark>)
    are marked safe."""
    hl = item.get("highlights") or {}
    return {
        **item,
        "title_html": mark_safe(hl.get("title") or ""),  # noqa: S308 — escaped in search._render
        "snippet_html": mark_safe(hl.get("text") or ""),  # noqa: S308 — escaped in search._render
        "validity_info": badge(Validity, item["validity"]),
        "level_info": badge(Level, item["level"]),
        "type_info": badge(PolicyType, item["type"]),
        "tag_infos": [badge(Tag, t) for t in item.get("tags") or []],
    }


@resource_access_required
def search_page(request):
    """Full-text search with filters; ranked hits with highlighted snippets."""
    _require(request)
    as_of = as_of_param(request)
    q = (request.GET.get("q") or "").strip()
    params = {
        "tags": request.GET.getlist("tags"),
        "level": request.GET.getlist("level"),
        "type": request.GET.getlist("type"),
        "validity": request.GET.getlist("validity"),
        "issuer": (request.GET.get("issuer") or "").strip(),
        "industry": (request.GET.get("industry") or "").strip(),
    }
    filters = {k: v for k, v in params.items() if v}
    page_no = page_number(request)
    raw_as_of = request.GET.get("as_of") or None
    errors = None
    try:
        found = search.search(
            q=q, filters=filters, as_of=as_of, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
        )
        if not found["items"] and page_no > 1 and found["count"]:  # past the last page
            page_no = -(-found["count"] // PAGE_SIZE)
            found = search.search(
                q=q,
                filters=filters,
                as_of=as_of,
                limit=PAGE_SIZE,
                offset=(page_no - 1) * PAGE_SIZE,
            )
    except InvalidFilter as exc:
        errors = {
            k: v if isinstance(v, str) else "; ".join(map(str, v)) for k, v in exc.errors.items()
        }
        found = {"count": 0, "items": []}

    def href(n):
        return "?" + query_string(q=q, as_of=raw_as_of, **filters, page=n if n > 1 else None)

    ctx = {
        "tabs": _tabs("search"),
        "q": q,
        "params": params,
        "options": _options(params),
        "as_of": as_of,
        "errors": errors,
        "count": found["count"],
        "items": [_item(i) for i in found["items"]],
        "paging": _paging(found["count"], page_no, PAGE_SIZE, href),
        "filtered": bool(q or filters),
        "api_href": f"{api_base()}policies?"
        + query_string(q=q, as_of=as_of.isoformat(), **filters),
        "detail_query": query_string(as_of=raw_as_of),
    }
    return render(request, "policies/search.html", ctx)


# --- one policy ------------------------------------------------------------------------------


def _match_row(r: dict) -> dict:
    key = "near_miss" if r["near_miss"] else r["result"]
    return {
        **r,
        "key": key,
        "result_info": badge(MatchResult, r["result"]),
        "amount_fmt": _amount(r["amount_wan"]),
        "failed_labels": [f.get("label") or "" for f in r["failed"]],
        "unknown_labels": _facts_words(r["unknown"]),
    }


ROW_ORDER = {"eligible": 0, "near_miss": 1, "insufficient_data": 2, "ineligible": 3}


@resource_access_required
def policy_page(request, code: str):
    """The policy: text, interpretation, conditions in words, versions, and who matches it."""
    scope = _require(request)
    as_of = as_of_param(request)
    wanted = request.GET.get("result") or ""
    if wanted not in ("", *MATCH_FILTERS):
        messages.error(request, gettext("Unknown result filter; all results are shown."))
        wanted = ""
    try:
        d = services.detail(code=code, scope=scope, as_of=as_of)
        m = services.matches(code=code, scope=scope, as_of=as_of)
    except ServiceError as exc:
        http_error(exc)
    rows = [_match_row(r) for r in m["results"]]
    rows.sort(key=lambda r: (ROW_ORDER[r["key"]], -(r["amount_wan"] or 0), r["credit_code"]))
    shown = [r for r in rows if wanted in ("", r["key"])]
    summary = m.get("summary") or {}
    raw_as_of = request.GET.get("as_of") or None

    def href(n):
        return (
            "?"
            + query_string(as_of=raw_as_of, result=wanted, page=n if n > 1 else None)
            + "#matches"
        )

    paging = _paging(len(shown), page_number(request), MATCH_PAGE, href)
    counts = {
        "eligible": summary.get("eligible", 0),
        "near_miss": summary.get("near_miss", 0),
        "insufficient_data": summary.get("insufficient_data", 0),
        "ineligible": summary.get("ineligible", 0) - summary.get("near_miss", 0),
    }
    filters = [
        {
            "key": key,
            "label": label,
            "color": color,
            "count": counts[key],
            "href": "?" + query_string(as_of=raw_as_of, result=key) + "#matches",
            "active": wanted == key,
        }
        for key, label, color in (
            ("eligible", MatchResult.ELIGIBLE.label, MatchResult.ELIGIBLE.color),
            ("near_miss", _("Near miss (one condition)"), "#e53935"),
            (
                "insufficient_data",
                MatchResult.INSUFFICIENT_DATA.label,
                MatchResult.INSUFFICIENT_DATA.color,
            ),
            ("ineligible", _("Other ineligible"), MatchResult.INELIGIBLE.color),
        )
    ]
    total_amount = sum(r["amount_wan"] for r in rows if r["amount_wan"] is not None)
    ctx = {
        "tabs": _tabs("search"),
        "d": d,
        "validity": badge(Validity, d["validity"]),
        "level": badge(Level, d["level"]),
        "type": badge(PolicyType, d["type"]),
        "tag_infos": [badge(Tag, t) for t in d["tags"]],
        "as_of": as_of,
        "m": m,
        "summary": counts,
        "total": len(rows),
        "total_amount_fmt": _amount(total_amount) if counts["eligible"] else "—",
        "filters": filters,
        "wanted": wanted,
        "all_href": "?" + query_string(as_of=raw_as_of) + "#matches",
        "rows": shown[paging["offset"] : paging["offset"] + MATCH_PAGE],
        "paging": paging,
        "api_href": f"{api_base()}policies/{code}/matches?" + query_string(as_of=as_of.isoformat()),
        "version_href": f"{api_base()}policies/{code}/versions/",
        "enterprise_query": query_string(as_of=raw_as_of),
    }
    return render(request, "policies/detail.html", ctx)


# --- one enterprise --------------------------------------------------------------------------


@resource_access_required
def enterprise_page(request, credit_code: str):
    """Every policy in force against one enterprise: eligible, near misses, need more
    information, and the other ineligible ones (collapsed)."""
    scope = _require(request)
    as_of = as_of_param(request)
    try:
        out = services.enterprise_policies(credit_code=credit_code, scope=scope, as_of=as_of)
    except ServiceError as exc:
        http_error(exc)
    groups = {"eligible": [], "near_miss": [], "insufficient_data": [], "ineligible": []}
    for r in out["results"]:
        row = _match_row(r)
        groups[row["key"]].append(row)
    amounts = [r["amount_wan"] for r in groups["eligible"] if r["amount_wan"] is not None]
    ctx = {
        "tabs": _tabs(""),
        "e": out,
        "as_of": as_of,
        "groups": groups,
        "total": len(out["results"]),
        "total_amount_fmt": _amount(sum(amounts)) if amounts else "—",
        "policy_query": query_string(as_of=request.GET.get("as_of") or None),
        "api_href": f"{api_base()}enterprises/{credit_code}/policies?"
        + query_string(as_of=as_of.isoformat()),
    }
    return render(request, "policies/enterprise.html", ctx)


# --- digest ----------------------------------------------------------------------------------


@resource_access_required
def digest_page(request):
    """New eligible firms and near misses per policy, grouped by the condition they miss."""
    scope = _require(request)
    raw = request.GET.get("days") or ""
    days = DIGEST_DAYS
    if raw:
        try:
            days = max(0, int(raw))
        except ValueError:
            messages.error(
                request,
                gettext("“%(value)s” is not a number of days; %(n)s days are shown.")
                % {"value": raw, "n": DIGEST_DAYS},
            )
    since = timezone.now() - dt.timedelta(days=days)
    entries = push.digest(scope=scope, since=since)
    policies = []
    for entry in entries:
        eligible = [{**f, "amount_fmt": _amount(f["amount_wan"])} for f in entry["eligible"]]
        amounts = [f["amount_wan"] for f in entry["eligible"] if f["amount_wan"] is not None]
        policies.append(
            {
                **entry,
                "eligible": eligible,
                "eligible_amount_fmt": _amount(sum(amounts)) if amounts else "—",
                "near_count": sum(g["count"] for g in entry["near_misses"]),
            }
        )
    ctx = {
        "tabs": _tabs("digest"),
        "days": days,
        "since": timezone.localtime(since).date(),
        "policies": policies,
        "eligible_total": sum(len(p["eligible"]) for p in policies),
        "near_total": sum(p["near_count"] for p in policies),
        "api_href": f"{api_base()}policies/digest?" + query_string(days=days),
    }
    return render(request, "policies/digest.html", ctx)
