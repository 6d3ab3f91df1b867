"""A message that should be answered always gets its turn: here the web server is killed
after the messages are committed and answered for, before their turns are created (a
lock holds the turn INSERT), and the sweeper, which beat runs every 30 seconds, makes up
for it. Without a broker, as here, the turns are created by the web process once its
answer is sent; with one, the window is between the commit and the publish, and the
sweeper is the same."""

import subprocess
import sys
import threading

import httpx
import pytest

from messaging.tests import bridge_payloads as bp
from messaging.tests.test_faults import (  # noqa: F401 (fixture)
    BASE_DIR,
    PG_PORT,
    _dsn,
    _server_env,
    _wait_for,
    deliver,
    fault_db,
    gunicorn,
    ok,
)

pytestmark = pytest.mark.postgres


def _assistant_env(env: dict) -> dict:
    return {**env, "ASSISTANT_ENABLED": "true", "CELERY_BROKER_URL": ""}


@pytest.mark.timeout(240)
def test_a_server_killed_between_the_message_and_its_turn_loses_no_turn(
    fault_db,  # noqa: F811 (the fixture imported above)
    tmp_path,
    monkeypatch,
):
    import messaging.tests.test_faults as faults

    monkeypatch.setattr(faults, "_server_env", lambda url: _assistant_env(_server_env(url)))
    batch = [
        bp.message_received(**{"from": f"1415{6000000 + n:07d}"}, text=f"crash {n}")
        for n in range(20)
    ]
    message_ids = [event["data"]["messageId"] for event in batch]
    database_url = _dsn(PG_PORT, fault_db.name)

    locker = fault_db.connect()
    locker.execute("LOCK TABLE assistant_turn IN SHARE MODE")
    try:
        with gunicorn(database_url, tmp_path / "server.log", workers=1) as server:
            outcome: list = []
            poster = threading.Thread(
                target=lambda: outcome.append(
                    deliver(httpx.Client(base_url=server.url, timeout=120), batch)
                )
            )
            poster.start()

            _wait_for(
                lambda: fault_db.lock_is_awaited("assistant_turn"), 90, "the turn INSERT to wait"
            )
            server.kill()
            # The turn INSERT is one autocommit statement: the database would still run
            # it once the lock is free, its client dead or not. End it, as if the process
            # had died before sending it.
            with fault_db.connect() as conn:
                ended = conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'INSERT INTO assistant_turn%'"
                ).fetchone()[0]
            assert ended == 1
            poster.join(timeout=30)
            # The bridge had its answer before the turns were due to be created.
            assert ok(outcome[0])
    finally:
        locker.rollback()
        locker.close()

    with fault_db.connect() as conn:
        stored = conn.execute(
            "SELECT count(*) FROM messaging_message WHERE wa_message_id = ANY(%s)",
            (message_ids,),
        ).fetchone()[0]
        turns = conn.execute(
            "SELECT count(*) FROM assistant_turn t JOIN messaging_message m "
            "ON m.id = t.trigger_message_id WHERE m.wa_message_id = ANY(%s)",
            (message_ids,),
        ).fetchone()[0]
    assert (stored, turns) == (len(batch), 0)  # the messages are in, their turns are not

    sweep = subprocess.run(
        [sys.executable, "manage.py", "run_scheduler", "--once"],
        cwd=BASE_DIR,
        env=_assistant_env(_server_env(database_url)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert f"turns queued: {len(batch)}" in sweep.stdout, sweep.stdout

    with fault_db.connect() as conn:
        states = conn.execute(
            "SELECT t.state, count(*) FROM assistant_turn t JOIN messaging_message m "
            "ON m.id = t.trigger_message_id WHERE m.wa_message_id = ANY(%s) GROUP BY t.state",
            (message_ids,),
        ).fetchall()
    # One turn each, run to the end (no LLM key here: each contact got the notice).
    assert dict(states) == {"skipped": len(batch)}
