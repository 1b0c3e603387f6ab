"""A project's management sheet as a PDF for meetings (reportlab, A4 portrait).

`sheet(detail)` takes `services.detail()` (already scoped and masked) and lays out
the title, key facts, the milestones on the project's path, the latest timeline
entries, signings and capital, and the 标准地 checks. The Chinese font is the one
matching.pdf registers (a TrueType font embedded as a subset, see there), so the
sheet reads the same on any machine.
"""

from __future__ import annotations

import io

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, SimpleDocTemplate, Spacer, Table, TableStyle

from investmap.core.models import district_name
from investmap.matching.pdf import ACCENT, HEADER_BG, MUTED, RULE, _fmt, _p, _styles, font_name

from . import lifecycle
from .presenters import key_facts

PAGE = A4
MARGIN = 14 * mm
WIDTH = PAGE[0] - 2 * MARGIN
LATEST = 12  # timeline entries on the sheet

TABLE_STYLE = [
    ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
    ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
    ("TOPPADDING", (0, 0), (-1, -1), 2.5),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
]


def _table(header: list[str], rows: list[list], widths: list[float], st: dict, nums=()) -> Table:
    body = [[_p(h, st["th"]) for h in header]]
    for row in rows:
        body.append(
            [
                _p(v if v not in (None, "") else "—", st["num" if i in nums else "td"])
                for i, v in enumerate(row)
            ]
        )
    t = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle(TABLE_STYLE))
    return t


def _section(title: str, flowables: list, st: dict) -> list:
    return [
        Spacer(1, 4 * mm),
        KeepTogether([_p(title, st["h"]), Spacer(1, 1.5 * mm), *flowables[:1]]),
        *flowables[1:],
    ]


def _milestones(d: dict) -> list[list]:
    own = d["path"]
    rows = []
    for s in lifecycle.PATH:
        label = _stage_label(s)
        if s not in own:
            rows.append(
                [label, lifecycle.MILESTONES.get(s, ""), _("skipped (not on this category's path)")]
            )
        elif s == "lead":
            rows.append([label, "", d.get("lead_on") or "—"])
        else:
            rows.append([label, lifecycle.MILESTONES[s], d["milestones"].get(s) or "—"])
    return rows


def _stage_label(stage: str) -> str:
    from .services import stage_label

    return stage_label(stage)


def _wan(v) -> str:
    return _fmt(v, 2) if v is not None else "—"


