"""The caller's message history: list, detail, stats, export, conversations, sessions.

Every view reads only the caller's own rows (`user == request.user`); another
user's message is a 404 like a missing one.
"""

from datetime import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ErrorSerializer
from core.pagination import KeysetField, KeysetPagination
from messaging import selectors
from messaging.api.filters import MessageFilterSerializer
from messaging.api.history_serializers import (
    ConversationSerializer,
    MessageSerializer,
    MessageStatsSerializer,
    SessionSerializer,
)
from messaging.export import EXPORT_FIELDS, EXPORT_FORMATS, export_response

TAG = "history"
UNAUTHORISED = OpenApiResponse(ErrorSerializer, description="No valid token.")
BAD_REQUEST = OpenApiResponse(ErrorSerializer, description="A query parameter is invalid.")


class MessagePagination(KeysetPagination):
    keyset = (
        KeysetField("timestamp", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "messaging.api.messages"


class ConversationPagination(KeysetPagination):
    keyset = (
        KeysetField("last_message_at", descending=True, kind=datetime),
        KeysetField("chat_jid", descending=False, kind=str),
    )
    cursor_salt = "messaging.api.conversations"
    page_size_query_param = "limit"


class SessionPagination(KeysetPagination):
    keyset = (
        KeysetField("created_at", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "messaging.api.sessions"


def _validated_filters(request: Request, serializer_class=MessageFilterSerializer):
    filters = serializer_class(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return filters


class MessageListView(APIView):
    pagination_class = MessagePagination

    @extend_schema(
        operation_id="messages_list",
        tags=[TAG],
        summary="Your messages, newest first",
        description="Newest first (timestamp, then id, descending), in pages linked by "
        "opaque cursors; no total count. Filters combine with AND.",
        parameters=[MessageFilterSerializer],
        responses={200: MessageSerializer(many=True), 400: BAD_REQUEST, 401: UNAUTHORISED},
    )
    def get(self, request: Request) -> Response:
        filters = _validated_filters(request)
        messages = selectors.message_history(user=request.user, **filters.selector_kwargs())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(messages, request, view=self)
        serializer = MessageSerializer()
        return paginator.get_paginated_response([serializer.to_representation(m) for m in page])


class MessageDetailView(APIView):
    @extend_schema(
        operation_id="messages_retrieve",
        tags=[TAG],
        summary="One of your messages",
        responses={
            200: MessageSerializer,
            401: UNAUTHORISED,
            404: OpenApiResponse(ErrorSerializer, description="No such message of yours."),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        message = selectors.message_history(user=request.user).filter(pk=pk).first()
        if message is None:
            raise NotFound("No message of yours has this id.")
        return Response(MessageSerializer().to_representation(message))


class MessageStatsView(APIView):
    @extend_schema(
        operation_id="messages_stats",
        tags=[TAG],
        summary="Counts of your messages",
        description="Totals by direction and type, first and last message time, and the "
        "average per calendar day (UTC) from the first to the last message.",
        responses={200: MessageStatsSerializer, 401: UNAUTHORISED},
    )
    def get(self, request: Request) -> Response:
        stats = selectors.message_stats(user=request.user)
        return Response(MessageStatsSerializer().to_representation(stats))


class ExportFilterSerializer(MessageFilterSerializer):
    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        default="csv",
        error_messages={"invalid_choice": '"{input}" is not supported; use csv or json.'},
        help_text="csv (default) or json.",
    )


class ExportContentNegotiation(DefaultContentNegotiation):
    """Here `?format=` names the file type, not a DRF renderer (which would 404).

    Errors are JSON whatever the client accepts; the download sets its own type.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class MessageExportView(APIView):
    content_negotiation_class = ExportContentNegotiation

    @extend_schema(
        operation_id="messages_export",
        tags=[TAG],
        summary="Download your whole history (CSV or JSON)",
        description="Oldest first, streamed while it is read from the database, as an "
        "attachment. Takes the same filters as the message list. CSV: one header row, "
        "timestamps in ISO 8601 UTC, media_metadata as JSON text, empty cells for nulls; "
        "text or captions starting with = + - @ get a leading ' so spreadsheets do not run "
        "them as formulas. JSON: one array of objects with the same keys, unaltered.",
        parameters=[ExportFilterSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Columns: " + ", ".join(EXPORT_FIELDS) + "."
            ),
            (200, "application/json"): MessageSerializer(many=True),
            400: BAD_REQUEST,
            401: UNAUTHORISED,
        },
    )
    def get(self, request: Request):
        filters = _validated_filters(request, ExportFilterSerializer)
        messages = selectors.message_history(user=request.user, **filters.selector_kwargs())
        batches = selectors.message_iter_oldest_first(messages, fields=EXPORT_FIELDS)
        return export_response(batches=batches, export_format=filters.validated_data["format"])


class ConversationListView(APIView):
    pagination_class = ConversationPagination

    @extend_schema(
        operation_id="conversations_list",
        tags=[TAG],
        summary="Your chats, latest activity first",
        description="Each chat with its message count and last message; ordered by the last "
        "message's time (descending), then chat_jid.",
        responses={200: ConversationSerializer(many=True), 400: BAD_REQUEST, 401: UNAUTHORISED},
    )
    def get(self, request: Request) -> Response:
        conversations = selectors.conversation_list(user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(conversations, request, view=self)
        last_messages = selectors.conversation_last_messages(user=request.user, conversations=page)
        serializer = ConversationSerializer()
        return paginator.get_paginated_response(
            [
                serializer.to_representation(
                    {**conversation, "last_message": last_messages.get(conversation["chat_jid"])}
                )
                for conversation in page
            ]
        )


class SessionListView(APIView):
    pagination_class = SessionPagination

    @extend_schema(
        operation_id="sessions_list",
        tags=[TAG],
        summary="Your WhatsApp sessions, newest first",
        responses={200: SessionSerializer(many=True), 400: BAD_REQUEST, 401: UNAUTHORISED},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.session_list(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(SessionSerializer(page, many=True).data)
