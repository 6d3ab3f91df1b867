"""Queued ingest (WEBHOOK_INGEST=queued): the webhook stores the events and answers
202; a worker ingests them in batches once the answer is out (here eagerly, with no
broker; `assistant/tests/test_worker.py` runs it on a real Celery worker)."""

import json
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.utils import timezone

from messaging import tasks
from messaging.api.webhook_views import WhatsAppWebhookView
from messaging.ingest import queue
from messaging.models import Message, WebhookEvent
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import WhatsAppSessionFactory

State = WebhookEvent.State


@pytest.fixture
def queued(settings):
    settings.WEBHOOK_INGEST = "queued"


@pytest.fixture
def main_session(db):
    return WhatsAppSessionFactory(bridge_session_id="main", session_type="main")


def answer_sent(response) -> None:
    """What the WSGI server does once the answer is out: close() (without closing the
    test's database connection, as Django's test client does)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def deliver(payload):
    """The webhook as the WSGI server runs it: the answer, then close() once it is sent."""
    request = RequestFactory().post(
        bp.webhook_path(), data=json.dumps(payload), content_type="application/json"
    )
    return WhatsAppWebhookView.as_view()(request, token=settings.WEBHOOK_TOKEN)


@pytest.mark.django_db
def test_the_webhook_answers_202_and_ingests_after_the_answer(queued, main_session):
    event = bp.message_received(text="Hello, queue")

    response = deliver(event)

    assert response.status_code == 202
    body = json.loads(response.content)
    assert (body["received"], body["queued"], body["processed"]) == (1, 1, 0)
    assert not Message.objects.exists()  # answered first
    answer_sent(response)
    message = Message.objects.get()
    assert message.content == "Hello, queue"
    assert WebhookEvent.objects.get().state == State.PROCESSED


@pytest.mark.django_db
def test_events_wait_while_no_worker_runs_and_keep_their_order_rules(queued, main_session, client):
    sent = bp.message_sent(text="Our answer")
    # The status comes first, then its message: deferred, then applied, as inline.
    for payload in (bp.message_read(sent["data"]["messageId"]), sent):
        assert deliver(payload).status_code == 202  # never closed: no worker ran

    assert not Message.objects.exists()
    backlog = client.get("/readyz").json()["webhook_backlog"]
    assert backlog["waiting"] == 2 and backlog["oldest_seconds"] >= 0

    assert queue.waiting_ingest() == 2

    assert Message.objects.get().status == Message.Status.READ
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {State.PROCESSED}
    assert client.get("/readyz").json()["webhook_backlog"] == {
        "waiting": 0,
        "oldest_seconds": 0.0,
    }


@pytest.mark.django_db
def test_a_claim_left_by_a_dead_worker_is_taken_again(queued, main_session):
    deliver(bp.message_received(text="Hello"))
    [claimed] = queue.waiting_claim()
    assert queue.waiting_claim() == []  # held by the first worker

    later = timezone.now() + timedelta(seconds=queue.CLAIM_SECONDS + 1)
    assert [event.pk for event in queue.waiting_claim(now=later)] == [claimed.pk]


@pytest.mark.django_db
def test_inline_mode_leaves_the_task_idle(main_session):
    WebhookEvent.objects.create(
        event_type="message.received", session_key="main", payload=bp.message_received()
    )

    assert tasks.ingest_waiting() == 0  # inline: process_webhook_events handles these
    assert WebhookEvent.objects.get().state == State.RECEIVED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_never_take_the_same_event(queued, main_session):
    for n in range(300):
        deliver(bp.message_received(text=f"race {n}"))
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def work(index: int) -> None:
        start.wait()
        try:
            while batch := queue.waiting_claim(limit=25):
                taken[index].extend(event.pk for event in batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert taken[0] and taken[1]  # both worked
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 300


def test_one_wake_up_at_a_time_on_the_brokers_redis(settings):
    import redis

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/12"
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue.WAKE_KEY)

    # A burst of requests: the first publishes the task, the others find it pending.
    assert [queue.wake_wanted() for _ in range(3)] == [True, False, False]
    queue.wake_clear()  # the task starts: events stored from now on need a new wake-up
    assert queue.wake_wanted() is True
    ttl = redis.Redis.from_url(settings.CELERY_BROKER_URL).ttl(queue.WAKE_KEY)
    assert 0 < ttl <= queue.WAKE_SECONDS  # a lost publish does not block wake-ups for long


def test_without_a_redis_broker_every_request_wakes_a_worker(settings):
    settings.CELERY_BROKER_URL = "memory://localhost/"
    assert [queue.wake_wanted() for _ in range(2)] == [True, True]
