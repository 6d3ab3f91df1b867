"""Admin pages beyond the ModelAdmin defaults: conversations and pairing a number.

Hooked into the admin by `get_urls` of the model admins (messaging/admin.py,
accounts/admin.py); each view takes that model admin for its site, options and
permission checks.

Conversations
    A chat list (for a user, or for a session) and a chat-style page of one
    conversation: bubbles by direction, media by type with its metadata, replies
    linked, delivery status, keyset paging (`before` / `after` cursors of
    (timestamp, id)), and full-text search. Every page runs a fixed number of
    queries, each on an index: (user, chat_jid, -timestamp, -id) or
    (session, chat_jid, -timestamp, -id).

Pairing
    Connect asks the bridge for a session and shows its QR code (rendered here,
    never by an outside service); the page reloads itself while waiting and
    fetches the bridge's current QR each time, until the `session.connected`
    webhook marks the session connected. Bridge failures are admin messages.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.whatsapp.bridge import BridgeError
from messaging import pairing
from messaging.models import Message, WhatsAppSession
from messaging.search import search_messages
from messaging.selectors import (
    HISTORY_FIELDS,
    LAST_MESSAGE_FIELDS,
    conversation_list,
    message_history,
)

PAGE_SIZE = 50
# Opening a conversation at a message also shows this many messages after it.
AROUND_AFTER = 10
CHATS_PAGE_SIZE = 50
# While waiting for a scan the pairing page reloads itself this often (seconds).
PAIRING_REFRESH_SECONDS = 5
PAIRING_RETRY_SECONDS = 15
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------
# Shared bits


def _admin_context(request, model_admin, *, title: str, **extra) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "title": title,
        **extra,
    }


def _require(request, model, action: str) -> None:
    opts = model._meta
    if not request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}"):
        raise PermissionDenied


def _require_view(request, model) -> None:
    opts = model._meta
    if not (
        request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
        or request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")
    ):
        raise PermissionDenied


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise Http404(f"“{name}” must be a number.")
    return int(value)


def admin_url(name: str, *args, query: dict[str, Any] | None = None) -> str:
    url = reverse(f"admin:{name}", args=args)
    query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


# ---------------------------------------------------------------------------
# Keyset cursors: "<microseconds since epoch>.<id>"


@dataclass(frozen=True)
class Cursor:
    timestamp: datetime
    id: int

    def __str__(self) -> str:
        micros = (self.timestamp - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def of(cls, message: Message) -> "Cursor":
        return cls(message.timestamp, message.pk)

    @classmethod
    def parse(cls, text: str) -> "Cursor | None":
        micros, _, pk = text.strip().partition(".")
        if not (micros.lstrip("-").isdigit() and pk.isdigit()) or len(text) > 40:
            return None
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(pk))
        except OverflowError:
            return None

    def older_q(self, *, inclusive: bool = False) -> Q:
        tie = Q(id__lte=self.id) if inclusive else Q(id__lt=self.id)
        return Q(timestamp__lt=self.timestamp) | (Q(timestamp=self.timestamp) & tie)

    def newer_q(self) -> Q:
        return Q(timestamp__gt=self.timestamp) | Q(timestamp=self.timestamp, id__gt=self.id)


# ---------------------------------------------------------------------------
# What a bubble shows


MEDIA_LABELS = {
    "image": "Image",
    "audio": "Audio",
    "video": "Video",
    "document": "Document",
    "location": "Location",
    "contact": "Contact card",
}
STATUS_MARKS = {"pending": "🕓", "sent": "✓", "delivered": "✓✓", "read": "✓✓", "failed": "⚠"}
UNSUPPORTED = Message.MessageType.UNSUPPORTED


def _file_size(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return ""
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _duration(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return ""
    seconds = round(value)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _text(value: Any, limit: int = 300) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unsupported_text(meta: Any) -> str:
    """What stands in for a message Zapa cannot display (a sticker, reaction, poll…).

    "A message Zapa cannot display", with the bridge's type name in parentheses when
    known: "A message Zapa cannot display (sticker)". Plain text, for templates to escape.
    """
    kind = meta.get("original_type") if isinstance(meta, dict) else None
    kind = _text(kind.strip(), 40) if isinstance(kind, str) else ""
    return f"{UNSUPPORTED.label} ({kind})" if kind else str(UNSUPPORTED.label)


def message_preview(message: Message, limit: int = 80) -> str:
    """A message in one line: its text or caption, else what it is."""
    if message.message_type == UNSUPPORTED:
        return unsupported_text(message.media_metadata)
    text = message.content or message.caption or ""
    if not text:
        text = MEDIA_LABELS.get(message.message_type, message.get_message_type_display())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def media_facts(message_type: str, meta: Any) -> list[tuple[str, str]]:
    """(label, value) pairs describing a message's media, for display."""
    if not isinstance(meta, dict):
        return []
    facts: list[tuple[str, str]] = []
    if meta.get("original_type"):
        facts.append(("Sent as", _text(meta["original_type"], 40)))
    if meta.get("file_name"):
        facts.append(("File", _text(meta["file_name"], 200)))
    if meta.get("mime_type"):
        facts.append(("Type", _text(meta["mime_type"], 100)))
    if _file_size(meta.get("size")):
        facts.append(("Size", _file_size(meta["size"])))
    width, height = meta.get("width"), meta.get("height")
    if isinstance(width, int | float) and isinstance(height, int | float):
        facts.append(("Dimensions", f"{width:g} by {height:g} px"))
    if _duration(meta.get("duration")):
        facts.append(("Duration", _duration(meta["duration"])))
    location = meta.get("location")
    if isinstance(location, dict):
        for key, label in (("name", "Place"), ("address", "Address")):
            if location.get(key):
                facts.append((label, _text(location[key])))
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            facts.append(("Coordinates", f"{lat:.5f}, {lon:.5f}"))
    contact = meta.get("contact")
    if isinstance(contact, dict):
        if contact.get("name"):
            facts.append(("Name", _text(contact["name"])))
        if contact.get("number"):
            facts.append(("Number", _text(contact["number"], 40)))
    if meta.get("url"):
        facts.append(("Media URL", _text(meta["url"], 200)))
    if meta.get("group_name"):
        facts.append(("Group", _text(meta["group_name"], 200)))
    return facts


