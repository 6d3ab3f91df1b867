"""The tools an agent may enable (`Agent.functions` names them): their names,
descriptions and JSON-schema parameters, as sent to the model. The implementations
live in the assistant app (`assistant/tools.py`), each scoped to the turn's user."""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


TOOLS: dict[str, ToolDefinition] = {
    tool.name: tool
    for tool in (
        ToolDefinition(
            "search_messages",
            'Full-text search in the user\'s own WhatsApp history. Words, "exact phrases" '
            "and -excluded words. Returns the newest matches first.",
            _object(
                {
                    "query": {"type": "string", "description": "What to look for."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                ("query",),
            ),
        ),
        ToolDefinition(
            "recent_messages",
            "The user's most recent WhatsApp messages, newest first.",
            _object({"count": {"type": "integer", "minimum": 1, "maximum": 50}}),
        ),
        ToolDefinition(
            "messages_between",
            "The user's messages between two dates or times (YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM), in the user's time zone; start inclusive, end exclusive.",
            _object(
                {"start": {"type": "string"}, "end": {"type": "string"}},
                ("start", "end"),
            ),
        ),
        ToolDefinition(
            "conversation_stats",
            "Counts of the user's messages by direction and type, and first/last times.",
        ),
        ToolDefinition(
            "create_reminder",
            "Send the user a WhatsApp message at a given time. `at` is a date and time "
            "(YYYY-MM-DDTHH:MM) in the user's time zone.",
            _object(
                {
                    "at": {"type": "string"},
                    "text": {"type": "string", "maxLength": 1000},
                },
                ("at", "text"),
            ),
        ),
        ToolDefinition("list_reminders", "The user's scheduled reminders, soonest first."),
        ToolDefinition(
            "cancel_reminder",
            "Cancel one of the user's scheduled reminders by its id.",
            _object({"id": {"type": "integer"}}, ("id",)),
        ),
    )
}


def validate_tool_names(value: Any) -> None:
    """`Agent.functions`: a JSON list of tool names from this catalogue, each once."""
    if not isinstance(value, list):
        raise ValidationError("Functions must be a JSON list of tool names.")
    errors = []
    seen: set[str] = set()
    for index, name in enumerate(value, start=1):
        if not isinstance(name, str):
            errors.append(f"Item {index} must be a tool name (a string).")
        elif name not in TOOLS:
            errors.append(f"Unknown tool {name!r}: choose from {', '.join(sorted(TOOLS))}.")
        elif name in seen:
            errors.append(f"The tool {name!r} is listed twice.")
        else:
            seen.add(name)
    if errors:
        raise ValidationError(errors)
