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
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from assistant.dialogue import converse, tool_specs
from assistant.formatting import split_message, to_whatsapp
from assistant.models import Turn
from assistant.persona import conversation, system_prompt
from assistant.providers import ChatRequest, ProviderError
from assistant.tools import ToolContext
from llm.models import LLMConfig
from messaging.models import Message
from messaging.services.outgoing import OutgoingFailed, message_send

MAX_ATTEMPTS = 3
SENT_BY = "assistant"


def turn_run(*, turn_id: int) -> Turn | None:
    """Run one turn if it is due and nobody else holds it; None when there was nothing to do."""
    now = timezone.now()
    leased = (
        Turn.objects.filter(pk=turn_id, due_at__lte=now)
        .filter(Q(state=Turn.State.PENDING) | Q(state=Turn.State.RUNNING, lease_expires_at__lt=now))
        .update(
            state=Turn.State.RUNNING,
            lease_expires_at=now + timedelta(seconds=settings.ASSISTANT_TURN_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
            updated_at=now,
        )
    )
    if not leased:
        return None
    turn = Turn.objects.select_related("user", "session__agent", "trigger_message").get(pk=turn_id)
    if turn.send_started_at:
        return _finish(turn, Turn.State.FAILED, "Interrupted while sending; not sent again.")
    if turn.attempts > MAX_ATTEMPTS:
        return _finish(turn, Turn.State.FAILED, f"Gave up after {MAX_ATTEMPTS} attempts.")
    reason = skip_reason(turn, now=now)
    if reason:
        return _finish(turn, Turn.State.SKIPPED, reason)
    config = config_for(turn)
    if config is None:
        return _no_config(turn, now=now)
    reason = limit_reason(turn, now=now)
    if reason:
        return _finish(turn, Turn.State.SKIPPED, reason)
    return _answer(turn, config, now=now)


# --- whether to answer ----------------------------------------------------------------


def skip_reason(turn: Turn, *, now) -> str:
    """Why this turn gets no answer, or "" (each rule once, checked when it runs)."""
    session = turn.session
    if session.bridge_session_id != settings.WHATSAPP_MAIN_SESSION_ID:
        return "Not the assistant's number."
    if turn.chat_jid.endswith("@g.us"):
        return "Group chats get no reply."
    if turn.trigger_message.message_type == Message.MessageType.UNSUPPORTED:
        return "A message Zapa cannot display gets no reply."
    if (turn.user.preferences or {}).get("assistant_enabled") is False:
        return "The user switched the assistant off."
    if not turn.user.is_active:
        return "The user's account is disabled."
    newer = Turn.objects.filter(
        session_id=turn.session_id,
        chat_jid=turn.chat_jid,
        trigger_message__timestamp__gt=turn.trigger_message.timestamp,
        state__in=[Turn.State.PENDING, Turn.State.RUNNING, Turn.State.REPLIED],
    )
    if newer.exists():
        return "A later message in this chat gets the answer."
    pause = timedelta(minutes=settings.ASSISTANT_HUMAN_PAUSE_MINUTES)
    human = (
        Message.objects.filter(
            session_id=turn.session_id,
            chat_jid=turn.chat_jid,
            direction=Message.Direction.OUTGOING,
            timestamp__gte=now - pause,
        )
        .exclude(media_metadata__has_key="sent_by")  # Zapa marks every message it sends
        .exists()
    )
    if human:
        return "A person answered from the assistant's phone: the assistant is paused here."
    return ""


def config_for(turn: Turn) -> LLMConfig | None:
    """The contact's own active config; else the house config named on the main
    session's agent, if staff chose one. Never another user's key."""
    own = LLMConfig.objects.filter(user_id=turn.user_id, is_active=True).first()
    if own is not None:
        return own
    agent = turn.session.agent
    house_id = getattr(agent, "house_config_id", None) if agent else None
    if house_id:
        return LLMConfig.objects.filter(pk=house_id, user__is_staff=True).first()
    return None


def limit_reason(turn: Turn, *, now) -> str:
    day_start = now - timedelta(days=1)
    today = Turn.objects.filter(user_id=turn.user_id, finished_at__gte=day_start)
    if today.filter(state=Turn.State.REPLIED).count() >= settings.ASSISTANT_MAX_TURNS_PER_DAY:
        return "The daily number of replies is used up."
    tokens = today.aggregate(total=Sum(F("input_tokens") + F("output_tokens")))["total"] or 0
    if tokens >= settings.ASSISTANT_DAILY_TOKEN_BUDGET:
        return "The daily token budget is used up."
    return ""


# --- answering --------------------------------------------------------------------------


def _answer(turn: Turn, config: LLMConfig, *, now) -> Turn:
    agent = turn.session.agent
    model_settings = config.model_settings or {}
    answered = _answered_messages(turn)
    request = ChatRequest(
        model=model_settings.get("model") or (agent.model if agent else ""),
        system=system_prompt(agent=agent, user=turn.user, model_settings=model_settings, now=now),
        messages=conversation(
            session_id=turn.session_id, chat_jid=turn.chat_jid, up_to=turn.trigger_message
        ),
        tools=tool_specs(agent.functions if agent else []),
        temperature=model_settings.get("temperature"),
        max_tokens=model_settings.get("max_tokens"),
    )
    context = ToolContext(
        user=turn.user, session=turn.session, chat_jid=turn.chat_jid, now=now, turn_id=turn.pk
    )
    turn.llm_config, turn.provider, turn.model = config, config.provider, request.model
    turn.answered_message_ids = answered
    try:
        exchange = converse(config=config, request=request, tool_context=context)
    except ProviderError as exc:
        if exc.kind == "rejected_key":
            _key_rejected(turn, config)
        return _finish(turn, Turn.State.FAILED, f"The provider failed: {exc.message}")
    turn.provider_calls = exchange.provider_calls
    turn.input_tokens, turn.output_tokens = exchange.input_tokens, exchange.output_tokens
    turn.provider_ms, turn.tool_calls = exchange.provider_ms, exchange.tool_calls
    text = to_whatsapp(exchange.text)
    if not text:
        return _finish(turn, Turn.State.FAILED, "The model gave an empty answer.")
    return _send(turn, text)


def _answered_messages(turn: Turn) -> list[int]:
    """The incoming messages since the chat's last outgoing one, up to the trigger."""
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


def _send(turn: Turn, text: str) -> Turn:
    now = timezone.now()
    # Committed before the bridge is called: from here on, never sent a second time.
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


def _finish(turn: Turn, state: str, reason: str) -> Turn:
    now = timezone.now()
    turn.state, turn.reason, turn.finished_at = state, reason[:2000], now
    turn.lease_expires_at = None
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
    return turn