def _map_link(meta: Any) -> str:
    location = meta.get("location") if isinstance(meta, dict) else None
    if not isinstance(location, dict):
        return ""
    lat, lon = location.get("latitude"), location.get("longitude")
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
        return ""
    if isinstance(lat, bool) or isinstance(lon, bool) or abs(lat) > 90 or abs(lon) > 180:
        return ""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )


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


# ---------------------------------------------------------------------------
# Chat lists


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
    _require_view(request, Message)
    user_id, session_id = _int_param(request, "user"), _int_param(request, "session")
    if (user_id is None) == (session_id is None):
        raise Http404("Give either a user or a session.")
    if user_id is not None:
        owner = get_object_or_404(
            User.objects.only("id", "phone_number", "display_name"), pk=user_id
        )
        page = _int_param(request, "page") or 1
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
        after = request.GET.get("after", "")[:128]
        rows, has_next = _session_chats(session, after)
        scope = {"session": session.pk}
        title = f"Conversations on {session.bridge_session_id}"
        pager = {
            "next": admin_url(
                "messaging_message_chats", query={**scope, "after": rows[-1].chat_jid}
            )
            if has_next
            else "",
            "previous": admin_url("messaging_message_chats", query=scope) if after else "",
        }
    for row in rows:
        row.href = admin_url("messaging_message_chat", query={**scope, "chat": row.chat_jid})
    context = _admin_context(
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


def _session_chats(session: WhatsAppSession, after: str) -> tuple[list[ChatRow], bool]:
    # Ordered by chat id so PostgreSQL walks (session, chat_jid, …) and stops after
    # one page of groups, however many messages the session (e.g. the main number) has.
    groups = (
        Message.objects.filter(session=session)
        .values("chat_jid")
        .annotate(last_message_at=Max("timestamp"), message_count=Count("*"))
        .order_by("chat_jid")
    )
    if after:
        groups = groups.filter(chat_jid__gt=after)
    groups = list(groups[: CHATS_PAGE_SIZE + 1])
    has_next = len(groups) > CHATS_PAGE_SIZE
    groups = groups[:CHATS_PAGE_SIZE]
    last = _last_messages(Message.objects.filter(session=session), groups)
    return _chat_rows(groups, last), has_next


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


# ---------------------------------------------------------------------------
# One conversation


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
    _require_view(request, Message)
    user_id, session_id = _int_param(request, "user"), _int_param(request, "session")
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

    before = Cursor.parse(request.GET.get("before", ""))
    after = Cursor.parse(request.GET.get("after", ""))
    at_id = _int_param(request, "at")
    highlight = None
    if at_id is not None:
        anchor_message = base.filter(pk=at_id).only("id", "timestamp").first()
        if anchor_message is None:
            messages.warning(request, "That message is not in this conversation.")
        else:
            highlight = at_id

    if highlight is not None:
        # The message with a little of what followed it, the rest of the page before it.
        at = Cursor.of(anchor_message)
        around = min(AROUND_AFTER, PAGE_SIZE // 2)
        newer = list(base.filter(at.newer_q()).order_by("timestamp", "id")[: around + 1])
        has_newer = len(newer) > around
        newer = newer[:around]
        room = PAGE_SIZE - len(newer)
        rows = list(
            base.filter(at.older_q(inclusive=True)).order_by("-timestamp", "-id")[: room + 1]
        )
        has_older = len(rows) > room
        rows = rows[:room]
        rows.reverse()
        rows += newer
    elif after is not None:
        rows = list(base.filter(after.newer_q()).order_by("timestamp", "id")[: PAGE_SIZE + 1])
        has_newer, has_older = len(rows) > PAGE_SIZE, True
        rows = rows[:PAGE_SIZE]
    else:
        older = base.filter(before.older_q()) if before is not None else base
        rows = list(older.order_by("-timestamp", "-id")[: PAGE_SIZE + 1])
        has_older, has_newer = len(rows) > PAGE_SIZE, before is not None
        rows = rows[:PAGE_SIZE]
        rows.reverse()
    if not rows:
        has_older = has_newer = False

    page = ChatPage(
        bubbles=_bubbles(rows, scope=scope, highlight=highlight),
        older=admin_url(
            "messaging_message_chat", query={**scope, "q": query, "before": Cursor.of(rows[0])}
        )
        if has_older
        else "",
        newer=admin_url(
            "messaging_message_chat", query={**scope, "q": query, "after": Cursor.of(rows[-1])}
        )
        if has_newer
        else "",
        newest=admin_url("messaging_message_chat", query={**scope, "q": query}),
    )
    chats_scope = {"user": user_id} if owner is not None else {"session": session_id}
    context = _admin_context(
        request,
        model_admin,
        title=f"Conversation with {chat_jid}",
        owner=owner,
        session=session,
        chat_jid=chat_jid,
        is_group=chat_jid.endswith("@g.us"),
        query=query,
        page=page,
        scope=scope,
        chats_url=admin_url("messaging_message_chats", query=chats_scope),
        clear_search_url=admin_url("messaging_message_chat", query=scope),
    )
    return TemplateResponse(request, "admin/messaging/message/chat.html", context)


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
                map_link=_map_link(message.media_metadata),
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
            )
        )
        previous_day = local_day
    return bubbles


