"""The resource library (SPEC R1–R4): places, buildings, POIs, enterprises, teams.

Every model keeps its change history (django-simple-history) and a version
number for optimistic locking (core.bases.Timestamped).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from investmap.core.bases import Shaped, Timestamped
from investmap.core.models import OrgUnit

from .choices import BuildingType, EnterpriseScale, LandUse, ParcelStatus, PoiCategory


class Town(Timestamped, Shaped):
    """A town or sub-district (街镇), a polygon and a unit of the org tree."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    org_unit = models.OneToOneField(OrgUnit, on_delete=models.PROTECT, related_name="town")
    area_m2 = models.FloatField(_("area (m²)"), default=0)
    history = HistoricalRecords(excluded_fields=["geom_simple"])

    class Meta:
        ordering = ["code"]
        verbose_name = _("town")
        verbose_name_plural = _("towns")

    def __str__(self):
        return self.name


class Park(Timestamped, Shaped):
    """An industrial park (园区) inside a town, with its own org unit."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    town = models.ForeignKey(
        Town, on_delete=models.PROTECT, related_name="parks", verbose_name=_("town")
    )
    org_unit = models.OneToOneField(OrgUnit, on_delete=models.PROTECT, related_name="park")
    area_m2 = models.FloatField(_("area (m²)"), default=0)
    history = HistoricalRecords(excluded_fields=["geom_simple"])

    class Meta:
        ordering = ["code"]
        verbose_name = _("park")
        verbose_name_plural = _("parks")

    def __str__(self):
        return self.name


class Parcel(Timestamped, Shaped):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    town = models.ForeignKey(
        Town, on_delete=models.PROTECT, related_name="parcels", verbose_name=_("town")
    )
    park = models.ForeignKey(
        Park,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="parcels",
        verbose_name=_("park"),
    )
    land_use = models.CharField(
        _("planned land use"), max_length=4, choices=LandUse.choices, db_index=True
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ParcelStatus.choices, db_index=True
    )
    area_m2 = models.FloatField(_("area (m²)"), default=0)
    area_mu = models.FloatField(_("area (mu)"), default=0, db_index=True)
    plot_ratio_max = models.FloatField(_("max plot ratio"), null=True, blank=True)
    plot_ratio_min = models.FloatField(_("min plot ratio"), null=True, blank=True)
    height_limit_m = models.FloatField(_("height limit (m)"), null=True, blank=True)
    price_wan = models.FloatField(_("price (10k yuan)"), null=True, blank=True)
    owner = models.CharField(_("land owner"), max_length=200, blank=True)
    enterprise = models.ForeignKey(
        "Enterprise",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="parcels",
        verbose_name=_("occupying enterprise"),
    )
    # Standard-land (标准地) control indicators (seed 003); blank = not set.
    min_investment_wan_per_mu = models.FloatField(
        _("min investment intensity (10k yuan/mu)"), null=True, blank=True
    )
    min_tax_wan_per_mu = models.FloatField(_("min tax per mu (10k yuan/mu)"), null=True, blank=True)
    max_energy_tce_per_wan = models.FloatField(
        _("max energy per 10k yuan value added (tce)"), null=True, blank=True
    )
    history = HistoricalRecords(excluded_fields=["geom_simple"])

    class Meta:
        ordering = ["code"]
        verbose_name = _("parcel")
        verbose_name_plural = _("parcels")
        indexes = [
            models.Index(fields=["min_lon", "max_lon", "min_lat", "max_lat"], name="parcel_bbox")
        ]

    def __str__(self):
        return self.code


class Building(Timestamped, Shaped):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    town = models.ForeignKey(
        Town, on_delete=models.PROTECT, related_name="buildings", verbose_name=_("town")
    )
    park = models.ForeignKey(
        Park,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="buildings",
        verbose_name=_("park"),
    )
    parcel = models.ForeignKey(
        Parcel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="buildings",
        verbose_name=_("parcel"),
    )
    building_type = models.CharField(
        _("building type"), max_length=16, choices=BuildingType.choices, db_index=True
    )
    floors = models.PositiveIntegerField(_("floors"), null=True, blank=True)
    height_m = models.FloatField(_("height (m)"), null=True, blank=True)
    total_floor_m2 = models.FloatField(_("total floor area (m²)"), null=True, blank=True)
    vacant_floor_m2 = models.FloatField(_("vacant floor area (m²)"), null=True, blank=True)
    rent_yuan_m2_day = models.FloatField(_("rent (yuan/m²/day)"), null=True, blank=True)
    floor_load_kn_m2 = models.FloatField(_("floor load (kN/m²)"), null=True, blank=True)
    clear_height_m = models.FloatField(_("clear height (m)"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["geom_simple"])

    class Meta:
        ordering = ["code"]
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        indexes = [
            models.Index(fields=["min_lon", "max_lon", "min_lat", "max_lat"], name="building_bbox")
        ]

    def __str__(self):
        return self.name or self.code


class Poi(Timestamped):
    """A public-service or innovation resource (SPEC R2), a point."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(
        _("category"), max_length=32, choices=PoiCategory.choices, db_index=True
    )
    town = models.ForeignKey(
        Town,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pois",
        verbose_name=_("town"),
    )
    park = models.ForeignKey(
        Park,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pois",
        verbose_name=_("park"),
    )
    lon = models.FloatField(_("longitude"))
    lat = models.FloatField(_("latitude"))
    address = models.CharField(_("address"), max_length=200, blank=True)
    # Free attributes, e.g. {"line": "轨道交通11号线", "seq": 3} for metro stations.
    extra = models.JSONField(_("attributes"), default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("POI")
        verbose_name_plural = _("POIs")
        indexes = [models.Index(fields=["lon", "lat"], name="poi_lonlat")]

    def __str__(self):
        return self.name


class Enterprise(Timestamped):
    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=200, db_index=True)
    industry_code = models.CharField(_("industry code (GB/T 4754)"), max_length=5, db_index=True)
    scale = models.CharField(
        _("scale"), max_length=8, choices=EnterpriseScale.choices, db_index=True
    )
    founded_on = models.DateField(_("founded on"), null=True, blank=True)
    town = models.ForeignKey(
        Town, on_delete=models.PROTECT, related_name="enterprises", verbose_name=_("town")
    )
    park = models.ForeignKey(
        Park,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="enterprises",
        verbose_name=_("park"),
    )
    parcel = models.ForeignKey(
        Parcel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="located_enterprises",
        verbose_name=_("parcel"),
    )
    building = models.ForeignKey(
        Building,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enterprises",
        verbose_name=_("building"),
    )
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    certifications = models.JSONField(_("certifications"), default=list, blank=True)
    # Sensitive: masked outside the viewer's scope (core.scope).
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    contact_email = models.CharField(_("contact e-mail"), max_length=100, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["credit_code"]
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        indexes = [models.Index(fields=["lon", "lat"], name="enterprise_lonlat")]

    def __str__(self):
        return self.name

    @property
    def owning_org_ids(self) -> tuple:
        return (
            self.town.org_unit_id if self.town_id else None,
            self.park.org_unit_id if self.park_id else None,
        )


class IndicatorYear(Timestamped):
    """One enterprise's figures for one year. A blank is unknown, never zero."""

    enterprise = models.ForeignKey(
        Enterprise,
        on_delete=models.CASCADE,
        related_name="indicators",
        verbose_name=_("enterprise"),
    )
    year = models.PositiveSmallIntegerField(_("year"), db_index=True)
    revenue_wan = models.FloatField(_("revenue (10k yuan)"), null=True, blank=True)
    output_wan = models.FloatField(_("industrial output (10k yuan)"), null=True, blank=True)
    value_added_wan = models.FloatField(_("value added (10k yuan)"), null=True, blank=True)
    tax_wan = models.FloatField(_("tax (10k yuan)"), null=True, blank=True)  # sensitive
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    rd_spend_wan = models.FloatField(_("R&D spend (10k yuan)"), null=True, blank=True)
    energy_tce = models.FloatField(_("energy use (tce)"), null=True, blank=True)
    electricity_kwh = models.FloatField(_("electricity (kWh)"), null=True, blank=True)
    emissions_t = models.FloatField(_("emissions (t)"), null=True, blank=True)
    land_area_mu = models.FloatField(_("land area (mu)"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["enterprise_id", "year"]
        verbose_name = _("yearly indicators")
        verbose_name_plural = _("yearly indicators")
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "year"], name="indicator_enterprise_year")
        ]


