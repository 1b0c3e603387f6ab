"""Write a generated district as import files, in the formats `investmap import` reads.

The column and property names the issue fixes come first, in its order; the
other fields follow. GeoJSON for spatial kinds (WGS84 lon/lat, properties as
JSON values, null when unknown); UTF-8 CSV (no BOM) for the tabular kinds, a
blank cell when unknown — never 0. POIs are CSV with lon/lat columns.
"""

import csv
import json
from pathlib import Path

from .model import INDICATOR_FIELDS, District, polygon

COLUMNS = {
    "towns": ["code", "name"],
    "parks": ["code", "name", "town"],
    "parcels": [
        "code",
        "name",
        "town",
        "park",
        "land_use",
        "status",
        "price_wan",
        "enterprise",
        "plot_ratio_max",
        "plot_ratio_min",
        "height_limit_m",
        "owner",
    ],
    "buildings": [
        "code",
        "name",
        "town",
        "park",
        "parcel",
        "building_type",
        "floors",
        "height_m",
        "total_floor_m2",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
        "floor_load_kn_m2",
        "clear_height_m",
    ],
    "pois": ["code", "name", "category", "lon", "lat", "town", "address", "line", "seq"],
    "enterprises": [
        "credit_code",
        "name",
        "industry_code",
        "scale",
        "town",
        "parcel",
        "founded_on",
        "park",
        "building",
        "certifications",
        "contact_name",
        "contact_phone",
        "contact_email",
        "address",
        "lon",
        "lat",
    ],
    "indicators": ["credit_code", "year", *INDICATOR_FIELDS],
    "land-grants": [
        "parcel",
        "enterprise",
        "contract_start_on",
        "contract_price_wan",
        "started_on",
        "built_ratio",
        "invested_ratio",
        "halted_since",
    ],
    "teams": [
        "code",
        "name",
        "unit",
        "speciality",
        "member_name",
        "member_title",
        "member_phone",
        "member_speciality",
    ],
}
FILES = {
    "towns": "towns.geojson",
    "parks": "parks.geojson",
    "parcels": "parcels.geojson",
    "buildings": "buildings.geojson",
    "pois": "pois.csv",
    "enterprises": "enterprises.csv",
    "indicators": "indicators.csv",
    "land-grants": "land-grants.csv",
    "teams": "teams.csv",
}


def _cell(v) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _geojson(path: Path, features) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        for props, ring in features:
            feature = {"type": "Feature", "properties": props, "geometry": polygon(ring)}
            f.write(
                (",\n" if n else "")
                + json.dumps(feature, ensure_ascii=False, separators=(",", ":"))
            )
            n += 1
        f.write("\n]}\n")
    return n


def _csv(path: Path, header: list[str], rows) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])
            n += 1
    return n


def export_files(district: District, directory) -> dict[str, Path]:
    """Write the nine import files into `directory` (created if missing); {kind: path}."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    d, c = district, COLUMNS
    paths = {kind: out / name for kind, name in FILES.items()}

    def props(kind, rec):
        return {k: getattr(rec, k) for k in c[kind]}

    _geojson(paths["towns"], ((props("towns", t), t.ring) for t in d.towns))
    _geojson(paths["parks"], ((props("parks", p), p.ring) for p in d.parks))
    _geojson(paths["parcels"], ((props("parcels", p), p.ring) for p in d.parcels))
    _geojson(paths["buildings"], ((props("buildings", b), b.ring) for b in d.buildings))
    _csv(
        paths["pois"],
        c["pois"],
        (
            [
                p.code,
                p.name,
                p.category,
                p.lon,
                p.lat,
                p.town,
                p.address,
                p.extra.get("line"),
                p.extra.get("seq"),
            ]
            for p in d.pois
        ),
    )
    _csv(
        paths["enterprises"],
        c["enterprises"],
        (
            [
                ";".join(e.certifications) if k == "certifications" else getattr(e, k)
                for k in c["enterprises"]
            ]
            for e in d.enterprises
        ),
    )
    _csv(
        paths["indicators"],
        c["indicators"],
        ([getattr(r, k) for k in c["indicators"]] for r in d.indicators),
    )
    _csv(
        paths["land-grants"],
        c["land-grants"],
        ([getattr(g, k) for k in c["land-grants"]] for g in d.grants),
    )
    _csv(
        paths["teams"],
        c["teams"],
        (
            [t.code, t.name, t.unit, t.speciality, m.name, m.title, m.phone, m.speciality]
            for t in d.teams
            for m in t.members
        ),
    )
    return paths
