"""The admin's chat lists: the conversations of a user (latest first) or of a session
(by chat id), each with its message count and a preview of its last message.

Every page runs a fixed number of queries, however many chats there are.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from accounts.models import User
from core.pagination import Cursor, KeysetField, KeysetPagination
from messaging.admin_display import UNSUPPORTED, message_preview
from messaging.admin_page_helpers import (
    admin_context,
    admin_url,
    cursor_param,
    int_param,
    require_view_permission,
)
from messaging.models import Message, WhatsAppSession
from messaging.selectors import LAST_MESSAGE_FIELDS, conversation_list

CHATS_PAGE_SIZE = 50


class SessionChatsPagination(KeysetPagination):
    # By chat id, so PostgreSQL walks (session, chat_jid, …) and stops after one page
    # of groups, however many messages the session (e.g. the main number) has.
    keyset = (KeysetField("chat_jid", descending=False, kind=str),)
    cursor_salt = "messaging.admin.session_chats"


@dataclass
class ChatRow:
    chat_jid: str
    last_message_at: datetime | None
    message_count: int | None
    last_message: Message | None
    href: str
    is_group: bool = field(init=False)
    preview: str = field(init=False)
    unsupported: bool = field(init=False)

    def __post_init__(self):
        self.is_group = self.chat_jid.endswith("@g.us")
        last = self.last_message
        self.preview = message_preview(last) if last is not None else ""
        self.unsupported = last is not None and last.message_type == UNSUPPORTED


def chat_list_view(request, model_admin):
    """The conversations of a user (latest first) or of a session (by chat id)."""
    require_view_permission(request, Message)
    user_id, session_id = int_param(request, "user"), int_param(request, "session")
    if (user_id is None) == (session_id is None):
        raise Http404("Give either a user or a session.")
    if user_id is not None:
        owner = get_object_or_404(
            User.objects.only("id", "phone_number", "display_name"), pk=user_id
        )
        page = int_param(request, "page") or 1
        rows, has_next = _user_chats(owner, page)
        scope = {"user": owner.pk}
        title = f"Conversations of {owner}"
        pager = {
            "next": admin_url("messaging_message_chats", query={**scope, "page": page + 1})
            if has_next
            else "",
            "previous": admin_url("messaging_message_chats", query={**scope, "page": page - 1})
            if page > 1
            else "",
        }
        session = None
    else:
        session = get_object_or_404(
            WhatsAppSession.objects.select_related("user").only(
                "id", "bridge_session_id", "status", "user__phone_number", "user__display_name"
            ),
            pk=session_id,
        )
        owner = None
        pagination = SessionChatsPagination()
        rows, has_next, has_previous = _session_chats(
            session, pagination, cursor_param(request, pagination)
        )
        scope = {"session": session.pk}
        title = f"Conversations on {session.bridge_session_id}"
        pager = {
            "next": admin_url(
                "messaging_message_chats",
                query={**scope, "cursor": pagination.encode_cursor(pagination.cursor_at(rows[-1]))},
            )
            if has_next
            else "",
            "previous": admin_url("messaging_message_chats", query=scope) if has_previous else "",
        }
    for row in rows:
        row.href = admin_url("messaging_message_chat", query={**scope, "chat": row.chat_jid})
    context = admin_context(
        request,
        model_admin,
        title=title,
        owner=owner,
        session=session,
        rows=rows,
        pager=pager,
    )
    return TemplateResponse(request, "admin/messaging/message/chat_list.html", context)


def _chat_rows(groups: list[dict], last: dict) -> list[ChatRow]:
    return [
        ChatRow(
            chat_jid=group["chat_jid"],
            last_message_at=group["last_message_at"],
            message_count=group["message_count"],
            last_message=last.get(group["chat_jid"]),
            href="",
        )
        for group in groups
    ]


def _user_chats(owner: User, page: int) -> tuple[list[ChatRow], bool]:
    start = (page - 1) * CHATS_PAGE_SIZE
    groups = list(conversation_list(user=owner)[start : start + CHATS_PAGE_SIZE + 1])
    has_next = len(groups) > CHATS_PAGE_SIZE
    groups = groups[:CHATS_PAGE_SIZE]
    last = _last_messages(Message.objects.filter(user=owner), groups)
    return _chat_rows(groups, last), has_next


def _session_chats(
    session: WhatsAppSession, pagination: SessionChatsPagination, cursor: Cursor | None
) -> tuple[list[ChatRow], bool, bool]:
    groups = (
        Message.objects.filter(session=session)
        .values("chat_jid")
        .annotate(last_message_at=Max("timestamp"), message_count=Count("*"))
    )
    page = pagination.fetch_page(groups, size=CHATS_PAGE_SIZE, cursor=cursor)
    last = _last_messages(Message.objects.filter(session=session), page.rows)
    return _chat_rows(page.rows, last), page.has_next, page.has_previous


def _last_messages(messages_: QuerySet[Message], groups: list[dict]) -> dict[str, Message]:
    """The last message of each chat of `groups`, by chat_jid: one query for any number.

    Like `selectors.conversation_last_messages` (the highest id wins a tie on the
    time), but with the media metadata, which names what an unsupported message was.
    """
    if not groups:
        return {}
    matches = Q()
    for group in groups:
        matches |= Q(chat_jid=group["chat_jid"], timestamp=group["last_message_at"])
    last: dict[str, Message] = {}
    for message in (
        messages_.filter(matches).only(*LAST_MESSAGE_FIELDS, "media_metadata").order_by("id")
    ):
        last[message.chat_jid] = message
    return last
