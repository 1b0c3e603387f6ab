"""The candidate-site report as a PDF (reportlab): A4 landscape, Chinese text embedded.

`render()` is called by services.export_pdf with the match answer and the same
header and rows as the Excel export, so both files say the same thing.

Chinese needs a font with CJK glyphs. The first TrueType file of FONT_CANDIDATES
that exists is registered and embedded (subset) in the file, so the report reads
the same on any machine; without one, the report falls back to the Adobe CID font
STSong-Light, which PDF readers substitute (not embedded).
"""

from __future__ import annotations

import io
import os
import threading
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from investmap.core.models import district_name
from investmap.resources.choices import BuildingType, LandUse, ParcelStatus, PoiCategory
from investmap.resources.models import Park, Town

# TrueType fonts with Chinese glyphs, first found wins: (path, index in a .ttc).
# (OpenType/CFF fonts such as Noto CJK .otf cannot be embedded by reportlab.)
FONT_CANDIDATES = [
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),
    ("C:/Windows/Fonts/simsun.ttc", 0),
]
FONT_NAME = "InvestMapCJK"
CID_FALLBACK = "STSong-Light"

_font_lock = threading.Lock()
_font: str | None = None

PAGE = landscape(A4)
MARGIN = 12 * mm
HEADER_BG = colors.HexColor("#dde7f0")
RULE = colors.HexColor("#c6ccd6")
ACCENT = colors.HexColor("#15325c")
MUTED = colors.HexColor("#6b7280")


def font_name() -> str:
    """The registered font for Chinese text: the first TrueType candidate, else the CID font."""
    global _font
    with _font_lock:
        if _font is None:
            _font = _register()
        return _font


def _register() -> str:
    for path, index in FONT_CANDIDATES:
        if not os.path.exists(path):
            continue
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=index))
        except Exception:  # a damaged or unsupported file: try the next one
            continue
        return FONT_NAME
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def embedded_font_name() -> str | None:
    """The PostScript name the PDF embeds (e.g. 'WenQuanYiMicroHei'), None for the CID fallback."""
    name = font_name()
    if name == CID_FALLBACK:
        return None
    face = pdfmetrics.getFont(name).face
    raw = face.name
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)


# --- text --------------------------------------------------------------------------


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "base", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK", alignment=TA_LEFT
    )
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, textColor=ACCENT),
        "meta": ParagraphStyle("meta", parent=base, fontSize=9, leading=12, textColor=MUTED),
        "h": ParagraphStyle("h", parent=base, fontSize=10.5, leading=14, textColor=ACCENT),
        "summary": ParagraphStyle("summary", parent=base, fontSize=9, leading=12.5),
        "th": ParagraphStyle("th", parent=base, fontSize=8, leading=10, textColor=ACCENT),
        "td": base,
        "num": ParagraphStyle("num", parent=base, alignment=TA_RIGHT),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)).replace("\n", "<br/>"), style)


def _fmt(value, digits: int = 0) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if digits:
            return f"{value:,.{digits}f}"
        return f"{round(value):,}"
    return str(value)


def _metres(value) -> str:
    if value is None:
        return "—"
    return (
        _("%(km).1f km") % {"km": value / 1000}
        if value >= 1000
        else _("%(m)d m") % {"m": round(value)}
    )


def demand_summary(demand: dict) -> list[tuple[str, str]]:
    """(label, value) lines describing the demand in words."""
    uses = dict(LandUse.choices)
    statuses = dict(ParcelStatus.choices)
    types = dict(BuildingType.choices)
    cats = dict(PoiCategory.choices)
    towns = dict(Town.objects.values_list("code", "name"))
    parks = dict(Park.objects.values_list("code", "name"))

    def rng(lo, hi, unit):
        lo, hi = demand.get(lo), demand.get(hi)
        if lo is not None and hi is not None:
            return f"{lo:g}–{hi:g} {unit}"
        if lo is not None:
            return f"≥ {lo:g} {unit}"
        if hi is not None:
            return f"≤ {hi:g} {unit}"
        return None

    def names(codes, table):
        return "、".join(str(table.get(c, c)) for c in codes)

    lines: list[tuple[str, str]] = []
    land = rng("area_mu_min", "area_mu_max", _("mu"))
    if land:
        lines.append((_("Land area"), land))
        if demand.get("land_use"):
            lines.append((_("Planned land use"), names(demand["land_use"], uses)))
        if demand.get("status"):
            lines.append((_("Parcel status"), names(demand["status"], statuses)))
        if demand.get("max_price_wan") is not None:
            lines.append((_("Maximum price"), f"{demand['max_price_wan']:,.0f} " + _("10k yuan")))
        if demand.get("plot_ratio_min") is not None:
            lines.append((_("Plot ratio at least"), f"{demand['plot_ratio_min']:g}"))
        for key, label in (
            ("investment_wan_per_mu", _("Investment (10k yuan per mu)")),
            ("tax_wan_per_mu", _("Tax (10k yuan per mu)")),
        ):
            if demand.get(key) is not None:
                lines.append((label, f"{demand[key]:g}"))
        if demand.get("allow_combine"):
            lines.append(
                (
                    _("Combinations"),
                    _("adjacent parcels may be combined, at most %(n)s")
                    % {"n": demand.get("max_parcels")},
                )
            )
    floor = rng("floor_m2_min", "floor_m2_max", "m²")
    if floor:
        lines.append((_("Floor area"), floor))
        if demand.get("building_type"):
            lines.append((_("Building type"), names(demand["building_type"], types)))
        for key, label, unit in (
            ("floor_load_min_kn_m2", _("Floor load at least"), "kN/m²"),
            ("clear_height_min_m", _("Clear height at least"), "m"),
            ("max_rent_yuan_m2_day", _("Rent at most"), _("yuan/m²/day")),
        ):
            if demand.get(key) is not None:
                lines.append((label, f"{demand[key]:g} {unit}"))
    where = []
    if demand.get("towns"):
        where.append(names(demand["towns"], towns))
    if demand.get("parks"):
        where.append(names(demand["parks"], parks))
    if where:
        lines.append((_("Where"), " / ".join(where)))
    if demand.get("exclude_towns") or demand.get("exclude_parks"):
        lines.append(
            (
                _("Not in"),
                "、".join(
                    [names(demand.get("exclude_towns", []), towns)]
                    + [names(demand.get("exclude_parks", []), parks)]
                ).strip("、"),
            )
        )
    near = []
    for n in demand.get("near", []):
        what = str(cats.get(n["category"], n["category"]))
        if n.get("weight") is None:
            near.append(
                _("%(what)s within %(d)s (required)")
                % {"what": what, "d": _metres(n.get("within_m"))}
            )
        else:
            near.append(
                _("%(what)s preferred (weight %(w)s)") % {"what": what, "w": f"{n['weight']:g}"}
                + (f", {_metres(n['within_m'])}" if n.get("within_m") else "")
            )
    if near:
        lines.append((_("Nearby"), "；".join(near)))
    return lines


