"""Admin pages beyond the ModelAdmin defaults, as messaging/admin.py hooks them in.

Each view takes the model admin whose `get_urls` routes to it, for its site,
options and permission checks:

- `admin_chat_lists`: the conversations of a user or of a session;
- `admin_chat`: one conversation as chat bubbles, paged and searchable;
- `admin_pairing`: pairing a number by QR code, and disconnecting it;
- `admin_display`: how a message is shown (previews, media, unsupported messages);
- `admin_page_helpers`: what every one of these pages needs (context, permissions,
  query parameters, links).
"""

from messaging.admin_chat import chat_view
from messaging.admin_chat_lists import chat_list_view
from messaging.admin_display import unsupported_text
from messaging.admin_page_helpers import admin_url
from messaging.admin_pairing import disconnect_view, pairing_view

__all__ = [
    "admin_url",
    "chat_list_view",
    "chat_view",
    "disconnect_view",
    "pairing_view",
    "unsupported_text",
]
