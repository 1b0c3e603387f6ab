"""One filter spec per list (ARCHITECTURE.md example 6).

The same FilterSet filters the page table, the map layer, the API list and the
Excel/GeoJSON export. Multi-valued parameters accept repeats or commas:
`?status=idle&status=available` or `?status=idle,available`.
"""

import django_filters as df
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import BuildingType, EnterpriseScale, LandUse, ParcelStatus, PoiCategory
from .models import Building, Enterprise, LandGrant, Parcel, Poi, Team


class MultiValueWidget(forms.TextInput):
    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values in (None, "", []):
            return []
        if isinstance(values, str):
            values = [values]
        return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


class MultiValueField(forms.Field):
    widget = MultiValueWidget

    def __init__(self, *args, allowed=None, **kwargs):
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        return list(value or [])

    def validate(self, value):
        super().validate(value)
        if self.allowed is not None:
            allowed = [v for v, _label in self.allowed]
            bad = [v for v in value if v not in allowed]
            if bad:
                raise forms.ValidationError(
                    _("%(bad)s: not accepted; accepted values: %(ok)s"),
                    params={"bad": ", ".join(bad), "ok": ", ".join(allowed)},
                )


class MultiValueFilter(df.Filter):
    """`field__in` over several values; `allowed` (choices) validates them."""

    field_class = MultiValueField

    def __init__(self, *args, allowed=None, **kwargs):
        kwargs.setdefault("lookup_expr", "in")
        super().__init__(*args, **kwargs)
        self.extra["allowed"] = allowed

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": value})


def _text_search(fields):
    def method(qs, name, value):
        value = (value or "").strip()
        if not value:
            return qs
        cond = Q()
        for f in fields:
            cond |= Q(**{f"{f}__icontains": value})
        return qs.filter(cond)

    return method


class PlaceFilter(df.FilterSet):
    """Town / park filters shared by every located resource."""

    town = MultiValueFilter(field_name="town__code", label=_("Town"))
    park = MultiValueFilter(field_name="park__code", label=_("Park"))


class ParcelFilter(PlaceFilter):
    q = df.CharFilter(method=_text_search(["code", "name", "owner"]), label=_("Search"))
    land_use = MultiValueFilter(allowed=LandUse.choices, label=_("Planned land use"))
    status = MultiValueFilter(allowed=ParcelStatus.choices, label=_("Status"))
    area_mu_min = df.NumberFilter(field_name="area_mu", lookup_expr="gte", label=_("Min area (mu)"))
    area_mu_max = df.NumberFilter(field_name="area_mu", lookup_expr="lte", label=_("Max area (mu)"))
    price_max = df.NumberFilter(
        field_name="price_wan", lookup_expr="lte", label=_("Max price (10k yuan)")
    )
    enterprise = df.CharFilter(
        field_name="enterprise__credit_code", label=_("Enterprise credit code")
    )

    class Meta:
        model = Parcel
        fields = []


class BuildingFilter(PlaceFilter):
    q = df.CharFilter(method=_text_search(["code", "name"]), label=_("Search"))
    building_type = MultiValueFilter(allowed=BuildingType.choices, label=_("Building type"))
    vacant_min = df.NumberFilter(
        field_name="vacant_floor_m2", lookup_expr="gte", label=_("Min vacant floor area (m²)")
    )
    floor_load_min = df.NumberFilter(
        field_name="floor_load_kn_m2", lookup_expr="gte", label=_("Min floor load (kN/m²)")
    )
    clear_height_min = df.NumberFilter(
        field_name="clear_height_m", lookup_expr="gte", label=_("Min clear height (m)")
    )
    rent_max = df.NumberFilter(
        field_name="rent_yuan_m2_day", lookup_expr="lte", label=_("Max rent (yuan/m²/day)")
    )

    class Meta:
        model = Building
        fields = []


class PoiFilter(PlaceFilter):
    q = df.CharFilter(method=_text_search(["code", "name", "address"]), label=_("Search"))
    category = MultiValueFilter(allowed=PoiCategory.choices, label=_("Category"))

    class Meta:
        model = Poi
        fields = []


class EnterpriseFilter(PlaceFilter):
    q = df.CharFilter(method=_text_search(["credit_code", "name", "address"]), label=_("Search"))
    scale = MultiValueFilter(allowed=EnterpriseScale.choices, label=_("Scale"))
    industry = df.CharFilter(method="filter_industry", label=_("Industry code (prefix)"))
    certification = df.CharFilter(method="filter_certification", label=_("Certification"))
    founded_from = df.DateFilter(
        field_name="founded_on", lookup_expr="gte", label=_("Founded from")
    )
    founded_to = df.DateFilter(field_name="founded_on", lookup_expr="lte", label=_("Founded until"))
    parcel = df.CharFilter(field_name="parcel__code", label=_("Parcel"))

    class Meta:
        model = Enterprise
        fields = []

    def filter_industry(self, qs, name, value):
        codes = [v.strip() for v in (value or "").split(",") if v.strip()]
        cond = Q()
        for c in codes:
            cond |= Q(industry_code__startswith=c)
        return qs.filter(cond) if codes else qs

    def filter_certification(self, qs, name, value):
        for code in [v.strip() for v in (value or "").split(",") if v.strip()]:
            qs = qs.filter(certifications__icontains=f'"{code}"')
        return qs


class TeamFilter(df.FilterSet):
    q = df.CharFilter(
        method=_text_search(["code", "name", "speciality", "members__name"]), label=_("Search")
    )
    unit = MultiValueFilter(field_name="org_unit__parent__code", label=_("Town / park / unit"))

    class Meta:
        model = Team
        fields = []

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).distinct()


class LandGrantFilter(df.FilterSet):
    parcel = df.CharFilter(field_name="parcel__code", label=_("Parcel"))
    enterprise = df.CharFilter(
        field_name="enterprise__credit_code", label=_("Enterprise credit code")
    )
    town = MultiValueFilter(field_name="parcel__town__code", label=_("Town"))

    class Meta:
        model = LandGrant
        fields = []


FILTERS = {
    "parcels": ParcelFilter,
    "buildings": BuildingFilter,
    "pois": PoiFilter,
    "enterprises": EnterpriseFilter,
    "teams": TeamFilter,
    "land-grants": LandGrantFilter,
}
