"""`bench/run.py --only queued`: queued ingest (WEBHOOK_INGEST=queued) next to its
baselines, measured in one run on the big database:

- the single-event webhook's rate in queued mode against the minimal JSON view
  (`/bench/ping/`) on the same server, 8 clients, alternating rounds, with no worker
  running: the request alone, as on a web machine whose workers run elsewhere. The
  events wait; `/readyz` must stay green while they do;
- how fast one Celery worker (2 processes) then drains that backlog;
- the same rate with that worker ingesting on the same 2 CPUs (context);
- event → message-row latency (the event's `received_at` → the message's `created_at`)
  p50/p99 at a steady 200 events/s, once the backlogs are gone.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from bench.load import Request, percentiles, send

BROKER = "redis://127.0.0.1:6379/14"
WORKER_PROCESSES = 2
STEADY_RATE = 200  # events per second
STEADY_SECONDS = 15


def measure(runner, database: str, info: dict, log) -> None:
    redis.Redis.from_url(BROKER).flushdb()
    _retire_store_only_events(runner, database)
    extra = {
        "CELERY_BROKER_URL": BROKER,
        "WEBHOOK_INGEST": "queued",
        "ASSISTANT_ENABLED": "false",  # ingest alone
    }
    worker = None
    port = None
    try:
        port = runner.start_server(database, workers=runner.args.workers, name="queued", **extra)
        ping = runner.ping_requests(info)

        def alternate(prefix: str) -> dict:
            results = runner.alternate(
                port, {"ping": ping, "queued": runner.webhook_requests(info, prefix)}
            )
            return {
                "queued_rate": results["queued"]["rate"],
                "ping_rate": results["ping"]["rate"],
                "requests": {name: totals["requests"] for name, totals in results.items()},
                "webhook_latency": percentiles(results["queued"]["latencies"]),
                "ping_latency": percentiles(results["ping"]["latencies"]),
            }

        log("queued: single-event webhook (queued mode, no worker) vs a minimal JSON view")
        alone = alternate("K")
        waiting = _backlog(runner, database, f"K{runner.run_tag}")
        if waiting != alone["requests"]["queued"]:
            raise SystemExit(f"queued: {waiting} events waiting, {alone['requests']} sent")
        ready = send(port, Request("GET", "/readyz", b"", {}))
        if ready.status != 200:
            raise SystemExit(f"queued: /readyz answered {ready.status} with a backlog")

        log(f"queued: one worker drains the {waiting:,} waiting events")
        drain_started = time.monotonic()
        worker = runner.start_celery_worker(
            database, processes=WORKER_PROCESSES, name="queued", **extra
        )
        # The beat's sweep would publish the task within 15 s; the bench does it now.
        _publish_ingest(runner, database, extra)
        _wait_for_backlog(runner, database, f"K{runner.run_tag}", seconds=600)
        drain_seconds = time.monotonic() - drain_started

        log("queued: the same, with the worker ingesting on the same CPUs (context)")
        beside = alternate("B")
        _wait_for_backlog(runner, database, f"B{runner.run_tag}", seconds=300)

        log(f"queued: event → message latency at a steady {STEADY_RATE} events/s")
        steady = runner.webhook_requests(info, "Y")
        count = STEADY_RATE * STEADY_SECONDS
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = []
            for n in range(count):
                delay = started + n / STEADY_RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(send, port, steady(n), keep_body=False))
            answers = [future.result() for future in futures]
        sent_rate = count / (time.perf_counter() - started)
        if any(answer.status // 100 != 2 for answer in answers):
            raise SystemExit("queued (steady): non-2xx answers")
        _wait_for_backlog(runner, database, f"Y{runner.run_tag}", seconds=120)
        delays = _event_to_row_seconds(runner, database, f"Y{runner.run_tag}", count)
    finally:
        if port is not None:
            runner.stop_server(port)
        runner.stop_celery_worker(worker)

    steady_p = percentiles(delays)
    runner.results["details"]["queued"] = {
        "no_worker": alone,
        "readyz_with_backlog": json.loads(ready.body or b"{}"),
        "drain": {
            "events": waiting,
            "seconds_from_worker_start": round(drain_seconds, 1),
            "events_per_second": round(waiting / drain_seconds, 1),
        },
        "worker_beside": beside,
        "steady_rate_sent": round(sent_rate, 1),
        "event_to_row": steady_p,
        "worker_processes": WORKER_PROCESSES,
    }
    figures = runner.results["figures"]
    figures["single_webhook_queued"] = {
        "value": round(alone["queued_rate"], 1),
        "baseline": round(alone["ping_rate"], 1),
        "unit": "req/s",
        "ratio": round(alone["queued_rate"] / alone["ping_rate"], 3),
        "target": ">= 0.8x a minimal Django JSON view (no worker on this machine)",
        "met": alone["queued_rate"] / alone["ping_rate"] >= 0.8,
    }
    figures["single_webhook_queued_worker_beside"] = {
        "value": round(beside["queued_rate"], 1),
        "baseline": round(beside["ping_rate"], 1),
        "unit": "req/s",
        "ratio": round(beside["queued_rate"] / beside["ping_rate"], 3),
        "target": f"(context: a {WORKER_PROCESSES}-process worker ingesting on the same CPUs)",
        "met": None,
    }
    figures["queued_event_to_row_p99"] = {
        "value": round(steady_p["p99_ms"], 1),
        "baseline": 1000.0,
        "unit": "ms",
        "ratio": round(steady_p["p99_ms"] / 1000.0, 3),
        "target": f"p99 <= 1 s at {STEADY_RATE} events/s (p50 {steady_p['p50_ms']:.0f} ms)",
        "met": steady_p["p99_ms"] <= 1000.0,
    }


def _publish_ingest(runner, database: str, extra: dict) -> None:
    runner.python(
        database,
        [
            "-c",
            "import django; django.setup(); "
            "from messaging.tasks import ingest_waiting; ingest_waiting.delay()",
        ],
        what="publishing messaging.ingest_waiting",
        **extra,
    )


def _retire_store_only_events(runner, database: str) -> None:
    """The single_webhook step's store-only view leaves its events `received` on
    purpose (it measures the request a queue would leave); they are not this step's
    work, so they are set aside before a worker starts."""
    with runner.sql(database) as conn:
        conn.execute(
            "UPDATE messaging_webhookevent SET state = 'ignored', "
            "error = 'bench: stored only, never meant to be ingested' "
            "WHERE state = 'received'"
        )


def _backlog(runner, database: str, prefix: str) -> int:
    with runner.sql(database) as conn:
        return conn.execute(
            "SELECT count(*) FROM messaging_webhookevent "
            "WHERE state = 'received' AND wa_message_id LIKE %s",
            (prefix + "%",),
        ).fetchone()[0]


def _wait_for_backlog(runner, database: str, prefix: str, *, seconds: float) -> float:
    """Seconds until none of this step's events waits (the worker caught up)."""
    started = time.monotonic()
    while _backlog(runner, database, prefix):
        if time.monotonic() - started > seconds:
            raise SystemExit(f"queued: the backlog did not drain within {seconds:g} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _event_to_row_seconds(runner, database: str, prefix: str, expected: int) -> list[float]:
    with runner.sql(database) as conn:
        rows = conn.execute(
            """
            SELECT EXTRACT(EPOCH FROM m.created_at - e.received_at)
            FROM messaging_webhookevent AS e
            JOIN messaging_message AS m
              ON m.wa_message_id = e.wa_message_id
             AND m.session_id = (SELECT id FROM messaging_whatsappsession
                                 WHERE bridge_session_id = e.session_key)
            WHERE e.wa_message_id LIKE %s AND e.event_type = 'message.received'
            """,
            (prefix + "%",),
        ).fetchall()
    if len(rows) != expected:
        raise SystemExit(f"queued: {len(rows)} of {expected} messages stored")
    return [float(seconds) for (seconds,) in rows]