# ---------------------------------------------------------------------------
# Pairing


def _session_for_change(request, model_admin, object_id) -> WhatsAppSession:
    _require(request, WhatsAppSession, "change")
    if not str(object_id).isdigit():
        raise Http404
    return get_object_or_404(WhatsAppSession.objects.select_related("user"), pk=object_id)


def pairing_view(request, model_admin, object_id):
    """The pairing page: the QR code while waiting for a scan, reloading until connected."""
    session = _session_for_change(request, model_admin, object_id)
    if request.method == "POST":
        return _connect(request, session)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    # Just connected, the bridge may still be preparing the QR code (?started=1).
    started = request.GET.get("started") == "1"
    bridge_failed = bridge_lost = False
    if session.status == WhatsAppSession.Status.QR_PENDING and (session.qr_code or started):
        try:
            session = pairing.whatsapp_session_refresh_qr(
                session=session, actor=request.user, request=request
            )
        except BridgeError as exc:
            bridge_failed, bridge_lost = True, exc.status_code == 404
            messages.error(request, f"Could not refresh the QR code: {exc}")
            session.refresh_from_db()
    qr_image = pairing.qr_image_data_url(session.qr_code)
    waiting = (
        session.status == WhatsAppSession.Status.QR_PENDING
        and (bool(qr_image) or started)
        and not bridge_lost
    )
    now = timezone.now()
    expires_in = None
    if session.qr_expires_at and waiting:
        expires_in = max(int((session.qr_expires_at - now).total_seconds()), 0)
    context = _admin_context(
        request,
        model_admin,
        title=f"Pair {session.bridge_session_id}",
        original=session,
        session=session,
        qr_image=qr_image,
        waiting=waiting,
        expires_in=expires_in,
        refresh_seconds=(PAIRING_RETRY_SECONDS if bridge_failed else PAIRING_REFRESH_SECONDS)
        if waiting
        else None,
        connected=session.status == WhatsAppSession.Status.CONNECTED,
        change_url=reverse("admin:messaging_whatsappsession_change", args=[session.pk]),
        disconnect_url=reverse("admin:messaging_whatsappsession_disconnect", args=[session.pk]),
        chats_url=admin_url("messaging_message_chats", query={"session": session.pk}),
    )
    return TemplateResponse(request, "admin/messaging/whatsappsession/pairing.html", context)


