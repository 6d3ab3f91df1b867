"""Taking a turn to run: the lease, then the turn with everything a run reads.

Two fixed statements, written once: they run for every turn, and through the ORM
(a conditional UPDATE, a get with four joined models, the user's active config) they
cost about 4 ms of Python to build against 0.3 ms to run.
"""

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection

from accounts.models import User
from assistant.models import Turn
from core.sql_select import ModelColumns
from llm.models import Agent, LLMConfig
from messaging.models import Message, WhatsAppSession

# Pending and due, or running with a lease that ran out (its worker died).
_LEASE = """
UPDATE assistant_turn
SET state = %s, lease_expires_at = %s, attempts = attempts + 1,
    started_at = COALESCE(started_at, %s), updated_at = %s
WHERE id = %s AND due_at <= %s
  AND (state = %s OR (state = %s AND lease_expires_at < %s))
"""

_TURN = ModelColumns(Turn, "t")
_USER = ModelColumns(User, "u")
_SESSION = ModelColumns(WhatsAppSession, "s")
_AGENT = ModelColumns(Agent, "a")
_TRIGGER = ModelColumns(Message, "m")
_OWN_CONFIG = ModelColumns(LLMConfig, "c")
_JOINED = (_TURN, _USER, _SESSION, _AGENT, _TRIGGER, _OWN_CONFIG)

_LOAD = """
SELECT {columns}
FROM assistant_turn AS t
JOIN {user} AS u ON u.id = t.user_id
JOIN {session} AS s ON s.id = t.session_id
LEFT JOIN {agent} AS a ON a.id = s.agent_id
JOIN {message} AS m ON m.id = t.trigger_message_id
LEFT JOIN {config} AS c ON c.user_id = t.user_id AND c.is_active = %s
WHERE t.id = %s
"""


def turn_lease(turn_id: int, *, now) -> bool:
    """Mark the turn running under a fresh lease, if it is due and nobody holds it."""
    running, pending = Turn.State.RUNNING, Turn.State.PENDING
    adapt = connection.ops.adapt_datetimefield_value
    at = adapt(now)
    expires = adapt(now + timedelta(seconds=settings.ASSISTANT_TURN_LEASE_SECONDS))
    params = [running, expires, at, at, turn_id, at, pending, running, at]
    with connection.cursor() as cursor:
        cursor.execute(_LEASE, params)
        return cursor.rowcount == 1


def turn_load(turn_id: int) -> tuple[Turn, LLMConfig | None]:
    """The turn with its user, session (and the session's agent) and trigger message;
    and the user's active LLM config, if any (at most one: a unique constraint)."""
    with connection.cursor() as cursor:
        cursor.execute(_load_sql(connection.vendor), [True, turn_id])
        row = cursor.fetchone()
    instances, start = [], 0
    for columns in _JOINED:
        instances.append(columns.instance(row[start : start + len(columns)], connection))
        start += len(columns)
    turn, user, session, agent, trigger, own_config = instances
    session.agent = agent
    turn.user, turn.session, turn.trigger_message = user, session, trigger
    return turn, own_config


@cache
def _load_sql(vendor: str) -> str:  # one per database kind
    quote = connection.ops.quote_name
    return _LOAD.format(
        columns=", ".join(columns.sql(connection) for columns in _JOINED),
        user=quote(User._meta.db_table),
        session=quote(WhatsAppSession._meta.db_table),
        agent=quote(Agent._meta.db_table),
        message=quote(Message._meta.db_table),
        config=quote(LLMConfig._meta.db_table),
    )
