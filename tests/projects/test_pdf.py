"""The management sheet PDF: Chinese text that comes out as text (pdftotext), the CJK
font embedded (pdffonts), the sections of the file, and masking by scope."""

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from investmap.core.scope import scope_for
from investmap.matching import pdf as matching_pdf
from investmap.projects import pdf, services

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pdf"
TODAY = dt.date.today()


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdffonts")),
    reason="poppler-utils (pdftotext, pdffonts) is not installed",
)


@pytest.fixture
def signed(users):
    bureau, scope = users["bureau"], scope_for(users["bureau"])
    p = services.create(
        data={
            "name": "东湖高端装备制造基地项目",
            "category": "new_land",
            "town": "T01",
            "team": "TEAM-T01",
            "industry_code": "3670",
            "investor_name": "江南重工集团有限公司",
            "contact_name": "赵六",
            "contact_phone": "13600001234",
            "total_investment_wan": 8000,
            "fixed_asset_investment_wan": 6000,
            "land_area_mu": 40,
            "expected_tax_wan": 900,
            "expected_output_wan": 40000,
        },
        scope=scope,
        user=bureau,
    )
    services.transition(
        code=p.code,
        to="signed",
        milestones={"negotiating": days_ago(40), "signed": days_ago(20)},
        scope=scope,
        user=bureau,
    )
    services.add_activity(
        code=p.code, kind="visit", on=days_ago(5), text="实地踏勘意向地块", scope=scope, user=bureau
    )
    services.record_capital(code=p.code, on=days_ago(3), amount_wan=1500, scope=scope, user=bureau)
    return p


def text_and_fonts(body: bytes, tmp_path, name: str) -> tuple[str, str]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(body)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    fonts = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, check=True, text=True
    ).stdout
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-singlefile", str(path), str(ARTIFACTS / name)],
            check=True,
        )
    return text, fonts


@needs_poppler
@pytest.mark.django_db
def test_sheet_has_the_chinese_name_and_embeds_the_font(signed, users, tmp_path, zh):
    d = services.detail(code=signed.code, scope=scope_for(users["bureau"]))
    body = pdf.sheet(d)
    assert body.startswith(b"%PDF")
    text, fonts = text_and_fonts(body, tmp_path, "project-sheet")
    assert "东湖高端装备制造基地项目" in text
    assert signed.code in text
    assert "江南重工集团有限公司" in text
    # Milestones with their Chinese names and dates; the latest activity; signing and capital.
    assert "签约" in text and days_ago(20) in text and days_ago(40) in text
    assert "实地踏勘意向地块" in text
    assert "1,500.00" in text and "8,000.00" in text
    # The 标准地 check at signing is on the sheet.
    assert zh("Standard-land checks") in text
    assert zh("At signing (commitments)") in text
    # pdffonts: the CJK TrueType font, embedded ("emb" yes) as a subset.
    assert matching_pdf.font_name() == matching_pdf.FONT_NAME
    face = matching_pdf.embedded_font_name()
    lines = [line for line in fonts.splitlines() if face in line]
    assert lines, fonts
    assert all(re.search(r"\bTrueType\b.*\byes\s+yes\b", line) for line in lines), fonts


@needs_poppler
@pytest.mark.django_db
def test_sheet_marks_the_skipped_stage_and_prints_contacts_as_detail_masks_them(
    users, tmp_path, zh
):
    bureau, scope = users["bureau"], scope_for(users["bureau"])
    p = services.create(
        data={
            "name": "西山研发中心入驻项目",
            "category": "hq_rd",
            "town": "T02",
            "contact_name": "钱七",
            "contact_phone": "13900009999",
        },
        scope=scope,
        user=bureau,
    )
    # The sheet prints what services.detail() gives: contacts in clear for the bureau, and
    # masked values as they are (detail() masks them for viewers outside the unit).
    d = services.detail(code=p.code, scope=scope)
    text, _fonts = text_and_fonts(pdf.sheet(d), tmp_path, "project-sheet-hq")
    assert "西山研发中心入驻项目" in text
    assert zh("skipped (not on this category's path)") in text
    assert "13900009999" in text
    masked = {**d, "contact_phone": "139****9999", "contact_name": "钱*"}
    text, _fonts = text_and_fonts(pdf.sheet(masked), tmp_path, "project-sheet-masked")
    assert "13900009999" not in text and "139****9999" in text