def sheet(detail: dict) -> bytes:
    """The management sheet of one project (the dict of services.detail)."""
    d = detail
    font = font_name()
    st = _styles(font)
    st["title"] = ParagraphStyle("ptitle", parent=st["title"], fontSize=16, leading=21)
    st["facts_v"] = ParagraphStyle("factsv", parent=st["td"], fontSize=9, leading=12)
    district = district_name()
    stamp = _("Generated %(when)s") % {"when": timezone.localtime().strftime("%Y-%m-%d %H:%M")}
    title = _("Project management sheet")

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"{d['name']} · {title}",
        author=str(_("InvestMap")),
        subject=str(title),
        creator="InvestMap",
    )

    def footer(canvas, _doc):
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(
            MARGIN, MARGIN - 2 * mm, f"{_('InvestMap')} · {district} · {d['code']} · {stamp}"
        )
        canvas.drawRightString(
            PAGE[0] - MARGIN, MARGIN - 2 * mm, _("Page %(n)s") % {"n": canvas.getPageNumber()}
        )
        canvas.restoreState()

    state = d["stage_label"]
    if d["stage"] == "on_hold" and d.get("held_from"):
        state += f" ({_('from')} {_stage_label(d['held_from'])})"
    if d["stage"] == "dropped" and d.get("drop_reason"):
        state += f" — {d['drop_reason']}"
    story = [
        _p(f"{district} · {title}", st["meta"]),
        _p(d["name"], st["title"]),
        _p(
            " · ".join(
                x
                for x in (
                    d["code"],
                    f"{_('Stage')}: {state}",
                    f"{_('Grade')}: {d['grade_label']}"
                    + (f" ({_('strategic')})" if d["strategic"] else ""),
                    stamp,
                )
                if x
            ),
            st["meta"],
        ),
        Spacer(1, 3 * mm),
    ]

    # Key facts in two label/value column pairs.
    facts = key_facts(d)
    contact = " · ".join(x for x in (d.get("contact_name"), d.get("contact_phone")) if x)
    facts.append((_("Contact"), contact or "—"))
    half = (len(facts) + 1) // 2
    left, right = facts[:half], facts[half:]
    rows = []
    for i in range(half):
        a = left[i]
        b = right[i] if i < len(right) else ("", "")
        rows.append(
            [
                _p(a[0], st["meta"]),
                _p(a[1], st["facts_v"]),
                _p(b[0], st["meta"]),
                _p(b[1], st["facts_v"]),
            ]
        )
    facts_table = Table(
        rows, colWidths=[34 * mm, WIDTH / 2 - 34 * mm, 34 * mm, WIDTH / 2 - 34 * mm], hAlign="LEFT"
    )
    facts_table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    story += _section(_("Key facts"), [facts_table], st)

    story += _section(
        _("Milestones"),
        [
            _table(
                [_("Stage"), _("Milestone"), _("Date")],
                _milestones(d),
                [40 * mm, 25 * mm, WIDTH - 65 * mm],
                st,
            )
        ],
        st,
    )

    activities = d.get("activities") or []
    latest = [
        [
            a["on"],
            a["kind_label"] + (f" ({_('scheduled')})" if a["scheduled"] else ""),
            a["text"],
            a.get("user") or "",
        ]
        for a in activities[:LATEST]
    ]
    story += _section(
        _("Latest activities"),
        [
            _table(
                [_("Date"), _("Kind"), _("Text"), _("By")],
                latest,
                [22 * mm, 26 * mm, WIDTH - 76 * mm, 28 * mm],
                st,
            )
            if latest
            else _p(_("Nothing recorded yet."), st["summary"])
        ],
        st,
    )

    signings = [
        [s["on"], s["kind_label"], _wan(s["amount_wan"]), s["investor_name"]]
        for s in d.get("signings") or []
    ]
    capital = [[c["on"], _wan(c["amount_wan"]), c["note"]] for c in d.get("capital") or []]
    parts = [
        _table(
            [_("Date"), _("Signing"), _("Counted (10k yuan)"), _("Investor")],
            signings,
            [22 * mm, 32 * mm, 32 * mm, WIDTH - 86 * mm],
            st,
            nums=(2,),
        )
        if signings
        else _p(_("Not signed yet."), st["summary"]),
        Spacer(1, 2 * mm),
        _table(
            [_("Date"), _("Capital arrived (10k yuan)"), _("Note")],
            capital,
            [22 * mm, 40 * mm, WIDTH - 62 * mm],
            st,
            nums=(1,),
        )
        if capital
        else _p(_("No capital recorded."), st["summary"]),
    ]
    story += _section(_("Signings and capital"), parts, st)

    checks = d.get("standard_checks") or []
    if checks:
        parts = []
        for c in checks:
            verdict = {True: _("met"), False: _("not met"), None: _("insufficient data")}[
                c["passed"]
            ]
            parts.append(
                _p(f"{c['phase_label']} · {c['on']} · {c['ruleset']} · {verdict}", st["summary"])
            )
            rows = []
            for it in c.get("items") or []:
                op = {"ge": "≥", "le": "≤"}.get(it.get("op"), it.get("op") or "")
                met = {True: _("met"), False: _("not met"), None: _("missing")}.get(
                    it.get("met"), ""
                )
                rows.append(
                    [
                        f"{it.get('label', it.get('indicator'))} ({it.get('unit', '')})",
                        _fmt(it.get("value"), 2) if it.get("value") is not None else "—",
                        f"{op} {_fmt(it.get('limit'), 2)}" if it.get("limit") is not None else "—",
                        met,
                    ]
                )
            parts.append(
                _table(
                    [_("Indicator"), _("Value"), _("Limit"), _("Met")],
                    rows,
                    [WIDTH - 86 * mm, 30 * mm, 36 * mm, 20 * mm],
                    st,
                    nums=(1, 2),
                )
            )
            parts.append(Spacer(1, 2 * mm))
        story += _section(_("Standard-land checks"), parts, st)

    pending = [a for a in d.get("approvals") or [] if a["status"] == "pending"]
    if pending:
        story += _section(
            _("Pending approvals"),
            [
                _p(
                    "；".join(
                        f"{a['to_label']} ({_('requested by')} {a.get('requested_by') or '—'})"
                        for a in pending
                    ),
                    st["summary"],
                )
            ],
            st,
        )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
