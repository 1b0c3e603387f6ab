"""The demand document: parsed and checked by hand so every error says what is accepted.

One parser serves the API, the command line and the page form. Errors are
collected per field (`{"field": ["message", …]}`) in the user's language and
raised together as InvalidDemand.
"""

import math
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from investmap.resources.choices import BuildingType, LandUse, ParcelStatus, PoiCategory

DEFAULT_STATUSES = ("available", "idle", "low_efficiency")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100_000
DEFAULT_MAX_PARCELS = 3
MAX_PARCELS = 4
DEFAULT_NEAR_REFERENCE_M = 3000.0
MAX_DISTANCE_M = 100_000.0


class InvalidDemand(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Near:
    category: str
    within_m: float | None  # hard limit (no weight) or the distance where the score reaches 0
    weight: float | None  # None: a hard constraint

    @property
    def hard(self) -> bool:
        return self.weight is None

    @property
    def reference_m(self) -> float:
        return self.within_m or DEFAULT_NEAR_REFERENCE_M

    def as_dict(self) -> dict:
        out = {"category": self.category}
        if self.within_m is not None:
            out["within_m"] = self.within_m
        if self.weight is not None:
            out["weight"] = self.weight
        return out


@dataclass(frozen=True)
class Demand:
    area_mu_min: float | None = None
    area_mu_max: float | None = None
    floor_m2_min: float | None = None
    floor_m2_max: float | None = None
    floor_load_min_kn_m2: float | None = None
    clear_height_min_m: float | None = None
    building_type: tuple[str, ...] = ()
    max_rent_yuan_m2_day: float | None = None
    land_use: tuple[str, ...] = ()
    status: tuple[str, ...] = DEFAULT_STATUSES
    towns: tuple[str, ...] = ()
    parks: tuple[str, ...] = ()
    exclude_towns: tuple[str, ...] = ()
    exclude_parks: tuple[str, ...] = ()
    max_price_wan: float | None = None
    plot_ratio_min: float | None = None
    investment_wan_per_mu: float | None = None
    tax_wan_per_mu: float | None = None
    near: tuple[Near, ...] = ()
    allow_combine: bool = True
    max_parcels: int = DEFAULT_MAX_PARCELS
    adjacency_m: float = 1.0
    limit: int = DEFAULT_LIMIT
    weights: dict = field(default_factory=dict)

    @property
    def wants_land(self) -> bool:
        return self.area_mu_min is not None or self.area_mu_max is not None

    @property
    def wants_floor(self) -> bool:
        return self.floor_m2_min is not None or self.floor_m2_max is not None

    def as_dict(self) -> dict:
        """The normalised document (defaults filled in), as stored with saved lists."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "near":
                value = [n.as_dict() for n in value]
            elif isinstance(value, tuple):
                value = list(value)
            if value is None or value == [] or value == {}:
                continue
            out[name] = value
        return out


NUMBERS = (
    "area_mu_min",
    "area_mu_max",
    "floor_m2_min",
    "floor_m2_max",
    "floor_load_min_kn_m2",
    "clear_height_min_m",
    "max_rent_yuan_m2_day",
    "max_price_wan",
    "plot_ratio_min",
    "investment_wan_per_mu",
    "tax_wan_per_mu",
)
CODE_LISTS = {
    "land_use": LandUse,
    "status": ParcelStatus,
    "building_type": BuildingType,
}
PLACE_LISTS = ("towns", "parks", "exclude_towns", "exclude_parks")
KNOWN = (
    *NUMBERS,
    *CODE_LISTS,
    *PLACE_LISTS,
    "near",
    "allow_combine",
    "max_parcels",
    "adjacency_m",
    "limit",
    "weights",
)


def default_weights() -> dict[str, float]:
    base = {"area": 1.0, "price": 0.5, "near": 1.0, "combine_penalty": 0.1}
    base.update(getattr(settings, "INVESTMAP_MATCH_WEIGHTS", {}) or {})
    return base


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return None
        return None
    return float(value)


def parse(data, *, place_codes: dict[str, set[str]] | None = None) -> Demand:
    """A Demand from a JSON-like dict; raises InvalidDemand naming every problem.

    `place_codes` ({"towns": {...}, "parks": {...}}) checks the place lists
    against the district's codes when given.
    """
    errors: dict[str, list[str]] = {}

    def err(name, message):
        errors.setdefault(name, []).append(message)

    if not isinstance(data, dict):
        raise InvalidDemand({"__all__": [_("the demand must be a JSON object")]})
    for name in sorted(set(data) - set(KNOWN)):
        err(name, _("unknown field; accepted fields: %(ok)s") % {"ok": ", ".join(KNOWN)})
    out = {}
    for name in NUMBERS:
        if data.get(name) in (None, ""):
            continue
        value = _number(data[name])
        if value is None:
            err(name, _("'%(v)s' is not a number") % {"v": data[name]})
        elif value < 0 or value != value or value == float("inf"):
            err(name, _("must be zero or more (got %(v)s)") % {"v": data[name]})
        else:
            out[name] = value
    for lo, hi, unit in (
        ("area_mu_min", "area_mu_max", _("mu")),
        ("floor_m2_min", "floor_m2_max", "m²"),
    ):
        if lo in out and hi in out and out[lo] > out[hi]:
            err(
                lo,
                _("the minimum %(lo)s %(unit)s is larger than the maximum %(hi)s %(unit)s")
                % {"lo": out[lo], "hi": out[hi], "unit": unit},
            )
        if hi in out and out[hi] == 0:
            err(hi, _("the maximum must be more than zero"))
    if not any(
        k in out for k in ("area_mu_min", "area_mu_max", "floor_m2_min", "floor_m2_max")
    ) and not (set(("area_mu_min", "area_mu_max", "floor_m2_min", "floor_m2_max")) & set(errors)):
        err(
            "__all__",
            _(
                "say how much space is needed: a land area range (area_mu_min / area_mu_max, mu) "
                "or a floor-area range (floor_m2_min / floor_m2_max, m²)"
            ),
        )
    for name, enum in CODE_LISTS.items():
        if name not in data or data[name] in (None, ""):
            continue
        values = _list(data[name])
        if values is None:
            err(name, _("must be a list of codes"))
            continue
        bad = [v for v in values if v not in enum.values]
        if bad:
            err(
                name,
                _("unknown code(s) %(bad)s; accepted: %(ok)s")
                % {"bad": ", ".join(map(str, bad)), "ok": ", ".join(enum.values)},
            )
        elif name == "status" and not values:
            err(
                name,
                _("name at least one status; accepted: %(ok)s") % {"ok": ", ".join(enum.values)},
            )
        else:
            out[name] = tuple(dict.fromkeys(values))
    for name in PLACE_LISTS:
        if name not in data or data[name] in (None, ""):
            continue
        values = _list(data[name])
        if values is None:
            err(name, _("must be a list of codes"))
            continue
        known = (place_codes or {}).get("parks" if name.endswith("parks") else "towns")
        bad = [
            v for v in values if known is not None and (not isinstance(v, str) or v not in known)
        ]
        if bad:
            err(
                name,
                _("unknown code(s) %(bad)s; accepted: %(ok)s")
                % {"bad": ", ".join(map(str, bad)), "ok": ", ".join(sorted(known))},
            )
        else:
            out[name] = tuple(dict.fromkeys(map(str, values)))
    near = data.get("near")
    if near not in (None, ""):
        parsed = _near(near, err)
        if parsed is not None:
            out["near"] = parsed
    if "allow_combine" in data:
        if not isinstance(data["allow_combine"], bool):
            err("allow_combine", _("must be true or false"))
        else:
            out["allow_combine"] = data["allow_combine"]
    for name, lo, hi in (
        ("max_parcels", 2, MAX_PARCELS),
        ("limit", 1, MAX_LIMIT),
    ):
        if data.get(name) in (None, ""):
            continue
        value = data[name]
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            err(name, _("must be a whole number from %(lo)s to %(hi)s") % {"lo": lo, "hi": hi})
        else:
            out[name] = value
    if data.get("adjacency_m") not in (None, ""):
        value = _number(data["adjacency_m"])
        limit = float(getattr(settings, "INVESTMAP_MATCH_ADJACENCY_M", 1.0))
        if value is None or not 0 <= value <= limit:
            err(
                "adjacency_m",
                _(
                    "must be a number from 0 to %(max)s metres (the adjacency the district is built with)"
                )
                % {"max": limit},
            )
        else:
            out["adjacency_m"] = value
    if data.get("weights") not in (None, ""):
        weights = data["weights"]
        ok = default_weights()
        if not isinstance(weights, dict):
            err("weights", _("must be an object; accepted keys: %(ok)s") % {"ok": ", ".join(ok)})
        else:
            clean = {}
            for key, value in weights.items():
                number = _number(value)
                if key not in ok:
                    err(
                        "weights",
                        _("unknown weight '%(k)s'; accepted: %(ok)s")
                        % {"k": key, "ok": ", ".join(ok)},
                    )
                elif (
                    number is None
                    or not math.isfinite(number)
                    or number < 0
                    or (key == "combine_penalty" and number >= 1)
                ):
                    message = (
                        _("'%(k)s' must be a number from 0 to less than 1")
                        if key == "combine_penalty"
                        else _("'%(k)s' must be a number of zero or more")
                    )
                    err("weights", message % {"k": key})
                else:
                    clean[key] = number
            out["weights"] = clean
    if errors:
        raise InvalidDemand(errors)
    return Demand(**out)


def _list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def _near(items, err) -> tuple[Near, ...] | None:
    if not isinstance(items, list):
        err("near", _('must be a list like [{"category": "metro_station", "within_m": 3000}]'))
        return None
    out = []
    seen = set()
    accepted = ", ".join(PoiCategory.values)
    for i, item in enumerate(items):
        where = f"near[{i}]"
        if not isinstance(item, dict):
            err(where, _('must be an object like {"category": "metro_station", "within_m": 3000}'))
            continue
        extra = sorted(set(item) - {"category", "within_m", "weight"})
        if extra:
            err(
                where,
                _("unknown key(s) %(bad)s; accepted: category, within_m, weight")
                % {"bad": ", ".join(extra)},
            )
        cat = item.get("category")
        if cat not in PoiCategory.values:
            err(where, _("unknown category '%(c)s'; accepted: %(ok)s") % {"c": cat, "ok": accepted})
            continue
        within = item.get("within_m")
        weight = item.get("weight")
        if within is not None:
            within = _number(within)
            if within is None or not 0 < within <= MAX_DISTANCE_M:
                err(
                    where,
                    _("within_m must be more than 0 and at most %(max)s metres")
                    % {"max": int(MAX_DISTANCE_M)},
                )
                continue
        if weight is not None:
            weight = _number(weight)
            if weight is None or not math.isfinite(weight) or weight <= 0:
                err(where, _("weight must be a number more than 0"))
                continue
        if within is None and weight is None:
            err(
                where, _("give within_m (a hard limit in metres) or weight (a preference), or both")
            )
            continue
        if (cat, weight is None) in seen:
            err(where, _("category '%(c)s' is named twice") % {"c": cat})
            continue
        seen.add((cat, weight is None))
        out.append(Near(cat, within, weight))
    return tuple(out)
