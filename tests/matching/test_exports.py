"""Excel and PDF exports of a match: the same rows as the answer, Chinese text in
the PDF with its TrueType font embedded."""

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from investmap.matching import pdf
from investmap.resources.models import Parcel
from investmap.resources.spatial import mu, shape_fields

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

DEMAND = {
    "area_mu_min": 30,
    "area_mu_max": 60,
    "land_use": ["M1", "M2"],
    "near": [
        {"category": "metro_station", "within_m": 3000},
        {"category": "school", "weight": 1},
    ],
    "allow_combine": True,
    "max_parcels": 3,
}


def square(lon, lat, size):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


def add_parcel(district, code, geometry, **fields):
    shape = shape_fields([json.dumps(geometry)])[0]
    assert "error" not in shape, shape
    names = {f.name for f in Parcel._meta.fields}
    p = Parcel(
        code=code,
        town=district["towns"]["T01"],
        park=district["park"],
        status="available",
        **fields,
        **{k: v for k, v in shape.items() if k in names},
    )
    p.area_mu = mu(p.area_m2)
    p.save()
    return p


@pytest.fixture
def sites(district):
    """Near the metro station of park P01: one 40-mu M1 parcel, and two adjacent
    23-mu M2 parcels that only qualify together (a combination)."""
    add_parcel(
        district, "P-012", square(121.030, 31.032, 0.0016), name="科创园十二号", land_use="M1"
    )
    add_parcel(district, "P-010", square(121.026, 31.026, 0.0012), name="十号", land_use="M2")
    add_parcel(district, "P-011", square(121.0272, 31.026, 0.0012), name="十一号", land_use="M2")
    return district


@pytest.fixture
def api(client, users):
    client.force_login(users["bureau"])
    return client


def post(client, path, demand):
    return client.post(f"/api/v1/match/{path}", demand, content_type="application/json")


def test_match_has_a_single_and_a_combination(api, sites):
    answer = post(api, "sites", DEMAND).json()
    kinds = {(r["kind"], tuple(r.get("parcels", []))) for r in answer["results"]}
    assert kinds == {("parcel", ("P-012",)), ("combination", ("P-010", "P-011"))}


def test_excel_export_matches_the_answer(api, sites, zh):
    answer = post(api, "sites", DEMAND).json()
    r = post(api, "sites/export.xlsx", DEMAND)
    assert r.status_code == 200
    assert "spreadsheetml" in r["Content-Type"]
    assert r["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    assert r["Content-Disposition"].endswith(".xlsx")
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.worksheets[0]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    header, rows = values[0], values[1:]
    assert header[:9] == [
        zh(h)
        for h in (
            "Rank",
            "Result type",
            "Site",
            "Town",
            "Park",
            "Area (mu)",
            "Floor area (m²)",
            "Score",
            "Reasons",
        )
    ]
    # One column per proximity category of the demand.
    assert len(header) == 11
    assert len(rows) == len(answer["results"]) == 2
    for row, res in zip(rows, answer["results"], strict=True):
        assert row[0] == res["rank"]
        assert row[2] == " + ".join(res["parcels"])
        assert row[3] == res["town"] and row[4] == res["park"]
        assert row[5] == pytest.approx(res["area_mu"])
        assert row[7] == pytest.approx(res["score"])
        assert row[8] == "；".join(x["text"] for x in res["reasons"])
        assert row[9] == pytest.approx(res["distances"]["metro_station"])
        assert row[10] == pytest.approx(res["distances"]["school"])
    kinds = {row[2]: row[1] for row in rows}
    assert kinds == {"P-012": zh("Parcel"), "P-010 + P-011": zh("Combination")}
    demand_sheet = {row[0].value: row[1].value for row in wb.worksheets[1].iter_rows()}
    assert demand_sheet["area_mu_min"] == 30 and demand_sheet["area_mu_max"] == 60


def test_excel_export_of_an_invalid_demand_is_422(api, sites):
    r = post(api, "sites/export.xlsx", {"area_mu_min": "many"})
    assert r.status_code == 422
    assert "area_mu_min" in r.json()["errors"]


def test_pdf_export(api, sites, tmp_path):
    r = post(api, "sites/export.pdf", DEMAND)
    assert r.status_code == 200
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"].endswith(".pdf")
    body = r.content
    assert body.startswith(b"%PDF")
    # The Chinese font is a TrueType font embedded in the file (subset).
    assert pdf.font_name() == pdf.FONT_NAME, "no CJK TrueType font found: " + ", ".join(
        p for p, _i in pdf.FONT_CANDIDATES
    )
    face = pdf.embedded_font_name()
    assert face and re.search(rb"/BaseFont /[A-Z]{6}\+" + re.escape(face.encode()), body)
    assert b"/FontFile2" in body
    if not shutil.which("pdftotext"):
        pytest.skip(
            "pdftotext (poppler-utils) is not installed: the text of the PDF is not checked"
        )
    path = tmp_path / "sites.pdf"
    path.write_bytes(body)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    for code in ("P-012", "P-010 + P-011"):
        assert code in text
    # Chinese text comes out as text: the district and the town names.
    assert "示范区" in text and "东湖镇" in text
    # Keep a picture of the first page to look at (like the browser screenshots).
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "90",
                "-singlefile",
                str(path),
                str(ARTIFACTS / "match-report"),
            ],
            check=True,
        )


def test_pdf_of_no_results(api, sites):
    r = post(api, "sites/export.pdf", {"area_mu_min": 5000})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")


def test_pdf_renders_with_the_cid_fallback(sites, monkeypatch, users):
    """Without any TrueType candidate the report still renders, with STSong-Light."""
    from investmap.core.scope import scope_for
    from investmap.matching import services

    monkeypatch.setattr(pdf, "FONT_CANDIDATES", [("/nonexistent/font.ttc", 0)])
    monkeypatch.setattr(pdf, "_font", None)
    body = services.export_pdf(data=DEMAND, scope=scope_for(users["bureau"]), user=users["bureau"])
    assert body.startswith(b"%PDF") and b"STSong-Light" in body
    assert pdf.embedded_font_name() is None
