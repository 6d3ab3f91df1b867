"""Running a turn: lease it, decide whether to answer, ask the provider, send the
reply once. See docs/architecture.md, "The assistant loop".

Exactly one reply per turn: the reply is sent only by the worker holding the turn's
lease, and `send_started_at` is committed before the bridge is called. A worker that
died before that point is replaced when the lease runs out (the sweeper); one that died
after it leaves a turn that is marked failed rather than sent twice.
"""

import contextlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from assistant.dialogue import converse, tool_specs
from assistant.formatting import split_message, to_whatsapp
from assistant.leasing import turn_lease, turn_load
from assistant.models import Turn
from assistant.persona import context_rows, conversation, system_prompt
from assistant.providers import ChatRequest
from assistant.rules import limit_reason, skip_reason, turn_facts
from assistant.tools import ToolContext
from llm.models import ActionLog, LLMConfig
from messaging.models import Message
from messaging.services.outgoing import OutgoingFailed, message_send

MAX_ATTEMPTS = 3
SENT_BY = "assistant"


def turn_run(*, turn_id: int) -> Turn | None:
    """Run one turn if it is due and nobody else holds it; None when there was nothing to do."""
    now = timezone.now()
    if not turn_lease(turn_id, now=now):
        return None
    turn, own_config = turn_load(turn_id)
    if turn.send_started_at:
        return _finish(turn, Turn.State.FAILED, "Interrupted while sending; not sent again.")
    if turn.attempts > MAX_ATTEMPTS:
        return _finish(turn, Turn.State.FAILED, f"Gave up after {MAX_ATTEMPTS} attempts.")
    facts = turn_facts(turn, now=now)
    reason = skip_reason(turn, facts)
    if reason:
        return _finish(turn, Turn.State.SKIPPED, reason)
    config = config_for(turn, own_config)
    if config is None:
        return _no_config(turn, now=now)
    reason = limit_reason(facts)
    if reason:
        return _finish(turn, Turn.State.SKIPPED, reason)
    return _answer(turn, config, now=now)


def seconds_until_due(turn_id: int) -> float:
    """How long a pending turn still has to wait (0 if due, finished or gone)."""
    due_at = (
        Turn.objects.filter(pk=turn_id, state=Turn.State.PENDING)
        .values_list("due_at", flat=True)
        .first()
    )
    return max((due_at - timezone.now()).total_seconds(), 0) if due_at else 0


def config_for(turn: Turn, own: LLMConfig | None) -> LLMConfig | None:
    """The contact's own active config (`own`, read with the turn); else the house
    config named on the main session's agent, if staff chose one. Never another user's
    key."""
    if own is not None:
        return own
    agent = turn.session.agent
    house_id = getattr(agent, "house_config_id", None) if agent else None
    if house_id:
        return LLMConfig.objects.filter(pk=house_id, user__is_staff=True).first()
    return None


# --- answering --------------------------------------------------------------------------


def _answer(turn: Turn, config: LLMConfig, *, now) -> Turn:
    agent = turn.session.agent
    model_settings = config.model_settings or {}
    context = context_rows(
        session_id=turn.session_id, chat_jid=turn.chat_jid, up_to=turn.trigger_message
    )
    request = ChatRequest(
        model=model_settings.get("model") or (agent.model if agent else ""),
        system=system_prompt(agent=agent, user=turn.user, model_settings=model_settings, now=now),
        messages=conversation(context),
        tools=tool_specs(agent.functions if agent else []),
        temperature=model_settings.get("temperature"),
        max_tokens=model_settings.get("max_tokens"),
    )
    tool_context = ToolContext(
        user=turn.user, session=turn.session, chat_jid=turn.chat_jid, now=now, turn_id=turn.pk
    )
    turn.llm_config, turn.provider, turn.model = config, config.provider, request.model
    turn.answered_message_ids = _answered_messages(turn, context)
    exchange = converse(config=config, request=request, tool_context=tool_context)
    turn.provider_calls = exchange.provider_calls
    turn.input_tokens, turn.output_tokens = exchange.input_tokens, exchange.output_tokens
    turn.provider_ms, turn.tool_calls = exchange.provider_ms, exchange.tool_calls
    failure = exchange.failure
    if failure is not None:
        if failure.kind == "rejected_key":
            _key_rejected(turn, config)
        return _finish(
            turn, Turn.State.FAILED, f"The provider failed: {failure.message}", exchange.logs
        )
    text = to_whatsapp(exchange.text)
    if not text:
        return _finish(turn, Turn.State.FAILED, "The model gave an empty answer.", exchange.logs)
    return _send(turn, text, exchange.logs)


