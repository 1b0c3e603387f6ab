"""The map and overview at district scale: 30k parcels, 100k POIs (synthetic, bulk-loaded).

Prints the milliseconds per request (the figures quoted in the issue's closing
note) and fails when a request takes seconds, the sign of a whole table loaded
into Python. Run alone with `pytest -m slow -s tests/resources/test_services_scale.py`.
"""

import json
import random
import statistics
import time

import pytest
from django.test import Client

from investmap.core.models import ApiToken
from investmap.resources.models import Parcel, Poi, Town

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

N_PARCELS_X, N_PARCELS_Y = 200, 150  # 30,000 parcels over the two fixture towns
N_POIS = 100_000
CATEGORIES = ["bus_stop"] * 6 + [
    "school",
    "hospital",
    "shopping",
    "incubator",
    "rd_center",
    "park_green",
]
STATUSES = [
    "available",
    "in_use",
    "in_use",
    "in_use",
    "idle",
    "planned",
    "low_efficiency",
    "renewal",
]
LAND_USES = ["M1", "M2", "M0", "B1", "R2", "W1"]


def load(district):
    rnd = random.Random(7)
    towns = {t.code: t for t in Town.objects.all()}
    dx, dy = 0.2 / N_PARCELS_X, 0.1 / N_PARCELS_Y
    parcels = []
    for i in range(N_PARCELS_X):
        for j in range(N_PARCELS_Y):
            x, y = 121.0 + i * dx, 31.0 + j * dy
            g = json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [[[x, y], [x + dx, y], [x + dx, y + dy], [x, y + dy], [x, y]]],
                }
            )
            parcels.append(
                Parcel(
                    code=f"S-{i:03d}-{j:03d}",
                    name=f"地块{i}-{j}",
                    town=towns["T01" if x < 121.1 else "T02"],
                    land_use=rnd.choice(LAND_USES),
                    status=rnd.choice(STATUSES),
                    area_m2=6800.0,
                    area_mu=10.2,
                    geometry=g,
                    geom_simple=g,
                    min_lon=x,
                    min_lat=y,
                    max_lon=x + dx,
                    max_lat=y + dy,
                    lon=x + dx / 2,
                    lat=y + dy / 2,
                )
            )
    Parcel.objects.bulk_create(parcels, batch_size=2000)
    Poi.objects.bulk_create(
        [
            Poi(
                code=f"SP-{k:06d}",
                name=f"设施{k}",
                category=rnd.choice(CATEGORIES),
                lon=121.0 + rnd.random() * 0.2,
                lat=31.0 + rnd.random() * 0.1,
            )
            for k in range(N_POIS)
        ],
        batch_size=5000,
    )


def timed(client, url, runs=5):
    times, body = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.content[:300]
        body = r.json()
    return statistics.median(times), body


def test_map_and_overview_at_district_scale(users, district):
    t0 = time.perf_counter()
    load(district)
    print(
        f"\nloaded {Parcel.objects.count()} parcels, {Poi.objects.count()} POIs in {time.perf_counter() - t0:.1f} s"
    )
    _tok, raw = ApiToken.issue(user=users["leader"])
    c = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    whole = "121,31,121.2,31.1"

    # Viewports of a 1920×1080 screen at each zoom, centred in the district.
    def view(z):
        w, h = 1920 / 256 * 360 / 2**z, 1080 / 256 * 360 / 2**z * 0.857
        return f"{121.1 - w / 2},{31.05 - h / 2},{121.1 + w / 2},{31.05 + h / 2}"

    cases = [
        ("parcels z11 whole district", f"/api/v1/map/parcels?bbox={whole}&zoom=11"),
        ("parcels z14 screen", f"/api/v1/map/parcels?bbox={view(14)}&zoom=14"),
        ("parcels z15 screen", f"/api/v1/map/parcels?bbox={view(15)}&zoom=15"),
        ("parcels z16 screen", f"/api/v1/map/parcels?bbox={view(16)}&zoom=16"),
        ("parcels z17 screen", f"/api/v1/map/parcels?bbox={view(17)}&zoom=17"),
        ("parcels z16 status=idle", f"/api/v1/map/parcels?bbox={view(16)}&zoom=16&status=idle"),
        ("pois z11 whole district", f"/api/v1/map/pois?bbox={whole}&zoom=11"),
        ("pois z13 screen", f"/api/v1/map/pois?bbox={view(13)}&zoom=13"),
        ("pois z15 screen", f"/api/v1/map/pois?bbox={view(15)}&zoom=15"),
        ("pois z16 screen", f"/api/v1/map/pois?bbox={view(16)}&zoom=16"),
        ("overview district", "/api/v1/overview"),
        ("overview town", "/api/v1/overview?level=town&code=T01"),
        ("parcels list page", "/api/v1/parcels?status=idle&page=3&page_size=50"),
        ("parcel detail", "/api/v1/parcels/S-100-075"),
    ]
    report = []
    for name, url in cases:
        ms, body = timed(c, url)
        n = len(body.get("features", [])) if isinstance(body, dict) else 0
        extra = (
            f"features={n} total={body.get('total')} aggregated={body.get('aggregated')}"
            if "features" in body
            else ""
        )
        report.append((name, ms, extra))
        print(f"{name:28s} {ms:8.1f} ms  {extra}")
        assert ms < 3000, name
    by = dict((name, ms) for name, ms, _ in report)
    assert by["parcels z16 screen"] < 1500 and by["pois z13 screen"] < 1500
