"""A 10 MB file: a broken feature near the end writes nothing; a valid one imports whole."""

import json
import math
import time

import pytest
from django.utils import translation

from investmap.resources.importing import import_file
from investmap.resources.models import Parcel

TEN_MB = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def octagon(lon, lat, r=0.0003):
    ring = [
        [
            round(lon + r * math.cos(k * math.pi / 4), 7),
            round(lat + r * math.sin(k * math.pi / 4), 7),
        ]
        for k in range(8)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def write_big(path, *, broken_at=None):
    """Parcels tiling town T01 until the file passes 10 MB; returns the feature count."""
    statuses = ["planned", "available", "in_use", "idle", "low_efficiency", "renewal"]
    out, size, i = [], 0, 0
    while size < TEN_MB:
        lon, lat = 121.0005 + (i % 140) * 0.0007, 31.0005 + (i // 140) * 0.0007
        props = {
            "code": f"BIG-{i:06d}",
            "name": f"测试地块{i}号",
            "town": "T01",
            "land_use": "M1",
            "status": statuses[i % 6],
            "price_wan": 100 + i % 900,
            "plot_ratio_max": 2.0,
            "owner": "东湖镇集体经济联合社",
        }
        text = json.dumps(
            {"type": "Feature", "properties": props, "geometry": octagon(lon, lat)},
            ensure_ascii=False,
        )
        out.append(text)
        size += len(text.encode()) + 1
        i += 1
    if broken_at is not None:
        feature = json.loads(out[broken_at(i)])
        ring = feature["geometry"]["coordinates"][0]
        ring[1], ring[5] = ring[5], ring[1]  # crossing edges: self-intersecting
        out[broken_at(i)] = json.dumps(feature, ensure_ascii=False)
    path.write_text(
        '{"type":"FeatureCollection","features":[\n' + ",\n".join(out) + "\n]}", encoding="utf-8"
    )
    assert path.stat().st_size >= TEN_MB
    return i


def test_ten_mb_with_a_broken_feature_near_the_end_writes_nothing(district, tmp_path):
    path = tmp_path / "big-broken.geojson"
    n = write_big(path, broken_at=lambda n: n - 3)
    before = (Parcel.objects.count(), Parcel.history.count())
    report = import_file(kind="parcels", path_or_file=path, dry_run=False)
    assert report.rows == n
    assert [(e.row, e.field) for e in report.errors] == [(n - 2, "geometry")]
    assert "self-intersecting" in report.errors[0].message
    assert (Parcel.objects.count(), Parcel.history.count()) == before


def test_ten_mb_valid_file_imports_whole_and_reimports_unchanged(district, tmp_path):
    path = tmp_path / "big.geojson"
    n = write_big(path)
    t = time.monotonic()
    report = import_file(kind="parcels", path_or_file=path, dry_run=False)
    first = time.monotonic() - t
    assert report.errors == [] and (report.created, report.updated, report.unchanged) == (n, 0, 0)
    assert Parcel.objects.filter(code__startswith="BIG-").count() == n
    assert Parcel.history.filter(code__startswith="BIG-").count() == n
    sample = Parcel.objects.get(code="BIG-000100")
    assert (
        sample.town.code == "T01" and 2600 < sample.area_m2 < 2800
    )  # 2√2 · 28.6 m · 33.3 m and sample.geom_simple
    t = time.monotonic()
    again = import_file(kind="parcels", path_or_file=path, dry_run=False)
    second = time.monotonic() - t
    assert (again.created, again.updated, again.unchanged) == (0, 0, n)
    print(
        f"\n10 MB, {n} parcels: import {first:.1f} s {report.timings}, unchanged re-import {second:.1f} s {again.timings}"
    )
