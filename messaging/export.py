"""Streaming export of a message history as CSV or JSON.

The body is produced batch by batch while the client downloads it, so memory
stays at one batch however long the history is.
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

EXPORT_FORMATS = ("csv", "json")
# Column order of the CSV; also the keys of each JSON object. `session` and
# `reply_to` are ids.
EXPORT_FIELDS = (
    "id",
    "timestamp",
    "direction",
    "chat_jid",
    "sender_jid",
    "recipient_jid",
    "message_type",
    "content",
    "caption",
    "status",
    "reply_to",
    "session",
    "wa_message_id",
    "media_metadata",
)
# Text typed by other people; spreadsheets run cells starting with these as formulas.
_FREE_TEXT_FIELDS = ("content", "caption")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def iso(value: datetime | None) -> str | None:
    """A datetime the way DRF writes it: ISO 8601 in UTC, with `Z`."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def neutralise_formula(text: str) -> str:
    """Prefix `'` to text a spreadsheet would evaluate (OWASP's CSV injection advice)."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv_row(row: dict) -> list:
    values = []
    for field in EXPORT_FIELDS:
        value = row[field]
        if value is None:
            value = ""
        elif field == "timestamp":
            value = iso(value)
        elif field == "media_metadata":
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif field in _FREE_TEXT_FIELDS:
            value = neutralise_formula(value)
        values.append(value)
    return values


def csv_chunks(batches: Iterable[list[dict]]) -> Iterator[str]:
    """A header line, then one chunk of CSV text per batch of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_csv_row(row) for row in batch)
        yield buffer.getvalue()


def _json_object(row: dict) -> dict:
    return {
        field: iso(row[field]) if field == "timestamp" else row[field] for field in EXPORT_FIELDS
    }


def json_chunks(batches: Iterable[list[dict]]) -> Iterator[str]:
    """One JSON array, written one batch of objects at a time."""
    yield "["
    separator = "\n"
    for batch in batches:
        yield separator + ",\n".join(
            json.dumps(_json_object(row), ensure_ascii=False) for row in batch
        )
        separator = ",\n"
    yield "\n]\n"


def export_response(*, batches: Iterable[list[dict]], export_format: str) -> StreamingHttpResponse:
    """A download of `batches` in `export_format` ("csv" or "json")."""
    if export_format == "csv":
        chunks, content_type = csv_chunks(batches), "text/csv; charset=utf-8"
    elif export_format == "json":
        chunks, content_type = json_chunks(batches), "application/json"
    else:
        raise ValueError(f"Unknown export format {export_format!r}")
    filename = f"zapa-messages-{timezone.now():%Y%m%d-%H%M%S}.{export_format}"
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    # Ask proxies such as nginx to pass the stream on instead of buffering it.
    response["X-Accel-Buffering"] = "no"
    return response
