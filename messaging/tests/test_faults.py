"""Fault tolerance of the bridge webhook.

In-process: a connection-level database error anywhere under a view becomes a 503
in the one JSON error shape, with Retry-After and no stack trace.

Live (PostgreSQL): Zapa runs under gunicorn (with gunicorn.conf.py, DEBUG off) in a
subprocess against a database of its own, created and migrated for this module and
dropped afterwards, while the test posts events like the bridge does:

(a) the database goes away and comes back while events arrive;
(b) the server is SIGKILLed in the middle of a large batch, restarted, and the
    batch replayed.

Afterwards every message is stored exactly once and none without its webhook event.
"""

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError
from django.test import RequestFactory

from messaging.api import webhook_views
from messaging.tests import bridge_payloads as bp
from zapa_site.middleware import DatabaseUnavailableMiddleware

BASE_DIR = Path(__file__).resolve().parents[2]


# --- in-process: the middleware ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
            "Connection refused\n\tIs the server running on that host?"
        ),
        InterfaceError("connection already closed"),
    ],
)
def test_database_failure_in_the_webhook_is_a_clean_503(api_client, monkeypatch, caplog, error):
    """DRF's exception handler leaves database errors alone; the middleware answers."""

    def unavailable(**kwargs):
        raise error

    monkeypatch.setattr(webhook_views, "delivery_receive", unavailable)
    caplog.set_level(logging.INFO)
    payload = bp.message_received(text="private words")

    response = bp.post(api_client, payload)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "code": "database_unavailable",
            "message": "The service is temporarily unavailable (database unreachable). "
            "Please retry shortly.",
        }
    }
    assert "Traceback" not in response.content.decode()
    assert "5432" not in response.content.decode()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0].getMessage()
    # The URL pattern, never the path (the console handler's redaction may rewrite it too).
    assert "Database unavailable: POST /api/v1/webhooks/whatsapp/" in line
    assert type(error).__name__ in line
    assert "\n" not in line
    assert "private words" not in line
    assert all(settings.WEBHOOK_TOKEN not in r.getMessage() for r in caplog.records)


def test_middleware_leaves_other_errors_alone():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = RequestFactory().get("/api/v1/anything/")

    assert middleware.process_exception(request, IntegrityError("duplicate")) is None
    assert middleware.process_exception(request, ValueError("bug")) is None
    response = middleware.process_exception(request, OperationalError("gone"))
    assert response.status_code == 503


# --- live: helpers -----------------------------------------------------------------------------

pg = settings.DATABASES["default"]
PG_HOST = pg.get("HOST") or "127.0.0.1"
PG_PORT = int(pg.get("PORT") or 5432)
PG_USER = pg.get("USER") or "postgres"
PG_PASSWORD = pg.get("PASSWORD") or ""
WEBHOOK_TOKEN = "live-" + secrets.token_urlsafe(32)


def _dsn(port: int, dbname: str) -> str:
    auth = PG_USER + (f":{PG_PASSWORD}" if PG_PASSWORD else "")
    return f"postgres://{auth}@{PG_HOST}:{port}/{dbname}"


def _connect(dbname: str, **kwargs):
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        password=PG_PASSWORD or None,
        dbname=dbname,
        connect_timeout=10,
        **kwargs,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(database_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "ENV_FILE": "/dev/null",
        "DEBUG": "false",  # production mode: no debug pages, real secrets required
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "WEBHOOK_SECRET": "",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "CACHE_URL": "locmemcache://faults",
        "WHATSAPP_BACKEND": "locmem",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class FaultDatabase:
    name: str

    def connect(self, **kwargs):
        return _connect(self.name, **kwargs)

    def lock_is_awaited(self, table: str) -> bool:
        """Is some statement of this database waiting for a lock on `table`?"""
        with self.connect() as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = %s AND NOT l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (table,),
            ).fetchone()[0]
        return waiting > 0


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory) -> Iterator[FaultDatabase]:
    """A database of its own for the live server, migrated by `manage.py migrate`."""
    name = f"h4_faults_{uuid.uuid4().hex[:10]}"
    with _connect("postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=_server_env(_dsn(PG_PORT, name)),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        yield FaultDatabase(name)
    finally:
        with _connect("postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TcpProxy:
    """A TCP forwarder in front of PostgreSQL that can simulate an outage.

    Why not stop PostgreSQL: the server is shared by everyone working on this
    machine. Cutting the proxy produces the same failures Zapa sees in a real
    outage — established connections reset mid-query, new connections refused —
    for this test's server only.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore`."""
        self._up.clear()
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            _reset(sock)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, sink))
            _reset(source)
            _reset(sink)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class LiveServer:
    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL gunicorn's master and workers at once (no graceful anything)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.contextmanager