def _connect(request, session: WhatsAppSession):
    pairing_url = reverse("admin:messaging_whatsappsession_pairing", args=[session.pk])
    try:
        session = pairing.whatsapp_session_connect(
            session=session, actor=request.user, request=request
        )
    except BridgeError as exc:
        messages.error(request, f"Could not start pairing: {exc}")
        return HttpResponseRedirect(pairing_url)
    if session.status == WhatsAppSession.Status.CONNECTED:
        messages.success(request, f"Session {session.bridge_session_id} is already connected.")
    elif session.qr_code:
        messages.info(request, "Scan the QR code with WhatsApp on the phone to pair it.")
    elif session.status == WhatsAppSession.Status.QR_PENDING:
        messages.info(request, "The bridge is starting the session: its QR code appears here soon.")
        return HttpResponseRedirect(f"{pairing_url}?started=1")
    else:
        messages.warning(request, f"The bridge reports the session {session.get_status_display()}.")
    return HttpResponseRedirect(pairing_url)


def disconnect_view(request, model_admin, object_id):
    """Confirm, then end the session at the bridge."""
    session = _session_for_change(request, model_admin, object_id)
    change_url = reverse("admin:messaging_whatsappsession_change", args=[session.pk])
    if request.method == "POST":
        try:
            pairing.whatsapp_session_disconnect(
                session=session, actor=request.user, request=request
            )
        except BridgeError as exc:
            messages.error(request, f"Could not disconnect: {exc}")
        else:
            messages.success(request, f"Session {session.bridge_session_id} is disconnected.")
        return HttpResponseRedirect(change_url)
    context = _admin_context(
        request,
        model_admin,
        title=f"Disconnect {session.bridge_session_id}?",
        original=session,
        object=session,
        question=(
            f"This logs the phone {session.phone_number or ''} out of "
            f"“{session.bridge_session_id}” at the WhatsApp bridge. No messages are "
            "deleted; to use the number again, pair it again with a new QR code."
        ),
        confirm_label="Yes, disconnect",
        cancel_url=change_url,
        danger=True,
    )
    return TemplateResponse(request, "admin/zapa/confirm.html", context)
