"""WhatsApp JIDs (Jabber ids) as the bridge sends them, normalised.

Every form WhatsApp uses reaches the webhook:

- bare digits (``14155550123``, sometimes with a leading ``+``) — a phone user;
- ``<digits>@s.whatsapp.net`` and the older ``<digits>@c.us`` — a phone user;
- with an agent/device suffix, ``<digits>:<device>@s.whatsapp.net`` or
  ``<digits>.<agent>:<device>@s.whatsapp.net`` — one device of a phone user;
- ``<id>@lid`` (optionally with ``:<device>``) — a "linked identity" that hides
  the phone number; it is *not* a phone number and is never turned into one;
- ``<id>@g.us`` (new ``120363…`` ids or old ``<creator>-<epoch>`` ids) — a group;
- ``status@broadcast`` and other servers are kept as they are.

Normalised form: ``<user>@<server>`` in lower case, the device/agent suffix dropped
(a message belongs to the person, not to the phone they typed it on) and ``c.us``
spelled ``s.whatsapp.net``.
"""

import re
from dataclasses import dataclass

from core.phone import phone_number_from_bridge

USER_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"
MAX_JID_LENGTH = 128  # the width of Message.*_jid

_SERVER_ALIASES = {"c.us": USER_SERVER}
# user part: an id, then an optional ".agent" and/or ":device" suffix.
_USER_RE = re.compile(r"^(?P<id>[0-9A-Za-z_-]+?)(?:\.\d+)?(?::\d+)?$")
_BARE_RE = re.compile(r"^\+?(?P<id>\d+(?:-\d+)?)(?::\d+)?$")


class InvalidJid(ValueError):
    """The value is not a WhatsApp JID in any form we know."""


@dataclass(frozen=True)
class Jid:
    user: str
    server: str

    def __str__(self) -> str:
        return f"{self.user}@{self.server}"

    @property
    def is_group(self) -> bool:
        return self.server == GROUP_SERVER

    @property
    def is_lid(self) -> bool:
        return self.server == LID_SERVER

    @property
    def phone_number(self) -> str | None:
        """E.164 of a phone user's JID; None for @lid, groups, broadcasts and bad numbers."""
        if self.server != USER_SERVER or not self.user.isdigit():
            return None
        return phone_number_from_bridge(self.user)


def parse_jid(value: object, *, default_server: str = USER_SERVER) -> Jid:
    """Parse any JID form; a value without ``@`` is taken to be on `default_server`."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidJid("must be a string")
    text = str(value).strip()
    if not text:
        raise InvalidJid("must not be empty")
    if "@" not in text:
        bare = _BARE_RE.match(text)
        if not bare:
            raise InvalidJid(f"is neither digits nor a user@server JID: '{_shorten(text)}'")
        server = GROUP_SERVER if "-" in bare["id"] else default_server
        return _checked(Jid(bare["id"], server))
    user, _, server = text.rpartition("@")
    server = server.lower()
    server = _SERVER_ALIASES.get(server, server)
    match = _USER_RE.match(user)
    if not match or not server or "@" in user:
        raise InvalidJid(f"is not a valid JID: '{_shorten(text)}'")
    user_id = match["id"]
    if server == USER_SERVER and not user_id.isdigit():
        raise InvalidJid(f"must have digits before @{USER_SERVER}: '{_shorten(text)}'")
    return _checked(Jid(user_id.lower(), server))


def normalize_jid(value: object, *, default_server: str = USER_SERVER) -> str:
    return str(parse_jid(value, default_server=default_server))


def jid_for_phone_digits(digits: str) -> str:
    """The user JID of a phone number given as digits (with or without '+')."""
    return str(parse_jid(digits))


def _checked(jid: Jid) -> Jid:
    if len(str(jid)) > MAX_JID_LENGTH:
        raise InvalidJid(f"is longer than {MAX_JID_LENGTH} characters")
    return jid


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"
