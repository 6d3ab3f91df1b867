"""Admin for accounts: users, login codes (no code material), audit log.

Also home of the small admin building blocks the other apps' admins share:
`pretty_json`, `SecretLookupGuardMixin`, `ReadOnlyAdminMixin`, `ExactSearchMixin`,
`DistinctValuesFilter`.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from knox.models import AuthToken

from accounts.models import AuditLog, AuthCode, User
from accounts.phone import normalize_phone_number
from accounts.services import user_tokens_revoke_all
from zapa_site.admin_pagination import BigTableAdminMixin

# ---------------------------------------------------------------------------
# Shared building blocks


def pretty_json(value) -> str:
    """A JSON value as an indented, escaped <pre> block for read-only display."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


def normalised_phone_or_none(text: str) -> str | None:
    try:
        return normalize_phone_number(text)
    except ValidationError:
        return None


class SecretLookupGuardMixin:
    """Refuse changelist lookups whose path touches a secret column.

    Without this, `?code_hash__startswith=ab` in a changelist URL would be an
    oracle for the stored value. A refused lookup makes the admin answer 400.
    """

    secret_fields: frozenset[str] = frozenset()

    def lookup_allowed(self, lookup, value, request=None):
        if not self.secret_fields.isdisjoint(lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)


class ReadOnlyAdminMixin:
    """Rows written by the system: staff can look (and delete, where allowed), never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExactSearchMixin:
    """Search by exact values only, so a search on a big table is an index lookup.

    `exact_search_fields` are compared to the term as typed; `phone_search_fields`
    to the term normalised to E.164 (when it is a phone number). `search_fields`
    is still set on the admin so the search box shows; it is not used to query.
    """

    exact_search_fields: tuple[str, ...] = ()
    phone_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.exact_search_q(term)), False

    def exact_search_q(self, term: str) -> Q:
        condition = Q(pk__in=[])  # matches nothing when no field applies
        for field_path in self.exact_search_fields:
            condition |= Q(**{field_path: term})
        phone = normalised_phone_or_none(term)
        if phone:
            for field_path in self.phone_search_fields:
                condition |= Q(**{field_path: phone})
        return condition


def distinct_values(model, field_name: str, *, limit: int) -> list[str]:
    """The distinct non-null values of a column, smallest first, at most `limit`.

    On PostgreSQL this is a loose index scan (one index probe per distinct
    value) instead of a DISTINCT over the whole table; the column needs a
    B-tree index with it as the leading column.
    """
    manager = model._default_manager
    connection = connections[manager.db]
    if connection.vendor != "postgresql":
        values = (
            manager.exclude(**{f"{field_name}__isnull": True})
            .order_by(field_name)
            .values_list(field_name, flat=True)
            .distinct()[:limit]
        )
        return list(values)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = quote(model._meta.get_field(field_name).column)
    # Only quoted identifiers are interpolated; the limit is a parameter.
    sql = f"""
        WITH RECURSIVE v(value) AS (
            (SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > v.value
                    ORDER BY {column} LIMIT 1)
            FROM v WHERE v.value IS NOT NULL
        )
        SELECT value FROM v WHERE value IS NOT NULL LIMIT %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


class DistinctValuesFilter(admin.SimpleListFilter):
    """Filter a free-text column by the values it actually holds (cheaply, see above).

    Subclass with `title`, `parameter_name` and `field_name`.
    """

    field_name: str
    max_values = 100

    def lookups(self, request, model_admin):
        values = distinct_values(model_admin.model, self.field_name, limit=self.max_values)
        return [(value, value) for value in values if value]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field_name: value})


# ---------------------------------------------------------------------------
# Users


class PhoneNumberFormField(forms.CharField):
    """Any common spelling of a phone number ("+1 (415) 555-0100"), cleaned to E.164."""

    def __init__(self, **kwargs):
        # Typed spellings may be longer than the stored E.164 form.
        kwargs["max_length"] = 32
        super().__init__(**kwargs)

    # The number already stored (a user created from WhatsApp may have one that
    # libphonenumber does not know): accepted unchanged, checked only when edited.
    stored = None

    def clean(self, value):
        value = super().clean(value)
        if value and value == self.stored:
            return value
        return normalize_phone_number(value) if value else value


