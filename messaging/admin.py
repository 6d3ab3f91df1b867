"""Admin for messaging: WhatsApp sessions, messages, webhook events.

Messages and webhook events are big, append-mostly tables: their changelists
never count the whole table exactly, never facet, filter only on choices and
bounded date ranges, and search through indexes (full-text, exact ids).
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html

from core.admin_mixins import ExactSearchMixin, ReadOnlyAdminMixin, pretty_json
from core.admin_pagination import BigTableAdminMixin
from core.whatsapp.bridge import BridgeError
from messaging import admin_views, pairing
from messaging.export import EXPORT_FIELDS, export_response
from messaging.ingest.events import EVENT_TYPES
from messaging.ingest.receive import events_reprocess
from messaging.models import Message, WebhookEvent, WhatsAppSession
from messaging.search import search_messages
from messaging.selectors import message_iter_oldest_first
from messaging.services.exports import messages_export_record
from messaging.services.sessions import whatsapp_session_disconnect, whatsapp_sessions_sync

# Bridge calls are one HTTP request per session: keep one admin request short.
MAX_SESSIONS_PER_ACTION = 20


@admin.register(WhatsAppSession)
class WhatsAppSessionAdmin(admin.ModelAdmin):
    list_display = (
        "bridge_session_id",
        "user",
        "phone_number",
        "session_type",
        "status",
        "agent",
        "connected_at",
        "checked_with_bridge",
        "created_at",
    )
    list_select_related = ("user", "agent")
    list_filter = ("status", "session_type")
    search_fields = ("bridge_session_id", "phone_number", "user__phone_number")
    raw_id_fields = ("user",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (None, {"fields": ("bridge_session_id", "user", "session_type", "agent")}),
        (
            "Connection",
            {
                "fields": (
                    "status",
                    "phone_number",
                    "connected_at",
                    "disconnected_at",
                    "qr_code_preview",
                    "qr_expires_at",
                    "checked_with_bridge",
                )
            },
        ),
        ("Other", {"fields": ("metadata", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "qr_code_preview",
        "qr_expires_at",
        "checked_with_bridge",
        "created_at",
        "updated_at",
    )
    actions = ("check_with_bridge", "disconnect_sessions")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/pairing/",
                wrap(lambda request, object_id: admin_views.pairing_view(request, self, object_id)),
                name="messaging_whatsappsession_pairing",
            ),
            path(
                "<path:object_id>/disconnect/",
                wrap(
                    lambda request, object_id: admin_views.disconnect_view(request, self, object_id)
                ),
                name="messaging_whatsappsession_disconnect",
            ),
            *super().get_urls(),
        ]

    def response_add(self, request, obj, post_url_continue=None):
        # A new session is there to be paired: go straight to its pairing page.
        if "_addanother" in request.POST or "_continue" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            f"Session {obj.bridge_session_id} was added. Press Connect to pair a phone with it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            admin_views.admin_url("messaging_whatsappsession_pairing", obj.pk)
        )

    @admin.display(description="QR code")
    def qr_code_preview(self, obj: WhatsAppSession) -> str:
        image = pairing.qr_image_data_url(obj.qr_code)
        if not image:
            return "-"
        return format_html(
            '<img src="{}" alt="Pairing QR code of {}" width="240"><br>'
            '<a href="{}">Open the pairing page</a> (it refreshes the code)',
            image,
            obj.bridge_session_id,
            admin_views.admin_url("messaging_whatsappsession_pairing", obj.pk),
        )

    @admin.display(description="Checked with bridge", ordering="bridge_checked_at")
    def checked_with_bridge(self, obj: WhatsAppSession) -> str:
        # Formatted here: the change page prints a method's value as it is.
        return display_for_value(obj.bridge_checked_at, self.get_empty_value_display())

    def _few_sessions(self, request, queryset) -> list[WhatsAppSession] | None:
        """The selected sessions, or None (and a message) when there are too many: each
        is one request to the bridge, and an admin request must stay short."""
        sessions = list(queryset.order_by("pk")[: MAX_SESSIONS_PER_ACTION + 1])
        if len(sessions) > MAX_SESSIONS_PER_ACTION:
            self.message_user(
                request,
                f"Select at most {MAX_SESSIONS_PER_ACTION} sessions at a time.",
                messages.ERROR,
            )
            return None
        return sessions

    @admin.action(description="Check with the bridge", permissions=["change"])
    def check_with_bridge(self, request, queryset):
        """Ask the bridge about each selected session (any status) and record its answers."""
        sessions = self._few_sessions(request, queryset)
        if sessions is None:
            return
        report = whatsapp_sessions_sync(sessions=sessions, request=request)
        if report.unreachable:
            level = messages.ERROR
        elif report.failed:
            level = messages.WARNING
        else:
            level = messages.SUCCESS
        self.message_user(request, report.summary(), level)

    @admin.action(
        description="Disconnect selected sessions at the WhatsApp bridge", permissions=["change"]
    )
    def disconnect_sessions(self, request, queryset):
        sessions = self._few_sessions(request, queryset)
        if sessions is None:
            return
        done = 0
        for session in sessions:
            try:
                whatsapp_session_disconnect(session=session, actor=request.user, request=request)
            except BridgeError as exc:
                self.message_user(
                    request, f"Session {session.bridge_session_id}: {exc}", messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(request, f"Disconnected {done} session(s).", messages.SUCCESS)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, BigTableAdminMixin, admin.ModelAdmin):
    """Messages are WhatsApp's record of what was said: viewable and deletable, not editable."""

    list_display = (
        "id",
        "timestamp",
        "direction",
        "message_type",
        "user",
        "chat_jid",
        "preview",
        "status",
        "session",
        "conversation_link",
    )
    list_select_related = ("user", "session")
    actions = ("export_csv",)
    # Choices and a bounded date range only: none of these runs a query to list its options.
    list_filter = ("direction", "message_type", "status", "timestamp")
    search_fields = ("content", "caption", "wa_message_id")
    search_help_text = (
        "Words in the text or caption (full-text: word, “a phrase”, -excluded), "
        "or an exact WhatsApp message id."
    )
    ordering = ("-timestamp", "-id")
    sortable_by = ("id", "timestamp")
    raw_id_fields = ("session", "user", "reply_to")
    fields = (
        "session",
        "user",
        "wa_message_id",
        "direction",
        "message_type",
        "timestamp",
        "status",
        "chat_jid",
        "sender_jid",
        "recipient_jid",
        "content",
        "caption",
        "reply_to",
        "media_metadata_pretty",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "chats/",
                wrap(lambda request: admin_views.chat_list_view(request, self)),
                name="messaging_message_chats",
            ),
            path(
                "chat/",
                wrap(lambda request: admin_views.chat_view(request, self)),
                name="messaging_message_chat",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Text")
    def preview(self, obj: Message) -> str:
        if obj.message_type == Message.MessageType.UNSUPPORTED:  # a sticker, reaction, poll…
            return admin_views.unsupported_text(obj.media_metadata)
        return obj.preview

    @admin.display(description="Conversation")
    def conversation_link(self, obj: Message) -> str:
        url = admin_views.admin_url(
            "messaging_message_chat",
            query={"user": obj.user_id, "chat": obj.chat_jid, "at": obj.pk},
        )
        return format_html(
            '<a href="{}#m{}">Open<span class="visually-hidden"> the conversation at message {}'
            "</span></a>",
            url,
            obj.pk,
            obj.pk,
        )

    @admin.action(description="Export selected messages as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """A streamed download, oldest first, in batches: any number of messages."""
        messages_export_record(
            actor=request.user,
            export_format="csv",
            all_matching=bool(request.POST.get("select_across")),
            request=request,
        )
        batches = message_iter_oldest_first(queryset, fields=EXPORT_FIELDS)
        return export_response(batches=batches, export_format="csv")

    @admin.display(description="Media metadata")
    def media_metadata_pretty(self, obj: Message) -> str:
        return pretty_json(obj.media_metadata)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Full-text (GIN index on PostgreSQL) or an exact message id, looked up
        # first through the (session, wa_message_id) unique index.
        by_id = list(
            Message.objects.filter(
                session__in=WhatsAppSession.objects.values("pk"), wa_message_id=term
            )
            .order_by()
            .values_list("pk", flat=True)[:100]
        )
        matches = search_messages(queryset, term)
        if by_id:
            matches = matches | queryset.filter(pk__in=by_id)
        return matches, False


class WebhookEventTypeFilter(admin.SimpleListFilter):
    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        # The bridge contract's event types, known in advance: the filter runs no query.
        return [(event_type, event_type) for event_type in EVENT_TYPES]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(event_type=value)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, ExactSearchMixin, BigTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "received_at",
        "event_type",
        "session_key",
        "state",
        "attempts",
        "processed_at",
        "short_error",
    )
    list_filter = ("state", WebhookEventTypeFilter, "received_at")
    search_fields = ("session_key", "wa_message_id")
    exact_search_fields = ("session_key", "wa_message_id")
    search_help_text = "Exact bridge session id or WhatsApp message id."
    ordering = ("-received_at", "-id")
    sortable_by = ("id", "received_at")
    fields = (
        "event_type",
        "session_key",
        "state",
        "received_at",
        "processed_at",
        "attempts",
        "wa_message_id",
        "error",
        "payload_pretty",
        "raw_body",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("reprocess_events",)

    @admin.display(description="Error")
    def short_error(self, obj: WebhookEvent) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    @admin.display(description="Payload")
    def payload_pretty(self, obj: WebhookEvent) -> str:
        return pretty_json(obj.payload)

    def has_reprocess_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Process selected events again", permissions=["reprocess"])
    def reprocess_events(self, request, queryset):
        attempted = 0
        for event in queryset.order_by("received_at", "id").iterator(chunk_size=200):
            attempted += 1
            try:
                events_reprocess(events=[event])
            except Exception as exc:  # one bad event must not stop the rest
                self.message_user(
                    request, f"Event #{event.pk}: {type(exc).__name__}: {exc}", messages.ERROR
                )
        states = queryset.order_by().values_list("state").annotate(n=Count("pk"))
        summary = ", ".join(f"{n} {state}" for state, n in sorted(states))
        self.message_user(request, f"Processed {attempted} event(s) again. Now: {summary}.")
