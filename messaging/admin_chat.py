"""The admin's chat-style page of one conversation.

Bubbles by direction, media by type with its metadata, replies linked, delivery
status, keyset paging (`core.pagination`, newest page first) and full-text search.
Every page runs a fixed number of queries, each on an index: (user, chat_jid,
-timestamp, -id) or (session, chat_jid, -timestamp, -id).
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import User
from core.pagination import KeysetField, KeysetPage, KeysetPagination
from messaging.admin_display import (
    MEDIA_LABELS,
    STATUS_MARKS,
    UNSUPPORTED,
    map_link,
    media_facts,
    message_preview,
    unsupported_text,
)
from messaging.admin_page_helpers import (
    admin_context,
    admin_url,
    cursor_param,
    int_param,
    require_view_permission,
)
from messaging.models import Message, WhatsAppSession
from messaging.search import search_messages
from messaging.selectors import HISTORY_FIELDS, message_history

PAGE_SIZE = 50
# Opening a conversation at a message also shows this many messages after it.
AROUND_AFTER = 10


class ChatPagination(KeysetPagination):
    """A conversation newest first: a page's `next` side holds older messages."""

    keyset = (
        KeysetField("timestamp", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "messaging.admin.chat"


@dataclass
class Reply:
    preview: str
    href: str
    direction: str


@dataclass
class Bubble:
    message: Message
    outgoing: bool
    media_label: str
    facts: list[tuple[str, str]]
    map_link: str
    status_mark: str
    reply: Reply | None
    sender: str
    highlighted: bool
    anchor: str
    new_day: str = ""
    change_url: str = ""
    # Set for a message Zapa cannot display: the text standing in for it.
    unsupported: str = ""
    # Set for the assistant's replies: the page of the turn that sent it.
    assistant_url: str = ""


@dataclass
class ChatPage:
    bubbles: list[Bubble]
    older: str
    newer: str
    newest: str


def _conversation_messages(
    *, owner: User | None, session: WhatsAppSession | None, chat_jid: str, query: str
) -> QuerySet[Message]:
    if owner is not None:
        messages_ = message_history(
            user=owner, chat_jid=chat_jid, session_id=session.pk if session else None, query=query
        )
    else:
        messages_ = Message.objects.filter(session=session, chat_jid=chat_jid)
        if query:
            messages_ = search_messages(messages_, query)
        messages_ = messages_.only(*HISTORY_FIELDS)
    return messages_.order_by()


def chat_view(request, model_admin):
    """One conversation as chat bubbles, newest page first, with keyset paging and search."""
    require_view_permission(request, Message)
    user_id, session_id = int_param(request, "user"), int_param(request, "session")
    chat_jid = request.GET.get("chat", "").strip()
    if (user_id is None and session_id is None) or not chat_jid or len(chat_jid) > 128:
        raise Http404("Give a user or a session, and a chat.")
    owner = (
        get_object_or_404(User.objects.only("id", "phone_number", "display_name"), pk=user_id)
        if user_id is not None
        else None
    )
    session = (
        get_object_or_404(
            WhatsAppSession.objects.only("id", "bridge_session_id", "status", "user_id"),
            pk=session_id,
        )
        if session_id is not None
        else None
    )
    query = request.GET.get("q", "").strip()[:200]
    scope = {"user": user_id, "session": session_id, "chat": chat_jid}
    base = _conversation_messages(owner=owner, session=session, chat_jid=chat_jid, query=query)
    pagination = ChatPagination()

    at_id = int_param(request, "at")
    anchor = None
    if at_id is not None:
        anchor = base.filter(pk=at_id).only("id", "timestamp").first()
        if anchor is None:
            messages.warning(request, "That message is not in this conversation.")
    if anchor is not None:
        page = _page_around(base, pagination, anchor)
    else:
        page = pagination.fetch_page(base, size=PAGE_SIZE, cursor=cursor_param(request, pagination))
    rows = page.rows[::-1]  # a chat shows its oldest message at the top

    def link(cursor_row: Message, *, backwards: bool) -> str:
        cursor = pagination.encode_cursor(pagination.cursor_at(cursor_row, backwards=backwards))
        return admin_url("messaging_message_chat", query={**scope, "q": query, "cursor": cursor})

    chat_page = ChatPage(
        bubbles=_bubbles(rows, scope=scope, highlight=anchor.pk if anchor else None),
        older=link(rows[0], backwards=False) if page.has_next else "",
        newer=link(rows[-1], backwards=True) if page.has_previous else "",
        newest=admin_url("messaging_message_chat", query={**scope, "q": query}),
    )
    chats_scope = {"user": user_id} if owner is not None else {"session": session_id}
    context = admin_context(
        request,
        model_admin,
        title=f"Conversation with {chat_jid}",
        owner=owner,
        session=session,
        chat_jid=chat_jid,
        is_group=chat_jid.endswith("@g.us"),
        query=query,
        page=chat_page,
        scope=scope,
        chats_url=admin_url("messaging_message_chats", query=chats_scope),
        clear_search_url=admin_url("messaging_message_chat", query=scope),
    )
    return TemplateResponse(request, "admin/messaging/message/chat.html", context)


def _page_around(
    base: QuerySet[Message], pagination: ChatPagination, anchor: Message
) -> KeysetPage:
    """The anchor with a little of what followed it, the rest of the page before it."""
    around = min(AROUND_AFTER, PAGE_SIZE // 2)
    newer = pagination.fetch_page(
        base, size=around, cursor=pagination.cursor_at(anchor, backwards=True)
    )
    older = pagination.fetch_page(
        base, size=PAGE_SIZE - len(newer.rows), cursor=pagination.cursor_at(anchor), inclusive=True
    )
    return KeysetPage(
        rows=newer.rows + older.rows,
        has_next=older.has_next,
        has_previous=newer.has_previous,
    )


def _assistant_url(message: Message) -> str:
    """Where the admin shows the assistant turn behind a reply (by URL name only:
    messaging does not import the assistant, and works without it)."""
    meta = message.media_metadata if isinstance(message.media_metadata, dict) else {}
    if meta.get("sent_by") != "assistant":
        return ""
    try:
        return reverse("admin:assistant_turn_by_reply", args=[message.pk])
    except NoReverseMatch:
        return ""


def _bubbles(rows: list[Message], *, scope: dict, highlight: int | None) -> list[Bubble]:
    on_page = {message.pk: message for message in rows}
    missing = {m.reply_to_id for m in rows if m.reply_to_id and m.reply_to_id not in on_page}
    quoted = dict(on_page)
    if missing:
        quoted.update(
            (message.pk, message)
            for message in Message.objects.filter(pk__in=missing).only(
                "id",
                "user_id",
                "session_id",
                "chat_jid",
                "direction",
                "message_type",
                "content",
                "caption",
                "media_metadata",
                "timestamp",
            )
        )
    bubbles = []
    previous_day = None
    for message in rows:
        reply = None
        if message.reply_to_id:
            original = quoted.get(message.reply_to_id)
            if original is None:  # deleted meanwhile
                reply = Reply("Original message not available", "", "")
            else:
                href = f"#m{original.pk}"
                if original.pk not in on_page:
                    href = (
                        admin_url(
                            "messaging_message_chat",
                            query={
                                "user": scope.get("user"),
                                "session": scope.get("session"),
                                "chat": original.chat_jid,
                                "at": original.pk,
                            },
                        )
                        + f"#m{original.pk}"
                    )
                reply = Reply(message_preview(original, 120), href, original.direction)
        local_day = timezone.localdate(message.timestamp)
        outgoing = message.direction == Message.Direction.OUTGOING
        bubbles.append(
            Bubble(
                message=message,
                outgoing=outgoing,
                media_label=MEDIA_LABELS.get(message.message_type, ""),
                facts=media_facts(message.message_type, message.media_metadata),
                map_link=map_link(message.media_metadata),
                status_mark=STATUS_MARKS.get(message.status, "") if outgoing else "",
                reply=reply,
                sender=message.sender_jid
                if not outgoing and message.chat_jid.endswith("@g.us")
                else "",
                highlighted=message.pk == highlight,
                anchor=f"m{message.pk}",
                new_day=f"{local_day:%A %d %B %Y}" if local_day != previous_day else "",
                change_url=reverse("admin:messaging_message_change", args=[message.pk]),
                unsupported=unsupported_text(message.media_metadata)
                if message.message_type == UNSUPPORTED
                else "",
                assistant_url=_assistant_url(message) if outgoing else "",
            )
        )
        previous_day = local_day
    return bubbles
