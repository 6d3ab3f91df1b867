"""What the model is told: the agent's system prompt, the user's custom instructions,
name, time zone and the current time, and the conversation so far (the last
ASSISTANT_CONTEXT_MESSAGES messages of the chat within a character budget)."""

from datetime import datetime

from django.conf import settings

from assistant.providers import ChatMessage
from assistant.tools import user_timezone
from messaging.models import Message

DEFAULT_SYSTEM_PROMPT = (
    "You are Zapa, a helpful assistant that people talk to on WhatsApp. Answer briefly "
    "and plainly, in the language the person writes in."
)


def system_prompt(*, agent, user, model_settings: dict, now: datetime) -> str:
    zone = user_timezone(user)
    parts = [(agent.system_prompt if agent and agent.system_prompt else DEFAULT_SYSTEM_PROMPT)]
    if user.display_name:
        parts.append(f"The person's name is {user.display_name}.")
    parts.append(
        f"Their time zone is {zone.key}; it is now {now.astimezone(zone):%A %Y-%m-%d %H:%M} "
        "there. Give and read times in that zone."
    )
    instructions = (model_settings or {}).get("custom_instructions")
    if instructions:
        parts.append(f"The person asked you to follow these instructions:\n{instructions}")
    return "\n\n".join(parts)


def context_rows(*, session_id: int, chat_jid: str, up_to: Message) -> list[Message]:
    """The chat's last ASSISTANT_CONTEXT_MESSAGES messages up to `up_to`, newest first."""
    return list(
        Message.objects.filter(
            session_id=session_id,
            chat_jid=chat_jid,
            timestamp__lte=up_to.timestamp,
        )
        .only("id", "direction", "message_type", "content", "caption", "timestamp")
        .order_by("-timestamp", "-id")[: settings.ASSISTANT_CONTEXT_MESSAGES]
    )


def conversation(rows: list[Message]) -> tuple[ChatMessage, ...]:
    """Those messages (newest first) within the character budget, oldest first, as the
    model sees them."""
    budget = settings.ASSISTANT_CONTEXT_CHARS
    chosen: list[ChatMessage] = []
    used = 0
    for message in rows:
        text = _text(message)
        if used + len(text) > budget and chosen:
            break
        used += len(text)
        role = "user" if message.direction == Message.Direction.INCOMING else "assistant"
        chosen.append(ChatMessage(role=role, text=text[:budget]))
    chosen.reverse()
    return tuple(_merged(chosen))


def _text(message: Message) -> str:
    if message.message_type == Message.MessageType.UNSUPPORTED:
        return "(a message Zapa cannot display: a sticker, reaction or similar)"
    if message.content:
        return message.content
    label = f"({message.message_type})"
    return f"{label} {message.caption}" if message.caption else label


def _merged(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Consecutive messages of one side as one turn, starting with the user's (some
    providers require alternating roles that start with the user)."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(role=message.role, text=merged[-1].text + "\n" + message.text)
        else:
            merged.append(message)
    while merged and merged[0].role != "user":
        merged.pop(0)
    return merged
