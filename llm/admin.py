"""Admin for LLM configs, agents and provider call logs.

The encrypted key column never reaches an admin page: it is in no form, list,
read-only field, search, filter or ordering, and no changelist lookup may touch
it. Staff see the key as `…abcd` and can only replace it.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from core.admin_mixins import (
    ExactSearchMixin,
    ReadOnlyAdminMixin,
    SecretLookupGuardMixin,
    pretty_json,
)
from core.admin_pagination import BigTableAdminMixin
from llm import services as llm_services
from llm.admin_forms import API_KEY_FIELD, AgentAdminForm, LLMConfigAdminForm
from llm.fields import EncryptedTextField
from llm.models import ActionLog, Agent, LLMConfig

# Each check is a provider call of up to LLM_PROVIDER_TIMEOUT seconds.
MAX_KEY_CHECKS = 10

ENCRYPTED_FIELD_NAMES = frozenset(
    field.name
    for model in (LLMConfig,)
    for field in model._meta.concrete_fields
    if isinstance(field, EncryptedTextField)
)


@admin.register(LLMConfig)
class LLMConfigAdmin(SecretLookupGuardMixin, admin.ModelAdmin):
    secret_fields = ENCRYPTED_FIELD_NAMES
    form = LLMConfigAdminForm
    list_display = (
        "id",
        "user",
        "provider",
        "masked_key",
        "model_name",
        "is_active",
        "key_rejected_at",
        "updated_at",
    )
    list_select_related = ("user",)
    list_filter = ("provider", "is_active")
    search_fields = ("user__phone_number", "user__display_name")
    raw_id_fields = ("user",)
    ordering = ("-created_at", "-id")
    sortable_by = ("id", "provider", "is_active", "updated_at")
    actions = ("check_keys", "deactivate_configs")

    @method_decorator(sensitive_post_parameters(API_KEY_FIELD))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        key_fields = (API_KEY_FIELD,) if obj is None else ("masked_key", API_KEY_FIELD)
        fieldsets = [
            (None, {"fields": ("user", "provider", *key_fields, "model_settings", "is_active")})
        ]
        if obj is not None:
            fieldsets.append(("Dates", {"fields": ("key_rejected_at", "created_at", "updated_at")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # A config belongs to one user for life; create a new one for someone else.
        return ("user", "masked_key", "key_rejected_at", "created_at", "updated_at")

    @admin.display(description="API key")
    def masked_key(self, obj: LLMConfig) -> str:
        return obj.masked_api_key

    @admin.display(description="Model")
    def model_name(self, obj: LLMConfig) -> str:
        return obj.model_settings.get("model", "") if isinstance(obj.model_settings, dict) else ""

    def has_check_key_permission(self, request) -> bool:
        return self.has_view_permission(request)

    @admin.action(
        description="Check the API key of selected configs with their provider",
        permissions=["check_key"],
    )
    def check_keys(self, request, queryset):
        """One provider call per config (as the API's check does), each logged as an ActionLog."""
        configs = list(queryset.select_related("user").order_by("pk")[: MAX_KEY_CHECKS + 1])
        if len(configs) > MAX_KEY_CHECKS:
            self.message_user(
                request, f"Select at most {MAX_KEY_CHECKS} configs at a time.", messages.ERROR
            )
            return
        for config in configs:
            report = llm_services.llm_config_check_key(
                config=config, actor=request.user, request=request
            )
            label = f"{config} of {config.user}"
            if report.valid:
                self.message_user(request, f"{label}: {report.message}", messages.SUCCESS)
            else:
                self.message_user(request, f"{label}: {report.message}", messages.ERROR)

    @admin.action(description="Deactivate selected configs", permissions=["change"])
    def deactivate_configs(self, request, queryset):
        count = 0
        for config in queryset.filter(is_active=True).order_by("pk"):
            llm_services.llm_config_deactivate(config=config, actor=request.user, request=request)
            count += 1
        self.message_user(request, f"Deactivated {count} config(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        """Save through llm.services, as the API does: validation, encryption, audit."""
        key = form.cleaned_data.get(API_KEY_FIELD) or None
        audit = {"actor": request.user, "request": request}
        if not change:
            created = llm_services.llm_config_create(
                user=obj.user,
                provider=obj.provider,
                api_key=key,
                model_settings=obj.model_settings,
                is_active=obj.is_active,
                **audit,
            )
            obj.pk = created.pk
        else:
            current = LLMConfig.objects.get(pk=obj.pk)
            provider_changed = obj.provider != current.provider
            with transaction.atomic():
                llm_services.llm_config_update(
                    config=current,
                    api_key=key,
                    provider=obj.provider if provider_changed else None,
                    model_settings=(
                        obj.model_settings
                        if provider_changed or "model_settings" in form.changed_data
                        else None
                    ),
                    **audit,
                )
                if obj.is_active and not current.is_active:
                    llm_services.llm_config_activate(config=current, **audit)
                elif current.is_active and not obj.is_active:
                    llm_services.llm_config_deactivate(config=current, **audit)
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_model(self, request, obj):
        llm_services.llm_config_delete(config=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for config in queryset:
            self.delete_model(request, config)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = ("name", "model", "is_active", "function_count", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "model")
    ordering = ("name",)
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "model", "is_active")}),
        ("Behaviour", {"fields": ("system_prompt", "functions")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Functions")
    def function_count(self, obj: Agent) -> int:
        return len(obj.functions) if isinstance(obj.functions, list) else 0


@admin.register(ActionLog)
class ActionLogAdmin(
    SecretLookupGuardMixin,
    ReadOnlyAdminMixin,
    ExactSearchMixin,
    BigTableAdminMixin,
    admin.ModelAdmin,
):
    secret_fields = ENCRYPTED_FIELD_NAMES
    list_display = (
        "created_at",
        "action",
        "provider",
        "status",
        "user",
        "config",
        "execution_time_ms",
    )
    list_select_related = ("user", "config")
    list_filter = ("provider", "status", "created_at")
    search_fields = ("action", "user__phone_number")
    exact_search_fields = ("action",)
    phone_search_fields = ("user__phone_number",)
    search_help_text = "Exact action name, or the user's phone number (e.g. +14155550123)."
    ordering = ("-created_at", "-id")
    sortable_by = ("created_at", "execution_time_ms")
    fields = (
        "created_at",
        "user",
        "config",
        "action",
        "provider",
        "status",
        "execution_time_ms",
        "request_summary_pretty",
        "response_summary_pretty",
        "error_message",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Request")
    def request_summary_pretty(self, obj: ActionLog) -> str:
        return pretty_json(obj.request_summary)

    @admin.display(description="Response")
    def response_summary_pretty(self, obj: ActionLog) -> str:
        return pretty_json(obj.response_summary)
