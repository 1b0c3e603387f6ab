"""The in-memory match index: the precomputed columns as numpy arrays.

A process loads it once per refresh (FeatureState.token) and keeps it while the
token is current; every refresh sets a new token, so a second process
(or machine) sees a change at its next match — no invalidation beyond the
database is needed (ARCHITECTURE.md, "Scale").
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from investmap.resources.choices import PoiCategory
from investmap.resources.models import Building, Parcel

from .models import Adjacency, BuildingFeature, ParcelFeature

CATEGORIES = tuple(PoiCategory.values)
CAT_INDEX = {c: i for i, c in enumerate(CATEGORIES)}


def _float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _distances(feature_model, key: str, ids: np.ndarray) -> np.ndarray:
    """(n, categories) metres, aligned with `ids`, NaN where unknown.

    The database extracts the JSON members (json_extract / ->>) and casts them,
    which is several times faster than decoding 30k JSON documents in Python.
    """
    cols = {
        f"d{j}": Cast(KT(f"distances__{cat}"), FloatField()) for j, cat in enumerate(CATEGORIES)
    }
    qs = feature_model.objects.annotate(**cols).values_list(f"{key}_id", *cols)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:  # plain tuples: no per-value converters
        cur.execute(sql, params)
        rows = cur.fetchall()
    out = np.full((len(ids), len(CATEGORIES)), np.nan)
    if not len(ids):
        return out
    data = np.array(rows, dtype=float)  # None → NaN
    if not len(data):
        return out
    pos = np.searchsorted(ids, data[:, 0].astype(np.int64))
    pos = np.clip(pos, 0, len(ids) - 1)
    hit = ids[pos] == data[:, 0].astype(np.int64)
    out[pos[hit]] = data[hit, 1:]
    return out


@dataclass
class ParcelIndex:
    ids: np.ndarray
    codes: np.ndarray  # object
    names: np.ndarray
    town: np.ndarray  # town codes (object)
    park: np.ndarray  # park codes or ""
    land_use: np.ndarray
    status: np.ndarray
    area_mu: np.ndarray
    price_wan: np.ndarray
    plot_ratio_max: np.ndarray
    min_investment: np.ndarray
    min_tax: np.ndarray
    distances: np.ndarray  # (n, categories)
    # adjacency, as index pairs into the arrays above
    edge_a: np.ndarray
    edge_b: np.ndarray
    edge_gap: np.ndarray

    def __len__(self):
        return len(self.ids)


@dataclass
class BuildingIndex:
    ids: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    town: np.ndarray
    park: np.ndarray
    building_type: np.ndarray
    vacant_m2: np.ndarray
    rent: np.ndarray
    floor_load: np.ndarray
    clear_height: np.ndarray
    distances: np.ndarray

    def __len__(self):
        return len(self.ids)


@dataclass
class Index:
    token: str
    parcels: ParcelIndex
    buildings: BuildingIndex


def load(token: str) -> Index:
    rows = list(
        Parcel.objects.order_by("pk").values_list(
            "pk",
            "code",
            "town__code",
            "park__code",
            "land_use",
            "status",
            "area_mu",
            "price_wan",
            "plot_ratio_max",
            "min_investment_wan_per_mu",
            "min_tax_wan_per_mu",
            "name",
        )
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    pos = {int(i): k for k, i in enumerate(ids)}
    ea, eb, eg = [], [], []
    for a, b, gap in Adjacency.objects.values_list("a_id", "b_id", "gap_m").iterator(
        chunk_size=20000
    ):
        if a in pos and b in pos:
            ea.append(pos[a])
            eb.append(pos[b])
            eg.append(gap)
    parcels = ParcelIndex(
        ids=ids,
        codes=np.array([r[1] for r in rows], dtype=object),
        names=np.array([r[11] or "" for r in rows], dtype=object),
        town=np.array([r[2] or "" for r in rows], dtype=object),
        park=np.array([r[3] or "" for r in rows], dtype=object),
        land_use=np.array([r[4] for r in rows], dtype=object),
        status=np.array([r[5] for r in rows], dtype=object),
        area_mu=_float([r[6] for r in rows]),
        price_wan=_float([r[7] for r in rows]),
        plot_ratio_max=_float([r[8] for r in rows]),
        min_investment=_float([r[9] for r in rows]),
        min_tax=_float([r[10] for r in rows]),
        distances=_distances(ParcelFeature, "parcel", ids),
        edge_a=np.array(ea, dtype=np.int64),
        edge_b=np.array(eb, dtype=np.int64),
        edge_gap=np.array(eg, dtype=float),
    )
    brows = list(
        Building.objects.order_by("pk").values_list(
            "pk",
            "code",
            "name",
            "town__code",
            "park__code",
            "building_type",
            "vacant_floor_m2",
            "rent_yuan_m2_day",
            "floor_load_kn_m2",
            "clear_height_m",
        )
    )
    bids = np.array([r[0] for r in brows], dtype=np.int64)
    buildings = BuildingIndex(
        ids=bids,
        codes=np.array([r[1] for r in brows], dtype=object),
        names=np.array([r[2] for r in brows], dtype=object),
        town=np.array([r[3] or "" for r in brows], dtype=object),
        park=np.array([r[4] or "" for r in brows], dtype=object),
        building_type=np.array([r[5] for r in brows], dtype=object),
        vacant_m2=_float([r[6] for r in brows]),
        rent=_float([r[7] for r in brows]),
        floor_load=_float([r[8] for r in brows]),
        clear_height=_float([r[9] for r in brows]),
        distances=_distances(BuildingFeature, "building", bids),
    )
    return Index(token, parcels, buildings)


_lock = threading.Lock()
_current: Index | None = None


def current(token: str) -> Index:
    """The index for the refresh `token`, loading it when this process holds another."""
    global _current
    with _lock:
        if _current is None or _current.token != token:
            _current = load(token)
        return _current


def forget() -> None:
    global _current
    with _lock:
        _current = None
