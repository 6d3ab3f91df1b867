"""Admin for accounts: users and login codes (no code material)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from knox.models import AuthToken

from accounts.models import AuthCode, User
from accounts.services import user_tokens_revoke_all
from core.admin_mixins import ExactSearchMixin, ReadOnlyAdminMixin, SecretLookupGuardMixin
from core.admin_pagination import BigTableAdminMixin
from core.phone import normalize_phone_number


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
