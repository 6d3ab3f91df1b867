"""Admin for the assistant: turns (with the tools and provider calls of each, and a
retry for failed ones) and reminders."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from assistant.models import Reminder, Turn
from assistant.services import turns_retry
from core.admin_mixins import ReadOnlyAdminMixin, pretty_json
from core.admin_pagination import BigTableAdminMixin


@admin.register(Turn)
class TurnAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "user",
        "state",
        "provider",
        "model",
        "provider_calls",
        "tokens",
        "latency",
        "short_reason",
    )
    list_select_related = ("user",)
    list_filter = ("state", "provider")
    search_fields = ("user__phone_number",)
    ordering = ("-created_at", "-id")
    actions = ("retry_turns",)
    fields = (
        "user",
        "session",
        "chat_jid",
        "state",
        "reason",
        "trigger_link",
        "answered_message_ids",
        "reply_link",
        "reply_text",
        "llm_config",
        "provider",
        "model",
        "provider_calls",
        "input_tokens",
        "output_tokens",
        "provider_ms",
        "tool_calls_pretty",
        "provider_calls_link",
        "attempts",
        "due_at",
        "started_at",
        "send_started_at",
        "finished_at",
        "notice_sent",
    )
    readonly_fields = fields
    raw_id_fields = ("user", "session", "llm_config")

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description="Tokens")
    def tokens(self, turn: Turn) -> int:
        return turn.input_tokens + turn.output_tokens

    @admin.display(description="Took")
    def latency(self, turn: Turn) -> str:
        if not turn.finished_at:
            return "—"
        return f"{(turn.finished_at - turn.created_at).total_seconds():.1f} s"

    @admin.display(description="Reason")
    def short_reason(self, turn: Turn) -> str:
        return turn.reason[:80]

    @admin.display(description="Trigger message")
    def trigger_link(self, turn: Turn) -> str:
        url = reverse("admin:messaging_message_change", args=[turn.trigger_message_id])
        return format_html('<a href="{}">#{}</a>', url, turn.trigger_message_id)

    @admin.display(description="Reply message")
    def reply_link(self, turn: Turn) -> str:
        if not turn.reply_message_id:
            return "—"
        url = reverse("admin:messaging_message_change", args=[turn.reply_message_id])
        return format_html('<a href="{}">#{}</a>', url, turn.reply_message_id)

    @admin.display(description="Tool calls (arguments, result size)")
    def tool_calls_pretty(self, turn: Turn) -> str:
        return pretty_json(turn.tool_calls)

    @admin.display(description="Provider calls")
    def provider_calls_link(self, turn: Turn) -> str:
        url = reverse("admin:llm_actionlog_changelist")
        return format_html(
            '<a href="{}?user__id__exact={}&action=assistant_reply">the user\'s provider calls</a>',
            url,
            turn.user_id,
        )

    def has_retry_permission(self, request) -> bool:
        # Turns are never edited in the admin; retrying one takes the change permission.
        return request.user.has_perm("assistant.change_turn")

    @admin.action(description="Retry the selected failed turns", permissions=["retry"])
    def retry_turns(self, request, queryset):
        from assistant import tasks

        ids, refused = turns_retry(turn_ids=list(queryset.values_list("pk", flat=True)))
        tasks.turns_enqueue(ids)
        self.message_user(request, f"{len(ids)} turn(s) queued again.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"{refused} turn(s) not retried: only failed turns whose reply was never "
                "sent can be retried.",
                messages.WARNING,
            )

    def get_urls(self):
        by_reply = path(
            "by-reply/<int:message_id>/",
            self.admin_site.admin_view(self.turn_by_reply),
            name="assistant_turn_by_reply",
        )
        return [by_reply, *super().get_urls()]

    def turn_by_reply(self, request, message_id: int):
        """The turn that sent a reply (the conversation page links here)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        turn = get_object_or_404(Turn.objects.only("id"), reply_message_id=message_id)
        return redirect("admin:assistant_turn_change", turn.pk)


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = ("id", "due_at", "user", "state", "text", "sent_at")
    list_select_related = ("user",)
    list_filter = ("state",)
    search_fields = ("user__phone_number",)
    ordering = ("due_at", "id")
    fields = ("user", "session", "chat_jid", "text", "due_at", "state", "sent_at", "error", "turn")
    readonly_fields = fields
