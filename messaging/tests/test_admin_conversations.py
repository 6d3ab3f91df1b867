"""Conversations in the admin: chat lists for a user or a session, and the chat page
(bubbles, media, replies, delivery status, keyset paging, search, query counts)."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import factory
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from messaging.admin_display import media_facts
from messaging.models import Message
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CHAT = "14155550123@s.whatsapp.net"
GROUP = "120363001234567890@g.us"
CHATS_URL = "/admin/messaging/message/chats/"
CHAT_URL = "/admin/messaging/message/chat/"
BUBBLE_ID = re.compile(r'<li class="zapa-bubble[^"]*" id="m(\d+)"')


@pytest.fixture
def session():
    return WhatsAppSessionFactory()


def chat_messages(session, count, *, chat=CHAT, start=T0, step=timedelta(minutes=1), **kwargs):
    return MessageFactory.create_batch(
        count,
        session=session,
        chat_jid=chat,
        timestamp=factory.Iterator([start + step * n for n in range(count)]),
        **kwargs,
    )


def get(client, path, params=None, status=200):
    response = client.get(path, params or {})
    assert response.status_code == status, response.content[:500]
    return response


def bubble_ids(html: str) -> list[int]:
    return [int(pk) for pk in BUBBLE_ID.findall(html)]


def link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unquote(match.group(1).replace("&amp;", "&")) if match else None


def count_queries(client, path, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        get(client, path, params)
    return len(ctx.captured_queries)


# --- chat lists -----------------------------------------------------------------


def test_a_users_conversations_latest_first(admin_client_logged_in, session):
    chat_messages(session, 3, chat=CHAT, start=T0)
    chat_messages(session, 2, chat=GROUP, start=T0 + timedelta(days=1))
    MessageFactory(chat_jid="14155550999@s.whatsapp.net")  # someone else's

    html = get(admin_client_logged_in, CHATS_URL, {"user": session.user.pk}).text

    assert html.index(GROUP) < html.index(CHAT)
    assert "14155550999" not in html
    assert "(group)" in html
    rows = re.findall(r'<td class="zapa-num">(\d+)</td>', html)
    assert rows == ["2", "3"]
    assert f"{CHAT_URL}?user={session.user.pk}&amp;chat={CHAT.replace('@', '%40')}" in html


def test_a_sessions_conversations_by_chat_with_keyset_pages(
    admin_client_logged_in, session, monkeypatch
):
    from messaging import admin_chat_lists

    monkeypatch.setattr(admin_chat_lists, "CHATS_PAGE_SIZE", 2)
    chats = [f"1415555{n:04d}@s.whatsapp.net" for n in range(5)]
    for n, chat in enumerate(chats):
        chat_messages(session, 1, chat=chat, start=T0 + timedelta(hours=n))

    pages = []
    params = {"session": session.pk}
    for _ in range(5):
        html = get(admin_client_logged_in, CHATS_URL, params).text
        pages.append(re.findall(r"1415555\d{4}@s\.whatsapp\.net</a>", html))
        next_link = re.search(r'<a href="([^"]+)">Next page', html)
        if not next_link:
            break
        query = urlsplit(next_link.group(1).replace("&amp;", "&")).query
        params = {k: v[0] for k, v in parse_qs(query).items()}
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item.removesuffix("</a>") for page in pages for item in page] == chats


@pytest.mark.parametrize("scope", ["user", "session"])
def test_chat_list_query_count_is_constant(admin_client_logged_in, session, scope):
    params = {scope: session.pk if scope == "session" else session.user.pk}
    chat_messages(session, 1, chat="14155550000@s.whatsapp.net")
    one = count_queries(admin_client_logged_in, CHATS_URL, params)
    for n in range(1, 30):
        chat_messages(session, 2, chat=f"1415555{n:04d}@s.whatsapp.net")
    assert count_queries(admin_client_logged_in, CHATS_URL, params) == one


@pytest.mark.parametrize(
    "params",
    [{}, {"user": "abc"}, {"user": "1", "session": "1"}, {"user": "999999"}],
)
def test_chat_list_with_bad_parameters_is_404(admin_client_logged_in, params):
    get(admin_client_logged_in, CHATS_URL, params, status=404)


def test_user_page_links_to_conversations(admin_client_logged_in, session):
    html = get(
        admin_client_logged_in, reverse("admin:accounts_user_change", args=[session.user.pk])
    ).text
    assert f"{CHATS_URL}?user={session.user.pk}" in html


# --- the chat page ------------------------------------------------------------------


def test_bubbles_by_direction_with_status_and_escaped_text(admin_client_logged_in, session):
    incoming = MessageFactory(
        session=session, chat_jid=CHAT, timestamp=T0, content="<script>alert(1)</script>"
    )
    outgoing = MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(minutes=1),
        direction=Message.Direction.OUTGOING,
        status=Message.Status.READ,
        content="Sure, see you then",
    )

    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text

    assert f'<li class="zapa-bubble" id="m{incoming.pk}">' in html
    assert f'<li class="zapa-bubble zapa-out" id="m{outgoing.pk}">' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert 'class="zapa-status-read"' in html and "Read</span>" in html
    assert bubble_ids(html) == [incoming.pk, outgoing.pk]  # oldest first, like a chat
    assert "Saturday 01 March 2025" in html  # a day separator


def test_media_shown_by_type_with_metadata(admin_client_logged_in, session):
    common = {"session": session, "chat_jid": CHAT, "content": None}
    MessageFactory(
        **common,
        timestamp=T0,
        message_type="image",
        caption="Our new office",
        media_metadata={"mime_type": "image/jpeg", "size": 245760, "width": 1280, "height": 960},
    )
    MessageFactory(
        **common,
        timestamp=T0 + timedelta(seconds=1),
        message_type="audio",
        media_metadata={"mime_type": "audio/ogg", "duration": 75, "original_type": "ptt"},
    )
    MessageFactory(
        **common,
        timestamp=T0 + timedelta(seconds=2),
        message_type="document",
        media_metadata={"file_name": "invoice-2025.pdf", "mime_type": "application/pdf"},
    )
    MessageFactory(
        **common,
        timestamp=T0 + timedelta(seconds=3),
        message_type="location",
        media_metadata={
            "location": {
                "latitude": -23.5505199,
                "longitude": -46.6333094,
                "name": "São Paulo Cathedral",
                "address": "Praça da Sé",
            }
        },
    )
    MessageFactory(
        **common,
        timestamp=T0 + timedelta(seconds=4),
        message_type="contact",
        media_metadata={"contact": {"name": "Support Team", "number": "5551234567"}},
    )

    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text

    for expected in (
        'zapa-media-image"',
        "Our new office",
        "<dd>240.0 KB</dd>",
        "<dd>1280 by 960 px</dd>",
        "<dt>Duration</dt><dd>1:15</dd>",
        "<dt>Sent as</dt><dd>ptt</dd>",
        "<dd>invoice-2025.pdf</dd>",
        "<dd>application/pdf</dd>",
        "<dd>São Paulo Cathedral</dd>",
        "<dd>-23.55052, -46.63331</dd>",
        "https://www.openstreetmap.org/?mlat=-23.550520&amp;mlon=-46.633309",
        'rel="noopener noreferrer"',
        "Contact card",
        "<dd>Support Team</dd>",
    ):
        assert expected in html, expected


def test_media_facts_ignore_malformed_metadata():
    assert media_facts("image", None) == []
    assert media_facts("image", {"size": "big", "width": True, "location": "x"}) == []


def test_replies_link_to_the_original(admin_client_logged_in, session, monkeypatch):
    from messaging import admin_chat

    monkeypatch.setattr(admin_chat, "PAGE_SIZE", 3)
    old = MessageFactory(session=session, chat_jid=CHAT, timestamp=T0, content="Old question")
    chat_messages(session, 2, start=T0 + timedelta(hours=1))
    near = MessageFactory(
        session=session, chat_jid=CHAT, timestamp=T0 + timedelta(hours=2), content="Lunch?"
    )
    MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(hours=3),
        reply_to=near,
        direction="outgoing",
        content="Yes",
    )
    MessageFactory(
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(hours=4),
        reply_to=old,
        content="About that old question",
    )

    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text

    # On the page: an anchor; on an older page: a link to the conversation at it.
    assert f'<a class="zapa-quote" href="#m{near.pk}">' in html
    assert re.search(
        rf'<a class="zapa-quote" href="[^"]*at={old.pk}#m{old.pk}"><span class="visually-hidden">'
        r"In reply to: </span>Old question</a>",
        html,
    )
    at_link = re.search(rf'<a class="zapa-quote" href="([^"]*at={old.pk})#', html).group(1)
    older_page = get(admin_client_logged_in, at_link.replace("&amp;", "&")).text
    assert f'zapa-highlight" id="m{old.pk}"' in older_page


def test_group_messages_name_their_sender(admin_client_logged_in, session):
    MessageFactory(session=session, chat_jid=GROUP, sender_jid="14155550777@s.whatsapp.net")
    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": GROUP}).text
    assert '<span class="zapa-sender">14155550777@s.whatsapp.net</span>' in html


def test_keyset_pages_walk_the_whole_conversation_without_gaps(admin_client_logged_in, session):
    # 120 messages, several sharing each instant: the id breaks the ties.
    messages = chat_messages(session, 120, step=timedelta(0))
    messages += chat_messages(session, 7, start=T0 + timedelta(hours=1))
    expected = sorted(m.pk for m in messages)
    client = admin_client_logged_in

    html = get(client, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text
    seen = bubble_ids(html)
    assert seen == expected[-50:]
    assert link(html, "next") is None  # the newest page has nothing newer
    while older := link(html, "prev"):
        html = get(client, older).text
        seen = bubble_ids(html) + seen
    assert seen == expected

    # And forward again from the oldest page.
    forward = bubble_ids(html)
    while newer := link(html, "next"):
        html = get(client, newer).text
        forward += bubble_ids(html)
    assert forward == expected


def test_a_bad_cursor_shows_the_newest_page(admin_client_logged_in, session):
    messages = chat_messages(session, 3)
    html = get(
        admin_client_logged_in,
        CHAT_URL,
        {"user": session.user.pk, "chat": CHAT, "cursor": "not-a-cursor"},
    ).text
    assert bubble_ids(html) == [m.pk for m in messages]


def test_search_in_a_conversation(admin_client_logged_in, session):
    chat_messages(session, 5, content="nothing to see")
    hit = MessageFactory(
        session=session, chat_jid=CHAT, timestamp=T0 + timedelta(hours=1), content="pizza tonight"
    )
    MessageFactory(session=session, chat_jid=GROUP, content="pizza elsewhere")  # another chat

    html = get(
        admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT, "q": "pizza"}
    ).text

    assert bubble_ids(html) == [hit.pk]
    assert 'value="pizza"' in html
    assert f"at={hit.pk}#m{hit.pk}" in html  # "in context"
    assert "Show the whole conversation" in html


def test_a_conversation_from_a_session(admin_client_logged_in, session):
    mine = chat_messages(session, 2)
    MessageFactory(chat_jid=CHAT)  # same chat on another session
    html = get(admin_client_logged_in, CHAT_URL, {"session": session.pk, "chat": CHAT}).text
    assert bubble_ids(html) == [m.pk for m in mine]


def test_chat_page_query_count_is_constant(admin_client_logged_in, session):
    params = {"user": session.user.pk, "chat": CHAT}
    first = chat_messages(session, 1)[0]
    one = count_queries(admin_client_logged_in, CHAT_URL, params)
    outside = MessageFactory(session=session, chat_jid=GROUP)
    chat_messages(session, 60, start=T0 + timedelta(hours=1), reply_to=first)
    chat_messages(session, 5, start=T0 + timedelta(hours=3), reply_to=outside)
    assert count_queries(admin_client_logged_in, CHAT_URL, params) == one + 1  # the quoted ones
    chat_messages(session, 5, start=T0 + timedelta(hours=4), reply_to=outside)
    assert count_queries(admin_client_logged_in, CHAT_URL, params) == one + 1


@pytest.mark.parametrize(
    "params",
    [{"chat": CHAT}, {"user": "1"}, {"user": "x", "chat": CHAT}, {"user": "1", "chat": "x" * 200}],
)
def test_chat_page_with_bad_parameters_is_404(admin_client_logged_in, params):
    get(admin_client_logged_in, CHAT_URL, params, status=404)


def test_conversations_need_the_view_permission(client, session):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_whatsappsession"))
    client.force_login(staff)
    get(client, CHATS_URL, {"session": session.pk}, status=403)
    get(client, CHAT_URL, {"session": session.pk, "chat": CHAT}, status=403)


def test_message_changelist_links_each_message_to_its_conversation(admin_client_logged_in, session):
    message = MessageFactory(session=session, chat_jid=CHAT, content="find me please")
    html = get(admin_client_logged_in, "/admin/messaging/message/", {"q": "find"}).text
    href = re.search(r'<a href="([^"]+)#m(\d+)">Open', html)
    assert int(href.group(2)) == message.pk
    page = get(admin_client_logged_in, href.group(1).replace("&amp;", "&")).text
    assert f'zapa-highlight" id="m{message.pk}"' in page


def test_opening_at_a_message_shows_what_came_before_and_after(admin_client_logged_in, session):
    messages = chat_messages(session, 80)
    target = messages[20]

    html = get(
        admin_client_logged_in,
        CHAT_URL,
        {"user": session.user.pk, "chat": CHAT, "at": target.pk},
    ).text

    ids = bubble_ids(html)
    assert ids == [m.pk for m in messages[0:31]]  # all 21 before (room for 40), 10 after
    assert ids[-11] == target.pk  # ten messages after it
    assert f'zapa-highlight" id="m{target.pk}"' in html
    assert link(html, "next") and link(html, "prev") is None


def test_opening_at_a_message_of_another_chat_warns(admin_client_logged_in, session):
    chat_messages(session, 2)
    elsewhere = MessageFactory(session=session, chat_jid=GROUP)
    html = get(
        admin_client_logged_in,
        CHAT_URL,
        {"user": session.user.pk, "chat": CHAT, "at": elsewhere.pk},
    ).text
    assert "That message is not in this conversation." in html
    assert len(bubble_ids(html)) == 2


# --- messages Zapa cannot display -----------------------------------------------------

UNSUPPORTED = "A message Zapa cannot display"


def test_unsupported_messages_keep_their_place_in_the_chat(admin_client_logged_in, session):
    before = MessageFactory(session=session, chat_jid=CHAT, timestamp=T0, content="Look at this")
    sticker = MessageFactory(
        unsupported=True, session=session, chat_jid=CHAT, timestamp=T0 + timedelta(minutes=1)
    )
    unnamed = MessageFactory(
        unsupported=True,
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(minutes=2),
        direction=Message.Direction.OUTGOING,
        media_metadata={},
    )
    hostile = MessageFactory(
        unsupported=True,
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(minutes=3),
        media_metadata={"original_type": "<img src=x onerror=alert(1)>"},
    )
    after = MessageFactory(
        session=session, chat_jid=CHAT, timestamp=T0 + timedelta(minutes=4), content="Ha!"
    )

    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text

    assert bubble_ids(html) == [before.pk, sticker.pk, unnamed.pk, hostile.pk, after.pk]
    texts = re.findall(r'<p class="zapa-unsupported">([^<]*)</p>', html)
    assert texts == [
        f"{UNSUPPORTED} (sticker)",
        UNSUPPORTED,
        f"{UNSUPPORTED} (&lt;img src=x onerror=alert(1)&gt;)",
    ]
    assert "<img src=x" not in html
    assert f'<li class="zapa-bubble zapa-out" id="m{unnamed.pk}">' in html
    assert ".zapa-unsupported {" in html  # muted and italic


def test_a_reply_to_an_unsupported_message_quotes_it(admin_client_logged_in, session):
    poll = MessageFactory(
        unsupported=True,
        session=session,
        chat_jid=CHAT,
        timestamp=T0,
        media_metadata={"original_type": "poll"},
    )
    MessageFactory(
        session=session, chat_jid=CHAT, timestamp=T0 + timedelta(minutes=1), reply_to=poll
    )
    html = get(admin_client_logged_in, CHAT_URL, {"user": session.user.pk, "chat": CHAT}).text
    assert re.search(
        rf'<a class="zapa-quote" href="#m{poll.pk}"><span class="visually-hidden">'
        rf"In reply to: </span>{UNSUPPORTED} \(poll\)</a>",
        html,
    )


@pytest.mark.parametrize("scope", ["user", "session"])
def test_chat_list_previews_an_unsupported_last_message(admin_client_logged_in, session, scope):
    params = {scope: session.pk if scope == "session" else session.user.pk}
    MessageFactory(session=session, chat_jid=CHAT, timestamp=T0, content="Hello")
    MessageFactory(
        unsupported=True,
        session=session,
        chat_jid=CHAT,
        timestamp=T0 + timedelta(minutes=1),
        media_metadata={"original_type": "<b>reaction</b>"},
    )
    MessageFactory(unsupported=True, session=session, chat_jid=GROUP, media_metadata={})

    html = get(admin_client_logged_in, CHATS_URL, params).text

    previews = re.findall(r'<span class="zapa-unsupported">([^<]*)</span>', html)
    assert sorted(previews) == sorted([f"{UNSUPPORTED} (&lt;b&gt;reaction&lt;/b&gt;)", UNSUPPORTED])
    assert "<b>reaction" not in html


@pytest.mark.parametrize("scope", ["user", "session"])
def test_chat_list_query_count_with_unsupported_messages(admin_client_logged_in, session, scope):
    params = {scope: session.pk if scope == "session" else session.user.pk}
    chat_messages(session, 1, chat="14155550000@s.whatsapp.net")
    one = count_queries(admin_client_logged_in, CHATS_URL, params)
    for n in range(1, 30):
        chat_messages(session, 1, chat=f"1415555{n:04d}@s.whatsapp.net", unsupported=True)
    assert count_queries(admin_client_logged_in, CHATS_URL, params) == one


def test_chat_page_query_count_with_unsupported_messages(admin_client_logged_in, session):
    params = {"user": session.user.pk, "chat": CHAT}
    chat_messages(session, 1)
    one = count_queries(admin_client_logged_in, CHAT_URL, params)
    outside = MessageFactory(unsupported=True, session=session, chat_jid=GROUP)
    chat_messages(session, 30, start=T0 + timedelta(hours=1), unsupported=True)
    chat_messages(session, 5, start=T0 + timedelta(hours=2), reply_to=outside)
    html = get(admin_client_logged_in, CHAT_URL, params).text
    assert html.count(f"{UNSUPPORTED} (sticker)") == 30 + 5  # bubbles and quotes
    assert count_queries(admin_client_logged_in, CHAT_URL, params) == one + 1  # the quoted one


def test_message_admin_names_unsupported_messages(admin_client_logged_in, session):
    message = MessageFactory(
        unsupported=True,
        session=session,
        chat_jid=CHAT,
        media_metadata={"original_type": "<i>sticker</i>"},
    )
    html = get(admin_client_logged_in, "/admin/messaging/message/").text
    assert f'<td class="field-preview">{UNSUPPORTED} (&lt;i&gt;sticker&lt;/i&gt;)</td>' in html
    assert "<i>sticker" not in html
    detail = get(
        admin_client_logged_in, reverse("admin:messaging_message_change", args=[message.pk])
    ).text
    assert UNSUPPORTED in detail and "&lt;i&gt;sticker&lt;/i&gt;" in detail
    assert "<i>sticker" not in detail
