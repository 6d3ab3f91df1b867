"""The reply loop on the real task queue: a `celery -A zapa_site worker` subprocess on
the real Redis, the real PostgreSQL, the fake bridge and the fake provider over HTTP.
A worker killed with SIGKILL during a slow provider call, then restarted, gives
exactly one reply."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from accounts.tests.factories import UserFactory
from assistant import tasks
from assistant.models import Turn
from assistant.tests.fake_llm import Slow, Text
from llm.tests.factories import AgentFactory, LLMConfigFactory
from messaging.models import WhatsAppSession
from messaging.tests import bridge_payloads as bp
from messaging.tests.factories import WhatsAppSessionFactory
from messaging.tests.fake_bridge import FakeBridgeServer
from zapa_site.celery import app as celery_app

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(django_settings.BASE_DIR)
REDIS = "redis://127.0.0.1:6379"


def _wait_for(condition, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {seconds}s waiting for {what}.")


@pytest.fixture
def broker_url(worker_id):
    # One Redis database per xdist worker, emptied first: runs never see each other.
    number = 8 + (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = f"{REDIS}/{number}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def bridge():
    with FakeBridgeServer() as server:
        yield server


@pytest.fixture
def queue(settings, broker_url, bridge, fake_llm):
    """This process enqueues to Redis (not eagerly) with the worker's settings."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ASSISTANT_DEBOUNCE_SECONDS = 0.2
    settings.ASSISTANT_TURN_LEASE_SECONDS = 3
    settings.WHATSAPP_BACKEND = "zapw"
    settings.WHATSAPP_BRIDGE_URL = bridge.url
    settings.LLM_PROVIDER_BASE_URLS = fake_llm.base_urls()
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=broker_url, task_always_eager=False)
    _forget_connections()
    yield broker_url
    celery_app.conf.update(previous)
    _forget_connections()


