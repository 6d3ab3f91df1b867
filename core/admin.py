"""Admin for the audit log: read-only, never deleted from the admin."""

from django.contrib import admin

from core.admin_mixins import (
    DistinctValuesFilter,
    ExactSearchMixin,
    ReadOnlyAdminMixin,
    pretty_json,
)
from core.admin_pagination import BigTableAdminMixin
from core.models import AuditLog


class AuditActionFilter(DistinctValuesFilter):
    title = "action"
    parameter_name = "action"
    field_name = "action"


class AuditResourceTypeFilter(DistinctValuesFilter):
    title = "resource type"
    parameter_name = "resource_type"
    field_name = "resource_type"


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, ExactSearchMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "action",
        "actor",
        "resource_type",
        "resource_id",
        "ip_address",
    )
    list_select_related = ("actor",)
    list_filter = (AuditActionFilter, AuditResourceTypeFilter, "created_at")
    search_fields = ("resource_id", "actor__phone_number")
    exact_search_fields = ("resource_id",)
    phone_search_fields = ("actor__phone_number",)
    search_help_text = "Exact resource id, or the actor's phone number (e.g. +14155550123)."
    fields = (
        "created_at",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "changes_pretty",
        "ip_address",
        "user_agent",
    )
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    sortable_by = ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Changes")
    def changes_pretty(self, obj: AuditLog) -> str:
        return pretty_json(obj.changes)
