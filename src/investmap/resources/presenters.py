"""How each resource is shown: columns, labels, masking — shared by table, API and export.

`rows(kind, objects, scope)` gives plain dicts; sensitive values are masked
here, once, so pages, the API and exports cannot disagree (SPEC X1).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from investmap.core.scope import Scope, mask_text

from .choices import (
    BuildingType,
    Certification,
    EnterpriseScale,
    LandUse,
    ParcelStatus,
    PoiCategory,
)
from .models import Building, Enterprise, IndicatorYear, LandGrant, Parcel, Poi, Team


@dataclass(frozen=True)
class Column:
    key: str
    label: Any
    get: Callable[[Any], Any]
    sensitive: bool = False
    choices: Any = None  # a ColoredChoices enum: value shown with label and colour


def _code(attr):
    def get(o):
        rel = getattr(o, attr)
        return rel.code if rel is not None else None

    return get


def _name(attr):
    def get(o):
        rel = getattr(o, attr)
        return rel.name if rel is not None else None

    return get


def _attr(name):
    return lambda o: getattr(o, name)


def _latest(o):
    inds = getattr(o, "latest_indicators", None)
    if inds is None:
        inds = list(o.indicators.order_by("-year")[:1])
    return inds[0] if inds else None


def _latest_value(field):
    def get(o):
        ind = _latest(o)
        return getattr(ind, field) if ind else None

    return get


COLUMNS: dict[str, list[Column]] = {
    "parcels": [
        Column("code", _("Code"), _attr("code")),
        Column("name", _("Name"), _attr("name")),
        Column("town", _("Town"), _code("town")),
        Column("town_name", _("Town name"), _name("town")),
        Column("park", _("Park"), _code("park")),
        Column("land_use", _("Planned land use"), _attr("land_use"), choices=LandUse),
        Column("status", _("Status"), _attr("status"), choices=ParcelStatus),
        Column("area_m2", _("Area (m²)"), lambda o: round(o.area_m2, 1)),
        Column("area_mu", _("Area (mu)"), lambda o: round(o.area_mu, 2)),
        Column("plot_ratio_max", _("Max plot ratio"), _attr("plot_ratio_max")),
        Column("height_limit_m", _("Height limit (m)"), _attr("height_limit_m")),
        Column("price_wan", _("Price (10k yuan)"), _attr("price_wan")),
        Column("owner", _("Land owner"), _attr("owner")),
        Column(
            "enterprise",
            _("Occupying enterprise"),
            lambda o: o.enterprise.credit_code if o.enterprise_id else None,
        ),
        Column(
            "enterprise_name",
            _("Enterprise name"),
            lambda o: o.enterprise.name if o.enterprise_id else None,
        ),
    ],
    "buildings": [
        Column("code", _("Code"), _attr("code")),
        Column("name", _("Name"), _attr("name")),
        Column("town", _("Town"), _code("town")),
        Column("park", _("Park"), _code("park")),
        Column("parcel", _("Parcel"), _code("parcel")),
        Column("building_type", _("Building type"), _attr("building_type"), choices=BuildingType),
        Column("floors", _("Floors"), _attr("floors")),
        Column("height_m", _("Height (m)"), _attr("height_m")),
        Column("total_floor_m2", _("Total floor area (m²)"), _attr("total_floor_m2")),
        Column("vacant_floor_m2", _("Vacant floor area (m²)"), _attr("vacant_floor_m2")),
        Column("rent_yuan_m2_day", _("Rent (yuan/m²/day)"), _attr("rent_yuan_m2_day")),
        Column("floor_load_kn_m2", _("Floor load (kN/m²)"), _attr("floor_load_kn_m2")),
        Column("clear_height_m", _("Clear height (m)"), _attr("clear_height_m")),
    ],
    "pois": [
        Column("code", _("Code"), _attr("code")),
        Column("name", _("Name"), _attr("name")),
        Column("category", _("Category"), _attr("category"), choices=PoiCategory),
        Column("town", _("Town"), _code("town")),
        Column("park", _("Park"), _code("park")),
        Column("address", _("Address"), _attr("address")),
        Column("lon", _("Longitude"), _attr("lon")),
        Column("lat", _("Latitude"), _attr("lat")),
    ],
    "enterprises": [
        Column("credit_code", _("Credit code"), _attr("credit_code")),
        Column("name", _("Name"), _attr("name")),
        Column("industry_code", _("Industry code"), _attr("industry_code")),
        Column("scale", _("Scale"), _attr("scale"), choices=EnterpriseScale),
        Column(
            "founded_on",
            _("Founded on"),
            lambda o: o.founded_on.isoformat() if o.founded_on else None,
        ),
        Column("town", _("Town"), _code("town")),
        Column("park", _("Park"), _code("park")),
        Column("parcel", _("Parcel"), _code("parcel")),
        Column("building", _("Building"), _code("building")),
        Column("certifications", _("Certifications"), lambda o: list(o.certifications or [])),
        Column("latest_year", _("Latest year"), _latest_value("year")),
        Column("output_wan", _("Output (10k yuan)"), _latest_value("output_wan")),
        Column("revenue_wan", _("Revenue (10k yuan)"), _latest_value("revenue_wan")),
        Column("tax_wan", _("Tax (10k yuan)"), _latest_value("tax_wan"), sensitive=True),
        Column("employees", _("Employees"), _latest_value("employees")),
        Column("contact_name", _("Contact person"), _attr("contact_name"), sensitive=True),
        Column("contact_phone", _("Contact phone"), _attr("contact_phone"), sensitive=True),
        Column("contact_email", _("Contact e-mail"), _attr("contact_email"), sensitive=True),
    ],
    "teams": [
        Column("code", _("Code"), _attr("code")),
        Column("name", _("Name"), _attr("name")),
        Column(
            "unit", _("Unit"), lambda o: o.org_unit.parent.code if o.org_unit.parent_id else None
        ),
        Column(
            "unit_name",
            _("Unit name"),
            lambda o: o.org_unit.parent.name if o.org_unit.parent_id else None,
        ),
        Column("speciality", _("Speciality"), _attr("speciality")),
        Column("members", _("Members"), lambda o: len(o.members.all())),
    ],
    "land-grants": [
        Column("parcel", _("Parcel"), _code("parcel")),
        Column("enterprise", _("Enterprise"), lambda o: o.enterprise.credit_code),
        Column("enterprise_name", _("Enterprise name"), lambda o: o.enterprise.name),
        Column(
            "contract_start_on", _("Contracted start"), lambda o: o.contract_start_on.isoformat()
        ),
        Column("contract_price_wan", _("Contract price (10k yuan)"), _attr("contract_price_wan")),
        Column(
            "started_on",
            _("Started on"),
            lambda o: o.started_on.isoformat() if o.started_on else None,
        ),
        Column("built_ratio", _("Share built"), _attr("built_ratio")),
        Column("invested_ratio", _("Share invested"), _attr("invested_ratio")),
        Column(
            "halted_since",
            _("Halted since"),
            lambda o: o.halted_since.isoformat() if o.halted_since else None,
        ),
    ],
}


def optimized(kind: str, qs):
    """The queryset with the joins its columns need (no N+1 in tables or exports)."""
    if kind == "parcels":
        return qs.select_related("town", "park", "enterprise")
    if kind == "buildings":
        return qs.select_related("town", "park", "parcel")
    if kind == "pois":
        return qs.select_related("town", "park")
    if kind == "enterprises":
        return qs.select_related("town", "park", "parcel", "building").prefetch_related(
            Prefetch(
                "indicators",
                queryset=IndicatorYear.objects.order_by("-year"),
                to_attr="all_indicators",
            )
        )
    if kind == "teams":
        return qs.select_related("org_unit__parent").prefetch_related("members")
    if kind == "land-grants":
        return qs.select_related("parcel", "enterprise")
    raise KeyError(kind)


def owning_org_ids(kind: str, obj) -> tuple:
    """Org units a record belongs to, for the sensitive-field check."""
    if kind == "enterprises":
        return obj.owning_org_ids
    if kind == "teams":
        return (obj.org_unit_id, obj.org_unit.parent_id)
    town = getattr(obj, "town", None)
    park = getattr(obj, "park", None)
    return (town.org_unit_id if town else None, park.org_unit_id if park else None)


def masked_value(column: Column, value):
    if value in (None, ""):
        return value
    if (
        column.key.endswith("_phone")
        or column.key.endswith("_name")
        or column.key.endswith("_email")
    ):
        return mask_text(value)
    return None  # figures (tax) are withheld, not disguised


def row(kind: str, obj, scope: Scope) -> dict:
    if kind == "enterprises" and hasattr(obj, "all_indicators"):
        obj.latest_indicators = obj.all_indicators[:1]
    visible = scope.sensitive_visible(*owning_org_ids(kind, obj))
    out = {}
    for c in COLUMNS[kind]:
        v = c.get(obj)
        if c.sensitive and not visible:
            v = masked_value(c, v)
        out[c.key] = v
    if any(c.sensitive for c in COLUMNS[kind]):
        out["masked"] = not visible
    return out


def rows(kind: str, objects, scope: Scope) -> list[dict]:
    return [row(kind, o, scope) for o in objects]


def display(column: Column, value) -> str:
    """A cell as text for tables and Excel: choice labels, lists joined, blanks empty."""
    if value is None:
        return ""
    if column.choices is not None:
        try:
            return str(column.choices(value).label)
        except ValueError:
            return str(value)
    if column.key == "certifications":
        labels = []
        for v in value:
            try:
                labels.append(str(Certification(v).label))
            except ValueError:
                labels.append(v)
        return "、".join(labels)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


KIND_MODELS = {
    "parcels": Parcel,
    "buildings": Building,
    "pois": Poi,
    "enterprises": Enterprise,
    "teams": Team,
    "land-grants": LandGrant,
}
