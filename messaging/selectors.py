"""Reads of message history shared by the API, the admin and the benchmarks.

Every read is scoped to one user and shaped for the indexes in `models.py`:
history pages walk `message_user_history_idx` (user, -timestamp, -id), or
`message_chat_history_idx` when narrowed to one chat.
"""

from collections.abc import Iterator
from datetime import date, datetime

from django.db.models import Q, QuerySet

from messaging.models import ChatSummary, Message, MessageCount, WhatsAppSession
from messaging.search import search_messages

# The columns a history page shows; everything else stays on disk.
HISTORY_FIELDS = (
    "id",
    "session",
    "wa_message_id",
    "chat_jid",
    "sender_jid",
    "recipient_jid",
    "direction",
    "message_type",
    "content",
    "caption",
    "media_metadata",
    "reply_to",
    "status",
    "timestamp",
)
LAST_MESSAGE_FIELDS = (
    "id",
    "chat_jid",
    "sender_jid",
    "direction",
    "message_type",
    "content",
    "caption",
    "status",
    "timestamp",
)
SESSION_FIELDS = (
    "id",
    "bridge_session_id",
    "phone_number",
    "session_type",
    "status",
    "connected_at",
    "disconnected_at",
    "created_at",
)
EXPORT_BATCH_SIZE = 2000


def message_history(
    *,
    user,
    chat_jid: str | None = None,
    session_id: int | None = None,
    direction: str | None = None,
    message_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    query: str | None = None,
) -> QuerySet[Message]:
    """`user`'s messages, newest first; `since` is inclusive, `until` exclusive."""
    messages = Message.objects.filter(user=user)
    if chat_jid:
        messages = messages.filter(chat_jid=chat_jid)
    if session_id is not None:
        messages = messages.filter(session_id=session_id)
    if direction:
        messages = messages.filter(direction=direction)
    if message_type:
        messages = messages.filter(message_type=message_type)
    if since is not None:
        messages = messages.filter(timestamp__gte=since)
    if until is not None:
        messages = messages.filter(timestamp__lt=until)
    if query:
        messages = search_messages(messages, query)
    return messages.only(*HISTORY_FIELDS).order_by("-timestamp", "-id")


def message_iter_oldest_first(
    messages: QuerySet[Message], *, fields: tuple[str, ...], batch_size: int | None = None
) -> Iterator[list[dict]]:
    """Batches of `messages` as dicts, oldest first, however many there are.

    Each batch is its own short query that resumes after the previous batch's
    last (timestamp, id): memory stays at one batch, and no server-side cursor
    or transaction is held open while a slow client downloads.
    """
    batch_size = batch_size or EXPORT_BATCH_SIZE
    columns = tuple(dict.fromkeys(("id", "timestamp", *fields)))
    batch_query = messages.order_by("timestamp", "id").values(*columns)
    last = None
    while True:
        batch_messages = batch_query
        if last is not None:
            batch_messages = batch_messages.filter(
                Q(timestamp__gt=last["timestamp"])
                | Q(timestamp=last["timestamp"], id__gt=last["id"]),
                timestamp__gte=last["timestamp"],
            )
        batch = list(batch_messages[:batch_size])
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


def message_stats(*, user) -> dict:
    """Counts by direction and type, first/last time and a daily average: one query over
    the user's few MessageCount rows (kept by the database, see models.MessageCount)."""
    counts = list(
        MessageCount.objects.filter(user=user).values_list(
            "direction", "message_type", "message_count", "first_message_at", "last_message_at"
        )
    )
    by_direction = dict.fromkeys(Message.Direction.values, 0)
    by_type = dict.fromkeys(Message.MessageType.values, 0)
    for direction, message_type, count, _, _ in counts:
        by_direction[direction] += count
        by_type[message_type] += count
    total = sum(by_direction.values())
    first = min((row[3] for row in counts), default=None)
    last = max((row[4] for row in counts), default=None)
    daily_average = 0.0
    if total:
        daily_average = round(total / calendar_days(first.date(), last.date()), 2)
    return {
        "total": total,
        "incoming": by_direction[Message.Direction.INCOMING],
        "outgoing": by_direction[Message.Direction.OUTGOING],
        "by_type": by_type,
        "first_message_at": first,
        "last_message_at": last,
        "daily_average": daily_average,
    }


def calendar_days(first: date, last: date) -> int:
    """Days from `first` to `last`, both included (Jan 1 .. Jan 3 is 3 days)."""
    return (last - first).days + 1


def conversation_list(*, user) -> QuerySet:
    """`user`'s chats as dicts (chat_jid, last_message_at, message_count), latest first.

    Read from the ChatSummary rows the database keeps (`chat_summary_latest_idx`), never
    from the messages. Ties on the last message's time are broken by chat_jid, unique here.
    """
    return (
        ChatSummary.objects.filter(user=user)
        .values("chat_jid", "last_message_at", "message_count")
        .order_by("-last_message_at", "chat_jid")
    )


def conversation_last_messages(*, user, conversations: list[dict]) -> dict[str, Message]:
    """The last message of each conversation, by chat_jid: one query for any number.

    The newest message of a chat is the one at its `last_message_at`; should
    several share that instant, the highest id wins, as in the history order.
    """
    if not conversations:
        return {}
    matches = Q()
    for conversation in conversations:
        matches |= Q(chat_jid=conversation["chat_jid"], timestamp=conversation["last_message_at"])
    last_messages: dict[str, Message] = {}
    candidates = Message.objects.filter(matches, user=user).only(*LAST_MESSAGE_FIELDS)
    for message in candidates.order_by("id"):
        last_messages[message.chat_jid] = message
    return last_messages


def session_list(*, user) -> QuerySet[WhatsAppSession]:
    """`user`'s own WhatsApp sessions, newest first."""
    return (
        WhatsAppSession.objects.filter(user=user)
        .only(*SESSION_FIELDS)
        .order_by("-created_at", "-id")
    )
