"""`generate(seed=…, scale=…)`: a deterministic, plausible suburban Shanghai district.

Pure Python + numpy, no database. Every random draw comes from
numpy.random.Generator(PCG64(...)) streams seeded from (seed, step), so the same
seed gives the same district and changing one step does not reshuffle the
others. Steps, in order: towns → street grids and blocks → parks → land use →
parcels and their status → who holds the land (enterprises) → buildings →
tenants → land grants → indicators → POIs (metro, expressway, services) →
promotion teams.
"""

import datetime as dt
import math
import time
from dataclasses import dataclass

import numpy as np

from . import codes, vocab
from .draws import Stream, Weighted, generator
from .geometry import Projection, bilinear_many, point_in_ring, quad_area, quad_sides, sub_quad
from .industries import (
    CHAINS,
    DEVELOPER,
    MANUFACTURING_CHAINS,
    PARK_OPERATOR,
    SELF_CONTAINED,
    TOWN_HOLDING,
    check_codes,
)
from .layout import (
    INDUSTRIAL,
    LAND_USE_MIX,
    Block,
    ParkPlan,
    Plot,
    TownGrid,
    build_grids,
    find_park_rect,
    grid_blocks,
    make_lattice,
    parcel_count,
    park_ring,
    smooth_noise,
    subdivide,
    to_lonlat_quads,
    to_lonlat_ring,
    town_names,
    valid_blocks,
)
from .model import (
    BuildingRec,
    District,
    EnterpriseRec,
    GrantRec,
    IndicatorRec,
    MemberRec,
    ParcelRec,
    ParkRec,
    PoiRec,
    TeamRec,
    TownRec,
)

AS_OF = dt.date(2026, 3, 31)  # the day the demo data describes
YEARS = (2023, 2024, 2025)
CENTRE = (121.30, 31.05)  # Shanghai's south-western suburbs
DISTRICT_CODE = "D"
DIVISION = "310119"  # administrative division in the district's credit codes
M2_PER_MU = 10000.0 / 15.0


@dataclass(frozen=True)
class Scale:
    name: str
    parcels: int  # target; the street grid decides the exact number
    enterprises: int
    pois: int
    cols: int  # towns west → east
    rows: int  # towns south → north
    parks: tuple[int, int]
    metro_lines: int
    expressways: int
    m2_per_parcel: float  # district area per parcel, roads and border strips included
    block_scale: float = 1.0
    park_blocks: tuple[int, int] = (6, 10)


SCALES = {
    "tiny": Scale("tiny", 300, 220, 1500, 4, 2, (3, 3), 1, 1, 62000.0, 0.8, (2, 3)),
    "district": Scale("district", 30_000, 20_000, 100_000, 4, 2, (3, 5), 2, 2, 42000.0),
    "city": Scale("city", 150_000, 100_000, 500_000, 8, 5, (16, 22), 5, 5, 42000.0),
    "province": Scale("province", 600_000, 400_000, 2_000_000, 16, 10, (60, 80), 12, 14, 42000.0),
}

# Parcel status by zone and land-use class: problem statuses (idle, low efficiency,
# renewal) are drawn first; planned / available / in use follow a smooth
# development field, so planned land clusters and available land lies next to it.
STATUS_MIX = {
    ("park", "ind"): {
        "idle": 0.035,
        "low_efficiency": 0.035,
        "renewal": 0.015,
        "planned": 0.06,
        "available": 0.11,
    },
    ("belt", "ind"): {
        "idle": 0.035,
        "low_efficiency": 0.09,
        "renewal": 0.04,
        "planned": 0.05,
        "available": 0.07,
    },
    ("rural", "ind"): {
        "idle": 0.03,
        "low_efficiency": 0.17,
        "renewal": 0.12,
        "planned": 0.03,
        "available": 0.03,
    },
    ("centre", "ind"): {
        "idle": 0.02,
        "low_efficiency": 0.05,
        "renewal": 0.08,
        "planned": 0.05,
        "available": 0.08,
    },
    ("any", "B"): {"renewal": 0.03, "planned": 0.10, "available": 0.12},
    ("any", "R"): {"renewal": 0.02, "planned": 0.10, "available": 0.04},
    ("any", "other"): {"planned": 0.14, "available": 0.02},
}
# Control indicators by land use: max plot ratio range, min plot ratio, height limits (m).
PLANNING = {
    "M1": ((1.2, 2.5), 1.0, (24, 30, 36, 40, 50)),
    "M2": ((1.0, 2.0), 0.8, (24, 30, 36)),
    "M0": ((2.0, 4.0), 1.5, (50, 60, 80)),
    "W1": ((1.0, 2.0), 0.8, (24, 30, 36)),
    "R2": ((1.6, 2.5), None, (45, 60, 80)),
    "B1": ((2.0, 3.5), None, (50, 60, 80, 100)),
    "B2": ((2.5, 4.5), None, (60, 80, 100, 120)),
    "A": ((0.8, 2.0), None, (24, 36, 45)),
    "S": ((0.3, 1.0), None, (15, 24)),
    "U": ((0.5, 1.5), None, (15, 24, 30)),
    "G1": (None, None, ()),
}
# Land price of available land, 10k yuan per mu.
PRICE_WAN_PER_MU = {
    "M1": (60, 150),
    "M2": (55, 120),
    "M0": (150, 400),
    "W1": (50, 100),
    "B1": (800, 2000),
    "B2": (600, 1600),
    "R2": (2000, 4500),
}
POI_SHARES = {
    "bus_stop": 0.20,
    "shopping": 0.26,
    "school": 0.10,
    "hospital": 0.09,
    "park_green": 0.08,
    "rd_center": 0.11,
    "incubator": 0.05,
    "key_lab": 0.035,
    "talent_housing": 0.045,
}
POI_PREFIX = {
    "metro_station": "MS",
    "bus_stop": "BS",
    "expressway_ramp": "ER",
    "school": "SC",
    "hospital": "HO",
    "talent_housing": "TH",
    "university": "UN",
    "rd_center": "RD",
    "incubator": "IN",
    "key_lab": "KL",
    "park_green": "PG",
    "shopping": "SH",
}
# Where each POI category stands, by the land use of the parcel it is on.
POI_WEIGHTS = {
    "school": {"A": 6, "R2": 3, "B1": 0.5},
    "hospital": {"A": 4, "R2": 2, "B1": 2},
    "shopping": {"B1": 6, "R2": 3, "B2": 1, "A": 0.3},
    "park_green": {"G1": 8, "R2": 0.6, "A": 0.6},
    "talent_housing": {"R2": 3, "B1": 1, "M0": 0.8},
    "rd_center": {"M0": 5, "M1": 1.2, "B2": 2},
    "incubator": {"M0": 4, "B2": 3, "B1": 1},
    "key_lab": {"M0": 4, "B2": 1, "A": 1},
    "university": {"A": 1},
}
# Per chain: shares of high-tech, specialised-and-sophisticated (专精特新), tech SME, foreign.
CERTIFICATION_RATES = {
    "nev": (0.30, 0.09, 0.22, 0.07),
    "ic": (0.45, 0.12, 0.30, 0.06),
    "bio": (0.40, 0.10, 0.28, 0.08),
    "equip": (0.32, 0.11, 0.24, 0.06),
    "services": (0.15, 0.03, 0.18, 0.04),
    "logistics": (0.03, 0.01, 0.03, 0.08),
    "general": (0.06, 0.03, 0.06, 0.03),
}
VACANCY = {"factory_multi": 0.15, "m0_multi": 0.18, "office_multi": 0.22, "mixed": 0.12}
RENT = {"factory": (0.9, 1.6), "office": (2.2, 4.8), "mixed": (1.8, 3.8), "warehouse": (0.9, 1.4)}
INDICATOR_BLANKABLE = (
    "output_wan",
    "value_added_wan",
    "tax_wan",
    "employees",
    "rd_spend_wan",
    "energy_tce",
    "electricity_kwh",
    "emissions_t",
)

