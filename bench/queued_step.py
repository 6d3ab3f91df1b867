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
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import redis

from bench.load import Request, percentiles, run_load, send

BROKER = "redis://127.0.0.1:6379/14"
WORKER_PROCESSES = 2
STEADY_RATE = 200  # events per second
STEADY_SECONDS = 15


def measure(runner, database: str, info: dict, log, python: str, root, message_event) -> None:
    senders, main = info["senders"], info["main_digits"]
    redis.Redis.from_url(BROKER).flushdb()
    _retire_store_only_events(runner, database)
    extra = {
        "CELERY_BROKER_URL": BROKER,
        "WEBHOOK_INGEST": "queued",
        "ASSISTANT_ENABLED": "false",  # ingest alone
    }
    worker_command = [
        python,
        "-m",
        "celery",
        "-A",
        "zapa_site",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(WORKER_PROCESSES),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]
    worker = None
    port = None
    try:
        port = runner.start_server(database, workers=runner.args.workers, name="queued", **extra)

        def delivery(prefix: str):
            def make(n: int) -> Request:
                message_id = f"{prefix}{runner.run_tag}{n:08X}"
                event = message_event(info, senders[n % len(senders)], main, message_id, n)
                return Request(
                    "POST",
                    runner.webhook_path(),
                    json.dumps(event).encode(),
                    {"Content-Type": "application/json", "X-Webhook-Event": "message.received"},
                )

            return make

        def ping(n: int) -> Request:
            event = message_event(info, senders[n % len(senders)], main, f"P{n:08X}", n)
            return Request(
                "POST",
                "/bench/ping/",
                json.dumps(event).encode(),
                {"Content-Type": "application/json"},
            )

        def alternate(prefix: str) -> dict:
            rounds, per_round = 4, runner.args.seconds / 4
            totals = {"ping": [0, 0.0], "queued": [0, 0.0]}
            latencies: dict[str, list[float]] = {"ping": [], "queued": []}
            offset = 0
            for _ in range(rounds):
                for name, make in (("ping", ping), ("queued", delivery(prefix))):
                    result = run_load(
                        port,
                        lambda n, make=make, offset=offset: make(offset + n),
                        concurrency=8,
                        max_requests=20_000,
                        max_seconds=per_round,
                    )
                    bad = {s: c for s, c in result.statuses.items() if s // 100 != 2}
                    if bad:
                        raise SystemExit(f"queued ({name}): non-2xx answers {bad}")
                    totals[name][0] += result.requests
                    totals[name][1] += result.seconds
                    latencies[name].extend(result.latencies)
                offset += 20_000
            return {
                "queued_rate": totals["queued"][0] / totals["queued"][1],
                "ping_rate": totals["ping"][0] / totals["ping"][1],
                "requests": {name: totals[name][0] for name in totals},
                "webhook_latency": percentiles(latencies["queued"]),
                "ping_latency": percentiles(latencies["ping"]),
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
        worker = subprocess.Popen(
            worker_command,
            cwd=root,
            env=runner.env(database, **{**extra, "DATABASE_POOL": "false"}),
            stdout=(runner.logdir / "celery-worker-queued.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        # The beat's sweep would publish the task within 15 s; the bench does it now.
        _publish_ingest(runner, database, python, root, extra)
        _wait_for_backlog(runner, database, f"K{runner.run_tag}", seconds=600)
        drain_seconds = time.monotonic() - drain_started

        log("queued: the same, with the worker ingesting on the same CPUs (context)")
        beside = alternate("Q")
        _wait_for_backlog(runner, database, f"Q{runner.run_tag}", seconds=300)

        log(f"queued: event → message latency at a steady {STEADY_RATE} events/s")
        steady = delivery("Y")
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
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()

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


def _publish_ingest(runner, database: str, python: str, root, extra: dict) -> None:
    subprocess.run(
        [
            python,
            "-c",
            "import django; django.setup(); "
            "from messaging.tasks import ingest_waiting; ingest_waiting.delay()",
        ],
        cwd=root,
        env=runner.env(database, **extra),
        check=True,
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
