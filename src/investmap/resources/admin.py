"""Admin for the resource library: every record with its change history (simple-history)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from investmap.core.scope import request_scope

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


class ScopedAdmin(SimpleHistoryAdmin):
    """The admin shows records unmasked, so only users who see every sensitive
    field anyway (district-wide business roles) may open it; the separated
    admin roles and officers cannot, whatever their Django permissions."""

    def has_module_permission(self, request):
        return request_scope(request).sees_all_sensitive and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request_scope(request).sees_all_sensitive and super().has_view_permission(
            request, obj
        )

    def has_change_permission(self, request, obj=None):
        return request_scope(request).sees_all_sensitive and super().has_change_permission(
            request, obj
        )

    def has_add_permission(self, request, *args):
        return request_scope(request).sees_all_sensitive and super().has_add_permission(
            request, *args
        )

    def has_delete_permission(self, request, obj=None):
        return request_scope(request).sees_all_sensitive and super().has_delete_permission(
            request, obj
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
class AreaAdmin(ScopedAdmin):
    list_display = ("code", "name", "area_m2", "version", "updated_at")
    search_fields = ("code", "name")
    readonly_fields = READONLY_SHAPE + ("area_m2", "version")


@admin.register(Parcel)
class ParcelAdmin(ScopedAdmin):
    list_display = ("code", "name", "town", "park", "land_use", "status", "area_mu", "version")
    list_filter = ("status", "land_use", "town")
    search_fields = ("code", "name", "owner")
    raw_id_fields = ("enterprise",)
    readonly_fields = READONLY_SHAPE + ("area_m2", "area_mu", "version")


@admin.register(Building)
class BuildingAdmin(ScopedAdmin):
    list_display = ("code", "name", "town", "building_type", "floors", "vacant_floor_m2", "version")
    list_filter = ("building_type", "town")
    search_fields = ("code", "name")
    raw_id_fields = ("parcel",)
    readonly_fields = READONLY_SHAPE + ("version",)


@admin.register(Poi)
class PoiAdmin(ScopedAdmin):
    list_display = ("code", "name", "category", "town", "version")
    list_filter = ("category", "town")
    search_fields = ("code", "name", "address")


@admin.register(Enterprise)
class EnterpriseAdmin(ScopedAdmin):
    list_display = ("credit_code", "name", "industry_code", "scale", "town", "version")
    list_filter = ("scale", "town")
    search_fields = ("credit_code", "name")
    raw_id_fields = ("parcel", "building")


@admin.register(IndicatorYear)
class IndicatorYearAdmin(ScopedAdmin):
    list_display = ("enterprise", "year", "revenue_wan", "output_wan", "tax_wan", "employees")
    list_filter = ("year",)
    search_fields = ("enterprise__credit_code", "enterprise__name")
    raw_id_fields = ("enterprise",)


@admin.register(LandGrant)
class LandGrantAdmin(ScopedAdmin):
    list_display = ("parcel", "enterprise", "contract_start_on", "started_on", "built_ratio")
    raw_id_fields = ("parcel", "enterprise")


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0


@admin.register(Team)
class TeamAdmin(ScopedAdmin):
    list_display = ("code", "name", "org_unit", "speciality")
    search_fields = ("code", "name")
    inlines = [TeamMemberInline]
