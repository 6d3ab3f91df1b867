"""The reply loop in one process (tasks run eagerly after the commit, as on a laptop):
a message in through the real webhook, the provider's fake over HTTP, the reply out
through the locmem WhatsApp backend and stored."""

import json
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from assistant import leasing, triggers, turns
from assistant.models import Reminder, Turn
from assistant.reminders import reminders_send_due
from assistant.tests.fake_llm import Fail, Text, ToolUse
from llm.models import ActionLog, LLMConfig
from llm.tests.factories import AgentFactory, LLMConfigFactory
from messaging.models import Message, WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

pytestmark = pytest.mark.django_db

ALL_TOOLS = [
    "search_messages",
    "recent_messages",
    "messages_between",
    "conversation_stats",
    "create_reminder",
    "list_reminders",
    "cancel_reminder",
]


@pytest.fixture
def llm(fake_llm, settings):
    settings.LLM_PROVIDER_BASE_URLS = fake_llm.base_urls()
    settings.LLM_PROVIDER_TIMEOUT = 5.0
    return fake_llm


@pytest.fixture
def main_session():
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    agent = AgentFactory(functions=ALL_TOOLS, system_prompt="You are Zapa.")
    return WhatsAppSessionFactory(
        user=owner,
        bridge_session_id="main",
        session_type=WhatsAppSession.SessionType.MAIN,
        agent=agent,
    )


@pytest.fixture
def contact():
    return UserFactory(phone_number="+" + bp.CONTACT, display_name="Ana")


def config_for(user, llm, provider="openai", **settings_overrides):
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-20250514"}.get(
        provider, "gemini-2.5-flash"
    )
    return LLMConfigFactory(
        user=user,
        provider=provider,
        api_key=llm.issue_key(provider),
        is_active=True,
        model_settings={"model": model, "temperature": 0.3, **settings_overrides},
    )


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks, monkeypatch):
    """Tests run inside a transaction that never commits: run what waits for the commit
    (the eager task) as each webhook request ends, as it would outside a test."""
    real_post = bp.post

    def post_then_commit(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return real_post(*args, **kwargs)

    monkeypatch.setattr(bp, "post", post_then_commit)


def incoming(api_client, text="Hello, assistant!", **data):
    response = bp.post(api_client, bp.message_received(text=text, **data))
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_a_message_gets_a_reply_with_the_contacts_own_config(
    api_client, llm, outbox, main_session, contact, provider
):
    config = config_for(contact, llm, provider, custom_instructions="Always greet by name.")
    llm.script(provider, Text("**Hi Ana!**", input_tokens=30, output_tokens=5))

    incoming(api_client, "Hi there")

    turn = Turn.objects.get()
    assert turn.state == Turn.State.REPLIED, turn.reason
    assert [(m.to, m.text) for m in outbox] == [(bp.CONTACT, "*Hi Ana!*")]
    reply = Message.objects.get(direction="outgoing")
    assert turn.reply_message == reply
    assert reply.content == "*Hi Ana!*"
    assert reply.wa_message_id == outbox[0].message_id
    assert reply.media_metadata["sent_by"] == "assistant"
    assert reply.chat_jid == f"{bp.CONTACT}@s.whatsapp.net"
    assert (turn.provider, turn.input_tokens, turn.output_tokens) == (provider, 30, 5)
    assert turn.llm_config == config
    # What the provider was told: the persona and the conversation, never the key.
    [request] = llm.requests_for(provider)
    body = json.dumps(request.body)
    assert "You are Zapa." in body and "Always greet by name." in body
    assert "Ana" in body and "Hi there" in body
    assert config.get_api_key() not in body
    log = ActionLog.objects.get(action="assistant_reply")
    assert log.status == ActionLog.Status.SUCCESS
    assert log.response_summary["input_tokens"] == 30
    assert config.get_api_key() not in json.dumps([log.request_summary, log.response_summary])
    assert "Hi there" not in json.dumps([log.request_summary, log.response_summary])


def test_redelivery_storm_gives_one_turn_and_one_reply(
    api_client, llm, outbox, main_session, contact
):
    config_for(contact, llm)
    payload = bp.message_received(text="Once")

    for _ in range(5):
        assert bp.post(api_client, payload).status_code == 200

    assert Turn.objects.count() == 1
    assert len(outbox) == 1
    assert len(llm.requests_for("openai")) == 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda c, s: c.__setattr__("preferences", {"assistant_enabled": False}), "switched"),
        (lambda c, s: c.__setattr__("is_active", False), "disabled"),
    ],
)
def test_no_reply_when_the_contact_does_not_want_one(
    api_client, llm, outbox, main_session, contact, setup, reason
):
    config_for(contact, llm)
    setup(contact, main_session)
    contact.save()

    incoming(api_client)

    turn = Turn.objects.get()
    assert turn.state == Turn.State.SKIPPED
    assert reason in turn.reason
    assert not outbox
    assert not llm.requests