def _forget_connections() -> None:
    """Eager runs still acquire a producer: drop the pools made for the old broker URL
    (what Celery itself does after a fork)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class Worker:
    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log, self.process = env, log, None

    def start(self) -> "Worker":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "zapa_site",
                "worker",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_for(lambda: b"ready" in self.log.read_bytes(), seconds=30, what="the worker")
        return self

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def worker_env(queue, bridge, fake_llm, tmp_path):
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    url = f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "true",
        "CELERY_BROKER_URL": queue,
        "WHATSAPP_BACKEND": "zapw",
        "WHATSAPP_BRIDGE_URL": bridge.url,
        "WHATSAPP_MAIN_SESSION_ID": "main",
        "OPENAI_BASE_URL": fake_llm.url("openai"),
        "ANTHROPIC_BASE_URL": fake_llm.url("anthropic"),
        "GOOGLE_BASE_URL": fake_llm.url("google"),
        "LLM_PROVIDER_TIMEOUT": "30",
        "ASSISTANT_TURN_LEASE_SECONDS": "3",
        "ASSISTANT_DEBOUNCE_SECONDS": "0.2",
        "ASSISTANT_ENABLED": "true",
    }
    env.pop("DATABASE_POOL", None)
    return env


@pytest.fixture
def workers(worker_env, tmp_path):
    started = []

    def start() -> Worker:
        worker = Worker(worker_env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        print(f"--- {worker.log.name} ---\n{worker.log.read_text()[-3000:]}")


@pytest.fixture
def contact_with_key(fake_llm):
    owner = UserFactory(phone_number="+" + bp.ASSISTANT)
    WhatsAppSessionFactory(
        user=owner,
        bridge_session_id="main",
        session_type=WhatsAppSession.SessionType.MAIN,
        agent=AgentFactory(functions=["search_messages"]),
    )
    contact = UserFactory(phone_number="+" + bp.CONTACT)
    LLMConfigFactory(
        user=contact,
        provider="openai",
        api_key=fake_llm.issue_key("openai"),
        is_active=True,
        model_settings={"model": "gpt-4o-mini"},
    )
    return contact


def test_a_reply_arrives_through_the_worker(
    api_client, workers, bridge, fake_llm, contact_with_key
):
    workers()
    fake_llm.script("openai", Text("Hello from the worker"))

    assert bp.post(api_client, bp.message_received(text="Hi")).status_code == 200

    sent = _wait_for(lambda: bridge.sent, seconds=30, what="the reply at the bridge")
    assert [(m["to"], m["text"]) for m in sent] == [(bp.CONTACT, "Hello from the worker")]
    turn = _wait_for(
        lambda: Turn.objects.filter(state=Turn.State.REPLIED).first(), seconds=10, what="turn"
    )
    assert turn.reply_message.wa_message_id == sent[0]["messageId"]


def test_a_worker_killed_mid_call_gives_exactly_one_reply(
    api_client, workers, bridge, fake_llm, contact_with_key
):
    first = workers()
    fake_llm.script("openai", Slow(20, then=Text("too late")), Text("The one reply"))

    assert bp.post(api_client, bp.message_received(text="Hi")).status_code == 200
    _wait_for(lambda: fake_llm.requests_for("openai"), seconds=30, what="the provider call")
    first.kill()
    workers()  # a new worker; the old one's turn is held until its lease runs out
    time.sleep(3.5)
    assert tasks.sweep() >= 1  # what beat runs every 30 seconds

    sent = _wait_for(lambda: bridge.sent, seconds=30, what="the reply at the bridge")
    time.sleep(1.0)  # nothing else arrives
    assert [m["text"] for m in bridge.sent] == ["The one reply"]
    assert len(sent) == 1
    turn = Turn.objects.get()
    assert (turn.state, turn.attempts) == (Turn.State.REPLIED, 2)


def test_a_redelivery_storm_gives_one_turn_and_one_reply(
    api_client, workers, bridge, fake_llm, contact_with_key
):
    workers()
    payload = bp.message_received(text="Once")

    for _ in range(10):
        assert bp.post(api_client, payload).status_code == 200

    _wait_for(lambda: bridge.sent, seconds=30, what="the reply")
    time.sleep(1.5)
    assert len(bridge.sent) == 1
    assert Turn.objects.count() == 1


def test_a_concurrent_redelivery_storm_gives_one_turn_and_one_reply(
    workers, bridge, fake_llm, contact_with_key
):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from django.test import Client

    workers()
    payload = bp.message_received(text="Once, concurrently")

    def deliver(_):
        try:
            return bp.post(Client(), payload).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(deliver, range(16)))

    assert set(statuses) == {200}
    _wait_for(lambda: bridge.sent, seconds=30, what="the reply")
    time.sleep(1.5)
    assert len(bridge.sent) == 1
    assert Turn.objects.count() == 1


def test_a_reminder_due_while_no_worker_ran_is_sent_once_when_one_is_back(
    workers, bridge, contact_with_key
):
    from datetime import timedelta

    from django.utils import timezone

    from assistant.models import Reminder

    session = WhatsAppSession.objects.get(bridge_session_id="main")
    reminder = Reminder.objects.create(
        user=contact_with_key,
        session=session,
        chat_jid=f"{bp.CONTACT}@s.whatsapp.net",
        text="Take the pills",
        due_at=timezone.now() - timedelta(minutes=5),  # due while nothing ran
    )

    workers()
    tasks.send_due_reminders.delay()
    tasks.send_due_reminders.delay()  # beat's next tick, or a second scheduler

    _wait_for(lambda: bridge.sent, seconds=30, what="the reminder at the bridge")
    time.sleep(1.5)
    assert [m["text"] for m in bridge.sent] == ["⏰ Take the pills"]
    reminder.refresh_from_db()
    assert reminder.state == Reminder.State.SENT


def test_queued_ingest_through_the_worker_then_a_reply(
    api_client, workers, worker_env, bridge, fake_llm, contact_with_key, settings
):
    """WEBHOOK_INGEST=queued: the webhook only stores the event (202); the worker
    ingests it, and the assistant answers, all through Redis."""
    settings.WEBHOOK_INGEST = "queued"
    worker_env["WEBHOOK_INGEST"] = "queued"
    fake_llm.script("openai", Text("Queued, then answered"))

    response = bp.post(api_client, bp.message_received(text="Hi"))

    assert response.status_code == 202 and response.json()["queued"] == 1
    assert not Turn.objects.exists()
    workers()  # the event waited in the database until a worker came
    sent = _wait_for(lambda: bridge.sent, seconds=30, what="the reply at the bridge")
    assert [m["text"] for m in sent] == ["Queued, then answered"]
