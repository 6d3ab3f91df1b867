"""Reconciling WhatsApp sessions with the bridge: what a run reports, and how its
messages show the bridge (never its API key).

Pure: the run itself, which asks the bridge and writes the rows, is
`messaging.services.sessions.whatsapp_sessions_sync`.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from core.whatsapp.bridge import BridgeClient, BridgeError

# Answers that mean the bridge will not answer about any session right now.
_BRIDGE_REFUSES = (401, 403)
# How many sessions a summary names before "and N more".
_SUMMARY_NAMES = 10
_REDACTED = "[redacted]"


@dataclass
class SyncReport:
    """What one run did. All bridge session ids; messages never hold the API key."""

    bridge_url: str
    # Sessions the bridge answered about (a 404 included): bridge_checked_at was set.
    checked: int = 0
    # (bridge_session_id, old status, new status) for each status changed.
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    # Sessions the bridge no longer has (404); recorded as disconnected.
    gone: list[str] = field(default_factory=list)
    # Answered, but the row was written meanwhile: its status was left alone.
    skipped: list[str] = field(default_factory=list)
    # (bridge_session_id, error) for other refusals about one session (e.g. a 400).
    failed: list[tuple[str, str]] = field(default_factory=list)
    # The bridge could not be reached (or refused every request): the run stopped.
    unreachable: bool = False
    error: str = ""
    # Sessions not checked because the run stopped (the one that failed included).
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unreachable and not self.failed

    def summary(self) -> str:
        """One line for a cron mail, a log or an admin message."""
        if self.unreachable:
            text = (
                f"Could not check sessions with the WhatsApp bridge at {self.bridge_url}: "
                f"{self.error.rstrip('.')}. {_count(len(self.not_checked), 'session')} not checked"
            )
            if self.checked:
                text += f"; {self.checked} checked before the failure"
            if self.changed:
                text += f", {len(self.changed)} changed ({self._changes_text()})"
            return text + "."
        if not self.checked and not self.failed:
            return "No WhatsApp sessions to check with the bridge."
        details = [
            f"{len(self.changed)} changed ({self._changes_text()})"
            if self.changed
            else "no changes"
        ]
        if self.gone:
            details.append(f"{len(self.gone)} no longer at the bridge")
        if self.skipped:
            details.append(f"{len(self.skipped)} changed meanwhile, left for the next run")
        if self.failed:
            shown = "; ".join(f"{name}: {error}" for name, error in self.failed[:_SUMMARY_NAMES])
            more = len(self.failed) - _SUMMARY_NAMES
            details.append(
                f"{len(self.failed)} failed ({shown}"
                + (f"; and {more} more" if more > 0 else "")
                + ")"
            )
        head = f"Checked {_count(self.checked, 'WhatsApp session')} with the bridge"
        return f"{head}: {', '.join(details)}."

    def _changes_text(self) -> str:
        shown = [f"{name} {old} → {new}" for name, old, new in self.changed[:_SUMMARY_NAMES]]
        more = len(self.changed) - _SUMMARY_NAMES
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def bridge_down(exc: BridgeError) -> bool:
    """Does this failure mean the bridge will not answer about any session now?"""
    code = exc.status_code
    return code is None or code >= 500 or code in _BRIDGE_REFUSES


def bridge_url_shown(client: BridgeClient) -> str:
    """The bridge's URL as a report shows it."""
    return _safe_url(client.base_url)


def bridge_error_shown(exc: BridgeError, client: BridgeClient) -> str:
    """A bridge error as we may show it: the API key never, even if the bridge echoed it."""
    text = str(exc)
    for key in {settings.WHATSAPP_BRIDGE_API_KEY, getattr(client, "_api_key", "")}:
        if key:
            text = text.replace(key, _REDACTED)
    return text


def _safe_url(url: str) -> str:
    """The bridge URL for messages: no user:password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(the configured bridge URL)"
    if not parts.scheme or not host:
        return "(the configured bridge URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