def test_group_chats_and_unsupported_messages_get_no_turn(
    api_client, llm, outbox, main_session, contact
):
    config_for(contact, llm)
    bp.post(api_client, bp.message_received(groupId="120363@g.us", isGroup=True))
    bp.post(api_client, bp.message_received(type="sticker", text=None))

    assert Message.objects.count() == 2
    assert not Turn.objects.exists()
    assert not outbox


def test_messages_on_a_users_own_session_get_no_turn(api_client, llm, outbox, contact):
    config_for(contact, llm)
    bp.post(api_client, bp.message_received(session_id="user-9", origin=bp.CONTACT))

    assert Message.objects.count() == 1
    assert not Turn.objects.exists()


def test_a_person_answering_from_the_phone_pauses_the_assistant(
    api_client, llm, outbox, main_session, contact, settings
):
    config_for(contact, llm)
    phone_reply = bp.message_sent(text="I'll take this one", timestamp=None)
    phone_reply["data"]["timestamp"] = int(timezone.now().timestamp() * 1000)
    assert bp.post(api_client, phone_reply).status_code == 200

    incoming(api_client, "Thanks!")

    turn = Turn.objects.get()
    assert turn.state == Turn.State.SKIPPED
    assert "person answered" in turn.reason
    assert not outbox

    settings.ASSISTANT_HUMAN_PAUSE_MINUTES = 0
    incoming(api_client, "Still there?")
    assert Turn.objects.filter(state=Turn.State.REPLIED).count() == 1


def test_no_config_sends_one_notice_a_day_and_calls_no_provider(
    api_client, llm, outbox, main_session, contact, settings
):
    other = UserFactory()
    config_for(other, llm)  # someone else's key is never used

    incoming(api_client, "first")
    incoming(api_client, "second")

    assert [m.text for m in outbox] == [settings.ASSISTANT_NO_CONFIG_NOTICE]
    assert not llm.requests
    assert set(Turn.objects.values_list("state", flat=True)) == {"skipped"}
    assert Turn.objects.filter(notice_sent=True).count() == 1


def test_a_house_config_answers_contacts_without_one(
    api_client, llm, outbox, main_session, contact
):
    staff = UserFactory(is_staff=True)
    house = config_for(staff, llm)
    main_session.agent.house_config = house
    main_session.agent.save()

    incoming(api_client)

    turn = Turn.objects.get()
    assert turn.state == Turn.State.REPLIED, turn.reason
    assert turn.llm_config == house
    assert len(outbox) == 1


def test_a_house_config_must_belong_to_staff(api_client, llm, outbox, main_session, contact):
    not_staff = UserFactory()
    main_session.agent.house_config = config_for(not_staff, llm)
    main_session.agent.save()

    incoming(api_client)

    assert not llm.requests
    assert Turn.objects.get().state == Turn.State.SKIPPED


def test_rate_limited_then_answered(api_client, llm, outbox, main_session, contact):
    config_for(contact, llm)
    llm.script("openai", Fail(429, retry_after=1), Text("Sorry for the wait"))

    incoming(api_client)

    assert Turn.objects.get().state == Turn.State.REPLIED
    assert [m.text for m in outbox] == ["Sorry for the wait"]
    assert ActionLog.objects.get().response_summary["attempts"] == 2


