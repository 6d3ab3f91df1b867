"""Checks on raw JSON bodies, made without parsing them (a parser would recurse, and
PostgreSQL refuses some text Python accepts). Used by the API's request guards and the
webhook's ingest."""

import json
import re

# A complete JSON string token (the unrolled-loop form: linear time, no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ALL_BUT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if arrays/objects nest deeper than `limit`, decided without parsing
    (a parser would recurse, and a deep enough body would exhaust the stack)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _ALL_BUT_BRACKETS)
    depth = 0
    for char in brackets:
        if char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def has_unstorable_text(body: bytes) -> bool:
    """True if a JSON string escapes a NUL or a lone surrogate: valid JSON that Python
    accepts but PostgreSQL (text and jsonb) refuses to store."""
    if b"\\u" not in body:
        return False
    for token in _JSON_STRING.finditer(body):
        raw = token.group()
        if b"\\u" not in raw:
            continue
        try:
            text = json.loads(raw)
        except ValueError:
            continue  # malformed: the JSON parser reports it
        if "\x00" in text:
            return True
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False
