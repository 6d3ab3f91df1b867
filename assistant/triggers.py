"""Turns for new incoming messages on the assistant's number: the ingest announces the
messages it stored (`messaging.ingest.hooks.messages_stored`), a worker creates their
turns, and the sweeper creates any that a crash left out. One turn per trigger message:
a unique constraint."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.utils import timezone

from assistant.models import Turn
from messaging.models import Message

GROUP_SUFFIX = "@g.us"


def eligible_messages(messages):
    """Incoming messages the assistant may owe an answer to (the rest of the rules,
    which can change while a turn waits, are checked when it runs)."""
    return (
        messages.filter(
            direction=Message.Direction.INCOMING,
            session__bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID,
        )
        .exclude(message_type=Message.MessageType.UNSUPPORTED)
        .exclude(chat_jid__endswith=GROUP_SUFFIX)
    )


def turns_create(messages) -> list[int]:
    """Create the missing turns for these messages; return the new turns' ids.

    One `INSERT … SELECT` in autocommit: the messages are read, and their turns
    written, by the database, with no rows through Python. A turn that already exists (a
    concurrent redelivery made it, or the sweeper) is left alone, and its id is not
    returned: whoever created it runs it.
    """
    # Without a broker the turn runs right after the commit, in this process: no debounce.
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    debounce = timedelta(seconds=0 if eager else settings.ASSISTANT_DEBOUNCE_SECONDS)
    candidates = (
        eligible_messages(messages)
        .filter(assistant_turn__isnull=True)
        .order_by("timestamp", "id")
        .values_list(
            "pk",
            "user_id",
            "session_id",
            "chat_jid",
            ExpressionWrapper(
                F("created_at") + Value(debounce, output_field=DurationField()),
                output_field=DateTimeField(),
            ),
        )
    )
    select, select_params = candidates.query.sql_with_params()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    defaults = _turn_defaults()
    columns = [*_FROM_MESSAGE, *(column for column, _ in defaults), "created_at", "updated_at"]
    placeholders = ", ".join(["%s"] * (len(defaults) + 2))
    # Only names from the model and the ORM's own SQL are formatted in; values are params.
    statement = (
        f"INSERT INTO {Turn._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT c.*, {placeholders} FROM ({select}) AS c "
        # WHERE: SQLite would read ON CONFLICT as the start of a join's ON.
        "WHERE 1 = 1 ON CONFLICT (trigger_message_id) DO NOTHING RETURNING id"
    )
    params = [*(value for _, value in defaults), now, now, *select_params]  # in text order
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return sorted(row[0] for row in cursor.fetchall())


# The columns a new turn takes from its message, in the order `turns_create` selects them.
_FROM_MESSAGE = ("trigger_message_id", "user_id", "session_id", "chat_jid", "due_at")


def _turn_defaults() -> list[tuple[str, object]]:
    """Every other column of a new turn that has a value: the model's default, ready
    for the database (so the defaults live only on the model)."""
    skip = {*_FROM_MESSAGE, "id", "created_at", "updated_at"}
    return [
        (field.column, field.get_db_prep_save(field.get_default(), connection))
        for field in Turn._meta.concrete_fields
        if field.column not in skip and not field.null
    ]


def messages_stored_received(sender, messages, **kwargs) -> None:
    """Receiver of `messages_stored`: hand the main session's new incoming messages to a
    worker (`tasks.answer_messages`), which creates their turns and runs them.

    The request does nothing more than that one publish, after its commit. A hand-over
    that is lost (a crash right after the commit, the broker down) is made up by the
    sweeper, which creates the turns that messages stored in the last hour lack.
    """
    if not settings.ASSISTANT_ENABLED:
        return
    main = settings.WHATSAPP_MAIN_SESSION_ID
    wanted = [
        wa_id for key, wa_id, direction in messages if key == main and direction == "incoming"
    ]
    if not wanted:
        return
    from assistant import tasks  # the task module imports Celery's app

    transaction.on_commit(lambda: tasks.answer_messages_later(wanted), robust=True)


def turns_create_for_main(wa_message_ids: list[str]) -> list[int]:
    """Create the missing turns of these messages of the main session; the new ids."""
    return turns_create(
        Message.objects.filter(
            session__bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID,
            wa_message_id__in=wa_message_ids,
        )
    )


def turns_sweep(*, now=None, lookback: timedelta = timedelta(hours=1)) -> list[int]:
    """Turns a crash left out (messages stored, no turn) and turns whose worker died
    (lease expired) or that were never run: the ids to run now."""
    if not settings.ASSISTANT_ENABLED:
        return []
    now = now or timezone.now()
    created = turns_create(Message.objects.filter(created_at__gte=now - lookback))
    stale = Turn.objects.filter(state__in=[Turn.State.PENDING, Turn.State.RUNNING]).filter(
        due_at__lte=now
    )
    runnable = [
        pk
        for pk, state, lease in stale.values_list("pk", "state", "lease_expires_at")[:500]
        if state == Turn.State.PENDING or lease is None or lease < now
    ]
    return sorted(set(created) | set(runnable))