def test_a_rejected_key_flags_the_config_and_tells_the_user_once(
    api_client, llm, outbox, main_session, contact, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    config = LLMConfigFactory(
        user=contact,
        provider="openai",
        api_key="sk-revoked-000000000000000000000000abcd",
        is_active=True,
    )

    incoming(api_client, "one")
    incoming(api_client, "two")

    config.refresh_from_db()
    assert config.key_rejected_at is not None
    assert [m.text for m in outbox] == [settings.ASSISTANT_KEY_REJECTED_NOTICE]
    assert set(Turn.objects.values_list("state", flat=True)) == {"failed"}
    secret = "sk-revoked-000000000000000000000000abcd"
    assert secret not in caplog.text
    assert all(secret not in turn.reason for turn in Turn.objects.all())
    assert all(secret not in log.error_message for log in ActionLog.objects.all())
    assert len(llm.requests_for("openai")) == 2  # one attempt each, no retries on 401


def test_tools_only_ever_see_the_turns_user(api_client, llm, outbox, main_session, contact):
    config_for(contact, llm)
    stranger = UserFactory(phone_number="+14155550177")
    MessageFactory(session=main_session, user=stranger, content="dentist on Friday secret")
    MessageFactory(session=main_session, user=contact, content="my dentist is Dr. Silva")
    theirs = Reminder.objects.create(
        user=stranger,
        session=main_session,
        chat_jid="x@s.whatsapp.net",
        text="theirs",
        due_at=timezone.now() + timedelta(days=1),
    )
    llm.script(
        "openai",
        ToolUse(
            [
                ("search_messages", {"query": "dentist"}),
                ("cancel_reminder", {"id": theirs.pk}),
                ("recent_messages", {"count": 50}),
            ]
        ),
        Text("Dr. Silva."),
    )

    incoming(api_client, "Who is my dentist?")

    turn = Turn.objects.get()
    assert turn.state == Turn.State.REPLIED, turn.reason
    second = llm.requests_for("openai")[1].body
    results = [m["content"] for m in second["messages"] if m["role"] == "tool"]
    assert len(results) == 3
    assert "Dr. Silva" in results[0]
    assert all("secret" not in result for result in results)
    assert "no reminder with id" in results[1]
    theirs.refresh_from_db()
    assert theirs.state == Reminder.State.SCHEDULED
    assert [call["name"] for call in turn.tool_calls] == [
        "search_messages",
        "cancel_reminder",
        "recent_messages",
    ]


def test_a_reminder_is_created_then_sent_once(
    api_client, llm, outbox, main_session, contact, settings
):
    config_for(contact, llm)
    contact.preferences = {"timezone": "America/Sao_Paulo"}
    contact.save()
    at = (timezone.now() + timedelta(hours=2)).astimezone(
        __import__("zoneinfo").ZoneInfo("America/Sao_Paulo")
    )
    llm.script(
        "openai",
        ToolUse([("create_reminder", {"at": at.strftime("%Y-%m-%dT%H:%M"), "text": "Dentist"})]),
        Text("Done."),
    )

    incoming(api_client, "Remind me about the dentist in 2 hours")

    reminder = Reminder.objects.get()
    assert reminder.user == contact
    assert abs((reminder.due_at - at).total_seconds()) < 60
    assert reminders_send_due() == 0  # not yet
    sent = reminders_send_due(now=reminder.due_at + timedelta(seconds=30))
    again = reminders_send_due(now=reminder.due_at + timedelta(seconds=60))

    assert (sent, again) == (1, 0)
    reminder.refresh_from_db()
    assert reminder.state == Reminder.State.SENT
    assert outbox[-1].text == "⏰ Dentist"
    assert reminder.sent_message.media_metadata["sent_by"] == "assistant"


def test_at_most_five_tool_rounds(api_client, llm, outbox, main_session, contact):
    config_for(contact, llm)
    llm.script("openai", *[ToolUse([("conversation_stats", {})])] * 8, Text("Enough."))

    incoming(api_client)

    turn = Turn.objects.get()
    assert turn.provider_calls == 6  # five rounds of tools, then an answer without tools
    last = llm.requests_for("openai")[-1].body
    assert not last.get("tools")


def test_debounce_answers_the_last_message_of_a_burst(main_session, contact, llm, outbox):
    config_for(contact, llm)
    first = MessageFactory(
        session=main_session,
        user=contact,
        direction="incoming",
        content="one",
        timestamp=timezone.now(),
    )
    second = MessageFactory(
        session=main_session,
        user=contact,
        direction="incoming",
        content="two",
        chat_jid=first.chat_jid,
        timestamp=first.timestamp + timedelta(seconds=1),
    )
    ids = triggers.turns_create(Message.objects.filter(pk__in=[first.pk, second.pk]))
    Turn.objects.update(due_at=timezone.now())

    results = [turns.turn_run(turn_id=pk) for pk in sorted(ids)]

    assert [r.state for r in results] == ["skipped", "replied"]
    assert "later message" in results[0].reason
    assert results[1].answered_message_ids == [first.pk, second.pk]
    assert len(outbox) == 1


def test_a_later_message_whose_turn_is_not_created_yet_gets_the_answer(
    main_session, contact, llm, outbox
):
    """With a broker, each message's turn is created by its own task, after the
    debounce: the first turn may run before the second message has one."""
    config_for(contact, llm)
    first = MessageFactory(session=main_session, user=contact, direction="incoming")
    second = MessageFactory(
        session=main_session,
        user=contact,
        direction="incoming",
        chat_jid=first.chat_jid,
        timestamp=first.timestamp + timedelta(seconds=1),
    )
    [first_turn] = triggers.turns_create(Message.objects.filter(pk=first.pk))
    Turn.objects.update(due_at=timezone.now())

    skipped = turns.turn_run(turn_id=first_turn)

    assert skipped.state == Turn.State.SKIPPED and "later message" in skipped.reason
    [second_turn] = triggers.turns_create(Message.objects.filter(pk=second.pk))
    Turn.objects.filter(pk=second_turn).update(due_at=timezone.now())
    replied = turns.turn_run(turn_id=second_turn)
    assert replied.state == Turn.State.REPLIED
    assert replied.answered_message_ids == [first.pk, second.pk]
    assert len(outbox) == 1


def test_a_later_sticker_or_a_later_skipped_turn_does_not_silence_a_message(
    main_session, contact, llm, outbox
):
    config_for(contact, llm)
    question = MessageFactory(session=main_session, user=contact, direction="incoming")
    MessageFactory(
        session=main_session,
        user=contact,
        direction="incoming",
        chat_jid=question.chat_jid,
        message_type="unsupported",
        content=None,
        timestamp=question.timestamp + timedelta(seconds=1),
    )
    later = MessageFactory(
        session=main_session,
        user=contact,
        direction="incoming",
        chat_jid=question.chat_jid,
        timestamp=question.timestamp + timedelta(seconds=2),
    )
    ids = triggers.turns_create(Message.objects.filter(pk__in=[question.pk, later.pk]))
    Turn.objects.filter(trigger_message=later).update(state=Turn.State.SKIPPED)
    Turn.objects.update(due_at=timezone.now())

    turn = turns.turn_run(turn_id=min(ids))

    assert turn.state == Turn.State.REPLIED, turn.reason


def test_the_answered_messages_reach_back_beyond_the_context(
    main_session, contact, llm, outbox, settings
):
    settings.ASSISTANT_CONTEXT_MESSAGES = 2
    config_for(contact, llm)
    start = timezone.now() - timedelta(hours=2)  # the last reply: before the human pause
    chat = {"session": main_session, "user": contact, "chat_jid": f"{bp.CONTACT}@s.whatsapp.net"}
    MessageFactory(**chat, direction="outgoing", timestamp=start)
    unanswered = [
        MessageFactory(**chat, direction="incoming", timestamp=start + timedelta(seconds=n))
        for n in range(1, 5)
    ]
    ids = triggers.turns_create(Message.objects.filter(pk=unanswered[-1].pk))
    Turn.objects.update(due_at=timezone.now())

    turn = turns.turn_run(turn_id=ids[0])

    assert turn.state == Turn.State.REPLIED, turn.reason
    assert turn.answered_message_ids == [m.pk for m in unanswered]
    [request] = llm.requests_for("openai")
    assert len(request.body["messages"]) == 2  # system + the last two, merged into one


@pytest.mark.parametrize(
    ("setting", "value", "used", "reason"),
    [
        ("ASSISTANT_MAX_TURNS_PER_DAY", 2, {"input_tokens": 1}, "daily number of replies"),
        ("ASSISTANT_DAILY_TOKEN_BUDGET", 1000, {"input_tokens": 600}, "daily token budget"),
    ],
)
def test_the_daily_limits_count_the_last_24_hours(
    main_session, contact, llm, outbox, settings, setting, value, used, reason
):
    setattr(settings, setting, value)
    config_for(contact, llm)
    now = timezone.now()
    for hours_ago in (2, 23):  # two replies today, 600 + 600 tokens
        done = MessageFactory(session=main_session, user=contact, direction="incoming")
        Turn.objects.create(
            user=contact,
            session=main_session,
            chat_jid=done.chat_jid,
            trigger_message=done,
            state=Turn.State.REPLIED,
            due_at=now,
            finished_at=now - timedelta(hours=hours_ago),
            **used,
        )
    Turn.objects.update(created_at=now - timedelta(hours=23, minutes=30))
    trigger = MessageFactory(session=main_session, user=contact, direction="incoming")
    [turn_id] = triggers.turns_create(Message.objects.filter(pk=trigger.pk))
    Turn.objects.filter(pk=turn_id).update(due_at=now)

    turn = turns.turn_run(turn_id=turn_id)

    assert turn.state == Turn.State.SKIPPED and reason in turn.reason
    assert outbox == []
    # A day later the oldest no longer counts.
    Turn.objects.filter(pk=turn_id).update(state=Turn.State.PENDING, attempts=0)
    Turn.objects.exclude(pk=turn_id).filter(finished_at__lt=now - timedelta(hours=22)).update(
        created_at=now - timedelta(days=2), finished_at=now - timedelta(days=2)
    )
    assert turns.turn_run(turn_id=turn_id).state == Turn.State.REPLIED


def test_a_turn_runs_in_a_bounded_number_of_queries(main_session, contact, llm, outbox):
    config_for(contact, llm)
    MessageFactory.create_batch(30, session=main_session, user=contact, direction="incoming")
    trigger = MessageFactory(session=main_session, user=contact, direction="incoming")
    [turn_id] = triggers.turns_create(Message.objects.filter(pk=trigger.pk))
    Turn.objects.update(due_at=timezone.now())

    with CaptureQueriesContext(connection) as queries:
        turn = turns.turn_run(turn_id=turn_id)

    assert turn.state == Turn.State.REPLIED, turn.reason
    # Counted: the two SAVEPOINT statements around the ActionLog and send_started_at,
    # and the new contact the factory's chat number makes (SQLite's ingest takes more).
    limit = 14 if connection.vendor == "postgresql" else 18
    assert len(queries) <= limit, [q["sql"][:80] for q in queries]


def test_turns_are_created_in_one_statement_with_the_models_defaults(
    main_session, contact, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ASSISTANT_DEBOUNCE_SECONDS = 3
    chat = {"session": main_session, "user": contact, "direction": "incoming"}
    answered = MessageFactory(**chat)
    [existing] = triggers.turns_create(Message.objects.filter(pk=answered.pk))
    first = MessageFactory(**chat, timestamp=answered.timestamp + timedelta(seconds=1))
    second = MessageFactory(**chat, timestamp=answered.timestamp + timedelta(seconds=2))
    group = MessageFactory(**chat, chat_jid="120363000000000001@g.us")
    outgoing = MessageFactory(session=main_session, user=contact, direction="outgoing")
    given = [answered, second, first, group, outgoing]

    with CaptureQueriesContext(connection) as queries:
        created = triggers.turns_create(Message.objects.filter(pk__in=[m.pk for m in given]))

    assert len(queries) == 1
    # Only the new turns, in the order of their messages; the existing one is untouched.
    new = list(Turn.objects.filter(pk__in=created).order_by("pk"))
    assert [turn.trigger_message_id for turn in new] == [first.pk, second.pk]
    assert Turn.objects.count() == 3 and existing not in created
    blank = Turn()
    for turn, message in zip(new, [first, second], strict=True):
        assert (turn.user_id, turn.session_id, turn.chat_jid) == (
            contact.pk,
            main_session.pk,
            message.chat_jid,
        )
        assert turn.due_at == message.created_at + timedelta(seconds=3)
        for name in ("state", "reason", "attempts", "answered_message_ids", "tool_calls"):
            assert getattr(turn, name) == getattr(blank, name), name
        assert (turn.provider_calls, turn.input_tokens, turn.notice_sent) == (0, 0, False)
        assert turn.lease_expires_at is None and turn.llm_config_id is None
        assert turn.created_at is not None and turn.updated_at == turn.created_at


@pytest.mark.parametrize("with_agent_and_config", [True, False])
def test_a_turn_is_loaded_in_one_statement_as_the_orm_loads_it(
    main_session, contact, with_agent_and_config
):
    LLMConfigFactory(user=contact, is_active=False, api_key="sk-inactive-0000")
    LLMConfigFactory(is_active=True, api_key="sk-someone-else-0000")  # another user's
    if with_agent_and_config:
        LLMConfigFactory(user=contact, is_active=True, api_key="sk-own-0000")
    else:
        WhatsAppSession.objects.filter(pk=main_session.pk).update(agent=None)
    message = MessageFactory(
        session=main_session, user=contact, direction="incoming", media_metadata={"k": [1]}
    )
    [turn_id] = triggers.turns_create(Message.objects.filter(pk=message.pk))
    Turn.objects.filter(pk=turn_id).update(tool_calls=[{"name": "x"}], lease_expires_at=None)

    with CaptureQueriesContext(connection) as queries:
        loaded, own_config = leasing.turn_load(turn_id)
        related = (loaded.user, loaded.session, loaded.session.agent, loaded.trigger_message)

    assert len(queries) == 1
    expected = Turn.objects.select_related("user", "session__agent", "trigger_message").get(
        pk=turn_id
    )
    expected_config = LLMConfig.objects.filter(user=contact, is_active=True).first()
    for got, want in zip(
        (loaded, *related, own_config),
        (
            expected,
            expected.user,
            expected.session,
            expected.session.agent,
            expected.trigger_message,
            expected_config,
        ),
        strict=True,
    ):
        if want is None:
            assert got is None
            continue
        assert type(got) is type(want) and not got._state.adding
        for field in type(want)._meta.concrete_fields:  # dates, JSON, booleans converted
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
    assert loaded.trigger_message.media_metadata == {"k": [1]}
    assert (loaded.session.agent is None) is not with_agent_and_config
    if with_agent_and_config:
        assert own_config.get_api_key() == "sk-own-0000"
    else:
        assert own_config is None


def test_a_turn_is_leased_once_when_due_and_again_only_after_its_lease_ran_out(
    main_session, contact, settings
):
    settings.ASSISTANT_TURN_LEASE_SECONDS = 60
    message = MessageFactory(session=main_session, user=contact, direction="incoming")
    [turn_id] = triggers.turns_create(Message.objects.filter(pk=message.pk))
    now = timezone.now()
    Turn.objects.filter(pk=turn_id).update(due_at=now + timedelta(seconds=5))

    assert not leasing.turn_lease(turn_id, now=now)  # not due yet
    assert leasing.turn_lease(turn_id, now=now + timedelta(seconds=5))
    turn = Turn.objects.get(pk=turn_id)
    assert (turn.state, turn.attempts) == (Turn.State.RUNNING, 1)
    assert turn.started_at == now + timedelta(seconds=5)
    assert turn.lease_expires_at == now + timedelta(seconds=65)
    assert not leasing.turn_lease(turn_id, now=now + timedelta(seconds=64))  # held
    assert leasing.turn_lease(turn_id, now=now + timedelta(seconds=66))  # its worker died
    turn = Turn.objects.get(pk=turn_id)
    assert (turn.attempts, turn.started_at) == (2, now + timedelta(seconds=5))
    Turn.objects.filter(pk=turn_id).update(state=Turn.State.REPLIED)
    assert not leasing.turn_lease(turn_id, now=now + timedelta(days=1))


def test_the_api_lists_the_callers_turns_and_reminders(api_client, main_session, contact):
    other = UserFactory()
    message = MessageFactory(session=main_session, user=contact, direction="incoming")
    Turn.objects.create(
        user=contact,
        session=main_session,
        chat_jid=message.chat_jid,
        trigger_message=message,
        due_at=timezone.now(),
    )
    mine = Reminder.objects.create(
        user=contact, session=main_session, chat_jid="c", text="mine", due_at=timezone.now()
    )
    theirs = Reminder.objects.create(
        user=other, session=main_session, chat_jid="c", text="theirs", due_at=timezone.now()
    )
    api_client.force_authenticate(contact)

    turns_page = api_client.get("/api/v1/assistant/turns/").json()
    reminders_page = api_client.get("/api/v1/reminders/").json()
    cancelled = api_client.delete(f"/api/v1/reminders/{mine.pk}/")
    again = api_client.delete(f"/api/v1/reminders/{mine.pk}/")
    foreign = api_client.delete(f"/api/v1/reminders/{theirs.pk}/")

    assert [t["trigger_message_id"] for t in turns_page["results"]] == [message.pk]
    assert [r["text"] for r in reminders_page["results"]] == ["mine"]
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert again.status_code == 409
    assert foreign.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == Reminder.State.SCHEDULED


def test_the_conversation_page_marks_the_assistants_reply_and_links_its_turn(
    api_client, llm, outbox, main_session, contact, admin_client_logged_in
):
    config_for(contact, llm)
    llm.script("openai", Text("Here you go."))
    incoming(api_client, "Hi")
    turn = Turn.objects.get()

    page = admin_client_logged_in.get(
        "/admin/messaging/message/chat/",
        {"user": contact.pk, "chat": f"{bp.CONTACT}@s.whatsapp.net"},
    )

    link = f"/admin/assistant/turn/by-reply/{turn.reply_message_id}/"
    assert page.status_code == 200
    assert page.text.count('class="zapa-sender zapa-assistant"') == 1
    assert link in page.text
    followed = admin_client_logged_in.get(link)
    assert followed.status_code == 302
    assert followed["Location"] == f"/admin/assistant/turn/{turn.pk}/change/"
    detail = admin_client_logged_in.get(followed["Location"])
    assert detail.status_code == 200
    assert "Here you go." in detail.text
    assert config_key_not_in(detail.text, contact)


def config_key_not_in(text: str, user) -> bool:
    return all(c.get_api_key() not in text for c in LLMConfig.objects.filter(user=user))


def test_the_dashboard_shows_replies_latency_failures_and_tokens(
    main_session, contact, admin_client_logged_in
):
    from zapa_site.dashboard_assistant import assistant_figures

    now = timezone.now()
    for n, (state, provider, seconds, tokens) in enumerate(
        [
            ("replied", "openai", 2, 100),
            ("replied", "openai", 4, 50),
            ("replied", "anthropic", 10, 30),
            ("failed", "anthropic", 1, 0),
            ("skipped", "", 0, 0),
        ]
    ):
        message = MessageFactory(session=main_session, user=contact, direction="incoming")
        Turn.objects.create(
            user=contact,
            session=main_session,
            chat_jid=message.chat_jid,
            trigger_message=message,
            due_at=now,
            state=state,
            provider=provider,
            input_tokens=tokens,
            finished_at=now - timedelta(minutes=n),
        )
        Turn.objects.filter(trigger_message=message).update(
            created_at=now - timedelta(minutes=n, seconds=seconds)
        )

    figures = assistant_figures(now=now + timedelta(seconds=1))
    page = admin_client_logged_in.get("/admin/")

    assert (figures.replies, figures.failures, figures.skipped) == (3, 1, 1)
    assert figures.latency_p50 == 4.0
    assert figures.latency_p95 == 10.0
    assert figures.tokens_by_provider == [("anthropic", 30), ("openai", 150)]
    assert 'id="zapa-assistant"' in page.text
    assert "4.0 s (p50)" in page.text


def test_staff_retry_a_failed_turn_from_the_admin(
    api_client, llm, outbox, main_session, contact, admin_client_logged_in
):
    config_for(contact, llm)
    llm.script("openai", Fail(500), Fail(500), Fail(500))
    incoming(api_client, "Hi")
    turn = Turn.objects.get()
    assert turn.state == Turn.State.FAILED
    llm.script("openai", Text("Back again."))

    response = admin_client_logged_in.post(
        "/admin/assistant/turn/",
        {"action": "retry_turns", "_selected_action": [turn.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 turn(s) queued again." in response.text
    turn.refresh_from_db()
    assert turn.state == Turn.State.REPLIED
    assert [m.text for m in outbox] == ["Back again."]