# --- the document ---------------------------------------------------------------------


def _column_widths(header: list[str], total: float) -> list[float]:
    """Fixed columns, the reasons column takes the rest; shrink all if too many columns."""
    fixed = [26, 58, 80, 52, 64, 46, 52, 36]  # rank … score
    near = [50] * max(0, len(header) - 9)
    reasons_w = total - sum(fixed) - sum(near)
    widths = [*fixed, max(reasons_w, 170), *near][: len(header)]
    scale = min(1.0, total / sum(widths))
    return [w * scale for w in widths]


def render(*, answer: dict, header: list[str], rows: list[list]) -> bytes:
    """The report: title, district and time, the demand, the ranked table with reasons."""
    font = font_name()
    st = _styles(font)
    district = district_name()
    generated = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    stamp = _("Generated %(when)s") % {"when": generated}
    title = _("Candidate sites")
    towns = dict(Town.objects.values_list("code", "name"))
    parks = dict(Park.objects.values_list("code", "name"))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"{title} · {district}",
        author=str(_("InvestMap")),
        subject=str(_("Site matching")),
        creator="InvestMap",
    )

    def footer(canvas, _doc):
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(
            MARGIN,
            MARGIN - 2 * mm,
            f"{_('InvestMap')} · {district} · {stamp}",
        )
        canvas.drawRightString(
            PAGE[0] - MARGIN, MARGIN - 2 * mm, _("Page %(n)s") % {"n": canvas.getPageNumber()}
        )
        canvas.restoreState()

    story = [
        _p(f"{district} · {title}", st["title"]),
        _p(
            f"{_('Site matching')} · {stamp}",
            st["meta"],
        ),
        Spacer(1, 4 * mm),
        _p(_("Demand"), st["h"]),
    ]
    summary = demand_summary(answer.get("demand") or {})
    if summary:
        width = PAGE[0] - 2 * MARGIN
        t = Table(
            [[_p(k, st["meta"]), _p(v, st["summary"])] for k, v in summary],
            colWidths=[42 * mm, width - 42 * mm],
            hAlign="LEFT",
        )
        t.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        story.append(t)
    counts = answer.get("counts") or {}
    story += [
        Spacer(1, 3 * mm),
        _p(
            _(
                "%(total)s candidate sites (parcels %(p)s, combinations %(c)s, floor space %(f)s); the first %(n)s are listed."
            )
            % {
                "total": answer.get("total", len(rows)),
                "p": counts.get("parcel", 0),
                "c": counts.get("combination", 0),
                "f": counts.get("floor_space", 0),
                "n": len(rows),
            },
            st["summary"],
        ),
    ]
    if answer.get("truncated"):
        story.append(
            _p(
                _(
                    "The search for combinations stopped early (too many connected parcels); narrow the demand to see all."
                ),
                st["meta"],
            )
        )
    story.append(Spacer(1, 3 * mm))

    if rows:
        body = [[_p(h, st["th"]) for h in header]]
        for row in rows:
            cells = []
            for i, value in enumerate(row):
                if i == 3:
                    value = towns.get(value, value)
                elif i == 4:
                    value = parks.get(value, value) if value else "—"
                if i in (5,):
                    cells.append(_p(_fmt(value, 2), st["num"]))
                elif i == 6:
                    cells.append(_p(_fmt(value), st["num"]))
                elif i == 7:
                    cells.append(_p(_fmt(value, 3), st["num"]))
                elif i >= 9:
                    cells.append(_p(_fmt(value), st["num"]))
                elif i == 8:
                    cells.append(_p(str(value or "").replace("；", "；\n"), st["td"]))
                else:
                    cells.append(_p(value if value not in (None, "") else "—", st["td"]))
            body.append(cells)
        table = Table(
            body,
            colWidths=_column_widths(header, PAGE[0] - 2 * MARGIN),
            repeatRows=1,
            hAlign="LEFT",
        )
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                    (
                        "ROWBACKGROUNDS",
                        (0, 1),
                        (-1, -1),
                        [colors.white, colors.HexColor("#f7f9fc")],
                    ),
                    ("TOPPADDING", (0, 0), (-1, -1), 3),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        story.append(table)
    else:
        story.append(_p(_("No site meets this demand."), st["summary"]))
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