class LandGrant(Timestamped):
    """A land-use right grant (出让) of a parcel to an enterprise."""

    parcel = models.ForeignKey(
        Parcel, on_delete=models.CASCADE, related_name="grants", verbose_name=_("parcel")
    )
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.PROTECT, related_name="grants", verbose_name=_("enterprise")
    )
    contract_start_on = models.DateField(_("contracted start date"))
    contract_price_wan = models.FloatField(_("contract price (10k yuan)"), null=True, blank=True)
    started_on = models.DateField(_("construction started on"), null=True, blank=True)
    built_ratio = models.FloatField(_("share built"), null=True, blank=True)
    invested_ratio = models.FloatField(_("share invested"), null=True, blank=True)
    halted_since = models.DateField(_("halted since"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["parcel_id", "contract_start_on"]
        verbose_name = _("land grant")
        verbose_name_plural = _("land grants")
        constraints = [
            models.UniqueConstraint(fields=["parcel", "enterprise"], name="grant_parcel_enterprise")
        ]


class Team(Timestamped):
    """An investment-promotion team (招商队伍) of a town, park, SOE or the bureau."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    org_unit = models.OneToOneField(OrgUnit, on_delete=models.PROTECT, related_name="team")
    speciality = models.CharField(_("speciality"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name

    @property
    def parent_unit(self):
        return self.org_unit.parent


class TeamMember(Timestamped):
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="members", verbose_name=_("team")
    )
    name = models.CharField(_("name"), max_length=50)
    title = models.CharField(_("position"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)  # sensitive
    speciality = models.CharField(_("speciality"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["team_id", "name"]
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="member_team_name")]
