from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiToken, AuditEvent, OrgUnit, User


@admin.register(User)
class InvestMapUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("InvestMap", {"fields": ("role", "org_unit")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("InvestMap", {"fields": ("role", "org_unit")}),)
    list_display = ("username", "first_name", "role", "org_unit", "is_active")
    list_filter = ("role", "is_active")


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "parent")
    list_filter = ("kind",)
    search_fields = ("code", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "digest")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "user", "action", "target")
    list_filter = ("action",)
