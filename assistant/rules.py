"""Whether a turn gets an answer: the skip rules and the daily limits. They can change
while a turn waits, so they are read when it runs, all in one query (`turn_facts`)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection

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


# One fixed statement: it runs for every turn, and building the same query through the
# ORM (four subqueries) cost more than running it. `{sent_by}`: the test for Zapa's
# mark on a message it sent, in each database's JSON dialect.
_FACTS = """
SELECT
    EXISTS (
        SELECT 1 FROM messaging_message AS m
        LEFT JOIN assistant_turn AS t ON t.trigger_message_id = m.id
        WHERE m.session_id = %s AND m.chat_jid = %s AND m.timestamp > %s
          AND m.direction = %s AND m.message_type <> %s
          AND (t.id IS NULL OR t.state IN (%s, %s, %s))
    ),
    EXISTS (
        SELECT 1 FROM messaging_message AS m
        WHERE m.session_id = %s AND m.chat_jid = %s AND m.timestamp >= %s
          AND m.direction = %s AND NOT COALESCE({sent_by}, FALSE)
    ),
    (SELECT count(*) FROM assistant_turn
     WHERE user_id = %s AND created_at >= %s AND finished_at >= %s AND state = %s),
    (SELECT COALESCE(sum(input_tokens + output_tokens), 0) FROM assistant_turn
     WHERE user_id = %s AND created_at >= %s AND finished_at >= %s)
"""
_SENT_BY = {
    "postgresql": "m.media_metadata ? 'sent_by'",
    "sqlite": "json_type(m.media_metadata, '$.sent_by') IS NOT NULL",
}


def turn_facts(turn: Turn, *, now) -> TurnFacts:
    """What the rules need beyond the turn's own row, in one query. A later message
    counts even before its turn exists (a worker creates it): it will get the answer."""
    adapt = connection.ops.adapt_datetimefield_value
    pause_start = adapt(now - timedelta(minutes=settings.ASSISTANT_HUMAN_PAUSE_MINUTES))
    day_start = adapt(now - timedelta(days=1))
    chat = [turn.session_id, turn.chat_jid]
    params = [
        *chat,
        adapt(turn.trigger_message.timestamp),
        Message.Direction.INCOMING,
        Message.MessageType.UNSUPPORTED,
        *ANSWERING,
        *chat,
        pause_start,
        Message.Direction.OUTGOING,
        turn.user_id,
        day_start,
        day_start,
        Turn.State.REPLIED,
        turn.user_id,
        day_start,
        day_start,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_FACTS.format(sent_by=_SENT_BY[connection.vendor]), params)
        later, person, replies, tokens = cursor.fetchone()
    return TurnFacts(bool(later), bool(person), int(replies), int(tokens))


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
