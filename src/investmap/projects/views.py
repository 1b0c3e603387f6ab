"""The project library's pages: the list, the board by stage, one project's file with
its forms, the overview with charts, alerts, pending approvals, the PDF sheet.

Views are thin: every read and write goes through `projects.services` (and the
figures through `stats` and `alerts`, the functions the REST API calls), so scope,
masking and the lifecycle rules are the same on the page and in the API. A form
that a service refuses is shown again with the user's input and the service's
messages next to the fields (422); a stale edit (412) keeps the input and marks
what the other person changed. `presenters` shapes the answers for the templates.
"""

from __future__ import annotations

import datetime as dt
import os
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from investmap.core.models import audit
from investmap.core.scope import request_scope
from investmap.core.views import resource_access_required
from investmap.matching import services as matching_services
from investmap.resources.services import Forbidden, InvalidFilter, NotFound, ServiceError
from investmap.resources.views import (
    api_base,
    as_of_param,
    fmt,
    http_error,
    js_config,
    page_number,
    query_string,
)

from . import access, presenters, services
from .choices import (
    USER_ACTIVITY_KINDS,
    ActivityKind,
    AlertType,
    ApprovalStatus,
    Category,
    DocumentType,
    Grade,
    Stage,
)

# Strings the page script shows (translated here, handed over in "im-config").
JS_MSGIDS = [
    gettext_noop("No data to chart."),
    gettext_noop("Projects"),
    gettext_noop("Total investment"),
    gettext_noop("Signed investment"),
    gettext_noop("10k yuan"),
    gettext_noop("Conversion"),
    gettext_noop("Median days"),
    gettext_noop("days"),
    gettext_noop("Reached"),
    gettext_noop("Could not load the map data."),
    gettext_noop("Parcel"),
    gettext_noop("Building"),
]

TABS = (
    ("list", _("Project list"), "projects:list"),
    ("board", _("Board by stage"), "projects:board"),
    ("overview", _("Overview"), "projects:overview"),
    ("alerts", _("Alerts"), "projects:alerts"),
    ("approvals", _("Approvals"), "projects:approvals"),
)


def _config(request, **extra) -> dict:
    cfg = js_config(request, **extra)
    cfg["strings"].update({m: gettext(m) for m in JS_MSGIDS})
    return cfg


def _base_ctx(request, active: str, **extra) -> dict:
    scope = request_scope(request)
    tabs = [
        {"key": key, "label": label, "href": reverse(url), "active": key == active}
        for key, label, url in TABS
    ]
    try:
        pending = len(services.pending_approvals(scope=scope)) if access.can_decide(scope) else 0
    except ServiceError:
        pending = 0
    return {"tabs": tabs, "active_tab": active, "pending_count": pending, **extra}


def _require(scope) -> None:
    """The 403 page for roles without the project library (maintainers, admins, enterprises)."""
    if not access.sees_projects(scope):
        raise PermissionDenied(gettext("Your role has no access to the project library."))