def _answered_messages(turn: Turn, context: list[Message]) -> list[int]:
    """The incoming messages since the chat's last outgoing one, up to the trigger:
    read from the context (newest first) when it reaches back that far."""
    answered = []
    for message in context:
        if message.direction == Message.Direction.OUTGOING:
            return answered[::-1]
        answered.append(message.pk)
    if len(context) < settings.ASSISTANT_CONTEXT_MESSAGES:
        return answered[::-1]  # the whole chat, and no outgoing message in it
    messages = Message.objects.filter(
        session_id=turn.session_id,
        chat_jid=turn.chat_jid,
        timestamp__lte=turn.trigger_message.timestamp,
    )
    last_outgoing = (
        messages.filter(direction=Message.Direction.OUTGOING)
        .order_by("-timestamp", "-id")
        .values_list("timestamp", flat=True)
        .first()
    )
    incoming = messages.filter(direction=Message.Direction.INCOMING)
    if last_outgoing:
        incoming = incoming.filter(timestamp__gt=last_outgoing)
    return list(incoming.order_by("timestamp", "id").values_list("pk", flat=True)[:50])


def _send(turn: Turn, text: str, logs: list[ActionLog]) -> Turn:
    now = timezone.now()
    # Committed before the bridge is called: from here on, never sent a second time.
    with transaction.atomic():
        ActionLog.objects.bulk_create(logs)
        Turn.objects.filter(pk=turn.pk).update(send_started_at=now, reply_text=text, updated_at=now)
    turn.send_started_at, turn.reply_text = now, text
    first = None
    try:
        for piece in split_message(text):
            sent = message_send(
                session=turn.session,
                chat_jid=turn.chat_jid,
                text=piece,
                sent_by=SENT_BY,
            )
            first = first or sent
    except OutgoingFailed as exc:
        turn.reply_message = first
        return _finish(turn, Turn.State.FAILED, f"Sending failed: {exc}")
    turn.reply_message = first
    return _finish(turn, Turn.State.REPLIED, "")


def _no_config(turn: Turn, *, now) -> Turn:
    """At most one notice a day to a contact without an LLM config."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=turn.user_id).first()
        noticed = Turn.objects.filter(
            user_id=turn.user_id, notice_sent=True, created_at__gte=now - timedelta(days=1)
        ).exists()
        if not noticed:
            Turn.objects.filter(pk=turn.pk).update(notice_sent=True)
            turn.notice_sent = True
    if not noticed:
        _notice(turn, settings.ASSISTANT_NO_CONFIG_NOTICE)
    return _finish(turn, Turn.State.SKIPPED, "No LLM config: the user has no active key.")


def _key_rejected(turn: Turn, config: LLMConfig) -> None:
    """Flag the config (shown in the API and the admin); tell the user once."""
    now = timezone.now()
    first_time = LLMConfig.objects.filter(pk=config.pk, key_rejected_at__isnull=True).update(
        key_rejected_at=now, updated_at=now
    )
    if first_time and config.user_id == turn.user_id:
        _notice(turn, settings.ASSISTANT_KEY_REJECTED_NOTICE)


def _notice(turn: Turn, text: str) -> None:
    # A notice is best effort; the turn records what happened either way.
    with contextlib.suppress(OutgoingFailed):
        turn.reply_message = message_send(
            session=turn.session, chat_jid=turn.chat_jid, text=text, sent_by=SENT_BY
        )


def _finish(turn: Turn, state: str, reason: str, logs: list[ActionLog] = ()) -> Turn:
    now = timezone.now()
    turn.state, turn.reason, turn.finished_at = state, reason[:2000], now
    turn.lease_expires_at = None
    if logs:
        with transaction.atomic():
            ActionLog.objects.bulk_create(logs)
            _save_finished(turn)
    else:
        _save_finished(turn)
    return turn


def _save_finished(turn: Turn) -> None:
    turn.save(
        update_fields=[
            "state",
            "reason",
            "finished_at",
            "lease_expires_at",
            "llm_config",
            "provider",
            "model",
            "provider_calls",
            "input_tokens",
            "output_tokens",
            "provider_ms",
            "tool_calls",
            "answered_message_ids",
            "reply_message",
            "notice_sent",
            "updated_at",
        ]
    )
