"""The generated district as plain records (no database, no Django).

Records refer to each other by code (town code, park code, parcel code, credit
code), exactly as the import files do; `writer.write` turns codes into keys.
Polygons are rings of (lon, lat) pairs, WGS84, closed, counter-clockwise.
"""

import datetime as dt
from dataclasses import dataclass, field

Ring = list[list[float]]  # [[lon, lat], ...], closed


def polygon(ring: Ring) -> dict:
    """The GeoJSON Polygon of a ring."""
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass(slots=True)
class TownRec:
    code: str
    name: str
    ring: Ring


@dataclass(slots=True)
class ParkRec:
    code: str
    name: str
    town: str
    theme: str  # industrial chain key (industries.CHAINS)
    ring: Ring


@dataclass(slots=True)
class ParcelRec:
    code: str
    name: str
    town: str
    park: str | None
    land_use: str
    status: str
    ring: Ring
    area_m2: float  # planar area from the generator; the writer stores the engine's
    plot_ratio_max: float | None = None
    plot_ratio_min: float | None = None
    height_limit_m: float | None = None
    price_wan: float | None = None
    owner: str = ""
    enterprise: str | None = None  # credit code of the occupying enterprise


@dataclass(slots=True)
class BuildingRec:
    code: str
    name: str
    town: str
    park: str | None
    parcel: str
    building_type: str
    ring: Ring
    floors: int
    height_m: float
    total_floor_m2: float
    vacant_floor_m2: float | None
    rent_yuan_m2_day: float | None
    floor_load_kn_m2: float
    clear_height_m: float


@dataclass(slots=True)
class PoiRec:
    code: str
    name: str
    category: str
    lon: float
    lat: float
    town: str
    park: str | None = None
    address: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class EnterpriseRec:
    credit_code: str
    name: str
    industry_code: str
    scale: str
    founded_on: dt.date
    town: str
    park: str | None
    parcel: str | None
    building: str | None
    lon: float
    lat: float
    address: str
    certifications: list[str]
    contact_name: str
    contact_phone: str
    contact_email: str
    chain: str  # industries.CHAINS key, or "operator"/"developer"/"holding"


@dataclass(slots=True)
class IndicatorRec:
    credit_code: str
    year: int
    revenue_wan: float | None = None
    output_wan: float | None = None
    value_added_wan: float | None = None
    tax_wan: float | None = None
    employees: int | None = None
    rd_spend_wan: float | None = None
    energy_tce: float | None = None
    electricity_kwh: float | None = None
    emissions_t: float | None = None
    land_area_mu: float | None = None


INDICATOR_FIELDS = (
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
)


@dataclass(slots=True)
class GrantRec:
    parcel: str
    enterprise: str
    contract_start_on: dt.date
    contract_price_wan: float | None
    started_on: dt.date | None
    built_ratio: float | None
    invested_ratio: float | None
    halted_since: dt.date | None


@dataclass(slots=True)
class MemberRec:
    name: str
    title: str
    phone: str
    speciality: str


@dataclass(slots=True)
class TeamRec:
    code: str
    name: str
    unit: str  # town code, park code or the district code
    speciality: str
    members: list[MemberRec]


@dataclass(slots=True)
class District:
    code: str
    name: str
    seed: int
    scale: str
    division: str  # 6-digit administrative division in credit codes
    as_of: dt.date  # the day the data describes (indicators up to the year before)
    towns: list[TownRec] = field(default_factory=list)
    parks: list[ParkRec] = field(default_factory=list)
    parcels: list[ParcelRec] = field(default_factory=list)
    buildings: list[BuildingRec] = field(default_factory=list)
    pois: list[PoiRec] = field(default_factory=list)
    enterprises: list[EnterpriseRec] = field(default_factory=list)
    indicators: list[IndicatorRec] = field(default_factory=list)
    grants: list[GrantRec] = field(default_factory=list)
    teams: list[TeamRec] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "towns": len(self.towns),
            "parks": len(self.parks),
            "parcels": len(self.parcels),
            "buildings": len(self.buildings),
            "pois": len(self.pois),
            "enterprises": len(self.enterprises),
            "indicators": len(self.indicators),
            "land_grants": len(self.grants),
            "teams": len(self.teams),
            "team_members": sum(len(t.members) for t in self.teams),
        }