def _date_param(request, name: str):
    raw = request.GET.get(name) or ""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        messages.error(request, gettext("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw})
        return None


# --- the list ---------------------------------------------------------------------------


ORDER_LABELS = (
    ("updated", _("Recently changed")),
    ("investment", _("Investment, largest first")),
    ("signed_on", _("Signing date, latest first")),
    ("code", _("Code")),
    ("name", _("Name")),
)


@resource_access_required
def project_list(request, create_state: dict | None = None, status: int = 200):
    """The filtered project list; an htmx request (the filter form, paging) gets the table only."""
    scope = request_scope(request)
    _require(scope)
    params = presenters.filter_params(request.GET)
    order = request.GET.get("order") or "updated"
    page_no = page_number(request)
    errors = None
    try:
        qs = services.search(params={**params, "order": order}, scope=scope)
        summary = presenters.list_summary(qs)
        paging = presenters.page_links(summary["count"], page_no)
        start = paging["offset"]
        rows = [
            presenters.list_row(services.row(p, scope))
            for p in qs[start : start + presenters.PAGE_SIZE]
        ]
    except InvalidFilter as exc:
        errors = exc.errors
        summary = {"count": 0, "total_wan": None}
        paging = presenters.page_links(0, 1)
        rows = []

    def page_href(n):
        return "?" + query_string(**params, order=order if order != "updated" else None, page=n)

    ctx = _base_ctx(
        request,
        "list",
        params=params,
        order=order,
        orders=ORDER_LABELS,
        options=presenters.filter_options(scope, params),
        errors=errors,
        rows=rows,
        count=summary["count"],
        count_fmt=fmt(summary["count"]),
        total_fmt=presenters.wan(summary["total_wan"]),
        paging=paging,
        page_links=[
            {"n": n, "href": page_href(n) if n else None, "current": n == paging["page"]}
            for n in paging["numbers"]
        ],
        prev_href=page_href(paging["page"] - 1) if paging["page"] > 1 else None,
        next_href=page_href(paging["page"] + 1) if paging["page"] < paging["pages"] else None,
        filtered=bool(params),
        export_xlsx=f"{api_base()}projects/export.xlsx?" + query_string(**params, order=order),
        board_href=reverse("projects:board") + ("?" + query_string(**params) if params else ""),
        can_create=access.can_create(scope),
        create=create_state or {"values": {}, "errors": {}},
        create_categories=Category.legend(),
        officers=presenters.officers(),
    )
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render(request, "projects/_results.html", ctx)
    ctx["im_config"] = _config(request, page="list")
    return render(request, "projects/list.html", ctx, status=status)


CREATE_FIELDS = (
    "name",
    "category",
    "industry_code",
    "total_investment_wan",
    "investor_name",
    "town",
    "park",
    "team",
    "officer",
)


@require_POST
@resource_access_required
def project_create(request):
    scope = request_scope(request)
    _require(scope)
    if not access.can_create(scope):
        raise PermissionDenied(gettext("Your role cannot create projects."))
    values = {f: (request.POST.get(f) or "").strip() for f in CREATE_FIELDS}
    strategic = request.POST.get("strategic") in ("on", "true", "1")
    data = {k: v for k, v in values.items() if v}
    if strategic:
        data["strategic"] = True
    try:
        project = services.create(data=data, scope=scope, user=request.user)
    except InvalidFilter as exc:
        return project_list(
            request,
            create_state={
                "values": {**values, "strategic": strategic},
                "errors": exc.errors,
                "message": exc.message,
                "open": True,
            },
            status=exc.status,
        )
    except ServiceError as exc:
        http_error(exc)
    messages.success(
        request,
        gettext("Project %(code)s created at stage %(stage)s.")
        % {"code": project.code, "stage": services.stage_label(project.stage)},
    )
    return redirect("projects:detail", code=project.code)


# --- the board ----------------------------------------------------------------------------


@resource_access_required
def board(request):
    scope = request_scope(request)
    _require(scope)
    params = presenters.filter_params(request.GET)
    errors = None
    try:
        columns = services.board(params=params, scope=scope, per_stage=presenters.BOARD_CARDS)
    except InvalidFilter as exc:
        errors, columns = exc.errors, []
    columns = [presenters.board_column(c, params) for c in columns]
    ctx = _base_ctx(
        request,
        "board",
        params=params,
        options=presenters.filter_options(scope, params),
        errors=errors,
        columns=columns,
        count=sum(c["count"] for c in columns),
        total_fmt=presenters.wan(
            sum(c["amount_wan"] for c in columns if c["amount_wan"] is not None)
            if any(c["amount_wan"] is not None for c in columns)
            else None
        ),
        filtered=bool(params),
        list_href=reverse("projects:list") + ("?" + query_string(**params) if params else ""),
        export_xlsx=f"{api_base()}projects/export.xlsx?" + query_string(**params),
    )
    ctx["im_config"] = _config(request, page="board")
    return render(request, "projects/board.html", ctx)


# --- one project ---------------------------------------------------------------------------


def _file_context(request, code: str, forms: dict | None = None) -> dict:
    scope = request_scope(request)
    try:
        d = services.detail(code=code, scope=scope)
    except ServiceError as exc:
        http_error(exc)
    category = d["category"]
    activities = [
        {
            **a,
            "kind_info": presenters.badge(ActivityKind, a["kind"]),
            "system": a["kind"] not in USER_ACTIVITY_KINDS,
        }
        for a in d["activities"]
    ]
    documents = [
        {
            **doc,
            "type_info": presenters.badge(DocumentType, doc["doc_type"]),
            "size_fmt": fmt(doc["size"] / 1024, 1),
        }
        for doc in d["documents"]
    ]
    forms = forms or {}
    move_opts = presenters.move_options(d, category)
    move_state = forms.get("move") or {}
    for date in move_opts["dates"]:
        date["value"] = (move_state.get("values") or {}).get(f"milestone_{date['stage']}", "")
        date["errors"] = (move_state.get("errors") or {}).get(f"milestones.{date['stage']}", [])
    approvals = presenters.approvals_rows(d, scope)
    for a in approvals:
        a["form"] = forms.get(f"decide-{a['id']}")
    ctx = _base_ctx(
        request,
        "list",
        d=d,
        stage=presenters.badge(Stage, d["stage"]),
        held_from=presenters.badge(Stage, d["held_from"]) if d["held_from"] else None,
        grade=presenters.badge(Grade, d["grade"]),
        category=presenters.badge(Category, category),
        facts=presenters.key_facts(d),
        steps=presenters.lifecycle_steps(d),
        move=move_opts,
        activities=activities,
        scheduled_count=sum(1 for a in activities if a["scheduled"]),
        documents=documents,
        signings=[{**x, "amount_fmt": presenters.wan(x["amount_wan"])} for x in d["signings"]],
        signed_total=presenters.wan(sum(s["amount_wan"] for s in d["signings"]))
        if d["signings"]
        else None,
        capital=[{**x, "amount_fmt": presenters.wan(x["amount_wan"])} for x in d["capital"]],
        capital_total=presenters.wan(sum(c["amount_wan"] for c in d["capital"]))
        if d["capital"]
        else None,
        approvals=approvals,
        pending_here=any(a["status"] == "pending" for a in approvals),
        checks=presenters.check_rows(d),
        candidates=presenters.candidate_rows(d),
        saved_lists=_saved_lists(scope, d) if d["can_edit"] else [],
        history=presenters.history_rows(d),
        user_kinds=[presenters.badge(ActivityKind, k) for k in USER_ACTIVITY_KINDS],
        doc_types=DocumentType.legend(),
        today=services.today().isoformat(),
        forms=forms,
        sheet_href=reverse("projects:sheet", args=[code]),
    )
    site = presenters.site_map(d)
    ctx["site_map"] = site
    ctx["im_config"] = _config(request, page="detail", code=code)
    return ctx


def _saved_lists(scope, d: dict) -> list[dict]:
    """The candidate lists the user may link; the one linked now always among them (it may
    have been saved by someone outside the user's units), so "Link" never drops it silently."""
    lists = matching_services.candidate_lists(scope=scope)
    linked = d.get("candidates")
    if linked and all(item["id"] != linked["id"] for item in lists):
        lists.insert(
            0,
            {"id": linked["id"], "name": linked["name"], "count": len(linked.get("results") or [])},
        )
    return lists


@resource_access_required
def detail(request, code: str):
    scope = request_scope(request)
    _require(scope)
    return render(request, "projects/detail.html", _file_context(request, code))


def _refused(request, code: str, form: str, exc: ServiceError, values: dict):
    """The file again with the refused form open, its input kept and the messages shown."""
    if isinstance(exc, NotFound | Forbidden):
        http_error(exc)
    state = {
        "values": values,
        "errors": getattr(exc, "errors", {}) or {},
        "message": exc.message,
    }
    ctx = _file_context(request, code, forms={form: state})
    return render(request, "projects/detail.html", ctx, status=exc.status)


@require_POST
@resource_access_required
def move(request, code: str):
    scope = request_scope(request)
    _require(scope)
    try:
        project = services.get(code=code, scope=scope, edit=True)
    except ServiceError as exc:
        http_error(exc)
    to, milestones, reason = presenters.move_request(request.POST, project.category)
    try:
        result = services.transition(
            code=code,
            to=to,
            milestones=milestones,
            reason=reason,
            scope=scope,
            user=request.user,
        )
    except ServiceError as exc:
        return _refused(request, code, "move", exc, dict(request.POST.items()))
    if result["approval"] is not None:
        messages.info(
            request,
            gettext(
                "The move to %(stage)s needs a decision by the bureau; it was sent for approval."
            )
            % {"stage": services.stage_label(to)},
        )
    else:
        messages.success(
            request,
            gettext("Moved to %(stage)s.")
            % {"stage": services.stage_label(result["project"].stage)},
        )
    return redirect("projects:detail", code=code)


@require_POST
@resource_access_required
def add_activity(request, code: str):
    scope = request_scope(request)
    _require(scope)
    values = {k: (request.POST.get(k) or "").strip() for k in ("kind", "on", "text")}
    try:
        a = services.add_activity(code=code, scope=scope, user=request.user, **values)
    except ServiceError as exc:
        return _refused(request, code, "activity", exc, values)
    if a.on > services.today():
        messages.success(request, gettext("Scheduled for %(on)s.") % {"on": a.on.isoformat()})
    else:
        messages.success(request, gettext("Added to the timeline."))
    return redirect(reverse("projects:detail", args=[code]) + "#timeline")


@require_POST
@resource_access_required
def add_document(request, code: str):
    scope = request_scope(request)
    _require(scope)
    values = {k: (request.POST.get(k) or "").strip() for k in ("doc_type", "title", "on")}
    try:
        services.add_document(
            code=code,
            upload=request.FILES.get("file"),
            doc_type=values["doc_type"] or "other",
            title=values["title"],
            on=values["on"] or None,
            scope=scope,
            user=request.user,
        )
    except ServiceError as exc:
        return _refused(request, code, "document", exc, values)
    messages.success(request, gettext("Document attached."))
    return redirect(reverse("projects:detail", args=[code]) + "#documents")


@resource_access_required
def document(request, code: str, doc_id: int):
    """A document's file, for those who may read the project (services.document checks)."""
    scope = request_scope(request)
    _require(scope)
    try:
        doc = services.document(code=code, doc_id=doc_id, scope=scope)
    except ServiceError as exc:
        http_error(exc)
    try:
        handle = doc.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404(gettext("The file of this document is missing.")) from None
    return FileResponse(handle, as_attachment=True, filename=os.path.basename(doc.file.name))


@require_POST
@resource_access_required
def add_capital(request, code: str):
    scope = request_scope(request)
    _require(scope)
    values = {k: (request.POST.get(k) or "").strip() for k in ("on", "amount_wan", "note")}
    try:
        services.record_capital(code=code, scope=scope, user=request.user, **values)
    except ServiceError as exc:
        return _refused(request, code, "capital", exc, values)
    messages.success(request, gettext("Capital arrival recorded."))
    return redirect(reverse("projects:detail", args=[code]) + "#capital")


@require_POST
@resource_access_required
def decide(request, code: str, approval_id: int):
    scope = request_scope(request)
    _require(scope)
    values = {k: (request.POST.get(k) or "").strip() for k in ("decision", "reason")}
    back = request.POST.get("next") or ""
    try:
        approval = services.decide(
            code=code,
            approval_id=approval_id,
            decision=values["decision"],
            reason=values["reason"],
            scope=scope,
            user=request.user,
        )
    except ServiceError as exc:
        if back == reverse("projects:approvals") and not isinstance(exc, NotFound | Forbidden):
            messages.error(request, _error_text(exc))
            return redirect(back)
        return _refused(request, code, f"decide-{approval_id}", exc, values)
    messages.success(
        request,
        gettext("%(decision)s: %(stage)s")
        % {
            "decision": presenters.badge(ApprovalStatus, approval.status)["label"],
            "stage": services.stage_label(approval.to_stage),
        },
    )
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect(reverse("projects:detail", args=[code]) + "#approvals")


def _error_text(exc: ServiceError) -> str:
    parts = [exc.message]
    for field, msgs in (getattr(exc, "errors", None) or {}).items():
        parts.append(f"{field}: {'; '.join(msgs)}")
    return " — ".join(p for p in parts if p)


@require_POST
@resource_access_required
def choose_site(request, code: str):
    scope = request_scope(request)
    _require(scope)
    raw_list = (request.POST.get("candidates") or "").strip()
    raw_index = (request.POST.get("index") or "").strip()
    try:
        candidates = int(raw_list) if raw_list else None
        index = int(raw_index) if raw_index else None
    except ValueError:
        raise Http404() from None
    try:
        services.choose_site(
            code=code, candidates=candidates, index=index, scope=scope, user=request.user
        )
    except ServiceError as exc:
        return _refused(request, code, "site", exc, {"candidates": raw_list, "index": raw_index})
    messages.success(
        request,
        gettext("Site chosen.") if index is not None else gettext("Candidate sites updated."),
    )
    return redirect(reverse("projects:detail", args=[code]) + "#site")


@resource_access_required
def edit(request, code: str):
    """The edit form: every field of the file, saved with If-Match (the ETag read with the form).

    Only the fields the user changed are sent. When someone saved the project in
    between (412), the input is kept and the fields they changed are marked with
    their new value; the form then carries the new ETag, so saving again is a
    decision taken with both versions in view."""
    scope = request_scope(request)
    _require(scope)
    try:
        project = services.get(code=code, scope=scope, edit=True)
    except ServiceError as exc:
        http_error(exc)
    contacts = access.contacts_visible(scope, project)
    posted, errors, changed, conflict, message = None, {}, {}, False, ""
    etag = services.etag(project)
    status = 200
    if request.method == "POST":
        posted = request.POST
        sent_etag = request.POST.get("if_match") or ""
        changes = presenters.changes_from_post(project, posted, contacts=contacts)
        try:
            if sent_etag != etag:
                raise services.PreconditionFailed(etag)
            if not changes:
                messages.info(request, gettext("Nothing was changed."))
                return redirect("projects:detail", code=code)
            services.update(
                code=code, changes=changes, if_match=sent_etag, scope=scope, user=request.user
            )
        except services.PreconditionFailed as exc:
            conflict, status, message = True, exc.status, exc.message
            changed = presenters.changed_since(project, presenters.version_of(sent_etag))
        except InvalidFilter as exc:
            errors, status, message = exc.errors, exc.status, exc.message
            etag = sent_etag  # the same version: the user corrects and saves again
        except ServiceError as exc:
            http_error(exc)
        else:
            messages.success(request, gettext("Saved."))
            return redirect("projects:detail", code=code)
    ctx = _base_ctx(
        request,
        "list",
        project=project,
        d=services.row(project, scope),
        stage=presenters.badge(Stage, project.stage),
        groups=presenters.edit_groups(
            project,
            contacts=contacts,
            posted=posted,
            errors=errors,
            changed=changed,
        ),
        options=presenters.filter_options(scope, {}),
        categories=Category.legend(),
        officers=presenters.officers(),
        etag=etag,
        conflict=conflict,
        message=message,
        errors=errors,
        contacts=contacts,
    )
    return render(request, "projects/edit.html", ctx, status=status)


@resource_access_required
def sheet(request, code: str):
    """The management sheet for meetings: a PDF with the Chinese font embedded."""
    from . import pdf

    scope = request_scope(request)
    _require(scope)
    try:
        d = services.detail(code=code, scope=scope)
    except ServiceError as exc:
        http_error(exc)
    content = pdf.sheet(d)
    audit(user=request.user, action="export", target="projects", code=code, format="pdf")
    name = f"{code}.pdf"
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f"inline; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return response


# --- alerts and approvals -------------------------------------------------------------------


@resource_access_required
def alert_list(request):
    from . import alerts

    scope = request_scope(request)
    _require(scope)
    as_of = as_of_param(request)
    found = alerts.compute(as_of=as_of, scope=scope)
    wanted = request.GET.get("type") or ""
    counts = {t: 0 for t in AlertType.values}
    for a in found:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
    shown = [a for a in found if not wanted or a["type"] == wanted]
    towns = presenters.town_names(scope)
    rows = [
        {
            **a,
            "town_name": towns.get(a["town"], a["town"]),
            "type_info": presenters.badge(AlertType, a["type"]),
            "stage_info": presenters.badge(Stage, a["stage"]),
            "out_of_order_labels": [services.stage_label(s) for s in a.get("out_of_order") or []],
        }
        for a in shown
    ]
    types = [
        {
            **presenters.badge(AlertType, t),
            "count": counts.get(t, 0),
            "href": "?" + query_string(as_of=request.GET.get("as_of"), type=t),
            "active": t == wanted,
        }
        for t in AlertType.values
    ]
    ctx = _base_ctx(
        request,
        "alerts",
        as_of=as_of,
        today=services.today(),
        rows=rows,
        total=len(found),
        types=types,
        wanted=wanted,
        all_href="?" + query_string(as_of=request.GET.get("as_of")),
        api_href=f"{api_base()}projects/alerts?" + query_string(as_of=as_of.isoformat()),
    )
    ctx["im_config"] = _config(request, page="alerts")
    return render(request, "projects/alerts.html", ctx)


@resource_access_required
def approval_list(request):
    scope = request_scope(request)
    _require(scope)
    try:
        pending = services.pending_approvals(scope=scope)
    except ServiceError as exc:
        http_error(exc)
    me = request.user.get_username()
    rows = [
        {
            **a,
            "may_decide": access.can_decide(scope) and a.get("requested_by") != me,
            "own": a.get("requested_by") == me,
            "to_info": presenters.badge(Stage, a["to"]),
            "milestones": presenters.milestone_list(a),
        }
        for a in pending
    ]
    ctx = _base_ctx(request, "approvals", rows=rows, can_decide=access.can_decide(scope))
    ctx["im_config"] = _config(request, page="approvals")
    return render(request, "projects/approvals.html", ctx)


# --- overview ------------------------------------------------------------------------------


@resource_access_required
def overview(request):
    """Totals by stage, category, town and team; the funnel; key projects; rankings;
    team performance — the figures of /api/v1/projects/stats, funnel and performance."""
    from . import stats

    scope = request_scope(request)
    _require(scope)
    as_of = as_of_param(request)
    date_from = _date_param(request, "from")
    date_to = _date_param(request, "to")
    period = {"scope": scope, "date_from": date_from, "date_to": date_to, "as_of": as_of}
    try:
        groups = {g: stats.stats(group_by=g, **period) for g in presenters.OVERVIEW_GROUPS}
    except InvalidFilter as exc:  # e.g. from after to: the whole history instead
        messages.error(request, _error_text(exc))
        date_from = date_to = None
        period.update(date_from=None, date_to=None)
        groups = {g: stats.stats(group_by=g, **period) for g in presenters.OVERVIEW_GROUPS}
    funnel = stats.funnel(**period)
    key = stats.key_projects(scope=scope, as_of=as_of)
    ranking = {by: stats.ranking(by=by, **period) for by in ("total_investment_wan", "signed_wan")}
    performance = stats.performance(**period)
    ov = presenters.overview(
        groups=groups, funnel=funnel, key=key, ranking=ranking, performance=performance
    )
    query = query_string(
        **{
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
            "as_of": as_of.isoformat(),
        }
    )
    ctx = _base_ctx(
        request,
        "overview",
        ov=ov,
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        today=services.today(),
        api_stats=f"{api_base()}projects/stats?{query}",
    )
    ctx["im_config"] = _config(request, page="overview", charts=ov["charts"])
    return render(request, "projects/overview.html", ctx)