class UserCreationAdminForm(AdminUserCreationForm):
    """Phone number plus a password for staff; WhatsApp users may have none."""

    class Meta:
        model = User
        fields = ("phone_number", "display_name", "is_staff")
        field_classes = {"phone_number": PhoneNumberFormField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["usable_password"].help_text = (
            "Staff log in to the admin with their phone number and this password. "
            "WhatsApp users log in with a code sent over WhatsApp and need no password: "
            "choose Disabled for them."
        )

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("is_staff") and not cleaned_data.get("set_usable_password"):
            self.add_error(
                "usable_password",
                "Staff members log in to the admin with a password: enable it and set one.",
            )
        return cleaned_data


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"phone_number": PhoneNumberFormField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "phone_number" in self.fields and self.instance.pk:
            self.fields["phone_number"].stored = self.instance.phone_number


@admin.register(User)
class UserAdmin(SecretLookupGuardMixin, BigTableAdminMixin, DjangoUserAdmin):
    secret_fields = frozenset({"password", "code_hash", "api_key_encrypted"})
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("phone_number", "password")}),
        ("Profile", {"fields": ("display_name", "preferences")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Login throttling", {"fields": ("failed_login_attempts", "login_locked_until")}),
        ("API access", {"fields": ("api_tokens",)}),
        (
            "Important dates",
            {"fields": ("first_seen", "last_active", "last_login", "created_at", "updated_at")},
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "phone_number",
                    "display_name",
                    "is_staff",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = (
        "first_seen",
        "last_active",
        "last_login",
        "created_at",
        "updated_at",
        "api_tokens",
    )
    list_display = (
        "phone_number",
        "display_name",
        "is_staff",
        "is_active",
        "first_seen",
        "last_active",
    )
    list_filter = ("is_staff", "is_active")
    search_fields = ("phone_number", "display_name")
    ordering = ("-id",)
    filter_horizontal = ("groups", "user_permissions")
    actions = ("end_api_tokens",)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/end-tokens/",
                self.admin_site.admin_view(self.end_tokens_view),
                name="accounts_user_end_tokens",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="API tokens")
    def api_tokens(self, obj: User) -> str:
        if obj.pk is None:
            return "-"
        now = timezone.now()
        active = (
            AuthToken.objects.filter(user=obj)
            .filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
            .count()
        )
        if not active:
            return "No active API tokens."
        return format_html(
            '{} active (logged-in apps). <a href="{}">End them</a>',
            active,
            reverse("admin:accounts_user_end_tokens", args=[obj.pk]),
        )

    @admin.action(
        description="End all API tokens of selected users (log them out)",
        permissions=["change"],
    )
    def end_api_tokens(self, request, queryset):
        users = revoked = 0
        for user in queryset.order_by("pk").iterator(chunk_size=200):
            revoked += user_tokens_revoke_all(user=user, actor=request.user, request=request)
            users += 1
        self.message_user(
            request, f"Ended {revoked} API token(s) of {users} user(s).", messages.SUCCESS
        )

    def end_tokens_view(self, request, object_id):
        """Confirm, then end every API token of one user."""
        if not str(object_id).isdigit():
            raise Http404
        user = get_object_or_404(User, pk=object_id)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        change_url = reverse("admin:accounts_user_change", args=[user.pk])
        if request.method == "POST":
            revoked = user_tokens_revoke_all(user=user, actor=request.user, request=request)
            self.message_user(request, f"Ended {revoked} API token(s) of {user}.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"End the API tokens of {user}?",
            "object": user,
            "question": (
                f"Every app logged in as {user} through the API is logged out at once. "
                "They can log in again with a new WhatsApp code."
            ),
            "confirm_label": "Yes, end the tokens",
            "cancel_url": change_url,
            "danger": True,
        }
        return TemplateResponse(request, "admin/zapa/confirm.html", context)


# ---------------------------------------------------------------------------
# Login codes: never any code material, not even its hash


@admin.register(AuthCode)
class AuthCodeAdmin(
    SecretLookupGuardMixin,
    ReadOnlyAdminMixin,
    ExactSearchMixin,
    BigTableAdminMixin,
    admin.ModelAdmin,
):
    secret_fields = frozenset({"code_hash"})
    list_display = (
        "id",
        "user",
        "created_at",
        "expires_at",
        "used_at",
        "attempts",
        "requested_ip",
        "status",
    )
    list_select_related = ("user",)
    list_filter = ("created_at", "expires_at")
    search_fields = ("user__phone_number",)
    phone_search_fields = ("user__phone_number",)
    search_help_text = "Exact phone number of the user, e.g. +14155550123."
    fields = (
        "user",
        "status",
        "created_at",
        "expires_at",
        "used_at",
        "attempts",
        "requested_ip",
        "updated_at",
    )
    readonly_fields = fields
    exclude = ("code_hash",)
    ordering = ("-created_at", "-id")
    sortable_by = ("id", "created_at", "expires_at")

    @admin.display(description="Status")
    def status(self, obj: AuthCode) -> str:
        if obj.used_at is not None:
            return "Used"
        if obj.is_expired:
            return "Expired"
        return "Unused"


# ---------------------------------------------------------------------------
# Audit log: read-only, never deleted from the admin


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
