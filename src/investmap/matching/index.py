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
from investmap.resources.models import Building, Parcel, Park, Town

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


def _rows(sql: str) -> list[tuple]:
    """Plain tuples straight from the cursor (no per-value converters)."""
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _packed(feature_model, key: str, ids: np.ndarray, order) -> np.ndarray | None:
    """The distances from the packed column, or None when it cannot be used."""
    if tuple(order or ()) != CATEGORIES:
        return None
    width = 8 * len(CATEGORIES)
    q = connection.ops.quote_name
    rows = _rows(f"SELECT {q(key + '_id')}, {q('packed')} FROM {_table(feature_model)}")
    out = np.full((len(ids), len(CATEGORIES)), np.nan)
    if not rows:
        return out
    blobs = [bytes(r[1]) for r in rows]
    if any(len(b) != width for b in blobs):
        return None
    values = np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(-1, len(CATEGORIES))
    got = np.array([r[0] for r in rows], dtype=np.int64)
    pos = np.clip(np.searchsorted(ids, got), 0, max(len(ids) - 1, 0))
    hit = (ids[pos] == got) if len(ids) else np.zeros(len(got), bool)
    out[pos[hit]] = values[hit]
    return out


def _codes(model) -> dict[int, str]:
    return dict(model.objects.values_list("pk", "code"))


def load(token: str, packed_order=None) -> Index:
    """Read the index from the record store (raw cursors: this runs once per refresh)."""
    q = connection.ops.quote_name
    towns, parks = _codes(Town), _codes(Park)
    cols = (
        "id",
        "code",
        "name",
        "town_id",
        "park_id",
        "land_use",
        "status",
        "area_mu",
        "price_wan",
        "plot_ratio_max",
        "min_investment_wan_per_mu",
        "min_tax_wan_per_mu",
    )
    rows = _rows(f"SELECT {', '.join(q(c) for c in cols)} FROM {_table(Parcel)} ORDER BY {q('id')}")
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    edges = _rows(f"SELECT {q('a_id')}, {q('b_id')}, {q('gap_m')} FROM {_table(Adjacency)}")
    if edges and len(ids):
        e = np.array(edges, dtype=float)
        a, b = e[:, 0].astype(np.int64), e[:, 1].astype(np.int64)
        ia = np.clip(np.searchsorted(ids, a), 0, len(ids) - 1)
        ib = np.clip(np.searchsorted(ids, b), 0, len(ids) - 1)
        ok = (ids[ia] == a) & (ids[ib] == b)
        edge_a, edge_b, edge_gap = ia[ok], ib[ok], e[ok, 2]
    else:
        edge_a = edge_b = np.zeros(0, np.int64)
        edge_gap = np.zeros(0)
    dist = _packed(ParcelFeature, "parcel", ids, packed_order)
    parcels = ParcelIndex(
        ids=ids,
        codes=np.array([r[1] for r in rows], dtype=object),
        names=np.array([r[2] or "" for r in rows], dtype=object),
        town=np.array([towns.get(r[3], "") for r in rows], dtype=object),
        park=np.array([parks.get(r[4], "") for r in rows], dtype=object),
        land_use=np.array([r[5] for r in rows], dtype=object),
        status=np.array([r[6] for r in rows], dtype=object),
        area_mu=_float([r[7] for r in rows]),
        price_wan=_float([r[8] for r in rows]),
        plot_ratio_max=_float([r[9] for r in rows]),
        min_investment=_float([r[10] for r in rows]),
        min_tax=_float([r[11] for r in rows]),
        distances=dist if dist is not None else _distances(ParcelFeature, "parcel", ids),
        edge_a=edge_a,
        edge_b=edge_b,
        edge_gap=edge_gap,
    )
    bcols = (
        "id",
        "code",
        "name",
        "town_id",
        "park_id",
        "building_type",
        "vacant_floor_m2",
        "rent_yuan_m2_day",
        "floor_load_kn_m2",
        "clear_height_m",
    )
    brows = _rows(
        f"SELECT {', '.join(q(c) for c in bcols)} FROM {_table(Building)} ORDER BY {q('id')}"
    )
    bids = np.array([r[0] for r in brows], dtype=np.int64)
    bdist = _packed(BuildingFeature, "building", bids, packed_order)
    buildings = BuildingIndex(
        ids=bids,
        codes=np.array([r[1] for r in brows], dtype=object),
        names=np.array([r[2] or "" for r in brows], dtype=object),
        town=np.array([towns.get(r[3], "") for r in brows], dtype=object),
        park=np.array([parks.get(r[4], "") for r in brows], dtype=object),
        building_type=np.array([r[5] for r in brows], dtype=object),
        vacant_m2=_float([r[6] for r in brows]),
        rent=_float([r[7] for r in brows]),
        floor_load=_float([r[8] for r in brows]),
        clear_height=_float([r[9] for r in brows]),
        distances=bdist if bdist is not None else _distances(BuildingFeature, "building", bids),
    )
    return Index(token, parcels, buildings)


_lock = threading.Lock()
_current: Index | None = None


def current(token: str, packed_order=None) -> Index:
    """The index for the refresh `token`, loading it when this process holds another."""
    global _current
    with _lock:
        if _current is None or _current.token != token:
            _current = load(token, packed_order)
        return _current


def forget() -> None:
    global _current
    with _lock:
        _current = None
