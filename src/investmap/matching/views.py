"""The site-matching page: a demand form, the ranked candidate sites and a map.

The view is thin: it renders the form's choices (from the enums), the places,
the saved candidate lists and the demand to start with; the page script
(static/js/matching.js) builds the demand document and sends it to the same
REST endpoints other systems use (/api/v1/match/sites, its exports, the
surroundings and the candidate lists), so the page and the API cannot differ.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import render
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from investmap.core.scope import request_scope
from investmap.core.views import resource_access_required
from investmap.resources import services as resource_services
from investmap.resources.choices import BuildingType, LandUse, ParcelStatus, PoiCategory
from investmap.resources.services import NotFound
from investmap.resources.views import js_config

from . import services
from .demand import DEFAULT_LIMIT, DEFAULT_MAX_PARCELS, DEFAULT_STATUSES, MAX_PARCELS

# What the form holds when the page opens: 30–60 mu of class-1 or class-2
# industrial land within 3 km of a metro station, combinations allowed.
DEFAULT_DEMAND = {
    "area_mu_min": 30,
    "area_mu_max": 60,
    "land_use": ["M1", "M2"],
    "status": list(DEFAULT_STATUSES),
    "near": [{"category": "metro_station", "within_m": 3000}],
    "allow_combine": True,
    "max_parcels": DEFAULT_MAX_PARCELS,
    "limit": DEFAULT_LIMIT,
}

# How a result is drawn and labelled, by kind (the list, the map and its legend).
KINDS = {
    "parcel": {"label": _("Parcel"), "color": "#1d5fb4"},
    "combination": {"label": _("Combination"), "color": "#8e24aa"},
    "floor_space": {"label": _("Floor space"), "color": "#00897b"},
}

# Strings the page script shows (translated here, handed over in "im-config").
JS_MSGIDS = [
    gettext_noop("Searching…"),
    gettext_noop("Could not run the match."),
    gettext_noop("The demand is not valid; see the marked fields."),
    gettext_noop("not a number"),
    gettext_noop("%(total)s candidate sites"),
    gettext_noop("showing the first %(n)s"),
    gettext_noop("in %(ms)s ms"),
    gettext_noop(
        "The search for combinations stopped early (too many connected parcels); narrow the demand to see all."
    ),
    gettext_noop(
        "No site meets this demand. Widen the area range, the land uses or the distances."
    ),
    gettext_noop("Fill in the demand and press “Find sites”."),
    gettext_noop("Score"),
    gettext_noop("Area"),
    gettext_noop("Floor area"),
    gettext_noop("Price"),
    gettext_noop("mu"),
    gettext_noop("10k yuan"),
    gettext_noop("m²"),
    gettext_noop("nearest %(what)s"),
    gettext_noop("Why this site"),
    gettext_noop("met"),
    gettext_noop("not met"),
    gettext_noop("added to the score"),
    gettext_noop("Within %(r)s of the site"),
    gettext_noop("Loading the surroundings…"),
    gettext_noop("Could not load the surroundings."),
    gettext_noop("No POIs within %(r)s."),
    gettext_noop("%(n)s POIs"),
    gettext_noop("Open the record"),
    gettext_noop("Could not export."),
    gettext_noop("Could not save the list."),
    gettext_noop("Saved “%(name)s” with %(n)s candidate sites."),
    gettext_noop("Open the saved list"),
    gettext_noop("%(n)s sites"),
    gettext_noop("Load"),
    gettext_noop("Selected"),
    gettext_noop("Search radius"),
    gettext_noop("%(km)s km"),
    gettext_noop("%(m)s m"),
    gettext_noop("Remove"),
    gettext_noop("Must be within"),
    gettext_noop("Preferred"),
]


def _json_param(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _places(scope) -> dict:
    towns = resource_services.places(level="towns", scope=scope)
    parks = resource_services.places(level="parks", scope=scope)
    town_names = {t["code"]: t["name"] for t in towns}
    groups: dict[str, dict] = {}
    for p in parks:
        g = groups.setdefault(
            p.get("town") or "",
            {"label": town_names.get(p.get("town"), p.get("town") or ""), "parks": []},
        )
        g["parks"].append({"code": p["code"], "name": p["name"]})
    return {
        "towns": [{"code": t["code"], "name": t["name"]} for t in towns],
        "park_groups": list(groups.values()),
        "town_names": town_names,
        "park_names": {p["code"]: p["name"] for p in parks},
    }


@resource_access_required
def match_page(request):
    """The matching page. `?demand=<json>` prefills the form and runs it;
    `?list=<id>` does the same with a saved candidate list's demand."""
    scope = request_scope(request)
    places = _places(scope)
    demand, autorun, loaded = DEFAULT_DEMAND, False, None
    if request.GET.get("list"):
        try:
            loaded = services.candidate_list(pk=int(request.GET["list"]), scope=scope)
        except (ValueError, NotFound):
            messages.error(request, gettext("That saved candidate list does not exist."))
        else:
            demand, autorun = loaded["demand"], True
    elif request.GET.get("demand"):
        given = _json_param(request.GET["demand"])
        if given is None:
            messages.error(
                request,
                gettext("The demand in the address is not a JSON object; the default is shown."),
            )
        else:
            demand, autorun = given, True
    saved = services.candidate_lists(scope=scope, limit=20)
    poi_categories = PoiCategory.legend()
    ctx = {
        "land_uses": LandUse.legend(),
        "statuses": ParcelStatus.legend(),
        "building_types": BuildingType.legend(),
        "poi_categories": poi_categories,
        "towns": places["towns"],
        "park_groups": places["park_groups"],
        "max_parcels_choices": list(range(2, MAX_PARCELS + 1)),
        "kinds": [{"value": k, **v} for k, v in KINDS.items()],
        "saved": saved,
        "loaded": loaded,
        "im_config": js_config(
            request,
            demand=demand,
            defaultDemand=DEFAULT_DEMAND,
            autorun=autorun,
            kinds={k: {"label": str(v["label"]), "color": v["color"]} for k, v in KINDS.items()},
            poiCategories={c["value"]: c for c in poi_categories},
            landUses={c["value"]: c for c in LandUse.legend()},
            statuses={c["value"]: c for c in ParcelStatus.legend()},
            buildingTypes={c["value"]: c for c in BuildingType.legend()},
            townNames=places["town_names"],
            parkNames=places["park_names"],
            defaultRadius=services.DEFAULT_RADIUS_M,
        ),
    }
    ctx["im_config"]["strings"].update({m: gettext(m) for m in JS_MSGIDS})
    return render(request, "matching/match.html", ctx)
