"""The assistant's tools, each scoped to the turn's user by an access check.

A model can ask for anything; what it gets is decided here. Every read goes through
`access_user_messages` (only the turn's user's own rows) and every reminder through
`access_reminder` (only the user's own), whatever ids or words the model sends.
Results are JSON text capped at `MAX_RESULT_CHARS`.
"""

import json
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import QuerySet

from assistant import reminders
from assistant.models import Reminder
from llm.tool_catalogue import TOOLS
from messaging.models import Message
from messaging.search import search_messages
from messaging.selectors import message_stats

MAX_RESULT_CHARS = 6000
MAX_TEXT_CHARS = 500  # of one message in a result


class ToolError(Exception):
    """The tool cannot do what was asked; the message is shown to the model."""


@dataclass(frozen=True)
class ToolContext:
    user: Any  # accounts.User
    session: Any  # messaging.WhatsAppSession (the assistant's number)
    chat_jid: str
    now: datetime
    turn_id: int | None = None

    @property
    def timezone(self) -> ZoneInfo:
        return user_timezone(self.user)


def user_timezone(user) -> ZoneInfo:
    name = (user.preferences or {}).get("timezone") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- access checks -------------------------------------------------------------------


def access_user_messages(context: ToolContext) -> QuerySet[Message]:
    """The only messages a tool may read: the turn's user's own."""
    return Message.objects.filter(user=context.user)


def access_reminder(context: ToolContext, reminder_id: Any) -> Reminder:
    """One of the turn's user's reminders, or ToolError (never another user's)."""
    try:
        pk = int(reminder_id)
    except (TypeError, ValueError) as exc:
        raise ToolError("id must be a reminder id (a number).") from exc
    reminder = Reminder.objects.filter(pk=pk, user=context.user).first()
    if reminder is None:
        raise ToolError(f"You have no reminder with id {pk}.")
    return reminder


# --- running a tool ------------------------------------------------------------------


def run_tool(name: str, arguments: dict, context: ToolContext) -> str:
    """The tool's result as JSON text (an {"error": …} object when it cannot run)."""
    implementation = _IMPLEMENTATIONS.get(name)
    if implementation is None or name not in TOOLS:
        result: Any = {"error": f"There is no tool named {name!r}."}
    else:
        try:
            result = implementation(context, **_known_arguments(name, arguments))
        except ToolError as exc:
            result = {"error": str(exc)}
        except TypeError:
            result = {"error": f"Wrong arguments for {name}."}
    return _capped(result)


def _known_arguments(name: str, arguments: dict) -> dict:
    allowed = TOOLS[name].parameters.get("properties", {})
    return {key: value for key, value in (arguments or {}).items() if key in allowed}


def _capped(result: Any) -> str:
    text = json.dumps(result, ensure_ascii=False, default=str)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    if isinstance(result, dict) and isinstance(result.get("messages"), list):
        messages = list(result["messages"])
        while messages and len(text) > MAX_RESULT_CHARS:
            messages.pop()
            text = json.dumps(
                {**result, "messages": messages, "truncated": True},
                ensure_ascii=False,
                default=str,
            )
        return text
    return json.dumps({"result": text[: MAX_RESULT_CHARS - 40], "truncated": True})


def _rows(context: ToolContext, messages) -> list[dict]:
    zone = context.timezone
    rows = []
    for message in messages:
        text = message.content or message.caption or ""
        if message.message_type == Message.MessageType.UNSUPPORTED:
            text = "(a message Zapa cannot display)"
        elif not text and message.message_type != Message.MessageType.TEXT:
            text = f"({message.message_type})"
        rows.append(
            {
                "time": message.timestamp.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "from": "user" if message.direction == Message.Direction.INCOMING else "assistant",
                "chat": message.chat_jid,
                "text": text[:MAX_TEXT_CHARS],
            }
        )
    return rows


def _bounded(value: Any, default: int, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))