def gunicorn(database_url: str, log_path: Path, *, workers: int = 2) -> Iterator[LiveServer]:
    port = _free_port()
    env = {
        **_server_env(database_url),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_TIMEOUT": "120",
        "GUNICORN_ACCESSLOG": "-",
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so kill() reaches the workers
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{server.log()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"gunicorn did not start:\n{server.log()}"
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def deliver(http: httpx.Client, payload) -> httpx.Response | Exception:
    """POST like the bridge; a transport failure is returned, not raised."""
    event = payload.get("eventType", "") if isinstance(payload, dict) else "batch"
    try:
        return http.post(
            f"/api/v1/webhooks/whatsapp/{WEBHOOK_TOKEN}/",
            content=json.dumps(payload),
            headers={"Content-Type": "application/json", "X-Webhook-Event": event},
        )
    except httpx.HTTPError as exc:
        return exc


def ok(result) -> bool:
    return isinstance(result, httpx.Response) and 200 <= result.status_code < 300


def redeliver_until_accepted(http: httpx.Client, payloads: list, attempts: int = 5) -> None:
    """The bridge's retries: again after a pause, until 2xx (bounded)."""
    for payload in payloads:
        for _ in range(attempts):
            if ok(deliver(http, payload)):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"event {payload['data']['messageId']} was never accepted")


def stored_copies(database: FaultDatabase, message_ids: list[str]) -> dict[str, int]:
    with database.connect() as conn:
        rows = conn.execute(
            "SELECT wa_message_id, count(*) FROM messaging_message "
            "WHERE wa_message_id = ANY(%s) GROUP BY wa_message_id",
            (message_ids,),
        ).fetchall()
    return dict(rows)


def assert_each_stored_once_with_its_event(database: FaultDatabase, message_ids: list[str]):
    assert stored_copies(database, message_ids) == dict.fromkeys(message_ids, 1)
    with database.connect() as conn:
        orphans = conn.execute(
            "SELECT m.wa_message_id FROM messaging_message m "
            "JOIN messaging_whatsappsession s ON s.id = m.session_id "
            "WHERE m.wa_message_id = ANY(%s) AND NOT EXISTS ("
            "  SELECT 1 FROM messaging_webhookevent e WHERE e.state = 'processed' "
            "  AND e.session_key = s.bridge_session_id AND e.wa_message_id = m.wa_message_id)",
            (message_ids,),
        ).fetchall()
        failed = conn.execute(
            "SELECT count(*) FROM messaging_webhookevent "
            "WHERE state = 'failed' AND wa_message_id = ANY(%s)",
            (message_ids,),
        ).fetchone()[0]
    assert orphans == [], "messages without a processed webhook event"
    assert failed == 0


# --- live: (a) the database goes away --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_database_outage_answers_503_and_loses_nothing(fault_db, tmp_path):
    proxy = TcpProxy((PG_HOST, PG_PORT))
    events = [
        bp.message_received(**{"from": f"1415{4000000 + n:07d}"}, text=f"outage {n}")
        for n in range(45)
    ]
    background = [
        bp.message_received(**{"from": f"1415{4100000 + n:07d}"}, text=f"loop {n}")
        for n in range(60)
    ]
    message_ids = [e["data"]["messageId"] for e in events + background]
    try:
        with (
            gunicorn(_dsn(proxy.port, fault_db.name), tmp_path / "server.log") as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            # 1. Sequential: 15 before, 15 during, 15 after the outage.
            results = []
            for index, event in enumerate(events):
                if index == 15:
                    proxy.cut()
                if index == 30:
                    proxy.restore()
                results.append(deliver(http, event))
            before, during, after = results[:15], results[15:30], results[30:]
            assert all(ok(r) for r in before), [getattr(r, "status_code", r) for r in before]
            assert all(ok(r) for r in after), [getattr(r, "status_code", r) for r in after]
            for response in during:
                assert isinstance(response, httpx.Response), response
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "5"
                assert response.json()["error"]["code"] == "database_unavailable"
                assert "Traceback" not in response.text

            # 2. A loop of deliveries from two threads; the outage hits requests in flight.
            outcomes: list = []

            def bridge(payloads):
                with httpx.Client(base_url=server.url, timeout=30) as own:
                    for payload in payloads:
                        outcomes.append((payload, deliver(own, payload)))
                        time.sleep(0.02)

            threads = [threading.Thread(target=bridge, args=(background[i::2],)) for i in range(2)]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            proxy.cut()
            time.sleep(1.0)
            proxy.restore()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(thread.is_alive() for thread in threads)
            statuses = {getattr(r, "status_code", type(r).__name__) for _, r in outcomes}
            assert statuses <= {200, 503}, statuses  # never a 500, never a dropped connection
            assert 503 in statuses, "the outage hit none of the looping deliveries"

            # 3. The bridge retries whatever was not accepted.
            rejected = [events[i] for i, r in enumerate(results) if not ok(r)]
            rejected += [payload for payload, r in outcomes if not ok(r)]
            assert len(rejected) >= 15
            redeliver_until_accepted(http, rejected)

        log = server.log()
        assert "Database unavailable: POST /api/v1/webhooks/whatsapp/" in log
        assert WEBHOOK_TOKEN not in log
        assert "Traceback" not in log
    finally:
        proxy.close()

    assert_each_stored_once_with_its_event(fault_db, message_ids)


# --- live: (b) the server dies mid-batch -------------------------------------------------------


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_server_killed_mid_batch_then_replayed_stores_each_message_once(fault_db, tmp_path):
    batch = [
        bp.message_received(**{"from": f"1415{5000000 + n:07d}"}, text=f"batch {n}")
        for n in range(400)
    ]
    message_ids = [e["data"]["messageId"] for e in batch]
    database_url = _dsn(PG_PORT, fault_db.name)

    # Hold a lock the batch's message INSERT must wait for, so the kill is certain to
    # land after the events are inserted and before the messages are.
    locker = fault_db.connect()
    locker.execute("LOCK TABLE messaging_message IN SHARE MODE")
    try:
        with gunicorn(database_url, tmp_path / "first.log", workers=1) as server:
            outcome: list = []
            poster = threading.Thread(
                target=lambda: outcome.append(
                    deliver(httpx.Client(base_url=server.url, timeout=120), batch)
                )
            )
            poster.start()

            _wait_for(
                lambda: fault_db.lock_is_awaited("messaging_message"),
                90,
                "the batch to reach its message INSERT",
            )
            with fault_db.connect() as conn:
                stored_events = conn.execute(
                    "SELECT count(*) FROM messaging_webhookevent WHERE wa_message_id = ANY(%s)",
                    (message_ids,),
                ).fetchone()[0]
            # The events, messages and states commit together: nothing is visible yet.
            assert stored_events == 0

            server.kill()
            poster.join(timeout=30)
            assert not poster.is_alive()
            assert not ok(outcome[0])  # the bridge saw no answer and will retry
    finally:
        locker.rollback()
        locker.close()

    # Nothing half-written: the dead process's transaction never committed.
    assert stored_copies(fault_db, message_ids) == {}
    with fault_db.connect() as conn:
        assert not conn.execute(
            "SELECT count(*) FROM messaging_webhookevent WHERE wa_message_id = ANY(%s)",
            (message_ids,),
        ).fetchone()[0]

    with (
        gunicorn(database_url, tmp_path / "second.log", workers=1) as server,
        httpx.Client(base_url=server.url, timeout=120) as http,
    ):
        replay = deliver(http, batch)
        assert ok(replay), getattr(replay, "text", replay)
        assert replay.json()["processed"] == len(batch)
        assert ok(deliver(http, batch))  # and the bridge's own retry of it

    assert_each_stored_once_with_its_event(fault_db, message_ids)

    # Re-processing every event left 'received' (by test (a)'s outage) changes nothing here.
    reprocess = ["process_webhook_events", "--state", "received", "--min-age", "0"]
    command = subprocess.run(
        [sys.executable, "manage.py", *reprocess],
        cwd=BASE_DIR,
        env=_server_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    assert stored_copies(fault_db, message_ids) == dict.fromkeys(message_ids, 1)
    with fault_db.connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM messaging_webhookevent "
            "WHERE state <> 'processed' AND wa_message_id = ANY(%s)",
            (message_ids,),
        ).fetchone()[0]
    assert left == 0
