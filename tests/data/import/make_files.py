"""Writes the import test files in this folder (run once; the files are committed).

    .venv/bin/python tests/data/import/make_files.py

The files fit the `district` fixture of tests/conftest.py: towns T01 (lon
121.0–121.1, lat 31.0–31.1) and T02 (121.1–121.2), park P01 in T01 (121.02–121.05,
31.02–31.05), enterprises 91310000MA1FL00001 and …00002, parcels P-001…P-003.
Each bad file holds good rows and bad ones; tests/resources/test_import_files.py
lists the errors each must produce. Deterministic: re-running rewrites the same
files (the xlsx timestamps aside).
"""

import csv
import datetime as dt
import io
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def square(lon, lat, size=0.002):
    return {
        "type": "Polygon",
        "coordinates": [
            [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
        ],
    }


def parcel(code, lon, lat, **props):
    base = {
        "code": code,
        "name": f"地块{code}",
        "town": "T01",
        "land_use": "M1",
        "status": "available",
    }
    base.update(props)
    return {"type": "Feature", "properties": base, "geometry": square(lon, lat)}


def write_geojson(name, features, **extra):
    doc = {"type": "FeatureCollection", **extra, "features": features}
    (HERE / name).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def write_csv(name, rows, encoding="utf-8"):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    (HERE / name).write_bytes(buf.getvalue().encode(encoding))


def main():
    # --- parcels ----------------------------------------------------------------
    write_geojson(
        "parcels_wrong_types.geojson",
        [
            parcel("N-001", 121.060, 31.010, price_wan=800),
            parcel("N-002", 121.063, 31.010, price_wan="abc"),
            parcel("N-003", 121.066, 31.010, status="vacant"),
            parcel("N-004", 121.069, 31.010, land_use="X9"),
            parcel("N-005", 121.072, 31.010, plot_ratio_max=-1),
            parcel("", 121.075, 31.010),
            parcel("N-007", 121.078, 31.010, plot_ratio_min=3.0, plot_ratio_max=1.5),
        ],
    )
    write_geojson(
        "parcels_unknown_town.geojson",
        [
            parcel("N-001", 121.060, 31.010),
            parcel("N-002", 121.063, 31.010, town="T99"),
            parcel("N-003", 121.066, 31.010, park="P99"),
            # park P01 lies in T01, not T02
            parcel("N-004", 121.150, 31.010, town="T02", park="P01"),
            # blank town, and the centroid lies outside every town
            parcel("N-005", 122.500, 31.010, town=""),
        ],
    )
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                [121.06, 31.01],
                [121.062, 31.012],
                [121.062, 31.01],
                [121.06, 31.012],
                [121.06, 31.01],
            ]
        ],
    }
    write_geojson(
        "parcels_bowtie.geojson",
        [
            parcel("N-001", 121.060, 31.020),
            {
                "type": "Feature",
                "properties": parcel("N-002", 0, 0)["properties"],
                "geometry": bowtie,
            },
            parcel("N-003", 121.066, 31.020),
        ],
    )
    unclosed = {
        "type": "Polygon",
        "coordinates": [[[121.06, 31.01], [121.062, 31.01], [121.062, 31.012], [121.06, 31.012]]],
    }
    write_geojson(
        "parcels_unclosed_ring.geojson",
        [
            parcel("N-001", 121.060, 31.020),
            parcel("N-002", 121.063, 31.020),
            {
                "type": "Feature",
                "properties": parcel("N-003", 0, 0)["properties"],
                "geometry": unclosed,
            },
        ],
    )
    nonnumeric = {
        "type": "Polygon",
        "coordinates": [
            [
                ["121.06", "31.01"],
                ["121.062", "abc"],
                [121.062, 31.012],
                [121.06, 31.012],
                ["121.06", "31.01"],
            ]
        ],
    }
    write_geojson(
        "parcels_nonnumeric_coordinates.geojson",
        [
            {
                "type": "Feature",
                "properties": parcel("N-001", 0, 0)["properties"],
                "geometry": nonnumeric,
            },
            parcel("N-002", 121.063, 31.020),
        ],
    )
    write_geojson(
        "parcels_wrong_geometry_type.geojson",
        [
            parcel("N-001", 121.060, 31.020),
            {
                "type": "Feature",
                "properties": parcel("N-002", 0, 0)["properties"],
                "geometry": {"type": "Point", "coordinates": [121.06, 31.02]},
            },
            {
                "type": "Feature",
                "properties": parcel("N-003", 0, 0)["properties"],
                "geometry": None,
            },
        ],
    )
    write_geojson(
        "parcels_duplicate_codes.geojson",
        [
            parcel("N-001", 121.060, 31.010),
            parcel("N-002", 121.063, 31.010),
            parcel("N-001", 121.066, 31.010),
            parcel("P-001", 121.069, 31.010),
            parcel("P-001", 121.072, 31.010),
        ],
    )
    many = [
        parcel(
            f"M-{i:04d}", 121.055 + (i % 20) * 0.002, 31.060 + (i // 20) * 0.002, price_wan=100 + i
        )
        for i in range(300)
    ]
    many.append(parcel("M-0300", 121.095, 31.095, status="vacant"))
    write_geojson("parcels_bad_last_of_many.geojson", many)
    write_geojson(
        "parcels_missing_columns.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "N-001", "town": "T01", "land_use": "M1"},
                "geometry": square(121.06, 31.01),
            },
        ],
    )
    write_geojson(
        "parcels_projected_crs.geojson",
        [parcel("N-001", 121.06, 31.01)],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
    )
    (HERE / "parcels_broken_json.geojson").write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "N-1"',
        encoding="utf-8",
    )
    (HERE / "towns_not_a_featurecollection.geojson").write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"code": "T03", "name": "新镇"},
                "geometry": square(121.2, 31.0, 0.1),
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )

    # --- parks, buildings ----------------------------------------------------------
    write_geojson(
        "parks_unknown_town.geojson",
        [
            {
                "type": "Feature",
                "properties": {"code": "P02", "name": "西山产业园", "town": "T02"},
                "geometry": square(121.12, 31.02, 0.02),
            },
            {
                "type": "Feature",
                "properties": {"code": "P03", "name": "北区园", "town": "T09"},
                "geometry": square(121.06, 31.06, 0.02),
            },
            # an org unit code already used by a town
            {
                "type": "Feature",
                "properties": {"code": "T02", "name": "重名园", "town": "T02"},
                "geometry": square(121.15, 31.06, 0.02),
            },
        ],
    )

    def building(code, lon, lat, **props):
        base = {
            "code": code,
            "name": f"楼{code}",
            "town": "T01",
            "building_type": "factory",
            "floors": 3,
            "total_floor_m2": 12000,
            "vacant_floor_m2": 2000,
        }
        base.update(props)
        return {"type": "Feature", "properties": base, "geometry": square(lon, lat, 0.0004)}

    write_geojson(
        "buildings_wrong_types.geojson",
        [
            building("NB-1", 121.061, 31.011),
            building("NB-2", 121.062, 31.011, floors="three"),
            building("NB-3", 121.063, 31.011, building_type="warehouse"),
            building("NB-4", 121.064, 31.011, vacant_floor_m2=15000),
            building("NB-5", 121.065, 31.011, parcel="P-999"),
            building("NB-6", 121.066, 31.011, floors=2.5),
        ],
    )

    # --- pois ------------------------------------------------------------------------
    header = ["code", "name", "category", "town", "park", "address", "line", "seq", "lon", "lat"]
    write_csv(
        "pois_bad.csv",
        [
            header,
            ["NP-1", "东湖公交站", "bus_stop", "", "", "东湖路1号", "", "", "121.031", "31.031"],
            ["NP-2", "东湖书店", "bookshop", "", "", "", "", "", "121.032", "31.032"],
            ["NP-3", "东湖二站", "metro_station", "", "", "", "1号线", "2", "abc", "31.033"],
            ["NP-4", "北站", "metro_station", "", "", "", "1号线", "3", "121.034", "95"],
            ["NP-1", "重复站", "bus_stop", "", "", "", "", "", "121.035", "31.035"],
            ["NP-6", "颠倒站", "bus_stop", "", "", "", "", "", "31.036", "121.036"],
            ["NP-7", "", "school", "", "", "", "", "", "121.037", "31.037"],
            ["NP-8", "半坐标", "school", "", "", "", "", "", "121.038", ""],
            ["NP-9", "某站", "metro_station", "T01", "", "", "1号线", "first", "121.039", "31.039"],
        ],
    )
    # A valid file saved by Excel as "CSV UTF-8": with a byte-order mark.
    (HERE / "pois_utf8_bom.csv").write_bytes(
        b"\xef\xbb\xbf"
        + (
            "code,name,category,town,park,address,line,seq,lon,lat\r\n"
            "BOM-1,东湖中学,school,,,东湖路8号,,,121.041,31.041\r\n"
            "BOM-2,东湖站北口,metro_station,,,,1号线,4,121.026,31.026\r\n"
        ).encode()
    )

    # --- enterprises ------------------------------------------------------------------
    # A valid file saved by Excel on a Chinese Windows: GBK, no BOM.
    write_csv(
        "enterprises_gbk.csv",
        [
            [
                "credit_code",
                "name",
                "industry_code",
                "scale",
                "town",
                "park",
                "founded_on",
                "certifications",
                "contact_name",
                "contact_phone",
            ],
            [
                "91310000MA1FL0GB01",
                "东湖微电子有限公司",
                "3973",
                "above",
                "T01",
                "P01",
                "2018-05-20",
                "high_tech;srdi",
                "赵六",
                "13600001111",
            ],
            [
                "91310000MA1FL0GB02",
                "西山新材料股份有限公司",
                "2651",
                "below",
                "T02",
                "",
                "2020/7/1",
                "",
                "钱七",
                "",
            ],
        ],
        encoding="gbk",
    )
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "enterprises"
    ws.append(
        [
            "credit_code",
            "name",
            "industry_code",
            "scale",
            "town",
            "park",
            "parcel",
            "founded_on",
            "certifications",
            "contact_name",
            "contact_phone",
            "contact_email",
            "lon",
            "lat",
        ]
    )
    ws.append(
        [
            "91310000MA1FLX0001",
            "东湖光电有限公司",
            "3976",
            "above",
            "T01",
            "P01",
            "P-001",
            "2016-03-01",
            "high_tech",
            "孙八",
            "13500002222",
            "sun@example.cn",
            121.0215,
            31.0215,
        ]
    )
    ws.append(
        [
            "91310000MA1FLX0002",
            "东湖生物科技有限公司",
            2761,
            "below",
            "T01",
            None,
            None,
            dt.datetime(2019, 9, 9),
            None,
            None,
            None,
            None,
            None,
            None,
        ]
    )
    ws.append(
        [
            "91310000MA1FLX0003",
            "西山汽配有限公司",
            "3670",
            "above",
            None,
            None,
            None,
            None,
            "srdi; little_giant",
            None,
            None,
            None,
            121.151,
            31.052,
        ]
    )
    ws.append(
        [
            "91310000MA1FLX0004",
            "西山物流有限公司",
            "5990",
            "below",
            "T02",
            None,
            None,
            "2021-01-15",
            None,
            None,
            None,
            None,
            None,
            None,
        ]
    )
    ws.append(
        [
            "91310000MA1FLX0005",
            "坏行有限公司",
            "3976",
            "big",
            "T01",
            None,
            None,
            "2020-13-01",
            "iso9001",
            None,
            None,
            "not-an-email",
            None,
            None,
        ]
    )
    wb.save(HERE / "enterprises_bad_row.xlsx")

    # --- indicators, land grants, teams -------------------------------------------------
    ih = [
        "credit_code",
        "year",
        "revenue_wan",
        "output_wan",
        "value_added_wan",
        "tax_wan",
        "employees",
        "rd_spend_wan",
        "energy_tce",
        "electricity_kwh",
        "emissions_t",
        "land_area_mu",
    ]
    write_csv(
        "indicators_wrong_types.csv",
        [
            ih,
            ["91310000MA1FL00001", "2022", "48000", "", "", "1500", "400", "", "", "", "", ""],
            ["91310000MA1FL00001", "2024年", "1", "", "", "", "", "", "", "", "", ""],
            ["91310000MA1FL00002", "2023", "1700", "", "", "", "12.5", "", "", "", "", ""],
            ["91310000MA1FL00002", "2022", "n/a", "", "", "", "", "", "", "", "", ""],
            ["91310000MA1FL09999", "2024", "100", "", "", "", "", "", "", "", "", ""],
            ["91310000MA1FL00001", "2022", "48000", "", "", "1500", "400", "", "", "", "", ""],
            ["9131", "2024", "", "", "", "", "", "", "", "", "", ""],
            ["91310000MA1FL00002", "2021", "-5", "", "-3", "", "", "", "", "", "", ""],
        ],
    )
    write_csv(
        "land_grants_bad.csv",
        [
            [
                "parcel",
                "enterprise",
                "contract_start_on",
                "contract_price_wan",
                "started_on",
                "built_ratio",
                "invested_ratio",
                "halted_since",
            ],
            ["P-001", "91310000MA1FL00001", "2022/13/01", "1000", "", "", "", ""],
            ["P-003", "91310000MA1FL00002", "2021-03-01", "800", "2021-09-01", "1.5", "40%", ""],
            ["P-999", "91310000MA1FL00002", "2021-03-01", "", "", "", "", ""],
            ["P-001", "91310000MA1FL00002", "", "", "", "", "", ""],
            ["P-003", "91310000MA1FL00001", "2020-02-30", "", "", "", "", ""],
        ],
    )
    th = [
        "code",
        "name",
        "unit",
        "speciality",
        "member_name",
        "member_title",
        "member_phone",
        "member_speciality",
    ]
    write_csv(
        "teams_bad.csv",
        [
            th,
            ["TEAM-N1", "新能源招商组", "T01", "新能源", "甲", "组长", "13800000001", ""],
            ["TEAM-N1", "新能源招商二组", "T01", "", "乙", "", "", ""],
            ["TEAM-N1", "", "", "", "甲", "组员", "", ""],
            ["TEAM-N2", "未知单位组", "X99", "", "丙", "", "", ""],
            ["TEAM-N3", "", "", "", "", "组员", "13800000009", ""],
            ["T01", "与镇同码组", "T01", "", "", "", "", ""],
        ],
    )
    # Neither UTF-8 nor GB18030: 0xFF is never a valid byte in either.
    (HERE / "pois_not_text.csv").write_bytes(
        b"code,name,category,lon,lat\r\nX-1,\xff\xfe\xff\xff,school,121.03,31.03\r\n"
    )
    (HERE / "pois_wrong_extension.txt").write_text(
        "code,name,category,lon,lat\r\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
