"""Whether a turn gets an answer: the skip rules and the daily limits. They can change
while a turn waits, so they are read when it runs, all in one query (`turn_facts`)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import User
from assistant.models import Turn
from assistant.triggers import GROUP_SUFFIX
from messaging.models import Message

ANSWERING = (Turn.State.PENDING, Turn.State.RUNNING, Turn.State.REPLIED)


@dataclass(frozen=True)
class TurnFacts:
    later_message: bool  # a later message in the chat will get (or got) the answer
    person_answered: bool  # someone answered from the assistant's phone, recently
    replies_today: int
    tokens_today: int


def turn_facts(turn: Turn, *, now) -> TurnFacts:
    """What the rules need beyond the turn's own row, in one query."""
    chat = Message.objects.filter(session_id=turn.session_id, chat_jid=turn.chat_jid)
    later = (
        chat.filter(
            direction=Message.Direction.INCOMING,
            timestamp__gt=turn.trigger_message.timestamp,
        )
        .exclude(message_type=Message.MessageType.UNSUPPORTED)
        # Its turn may not exist yet (a worker creates it): then it will answer.
        .filter(Q(assistant_turn__isnull=True) | Q(assistant_turn__state__in=ANSWERING))
    )
    pause = timedelta(minutes=settings.ASSISTANT_HUMAN_PAUSE_MINUTES)
    person = chat.filter(direction=Message.Direction.OUTGOING, timestamp__gte=now - pause).exclude(
        media_metadata__has_key="sent_by"
    )  # Zapa marks every message it sends
    day_start = now - timedelta(days=1)
    today = (
        Turn.objects.filter(
            user_id=OuterRef("pk"), created_at__gte=day_start, finished_at__gte=day_start
        )
        .order_by()
        .values("user_id")
    )
    replies = today.filter(state=Turn.State.REPLIED).annotate(n=Count("pk")).values("n")
    tokens = today.annotate(n=Sum(F("input_tokens") + F("output_tokens"))).values("n")
    row = (
        User.objects.filter(pk=turn.user_id)
        .annotate(
            later=Exists(later),
            person=Exists(person),
            replies=Coalesce(Subquery(replies), 0),
            tokens=Coalesce(Subquery(tokens), 0),
        )
        .values("later", "person", "replies", "tokens")
        .get()
    )
    return TurnFacts(row["later"], row["person"], row["replies"], row["tokens"])


def skip_reason(turn: Turn, facts: TurnFacts) -> str:
    """Why this turn gets no answer, or ""."""
    if turn.session.bridge_session_id != settings.WHATSAPP_MAIN_SESSION_ID:
        return "Not the assistant's number."
    if turn.chat_jid.endswith(GROUP_SUFFIX):
        return "Group chats get no reply."
    if turn.trigger_message.message_type == Message.MessageType.UNSUPPORTED:
        return "A message Zapa cannot display gets no reply."
    if (turn.user.preferences or {}).get("assistant_enabled") is False:
        return "The user switched the assistant off."
    if not turn.user.is_active:
        return "The user's account is disabled."
    if facts.later_message:
        return "A later message in this chat gets the answer."
    if facts.person_answered:
        return "A person answered from the assistant's phone: the assistant is paused here."
    return ""


def limit_reason(facts: TurnFacts) -> str:
    """Why the user's daily limits allow no answer now, or "" (the last 24 hours)."""
    if facts.replies_today >= settings.ASSISTANT_MAX_TURNS_PER_DAY:
        return "The daily number of replies is used up."
    if facts.tokens_today >= settings.ASSISTANT_DAILY_TOKEN_BUDGET:
        return "The daily token budget is used up."
    return ""
