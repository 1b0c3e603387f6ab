"""Admin for the resource library: every record with its change history (simple-history)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    Building,
    Enterprise,
    IndicatorYear,
    LandGrant,
    Parcel,
    Park,
    Poi,
    Team,
    TeamMember,
    Town,
)

READONLY_SHAPE = (
    "geometry",
    "geom_simple",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
    "lon",
    "lat",
)


@admin.register(Town, Park)
class AreaAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "area_m2", "version", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = READONLY_SHAPE + ("area_m2", "version")


@admin.register(Parcel)
class ParcelAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "town", "park", "land_use", "status", "area_mu", "version")
    list_filter = ("status", "land_use", "town")
    search_fields = ("code", "name", "owner")
    raw_id_fields = ("enterprise",)
    readonly_fields = READONLY_SHAPE + ("area_m2", "area_mu", "version")


@admin.register(Building)
class BuildingAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "town", "building_type", "floors", "vacant_floor_m2", "version")
    list_filter = ("building_type", "town")
    search_fields = ("code", "name")
    raw_id_fields = ("parcel",)
    readonly_fields = READONLY_SHAPE + ("version",)


@admin.register(Poi)
class PoiAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "category", "town", "version")
    list_filter = ("category", "town")
    search_fields = ("code", "name", "address")


@admin.register(Enterprise)
class EnterpriseAdmin(SimpleHistoryAdmin):
    list_display = ("credit_code", "name", "industry_code", "scale", "town", "version")
    list_filter = ("scale", "town")
    search_fields = ("credit_code", "name")
    raw_id_fields = ("parcel", "building")


@admin.register(IndicatorYear)
class IndicatorYearAdmin(SimpleHistoryAdmin):
    list_display = ("enterprise", "year", "revenue_wan", "output_wan", "tax_wan", "employees")
    list_filter = ("year",)
    search_fields = ("enterprise__credit_code", "enterprise__name")
    raw_id_fields = ("enterprise",)


@admin.register(LandGrant)
class LandGrantAdmin(SimpleHistoryAdmin):
    list_display = ("parcel", "enterprise", "contract_start_on", "started_on", "built_ratio")
    raw_id_fields = ("parcel", "enterprise")


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0


@admin.register(Team)
class TeamAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "org_unit", "speciality")
    search_fields = ("code", "name")
    inlines = [TeamMemberInline]