_PINYIN = dict(vocab.TRADE)
DEVELOPER_WORDS = ("置业", "置业", "房地产开发", "商业管理", "实业发展", "企业发展", "资产经营")
_TAILS = Weighted({"科技": 0.45, "技术": 0.15, "": 0.32, "实业": 0.08})
_DIVISIONS = Weighted(
    {DIVISION: 0.72, "310000": 0.16, "310117": 0.04, "310118": 0.04, "310112": 0.04}
)
_DOMAINS = Weighted({".com": 0.55, ".com.cn": 0.25, ".cn": 0.20})
_BELT_CHAINS = Weighted({"general": 0.36, "equip": 0.24, "nev": 0.22, "ic": 0.08, "bio": 0.10})
_OFFICE_CHAINS = Weighted({"services": 0.62, "ic": 0.14, "bio": 0.10, "equip": 0.07, "nev": 0.07})


def generate(*, seed: int, scale: str = "district", log=None) -> District:
    """The demo district for `seed` at `scale` (tiny, district, city or province)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    check_codes()
    return _Generator(int(seed), SCALES[scale], log).run()


class _Generator:
    def __init__(self, seed: int, sc: Scale, log):
        self.seed, self.sc, self.log = seed, sc, log or (lambda msg: None)
        self.proj = Projection(*CENTRE)
        self.names_used: set[str] = set()
        self.codes_used: set[str] = set()
        self.enterprises: list[EnterpriseRec] = []
        self.ent_role: list[str] = []
        self.halted: dict[int, bool] = {}

    def run(self) -> District:
        rs = Stream(generator(self.seed, 0))
        self.d = District(
            code=DISTRICT_CODE,
            name=rs.pick(vocab.DISTRICT_NAMES),
            seed=self.seed,
            scale=self.sc.name,
            division=DIVISION,
            as_of=AS_OF,
        )
        for name, fn in (
            ("towns", self.make_towns),
            ("blocks", self.make_blocks),
            ("parcels", self.make_parcels),
            ("land holders", self.make_occupants),
            ("buildings", self.make_buildings),
            ("tenants", self.make_tenants),
            ("grants", self.make_grants),
            ("indicators", self.make_indicators),
            ("pois", self.make_pois),
            ("teams", self.make_teams),
            ("records", self.finish),
        ):
            t0 = time.perf_counter()
            fn()
            self.log(f"  {name:<13}{time.perf_counter() - t0:7.2f} s")
        return self.d

    # --- towns -------------------------------------------------------------------------
    def make_towns(self):
        sc, rng = self.sc, generator(self.seed, 1)
        area = sc.parcels * sc.m2_per_parcel
        self.width = math.sqrt(area * 0.8 * sc.cols / sc.rows)
        self.height = area / self.width
        self.lattice = make_lattice(rng, sc.cols, sc.rows, self.width, self.height)
        n = sc.cols * sc.rows
        names = town_names(rng, n)
        centres = [
            self.lattice.cell_ring(t % sc.cols, sc.rows - 1 - t // sc.cols)[:-1].mean(axis=0)
            for t in range(n)
        ]
        dist = np.hypot(*np.array(centres).T)
        # Towns around the district seat are sub-districts (街道), the others towns (镇).
        n_sub = max(1, round(n * 0.18)) + (1 if n == 8 and rng.random() < 0.5 else 0)
        sub = set(np.argsort(dist)[:n_sub].tolist())
        kinds = ["街道" if t in sub else "镇" for t in range(n)]
        self.seat_town = int(np.argmin(dist))
        self.grids: list[TownGrid] = build_grids(rng, self.lattice, names, kinds, sc.block_scale)

    # --- blocks, parks, land use ---------------------------------------------------------
    def make_blocks(self):
        sc, rng = self.sc, generator(self.seed, 2)
        rs = Stream(rng)
        per_town = []
        for g in self.grids:
            quads, quads_uv = grid_blocks(g)
            per_town.append((quads, quads_uv, valid_blocks(self.lattice, g, quads, margin=18.0)))
        # Parks: rectangles of whole blocks, in distinct towns away from the seat where possible.
        n_parks = int(rng.integers(sc.parks[0], sc.parks[1] + 1))
        themes = [list(vocab.PARK_THEMES)[i] for i in rng.permutation(len(vocab.PARK_THEMES))]
        candidates = [t for t in rng.permutation(len(self.grids)).tolist() if t != self.seat_town]
        candidates = candidates * 2 + [self.seat_town]
        self.parks: list[ParkPlan] = []
        park_of: dict[tuple[int, int, int], int] = {}
        taken = [np.zeros(v.shape, bool) for _q, _u, v in per_town]
        used_names: set[str] = set()
        for t in candidates:
            if len(self.parks) >= n_parks:
                break
            quads, _uv, valid = per_town[t]
            dims = (
                int(rng.integers(sc.park_blocks[0], sc.park_blocks[1] + 1)),
                int(rng.integers(sc.park_blocks[0], sc.park_blocks[1])),
            )
            rect = find_park_rect(rng, self.grids[t], valid, quads, dims, taken[t])
            if rect is None:
                continue
            k0, k1, l0, l1 = rect
            taken[t][max(0, k0 - 1) : k1 + 2, max(0, l0 - 1) : l1 + 2] = True
            theme = themes[len(self.parks) % len(themes)]
            name = self.grids[t].stem + rs.pick(vocab.PARK_THEMES[theme])
            while name in used_names:
                name = self.grids[t].stem + rs.pick(vocab.PARK_THEMES[theme]) + "二期"
            used_names.add(name)
            idx = len(self.parks)
            self.parks.append(
                ParkPlan(
                    idx, f"P{idx + 1:02d}", name, t, theme, park_ring(quads, k0, k1, l0, l1), []
                )
            )
            for k in range(k0, k1 + 1):
                for j in range(l0, l1 + 1):
                    park_of[(t, k, j)] = idx
        self.blocks: list[Block] = []
        self.block_uv: list[np.ndarray] = []
        for t, g in enumerate(self.grids):
            quads, quads_uv, valid = per_town[t]
            nk, nl = valid.shape
            merged = np.zeros(valid.shape, bool)
            for k, j in zip(*np.nonzero(valid), strict=True):
                k, j = int(k), int(j)
                if merged[k, j]:
                    continue
                park = park_of.get((t, k, j))
                quad, quad_uv = quads[k, j], quads_uv[k, j]
                # A branch road that ends: the block merges with its neighbour east or north.
                if park is None and rs.random() < 0.16:
                    for dk, dl in ((1, 0), (0, 1)) if rs.random() < 0.5 else ((0, 1), (1, 0)):
                        k2, l2 = k + dk, j + dl
                        if (
                            k2 >= nk
                            or l2 >= nl
                            or not valid[k2, l2]
                            or merged[k2, l2]
                            or (t, k2, l2) in park_of
                        ):
                            continue
                        if (g.u_roads[k2] if dk else g.v_roads[l2]).kind != "branch":
                            continue
                        q2, q2uv = quads[k2, l2], quads_uv[k2, l2]
                        sel = (0, 1, 1, 0) if dk else (0, 0, 1, 1)  # corner from block 1 or block 2
                        mq = np.array([(quad, q2)[sel[c]][c] for c in range(4)])
                        muv = np.array([(quad_uv, q2uv)[sel[c]][c] for c in range(4)])
                        box = np.array(
                            [[mq[:, 0].min(), mq[:, 1].min(), mq[:, 0].max(), mq[:, 1].max()]]
                        )
                        if (
                            quad_area(mq) > 380000
                            or not self.lattice.boxes_inside(g.col, g.row, box, 18.0)[0]
                        ):
                            continue
                        merged[k2, l2] = True
                        quad, quad_uv = mq, muv
                        break
                b = Block(t, k, j, quad, park)
                c = quad.mean(axis=0)
                if park is not None:
                    b.zone = "park"
                elif math.hypot(*(c - g.seat)) < g.core_radius * rs.uniform(0.85, 1.15):
                    b.zone = "centre"
                elif any(math.hypot(*(c - bc)) < br for bc, br in g.belts):
                    b.zone = "belt"
                self.blocks.append(b)
                self.block_uv.append(quad_uv)
        # Land use in coherent patches: log share + a smooth field per land use + noise.
        centres = np.array([b.quad.mean(axis=0) for b in self.blocks])
        uses = sorted({u for m in LAND_USE_MIX.values() for u in m})
        fields = {
            u: smooth_noise(rng, max(self.width, self.height) / 3)(centres[:, 0], centres[:, 1])
            for u in uses
        }
        gumbel = rng.gumbel(size=(len(self.blocks), len(uses))) * 0.45
        col = {u: j for j, u in enumerate(uses)}
        for i, b in enumerate(self.blocks):
            mix = LAND_USE_MIX[f"park:{self.parks[b.park].theme}" if b.park is not None else b.zone]
            b.land_use = max(
                mix, key=lambda u: math.log(mix[u]) + 1.5 * fields[u][i] + gumbel[i, col[u]]
            )
        for p in self.parks:
            p.blocks = [i for i, b in enumerate(self.blocks) if b.park == p.index]

    # --- parcels -------------------------------------------------------------------------
    def make_parcels(self):
        rng = generator(self.seed, 3)
        rs = Stream(rng)
        dev = smooth_noise(rng, max(self.width, self.height) / 2.5)
        self.plots: list[Plot] = []
        town_seq = [0] * len(self.grids)
        for bi, b in enumerate(self.blocks):
            town_seq[b.town] += 1
            area = quad_area(b.quad)
            if area < 3500:
                continue
            pieces = subdivide(rs, b.quad, parcel_count(rs, area, b.land_use))
            for k, q in enumerate(pieces, 1):
                lu = b.land_use
                if len(pieces) >= 2 and k == len(
                    pieces
                ):  # a school, green or substation in the block
                    r = rs.random()
                    if lu == "R2" and r < 0.22:
                        lu = "A" if r < 0.14 else "G1"
                    elif lu in ("M1", "M2") and r < 0.06:
                        lu = "U"
                    elif lu == "B2" and r < 0.15:
                        lu = "B1"
                p = Plot(bi, k, q, lu, quad_area(q))
                p.code = f"{self.grids[b.town].code}-{town_seq[b.town]:04d}-{k}"
                self.plots.append(p)
        n = len(self.plots)
        centres = np.array([p.quad.mean(axis=0) for p in self.plots])
        rank = np.argsort(np.argsort(dev(centres[:, 0], centres[:, 1]))) / max(1, n - 1)
        score = 0.65 * rank + 0.35 * rng.random(n)
        quantile = (np.argsort(np.argsort(score)) / max(1, n - 1)).tolist()
        draws = rng.random(n).tolist()
        for i, p in enumerate(self.plots):
            lu = p.land_use
            if lu in INDUSTRIAL:
                mix = STATUS_MIX[(self.blocks[p.block].zone, "ind")]
            else:
                mix = STATUS_MIX[
                    ("any", "B" if lu in ("B1", "B2") else "R" if lu == "R2" else "other")
                ]
            acc, status = 0.0, None
            for s in ("idle", "low_efficiency", "renewal"):
                acc += mix.get(s, 0.0)
                if draws[i] < acc:
                    status = s
                    break
            if status is None:
                pl, av = mix.get("planned", 0.0), mix.get("available", 0.0)
                status = (
                    "planned"
                    if quantile[i] < pl
                    else "available"
                    if quantile[i] < pl + av
                    else "in_use"
                )
            p.status = status
        # Every district, even the tiny one, has some idle industrial land to find.
        idle = sum(p.status == "idle" for p in self.plots)
        want = max(3, int(0.01 * n))
        if idle < want:
            cands = [
                i
                for i, p in enumerate(self.plots)
                if p.status == "in_use" and p.land_use in ("M1", "M2", "W1")
            ]
            for i in rng.permutation(len(cands))[: want - idle]:
                self.plots[cands[int(i)]].status = "idle"
        self.addresses = [self._address(p) for p in self.plots]

    def _address(self, plot: Plot) -> str:
        b = self.blocks[plot.block]
        g = self.grids[b.town]
        v0 = float(self.block_uv[plot.block][:, 1].min() - g.v_lines[0])
        return f"{g.name}{g.u_roads[b.k].name}{2 * int(max(0.0, v0) // 18) + 2 * plot.seq - 1}号"

    # --- enterprises -----------------------------------------------------------------------
    def new_enterprise(
        self,
        rs: Stream,
        *,
        chain: str,
        role: str,
        plot: int | None,
        above_p: float,
        building: int | None = None,
        pos=None,
        fixed_name: str | None = None,
        industry: tuple[str, str] | None = None,
        manufacturing: bool | None = None,
    ) -> EnterpriseRec:
        p = self.plots[plot] if plot is not None else None
        block = self.blocks[p.block] if p is not None else None
        town = self.grids[block.town] if block is not None else self.grids[self.seat_town]
        park = self.parks[block.park] if block is not None and block.park is not None else None
        above = rs.random() < above_p
        rates = CERTIFICATION_RATES.get(chain)
        foreign = rates is not None and role == "occupant" and rs.random() < rates[3]
        if industry is None:
            classes = [
                c for c in CHAINS[chain].classes if manufacturing is None or c[3] == manufacturing
            ]
            classes = classes or list(CHAINS[chain].classes)
            code, _w, words, _m = Weighted(classes, [c[1] for c in classes]).draw(rs)
            word = rs.pick(words)
        else:
            code, word = industry
        # Founding: land-holding firms older; above-size ones older still.
        if role in ("occupant", "operator", "holding"):
            year = int(min(2025, max(1990, rs.triangular(1992, 2008, 2025.99))))
        else:
            year = int(min(2026, max(1995, rs.triangular(2000, 2019, 2026.99))))
        if above:
            year = min(year, rs.integers(2008, 2024))
        first = dt.date(year, 1, 1).toordinal()
        last = min(dt.date(year, 12, 31), AS_OF).toordinal()
        founded = dt.date.fromordinal(rs.integers(first, last + 1))
        trade = ""
        if fixed_name is not None:
            name = fixed_name
        else:
            for attempt in range(10_000):
                trade = self._trade(rs, attempt)
                tail = "" if word.endswith(SELF_CONTAINED) else _TAILS.draw(rs)
                if foreign and attempt < 8:  # few foreign names: fall back to a local-style name
                    name = f"{rs.pick(vocab.FOREIGN_TRADE)}（上海）{word}{tail}有限公司"
                else:
                    form = "股份有限公司" if above and rs.random() < 0.25 else "有限公司"
                    name = f"上海{trade}{word}{tail}{form}"
                if attempt > 9_000:  # the pools are exhausted (never at the listed scales)
                    name = name.replace("有限公司", f"{attempt}有限公司")
                if name not in self.names_used:
                    break
        self.names_used.add(name)
        division = _DIVISIONS.draw(rs)
        while True:
            cc = codes.credit_code(rs, division=division, founded_year=year)
            if cc not in self.codes_used:
                break
        self.codes_used.add(cc)
        certs = []
        if rates is not None:
            boost = 1.4 if above else 0.8
            if rs.random() < rates[0] * boost:
                certs.append("high_tech")
            if rs.random() < rates[1] * boost:
                certs.append("srdi")
                if rs.random() < 0.14:
                    certs.append("little_giant")
            if not above and rs.random() < rates[2]:
                certs.append("tech_sme")
            if above and rs.random() < 0.03:
                certs.append("listed")
        if foreign:
            certs.append("foreign")
        contact, local = codes.person(rs)
        email = ""
        if rs.random() < 0.72:
            domain = (
                "".join(_PINYIN.get(c, "") for c in trade)
                or rs.pick(vocab.TRADE)[1] + rs.pick(vocab.TRADE)[1]
            )
            email = f"{local}@{domain}{_DOMAINS.draw(rs)}"
        if pos is None:
            pos = p.quad.mean(axis=0) if p is not None else town.seat
        address = (
            self.addresses[plot] if plot is not None else f"{town.name}{town.u_roads[0].name}1号"
        )
        if building is not None:
            bld = self.buildings[building]
            address += (
                f"{bld.name}{rs.integers(1, bld.floors + 1)}{rs.integers(1, 30):02d}室"
                if bld.floors > 1
                else bld.name
            )
        e = EnterpriseRec(
            credit_code=cc,
            name=name,
            industry_code=code,
            scale="above" if above else "below",
            founded_on=founded,
            town=town.code,
            park=park.code if park else None,
            parcel=p.code if p is not None else None,
            building=self.buildings[building].code if building is not None else None,
            lon=float(pos[0]),
            lat=float(pos[1]),
            address=address,
            certifications=certs,
            contact_name=contact,
            contact_phone=codes.mobile(rs),
            contact_email=email,
            chain=chain,
        )
        self.enterprises.append(e)
        self.ent_role.append(role)
        return e

    @staticmethod
    def _trade(rs: Stream, attempt: int = 0) -> str:
        """A trade name (字号): two characters, three once two keep colliding (large scales)."""
        n = 2 if attempt < 12 else 3
        while True:
            chars = [rs.pick(vocab.TRADE)[0] for _ in range(n)]
            if len(set(chars)) == n:
                return "".join(chars)

    def make_occupants(self):
        """How each parcel is used, and the enterprises that hold the land."""
        rs = Stream(generator(self.seed, 4))
        self.plot_ent: dict[int, EnterpriseRec] = {}
        self.plot_mode: list[str] = [""] * len(self.plots)
        operators: dict[int, EnterpriseRec] = {}
        holdings: dict[int, EnterpriseRec] = {}
        district = self.d.name
        for i, p in enumerate(self.plots):
            b = self.blocks[p.block]
            g = self.grids[b.town]
            park = self.parks[b.park] if b.park is not None else None
            lu, st = p.land_use, p.status
            if st in ("planned", "available"):
                p.owner = f"{district}土地储备中心"
            elif lu == "R2":
                p.owner = (
                    f"{g.villages[b.k % len(g.villages)]}经济合作社"
                    if b.zone == "rural"
                    else f"上海{self._trade(rs)}置业有限公司"
                )
            elif lu == "A":
                p.owner = f"{g.name}人民政府" if rs.random() < 0.6 else f"{district}教育局"
            elif lu == "G1":
                p.owner = f"{district}绿化和市容管理局"
            elif lu in ("S", "U"):
                p.owner = f"{district}城市建设投资有限公司"
            if st in ("planned", "available") or lu not in INDUSTRIAL | {"B1", "B2"}:
                continue
            if lu == "M1":
                multi = 0.30 if park else (0.25 if b.zone == "rural" else 0.12)
                mode = "factory_multi" if rs.random() < multi else "factory_single"
            elif lu == "M2":
                mode = "factory_single"
            elif lu == "M0":
                mode = "m0_multi" if rs.random() < 0.6 else "m0_single"
            elif lu == "W1":
                mode = "warehouse"
            elif lu == "B2":
                mode = "office_multi" if rs.random() < 0.85 else "office_single"
            else:
                mode = "mixed"
            if st == "idle" and mode not in ("factory_single", "m0_single", "warehouse"):
                mode = "factory_single"
            if mode in ("factory_multi", "m0_multi"):
                if park is not None:
                    ent = operators.get(park.index)
                    if ent is None:
                        ent = operators[park.index] = self.new_enterprise(
                            rs,
                            chain="operator",
                            role="operator",
                            plot=i,
                            above_p=0.9,
                            fixed_name=f"上海{park.name}{PARK_OPERATOR[1]}有限公司",
                            industry=PARK_OPERATOR,
                        )
                else:
                    ent = holdings.get(b.town)
                    if ent is None:
                        ent = holdings[b.town] = self.new_enterprise(
                            rs,
                            chain="holding",
                            role="holding",
                            plot=i,
                            above_p=0.8,
                            fixed_name=f"上海{g.stem}{TOWN_HOLDING[1]}有限公司",
                            industry=TOWN_HOLDING,
                        )
            elif mode in ("office_multi", "mixed"):
                for attempt in range(10_000):
                    name = f"上海{self._trade(rs, attempt)}{rs.pick(DEVELOPER_WORDS)}有限公司"
                    if name not in self.names_used:
                        break
                ent = self.new_enterprise(
                    rs,
                    chain="developer",
                    role="developer",
                    plot=i,
                    above_p=0.5,
                    fixed_name=name,
                    industry=DEVELOPER,
                )
            else:
                chain = self._occupant_chain(rs, b, park, lu, mode)
                above_p = 0.6 if park else 0.45 if b.zone != "rural" else 0.25
                ent = self.new_enterprise(
                    rs,
                    chain=chain,
                    role="occupant",
                    plot=i,
                    above_p=above_p,
                    manufacturing=chain not in ("services", "logistics"),
                )
            self.plot_ent[i] = ent
            self.plot_mode[i] = mode
            p.owner = ent.name

    def _occupant_chain(self, rs: Stream, b: Block, park, lu: str, mode: str) -> str:
        if lu == "W1":
            return "logistics" if rs.random() < 0.9 else "general"
        if lu == "M0" and mode == "m0_single":
            return (
                park.theme if park and park.theme != "services" else rs.pick(MANUFACTURING_CHAINS)
            )
        if park is not None:
            if park.theme == "services":
                return rs.pick(("ic", "equip", "bio", "general"))
            return park.theme if rs.random() < 0.8 else rs.pick(("general", *MANUFACTURING_CHAINS))
        if b.zone == "rural":
            return "general" if rs.random() < 0.82 else rs.pick(("equip", "nev"))
        return _BELT_CHAINS.draw(rs)

    def is_halted(self, i: int, rs: Stream) -> bool:
        """An idle parcel's project was halted (a shell stands) or never started; decided once."""
        if i not in self.halted:
            self.halted[i] = rs.random() < 0.3
        return self.halted[i]

    # --- buildings ---------------------------------------------------------------------------
    def make_buildings(self):
        rs = Stream(generator(self.seed, 5))
        self.buildings: list[BuildingRec] = []
        self.bld_plot: list[int] = []
        self.bld_quad: list[np.ndarray] = []
        self.bld_multi: list[bool] = []
        factory_no: dict[int, int] = {}
        tower_names: set[str] = set()
        for i, p in enumerate(self.plots):
            mode = self.plot_mode[i]
            if not mode or (p.status == "idle" and not self.is_halted(i, rs)):
                continue
            b = self.blocks[p.block]
            g = self.grids[b.town]
            park = self.parks[b.park] if b.park is not None else None
            short = self._short(self.plot_ent.get(i))
            ls, lt = quad_sides(p.quad)
            area = p.area
            if mode in ("factory_single", "factory_multi", "warehouse"):
                nb = 1 if area < 12000 else rs.integers(1, 3) if area < 30000 else rs.integers(2, 5)
                if mode == "factory_multi":
                    nb = max(2, min(6, int(area // 6000)))
                foot = area * rs.uniform(0.42, 0.58) / nb
            elif mode in ("office_single", "office_multi"):
                nb = 1 if area < 9000 else rs.integers(1, 4)
                foot = rs.uniform(1100, 2400)
            elif mode in ("m0_single", "m0_multi"):
                nb = max(1, min(5, int(area // 5000)))
                foot = rs.uniform(1500, 3200)
            else:
                nb = 1 if area < 15000 else 2
                foot = rs.uniform(2500, 7500)
            multi = mode in VACANCY
            tower = ""
            if mode in ("office_multi", "mixed"):
                suffixes = (
                    ("广场", "商业中心", "生活广场", "天地")
                    if mode == "mixed"
                    else ("大厦", "中心", "国际大厦", "科技大厦", "商务中心", "广场")
                )
                for attempt in range(10_000):
                    tower = self._trade(rs, attempt) + rs.pick(suffixes)
                    if tower not in tower_names:
                        break
                tower_names.add(tower)
            for j, fq in enumerate(self._footprints(rs, p.quad, ls, lt, nb, foot), 1):
                btype, floors, clear, load, height = self._building_shape(rs, mode, park)
                total = round(quad_area(fq) * floors * rs.uniform(0.93, 0.99), -1)
                if p.status == "idle":  # the shell of a halted project
                    vacant = total
                elif multi:
                    vacant = round(
                        total * min(0.95, -VACANCY[mode] * math.log(max(rs.random(), 1e-9))), -1
                    )
                elif p.status == "low_efficiency":
                    vacant = round(total * rs.uniform(0.1, 0.5), -1)
                elif p.status == "renewal":
                    vacant = round(total * rs.uniform(0.3, 1.0), -1)
                else:
                    vacant = 0.0
                rent = None
                if multi or vacant > 0:
                    rent = round(
                        rs.uniform(*RENT["warehouse" if mode == "warehouse" else btype])
                        + (0.25 if park else 0.0),
                        2,
                    )
                label = p.code.split("-")[1].lstrip("0")
                if mode == "factory_multi":
                    if park is not None:
                        factory_no[park.index] = factory_no.get(park.index, 0) + 1
                        name = f"{park.name}{factory_no[park.index]}号厂房"
                    else:
                        area_name = (
                            "创业园"
                            if b.zone != "rural"
                            else g.villages[b.k % len(g.villages)] + "工业区"
                        )
                        name = f"{g.stem}{area_name}{label}-{j}号厂房"
                elif mode == "factory_single":
                    name = f"{short}{j}号厂房"
                elif mode == "warehouse":
                    name = f"{short}{j}号仓库"
                elif mode == "m0_multi":
                    name = f"{park.name if park else g.stem + '科创园'}{label}-{j}号楼"
                elif mode == "m0_single":
                    name = f"{short}研发中心{j}号楼"
                elif mode == "office_single":
                    name = f"{short}大厦" + (f"{j}号楼" if nb > 1 else "")
                else:
                    name = tower + (f"{j}号楼" if nb > 1 else "")
                self.buildings.append(
                    BuildingRec(
                        code=f"{p.code}-B{j}",
                        name=name,
                        town=g.code,
                        park=park.code if park else None,
                        parcel=p.code,
                        building_type=btype,
                        ring=[],
                        floors=floors,
                        height_m=height,
                        total_floor_m2=total,
                        vacant_floor_m2=vacant,
                        rent_yuan_m2_day=rent,
                        floor_load_kn_m2=load,
                        clear_height_m=clear,
                    )
                )
                self.bld_plot.append(i)
                self.bld_quad.append(fq)
                self.bld_multi.append(multi)

    @staticmethod
    def _short(ent: EnterpriseRec | None) -> str:
        if ent is None:
            return ""
        return ent.name[2:4] if ent.name.startswith("上海") else ent.name.split("（")[0]

    def _footprints(self, rs: Stream, q, ls, lt, nb, foot) -> list[np.ndarray]:
        """nb footprints in slots along the parcel's long side, set back from its edges."""
        long_s = ls >= lt
        rows = 2 if nb >= 4 else 1
        per_row = math.ceil(nb / rows)
        m = 0.09  # setback, as a share of the side
        span_long, span_short = (1 - 2 * m) / per_row, (1 - 2 * m) / rows
        len_long, len_short = (ls, lt) if long_s else (lt, ls)
        out = []
        for idx in range(nb):
            r, c = divmod(idx, per_row)
            w_long = min(math.sqrt(foot * rs.uniform(1.2, 2.4)), span_long * len_long * 0.86)
            w_short = min(foot / max(w_long, 1.0), span_short * len_short * 0.86)
            f_long, f_short = w_long / len_long, w_short / len_short
            a0 = m + c * span_long + rs.uniform(0, span_long - f_long)
            b0 = m + r * span_short + rs.uniform(0, span_short - f_short)
            out.append(
                sub_quad(q, a0, a0 + f_long, b0, b0 + f_short)
                if long_s
                else sub_quad(q, b0, b0 + f_short, a0, a0 + f_long)
            )
        return out

    @staticmethod
    def _building_shape(rs: Stream, mode: str, park) -> tuple[str, int, float, float, float]:
        """(type, floors, clear height m, floor load kN/m², height m)."""
        if mode in ("factory_single", "factory_multi", "warehouse"):
            if mode == "warehouse":
                floors = 1 if rs.random() < 0.8 else 2
            elif mode == "factory_multi":
                floors = Weighted({2: 0.2, 3: 0.4, 4: 0.4}).draw(rs)
            else:
                floors = Weighted(
                    {1: 0.5, 2: 0.22, 3: 0.16, 4: 0.12}
                    if park is None
                    else {1: 0.35, 2: 0.25, 3: 0.2, 4: 0.2}
                ).draw(rs)
            if floors == 1:
                clear = round(rs.uniform(8, 12), 1)
                return (
                    "factory",
                    1,
                    clear,
                    float(rs.pick((30, 35, 40, 50))),
                    round(clear + rs.uniform(1.5, 3.0), 1),
                )
            clear = round(rs.uniform(4.5, 7.0), 1)
            return (
                "factory",
                floors,
                clear,
                float(rs.pick((8, 10, 12, 15, 20))),
                round(floors * (clear + 1.0) + rs.uniform(0.5, 2.0), 1),
            )
        if mode in ("office_single", "office_multi"):
            floors = rs.integers(8, 31)
            return (
                "office",
                floors,
                round(rs.uniform(2.8, 3.3), 1),
                rs.pick((2.5, 3.0, 3.5, 4.0)),
                round(floors * 4.0 + rs.uniform(4, 10), 1),
            )
        if mode in ("m0_single", "m0_multi"):
            floors = rs.integers(4, 13)
            btype = "mixed" if rs.random() < 0.4 else "office"
            return (
                btype,
                floors,
                round(rs.uniform(3.2, 4.5), 1),
                rs.pick((5.0, 6.5, 8.0)),
                round(floors * 4.5 + rs.uniform(2, 6), 1),
            )
        floors = rs.integers(3, 9)
        return (
            "mixed",
            floors,
            round(rs.uniform(3.5, 5.0), 1),
            rs.pick((3.5, 4.0, 5.0)),
            round(floors * 5.0 + rs.uniform(2, 6), 1),
        )

    # --- tenants -----------------------------------------------------------------------------
    def make_tenants(self):
        rng = generator(self.seed, 6)
        rs = Stream(rng)
        need = self.sc.enterprises - len(self.enterprises)
        multi = [k for k, m in enumerate(self.bld_multi) if m]
        if need <= 0 or not multi:
            return
        occupied = np.array(
            [
                max(
                    1.0,
                    self.buildings[k].total_floor_m2 - (self.buildings[k].vacant_floor_m2 or 0.0),
                )
                for k in multi
            ]
        )
        counts = rng.multinomial(need, occupied / occupied.sum())
        for k, n in zip(multi, counts.tolist(), strict=True):
            plot = self.bld_plot[k]
            block = self.blocks[self.plots[plot].block]
            park = self.parks[block.park] if block.park is not None else None
            mode = self.plot_mode[plot]
            spots = bilinear_many(
                np.repeat(self.bld_quad[k][None], n, axis=0),
                rng.uniform(0.1, 0.9, n),
                rng.uniform(0.1, 0.9, n),
            )
            for j in range(n):
                if mode == "factory_multi":
                    themed = park is not None and park.theme != "services" and rs.random() < 0.7
                    chain = park.theme if themed else rs.pick(("general", "equip", "nev"))
                    manufacturing, above_p = True, 0.18
                elif mode == "m0_multi":
                    chain = (
                        park.theme
                        if park and rs.random() < 0.6
                        else rs.pick(("services", "ic", "bio", "equip"))
                    )
                    manufacturing, above_p = (
                        (None if chain == "services" else rs.random() < 0.35),
                        0.14,
                    )
                elif mode == "office_multi":
                    chain = _OFFICE_CHAINS.draw(rs)
                    manufacturing, above_p = (
                        (False if chain in ("services", "ic", "bio") else None),
                        0.12,
                    )
                else:  # mixed (commercial)
                    chain, manufacturing, above_p = "services", None, 0.08
                self.new_enterprise(
                    rs,
                    chain=chain,
                    role="tenant",
                    plot=plot,
                    above_p=above_p,
                    building=k,
                    pos=spots[j],
                    manufacturing=manufacturing,
                )

    # --- land grants -----------------------------------------------------------------------
    def make_grants(self):
        rs = Stream(generator(self.seed, 7))
        self.grants: list[GrantRec] = []
        role_of = {e.credit_code: r for e, r in zip(self.enterprises, self.ent_role, strict=True)}
        for i, p in enumerate(self.plots):
            ent = self.plot_ent.get(i)
            if (
                ent is None
                or p.land_use not in INDUSTRIAL
                or role_of[ent.credit_code] != "occupant"
            ):
                continue
            price = round(
                p.area / M2_PER_MU * rs.uniform(*PRICE_WAN_PER_MU.get(p.land_use, (60, 150))), 1
            )
            kind = None
            if p.status == "idle":
                kind = "halted" if self.is_halted(i, rs) else "not_started"
            elif p.status == "in_use":
                r = rs.random()
                kind = "completed" if r < 0.25 else "building" if r < 0.33 else None
            elif p.status == "low_efficiency" and rs.random() < 0.15:
                kind = "completed"
            if kind is None:
                continue
            if kind == "completed":
                start = _date_between(rs, dt.date(2010, 1, 1), dt.date(2022, 6, 30))
                started = start + dt.timedelta(days=rs.integers(-20, 200))
                g = GrantRec(
                    p.code,
                    ent.credit_code,
                    start,
                    price,
                    started,
                    1.0,
                    round(rs.uniform(0.9, 1.0), 2),
                    None,
                )
            elif kind == "building":
                start = _date_between(rs, dt.date(2023, 6, 1), dt.date(2025, 9, 30))
                started = min(AS_OF, start + dt.timedelta(days=rs.integers(0, 150)))
                built = round(rs.uniform(0.15, 0.85), 2)
                invested = round(min(1.0, max(0.05, built + rs.uniform(-0.1, 0.15))), 2)
                g = GrantRec(p.code, ent.credit_code, start, price, started, built, invested, None)
            elif kind == "not_started":  # idle: the contracted start passed more than a year ago
                start = _date_between(rs, dt.date(2018, 1, 1), AS_OF - dt.timedelta(days=400))
                g = GrantRec(
                    p.code,
                    ent.credit_code,
                    start,
                    price,
                    None,
                    0.0,
                    round(rs.uniform(0.02, 0.12), 2),
                    None,
                )
            else:  # halted more than a year ago with under a third built
                start = _date_between(rs, dt.date(2016, 1, 1), dt.date(2023, 6, 30))
                started = start + dt.timedelta(days=rs.integers(0, 240))
                halted = min(
                    started + dt.timedelta(days=rs.integers(90, 700)),
                    AS_OF - dt.timedelta(days=380),
                )
                halted = max(halted, started + dt.timedelta(days=30))
                g = GrantRec(
                    p.code,
                    ent.credit_code,
                    start,
                    price,
                    started,
                    round(rs.uniform(0.05, 0.3), 2),
                    round(rs.uniform(0.05, 0.25), 2),
                    halted,
                )
            self.grants.append(g)

    # --- indicators --------------------------------------------------------------------------
    def make_indicators(self):
        rs = Stream(generator(self.seed, 8))
        self.indicators: list[IndicatorRec] = []
        land_mu: dict[str, float] = {}
        for i, ent in self.plot_ent.items():
            land_mu[ent.credit_code] = (
                land_mu.get(ent.credit_code, 0.0) + self.plots[i].area / M2_PER_MU
            )
        rent_income: dict[str, float] = {}  # yuan per day from rented floor area
        for k, multi in enumerate(self.bld_multi):
            ent = self.plot_ent.get(self.bld_plot[k])
            if ent is not None and multi:
                b = self.buildings[k]
                income = (b.total_floor_m2 - (b.vacant_floor_m2 or 0.0)) * (
                    b.rent_yuan_m2_day or 1.0
                )
                rent_income[ent.credit_code] = rent_income.get(ent.credit_code, 0.0) + income
        for e, role in zip(self.enterprises, self.ent_role, strict=True):
            manufacturing = e.industry_code[:2] < "44"
            above = e.scale == "above"
            threshold = 2000.0 if manufacturing else 1000.0  # 规上: 20 / 10 million yuan revenue
            if role in ("operator", "developer", "holding"):
                rev = rent_income.get(e.credit_code, 0.0) * 365 / 10000.0 * rs.uniform(0.85, 1.1)
                rev = rev if rev >= 200 else rs.uniform(200, 1500)
                va, rd, energy_int, prod, tax_rate = (
                    (0.55, 0.7),
                    None,
                    (0.002, 0.006),
                    (80, 300),
                    (0.08, 0.14),
                )
            else:
                chain = CHAINS[e.chain]
                if above:
                    rev = threshold * 10 ** abs(rs.normal(0.55, 0.5))
                    if e.industry_code == "3612":
                        rev *= rs.uniform(8, 40)
                else:
                    rev = threshold * 10 ** -abs(rs.normal(0.6, 0.45))
                va, rd, energy_int, prod = (
                    chain.value_added,
                    chain.rd_intensity,
                    chain.energy_tce_per_wan,
                    chain.wan_per_employee,
                )
                tax_rate = (0.025, 0.07) if manufacturing else (0.04, 0.09)
            g1, g2 = rs.normal(0.05, 0.14), rs.normal(0.04, 0.15)
            va_r = rs.uniform(*va)
            rd_r = rs.uniform(*rd) if rd else 0.0
            e_int, prod_v, tax_r = rs.uniform(*energy_int), rs.uniform(*prod), rs.uniform(*tax_rate)
            out_r, elec_share, emis = (
                rs.uniform(0.86, 1.04),
                rs.uniform(0.55, 0.9),
                rs.uniform(0.001, 0.006),
            )
            p_blank = 0.03 if above else 0.12
            levels = {2023: rev / (1 + g1), 2024: rev, 2025: rev * (1 + g2)}
            for year in YEARS:
                if e.founded_on > dt.date(year, 6, 30):
                    continue
                if year == YEARS[-1] and rs.random() < 0.04:
                    continue  # not reported yet
                r = max(levels[year], 5.0) * rs.uniform(0.97, 1.03)
                ind = IndicatorRec(e.credit_code, year, revenue_wan=_pos(r))
                if manufacturing:
                    ind.output_wan = _pos(r * out_r)
                ind.value_added_wan = _pos(r * (out_r if manufacturing else 1.0) * va_r)
                ind.tax_wan = _pos(r * tax_r * rs.uniform(0.9, 1.1))
                ind.employees = max(20 if above else 2, round(r / prod_v * rs.uniform(0.92, 1.08)))
                if rd_r > 0 and (above or rs.random() > 0.3):
                    ind.rd_spend_wan = _pos(r * rd_r)
                if above or rs.random() > 0.25:
                    energy = (ind.output_wan or r) * e_int * rs.uniform(0.95, 1.05)
                    ind.energy_tce = _pos(energy)
                    ind.electricity_kwh = float(
                        max(100, round(energy * elec_share * 1000 / 0.1229, -2))
                    )
                    if manufacturing:
                        ind.emissions_t = _pos(energy * emis, 2)
                if role != "tenant" and e.credit_code in land_mu:
                    ind.land_area_mu = round(land_mu[e.credit_code], 2)
                for f in INDICATOR_BLANKABLE:
                    if rs.random() < p_blank and getattr(ind, f) is not None:
                        setattr(ind, f, None)
                self.indicators.append(ind)

    # --- POIs --------------------------------------------------------------------------------
    def make_pois(self):
        rng = generator(self.seed, 9)
        rs = Stream(rng)
        self.poi_rows: list[
            list
        ] = []  # [category, name, x, y, town, park (or -2: find), address, extra]
        self.metro_lines(rng, rs)
        self.expressways(rng, rs)
        remaining = max(0, self.sc.pois - len(self.poi_rows))
        n_univ = max(1, round(self.sc.pois / 100000 * 6))
        remaining -= n_univ
        counts = {c: int(remaining * s / sum(POI_SHARES.values())) for c, s in POI_SHARES.items()}
        counts["shopping"] += remaining - sum(counts.values())
        counts["university"] = n_univ
        self.bus_stops(rng, rs, counts.pop("bus_stop"))
        lus = np.array([p.land_use for p in self.plots])
        quads = np.array([p.quad for p in self.plots])
        centres = quads.mean(axis=1)
        near_park = np.zeros(len(self.plots), bool)
        for pk in self.parks:
            c = pk.ring[:-1].mean(axis=0)
            near_park |= np.hypot(centres[:, 0] - c[0], centres[:, 1] - c[1]) < 3000
        for cat in (
            "university",
            "school",
            "hospital",
            "shopping",
            "park_green",
            "talent_housing",
            "rd_center",
            "incubator",
            "key_lab",
        ):
            n = counts[cat]
            w = np.zeros(len(self.plots))
            for lu, wt in POI_WEIGHTS[cat].items():
                w[lus == lu] = wt
            if cat == "university":
                w *= np.array([p.area for p in self.plots]) ** 2
            if cat in ("talent_housing", "rd_center", "incubator", "key_lab"):
                w *= np.where(near_park, 3.0, 1.0)
            if w.sum() == 0:
                w[:] = 1.0
            picks = rng.choice(len(self.plots), size=n, p=w / w.sum())
            xy = bilinear_many(
                quads[picks], rng.uniform(0.15, 0.85, n), rng.uniform(0.15, 0.85, n)
            ).tolist()
            for pi, (x, y) in zip(picks.tolist(), xy, strict=True):
                p = self.plots[pi]
                b = self.blocks[p.block]
                self.poi_rows.append(
                    [cat, self._poi_name(rs, cat, b), x, y, b.town, b.park, self.addresses[pi], {}]
                )
        # POIs placed by coordinates (metro, ramps, bus stops): their park by containment.
        todo = [r for r in self.poi_rows if r[5] == -2]
        if todo:
            pts = np.array([(r[2], r[3]) for r in todo])
            found = np.full(len(todo), -1)
            for pk in self.parks:
                found[(found < 0) & point_in_ring(pts[:, 0], pts[:, 1], pk.ring)] = pk.index
            for r, f in zip(todo, found.tolist(), strict=True):
                r[5] = f if f >= 0 else None

    def _poi_name(self, rs: Stream, cat: str, b: Block) -> str:
        g = self.grids[b.town]
        road = g.u_roads[b.k].name
        stem = g.stem if rs.random() < 0.5 else _road_stem(road)
        if cat == "school":
            kind = rs.pick(vocab.SCHOOL_KINDS)
            ordinal = rs.pick(("", "", "", "", "", "第二", "第三"))
            return (
                f"{stem}{ordinal}{kind}"
                if kind in ("小学", "中学", "幼儿园", "初级中学")
                else f"{stem}{kind}"
            )
        if cat == "hospital":
            kind = rs.pick(vocab.HOSPITAL_KINDS)
            if kind == "卫生室":
                return f"{rs.pick(g.villages)}卫生室"
            if kind == "医院":
                return f"{self.d.name}{rs.pick(('第二人民', '中西医结合', '中心', '东部', '中医'))}医院"
            if kind in ("社区卫生服务中心", "妇幼保健所"):
                return f"{g.name}{kind}"
            return f"{stem}{kind}"
        if cat == "shopping":
            if rs.random() < 0.55:
                return f"{rs.pick(vocab.RETAIL_BRANDS)}（{road}店）"
            return f"{stem}{rs.pick(vocab.MALL_SUFFIX)}"
        if cat == "park_green":
            kind = rs.pick(vocab.GREEN_KINDS)
            return (
                f"{rs.pick(g.villages)[:-1]}{kind}"
                if kind in ("郊野公园", "湿地公园")
                else f"{stem}{kind}"
            )
        if cat == "talent_housing":
            return f"{stem}{rs.pick(vocab.HOUSING_KINDS)}"
        if cat == "university":
            return f"上海{self._trade(rs)}{rs.pick(vocab.UNIVERSITY_KINDS)}{g.stem}校区"
        if cat == "rd_center":
            words = rs.pick(CHAINS[rs.pick(MANUFACTURING_CHAINS)].classes)[2]
            return f"{self._trade(rs)}{_topic(rs.pick(words))}{rs.pick(vocab.RD_KINDS)}"
        if cat == "incubator":
            owner = (
                self.parks[b.park].name
                if b.park is not None and rs.random() < 0.5
                else self._trade(rs)
            )
            return f"{owner}{rs.pick(vocab.INCUBATOR_KINDS)}"
        field = rs.pick(vocab.KEY_LAB_FIELDS)
        owner = "上海市" if rs.random() < 0.4 else self._trade(rs)
        return f"{owner}{field}{rs.pick(vocab.KEY_LAB_KINDS)}"

    def _locate(self, xy: np.ndarray) -> np.ndarray:
        col, row = self.lattice.locate(xy[:, 0], xy[:, 1])
        return np.where(col >= 0, (self.sc.rows - 1 - row) * self.sc.cols + col, -1)

    def _nearest_road(self, t: int, xy) -> str:
        g = self.grids[t]
        u, v = g.to_uv(np.asarray(xy, float)).tolist()
        ku = int(np.argmin(np.abs(g.u_lines - u)))
        kv = int(np.argmin(np.abs(g.v_lines - v)))
        return (
            g.u_roads[ku].name
            if abs(g.u_lines[ku] - u) <= abs(g.v_lines[kv] - v)
            else g.v_roads[kv].name
        )

    @staticmethod
    def _curve(a, b, via) -> tuple[np.ndarray, np.ndarray]:
        """A quadratic Bézier from a to b through `via` (at t = 0.5), densely sampled, with arc lengths."""
        c = 2 * via - (a + b) / 2
        t = np.linspace(0, 1, 4000)[:, None]
        pts = (1 - t) ** 2 * a + 2 * (1 - t) * t * c + t**2 * b
        return pts, np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])

    def metro_lines(self, rng, rs: Stream):
        """Lines across the district, stations about 1.2 km apart (closer in town centres), named after roads."""
        W, H = self.width, self.height
        numbers = [
            vocab.METRO_LINE_NUMBERS[i] for i in rng.permutation(len(vocab.METRO_LINE_NUMBERS))
        ]
        for n in range(self.sc.metro_lines):
            if n % 2 == 0:  # west → east
                a, b = (
                    np.array([-W / 2 - 1500, rs.uniform(-0.3, 0.3) * H]),
                    np.array([W / 2 + 1500, rs.uniform(-0.3, 0.3) * H]),
                )
            else:  # north → south
                a, b = (
                    np.array([rs.uniform(-0.3, 0.3) * W, H / 2 + 1500]),
                    np.array([rs.uniform(-0.3, 0.3) * W, -H / 2 - 1500]),
                )
            via = self.grids[self.seat_town if n == 0 else rs.integers(len(self.grids))].seat
            pts, s = self._curve(a, b, via + rng.uniform(-0.05, 0.05, 2) * min(W, H))
            pos, stations = rs.uniform(300, 900), []
            while pos < s[-1]:
                p = np.array([np.interp(pos, s, pts[:, 0]), np.interp(pos, s, pts[:, 1])])
                stations.append(p)
                near_seat = min(math.hypot(*(p - g.seat)) / g.core_radius for g in self.grids) < 1.0
                pos += 1200 * (rs.uniform(0.85, 1.1) if near_seat else rs.uniform(1.0, 1.35))
            xy = np.array(stations)
            line = f"轨道交通{numbers[n % len(numbers)]}号线"
            used, seq = set(), 0
            for p, t in zip(xy, self._locate(xy).tolist(), strict=True):
                if t < 0:
                    continue
                road = self._nearest_road(t, p)
                name = road + "站"
                if name in used:
                    name = self.grids[t].stem + "站"
                if name in used:
                    name = road + "东站"
                used.add(name)
                seq += 1
                self.poi_rows.append(
                    [
                        "metro_station",
                        name,
                        float(p[0]),
                        float(p[1]),
                        t,
                        -2,
                        f"{self.grids[t].name}{road}",
                        {"line": line, "seq": seq},
                    ]
                )

    def expressways(self, rng, rs: Stream):
        """Expressways across the district; a ramp every 3.5–5.5 km, named after the road it meets."""
        W, H = self.width, self.height
        names = [vocab.EXPRESSWAY_NAMES[i] for i in rng.permutation(len(vocab.EXPRESSWAY_NAMES))]
        spacing = 4200 if self.sc.name != "tiny" else 1400
        for n in range(self.sc.expressways):
            if n % 2 == 0:
                x0 = rs.uniform(-0.35, 0.35) * W
                a, b = (
                    np.array([x0, -H / 2 - 2000]),
                    np.array([x0 + rs.uniform(-0.15, 0.15) * W, H / 2 + 2000]),
                )
            else:
                y0 = rs.uniform(-0.35, 0.35) * H
                a, b = (
                    np.array([-W / 2 - 2000, y0]),
                    np.array([W / 2 + 2000, y0 + rs.uniform(-0.15, 0.15) * H]),
                )
            pts, s = self._curve(a, b, (a + b) / 2 + rng.uniform(-0.08, 0.08, 2) * min(W, H))
            name = names[n % len(names)] + ("" if n < len(names) else f"{n // len(names) + 1}线")
            pos, ramps = rs.uniform(1000, 3000), []
            while pos < s[-1]:
                ramps.append([np.interp(pos, s, pts[:, 0]), np.interp(pos, s, pts[:, 1])])
                pos += spacing * rs.uniform(0.8, 1.3)
            xy = np.array(ramps)
            for p, t in zip(xy, self._locate(xy).tolist(), strict=True):
                if t >= 0:
                    road = self._nearest_road(t, p)
                    self.poi_rows.append(
                        [
                            "expressway_ramp",
                            f"{name}{road}出入口",
                            float(p[0]),
                            float(p[1]),
                            t,
                            -2,
                            f"{self.grids[t].name}{road}",
                            {},
                        ]
                    )

    def bus_stops(self, rng, rs: Stream, n: int):
        """Stops at intersections ('A路B路站'), then along roads past villages ('A路X村站')."""
        cand_t, cand_k, cand_l, cand_xy, cand_w = [], [], [], [], []
        for t, g in enumerate(self.grids):
            nv = g.nodes.shape[1]
            xy = g.to_xy(g.nodes[..., 0], g.nodes[..., 1]).reshape(-1, 2)
            inside = np.nonzero(self._locate(xy) == t)[0]
            dist = np.hypot(xy[inside, 0] - g.seat[0], xy[inside, 1] - g.seat[1])
            cand_t += [t] * len(inside)
            cand_k += (inside // nv).tolist()
            cand_l += (inside % nv).tolist()
            cand_xy.append(xy[inside])
            cand_w.append(1.0 + 2.0 * np.exp(-dist / max(g.core_radius, 1.0)))
        if not cand_t:
            return
        xy_all, w = np.vstack(cand_xy), np.concatenate(cand_w)
        take = min(n, len(cand_t))
        for ci in np.sort(
            rng.choice(len(cand_t), size=take, replace=False, p=w / w.sum())
        ).tolist():
            g = self.grids[cand_t[ci]]
            a, b = g.u_roads[cand_k[ci]].name, g.v_roads[cand_l[ci]].name
            name = f"{a}{b}站" if rs.random() < 0.5 else f"{b}{a}站"
            self.poi_rows.append(
                [
                    "bus_stop",
                    name,
                    float(xy_all[ci, 0]),
                    float(xy_all[ci, 1]),
                    cand_t[ci],
                    -2,
                    f"{g.name}{a}",
                    {},
                ]
            )
        extra = n - take
        if extra <= 0:
            return
        # Mid-road stops: between an intersection and the next one along the same road.
        ci = rng.integers(0, len(cand_t), extra * 2)
        f = rng.uniform(0.3, 0.7, extra * 2)
        pts, meta = [], []
        for c, fr in zip(ci.tolist(), f.tolist(), strict=True):
            t, k, j = cand_t[c], cand_k[c], cand_l[c]
            g = self.grids[t]
            if j + 1 >= g.nodes.shape[1]:
                continue
            uv = g.nodes[k, j] * (1 - fr) + g.nodes[k, j + 1] * fr
            pts.append(g.to_xy(uv[0], uv[1]))
            meta.append((t, k))
        if not pts:
            return
        pts = np.array(pts)
        for p, (t, k), where in zip(pts.tolist(), meta, self._locate(pts).tolist(), strict=True):
            if where != t or extra <= 0:
                continue
            g = self.grids[t]
            road = g.u_roads[k].name
            self.poi_rows.append(
                [
                    "bus_stop",
                    f"{road}{rs.pick(g.villages)}站",
                    p[0],
                    p[1],
                    t,
                    -2,
                    f"{g.name}{road}",
                    {},
                ]
            )
            extra -= 1

    # --- teams -------------------------------------------------------------------------------
    def make_teams(self):
        rs = Stream(generator(self.seed, 10))
        self.teams: list[TeamRec] = []

        def members(n: int, focus: str) -> list[MemberRec]:
            out, names = [], set()
            for j in range(n):
                name, _ = codes.person(rs)
                while name in names:
                    name, _ = codes.person(rs)
                names.add(name)
                title = (
                    "组长"
                    if j == 0
                    else "副组长"
                    if j == 1 and n > 4
                    else rs.pick(vocab.TEAM_TITLES[2:])
                )
                out.append(
                    MemberRec(
                        name,
                        title,
                        codes.mobile(rs),
                        focus if rs.random() < 0.5 else rs.pick(vocab.SPECIALITIES),
                    )
                )
            return out

        self.teams.append(
            TeamRec(
                "TEAM-D",
                f"{self.d.name}投资促进办公室重点项目招商组",
                DISTRICT_CODE,
                "重大产业项目、外资招商",
                members(rs.integers(5, 9), "外资招商"),
            )
        )
        for g in self.grids:
            focus = rs.pick(vocab.SPECIALITIES[:5])
            self.teams.append(
                TeamRec(
                    f"TEAM-{g.code}",
                    f"{g.name}招商服务中心招商组",
                    g.code,
                    f"{focus}、楼宇招商",
                    members(rs.integers(3, 8), focus),
                )
            )
        for pk in self.parks:
            focus = CHAINS[pk.theme].name
            self.teams.append(
                TeamRec(
                    f"TEAM-{pk.code}",
                    f"{pk.name}招商部",
                    pk.code,
                    f"{focus}产业链招商",
                    members(rs.integers(3, 7), focus),
                )
            )

    # --- records ----------------------------------------------------------------------------------
    def finish(self):
        d, proj = self.d, self.proj
        rs = Stream(generator(self.seed, 11))
        d.towns = [TownRec(g.code, g.name, to_lonlat_ring(proj, g.ring)) for g in self.grids]
        d.parks = [
            ParkRec(p.code, p.name, self.grids[p.town].code, p.theme, to_lonlat_ring(proj, p.ring))
            for p in self.parks
        ]
        rings = to_lonlat_quads(proj, np.array([p.quad for p in self.plots]))
        for i, p in enumerate(self.plots):
            b = self.blocks[p.block]
            g = self.grids[b.town]
            ent = self.plot_ent.get(i)
            rec = ParcelRec(
                code=p.code,
                name=f"{g.stem}{g.u_roads[b.k].name}以东、{g.v_roads[b.j].name}以北{p.seq}号地块",
                town=g.code,
                park=self.parks[b.park].code if b.park is not None else None,
                land_use=p.land_use,
                status=p.status,
                ring=rings[i],
                area_m2=round(p.area, 1),
                owner=p.owner,
                enterprise=ent.credit_code if ent is not None else None,
            )
            ratio, ratio_min, heights = PLANNING[p.land_use]
            if ratio is not None:
                rec.plot_ratio_max = round(rs.uniform(*ratio), 1)
                rec.plot_ratio_min = ratio_min
                rec.height_limit_m = float(rs.pick(heights))
            if p.status == "available" and p.land_use in PRICE_WAN_PER_MU:
                rec.price_wan = round(
                    p.area / M2_PER_MU * rs.uniform(*PRICE_WAN_PER_MU[p.land_use]), 1
                )
            d.parcels.append(rec)
        for rec, ring in zip(
            self.buildings, to_lonlat_quads(proj, np.array(self.bld_quad)), strict=True
        ):
            rec.ring = ring
        d.buildings = self.buildings
        if self.enterprises:
            lon, lat = proj.lonlat(
                np.array([e.lon for e in self.enterprises]),
                np.array([e.lat for e in self.enterprises]),
            )
            for e, a, b in zip(
                self.enterprises, np.round(lon, 6).tolist(), np.round(lat, 6).tolist(), strict=True
            ):
                e.lon, e.lat = a, b
        d.enterprises = self.enterprises
        d.indicators = self.indicators
        d.grants = self.grants
        if self.poi_rows:
            lon, lat = proj.lonlat(
                np.array([r[2] for r in self.poi_rows]), np.array([r[3] for r in self.poi_rows])
            )
            per_cat: dict[str, int] = {}
            for (cat, name, _x, _y, t, park, addr, extra), a, b in zip(
                self.poi_rows, np.round(lon, 6).tolist(), np.round(lat, 6).tolist(), strict=True
            ):
                per_cat[cat] = per_cat.get(cat, 0) + 1
                d.pois.append(
                    PoiRec(
                        code=f"POI-{POI_PREFIX[cat]}-{per_cat[cat]:06d}",
                        name=name,
                        category=cat,
                        lon=a,
                        lat=b,
                        town=self.grids[t].code,
                        park=self.parks[park].code if park is not None else None,
                        address=addr,
                        extra=extra,
                    )
                )
        d.teams = self.teams


def _pos(v: float, digits: int = 1) -> float:
    """Round a positive figure without ever reaching zero (a blank is unknown, never 0)."""
    return max(round(v, digits), 10.0**-digits)


def _topic(word: str) -> str:
    """An industry word as the topic of an R&D centre: '生物医药研究' → '生物医药'."""
    for suffix in ("研究", "研发", "技术", "科技", "管理"):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            return word[: -len(suffix)]
    return word


def _road_stem(road: str) -> str:
    for suffix in ("公路", "大道", "路", "街"):
        if road.endswith(suffix):
            return road[: -len(suffix)]
    return road


def _date_between(rs: Stream, a: dt.date, b: dt.date) -> dt.date:
    return dt.date.fromordinal(rs.integers(a.toordinal(), max(a.toordinal() + 1, b.toordinal())))