_FIELDS = ("id", "timestamp", "direction", "chat_jid", "message_type", "content", "caption")


def _search_messages(context: ToolContext, query: str = "", limit: int = 10) -> dict:
    if not isinstance(query, str) or not query.strip():
        raise ToolError("query must be some words to look for.")
    messages = search_messages(access_user_messages(context), query[:200])
    found = messages.only(*_FIELDS).order_by("-timestamp", "-id")[: _bounded(limit, 10, 1, 20)]
    return {"messages": _rows(context, found)}


def _recent_messages(context: ToolContext, count: int = 10) -> dict:
    messages = access_user_messages(context).only(*_FIELDS).order_by("-timestamp", "-id")
    return {"messages": _rows(context, messages[: _bounded(count, 10, 1, 50)])}


def _messages_between(context: ToolContext, start: str = "", end: str = "") -> dict:
    since, until = _local_time(start, context), _local_time(end, context)
    if until <= since:
        raise ToolError("end must be after start.")
    messages = (
        access_user_messages(context)
        .filter(timestamp__gte=since, timestamp__lt=until)
        .only(*_FIELDS)
        .order_by("timestamp", "id")[:50]
    )
    return {"messages": _rows(context, messages)}


def _conversation_stats(context: ToolContext) -> dict:
    stats = message_stats(user=context.user)
    return {
        key: value.astimezone(context.timezone).isoformat(timespec="minutes")
        if isinstance(value, datetime)
        else value
        for key, value in stats.items()
    }


def _create_reminder(context: ToolContext, at: str = "", text: str = "") -> dict:
    due_at = _local_time(at, context)
    try:
        reminder = reminders.reminder_create(
            user=context.user,
            session=context.session,
            chat_jid=context.chat_jid,
            text=text if isinstance(text, str) else "",
            due_at=due_at,
            now=context.now,
            turn_id=context.turn_id,
        )
    except reminders.ReminderRefused as exc:
        raise ToolError(str(exc)) from exc
    return {"created": _reminder_row(context, reminder)}


def _list_reminders(context: ToolContext) -> dict:
    scheduled = Reminder.objects.filter(user=context.user, state=Reminder.State.SCHEDULED)
    return {"reminders": [_reminder_row(context, r) for r in scheduled.order_by("due_at")[:50]]}


def _cancel_reminder(context: ToolContext, id: Any = None) -> dict:
    reminder = access_reminder(context, id)
    try:
        reminders.reminder_cancel(reminder=reminder)
    except reminders.ReminderRefused as exc:
        raise ToolError(str(exc)) from exc
    return {"cancelled": _reminder_row(context, reminder)}


def _reminder_row(context: ToolContext, reminder: Reminder) -> dict:
    return {
        "id": reminder.pk,
        "at": reminder.due_at.astimezone(context.timezone).strftime("%Y-%m-%d %H:%M"),
        "text": reminder.text,
        "state": reminder.state,
    }


def _local_time(value: Any, context: ToolContext) -> datetime:
    """A date or date-time the model wrote, in the user's time zone, as an aware datetime."""
    if not isinstance(value, str) or not value.strip():
        raise ToolError("Give dates as YYYY-MM-DD or YYYY-MM-DDTHH:MM.")
    text = value.strip().replace(" ", "T")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ToolError(f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM).") from exc
    if "T" not in text:
        parsed = datetime.combine(parsed.date(), time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=context.timezone)
    return parsed


_IMPLEMENTATIONS = {
    "search_messages": _search_messages,
    "recent_messages": _recent_messages,
    "messages_between": _messages_between,
    "conversation_stats": _conversation_stats,
    "create_reminder": _create_reminder,
    "list_reminders": _list_reminders,
    "cancel_reminder": _cancel_reminder,
}
assert set(_IMPLEMENTATIONS) == set(TOOLS), "every catalogued tool has an implementation"
