"""`bench/run.py --only assistant`: the reply loop end to end, next to its baselines.

A fake provider that answers at once and a fake bridge (the test suite's, real HTTP
servers) stand in for the outside world. Measured in one run:

- end-to-end turns per second (webhook in → bridge send out, through gunicorn, Redis and
  a Celery worker) against a bare loop that calls the same fake provider and fake
  bridge directly with the same payloads, as many at once as the worker has processes;
- Zapa's own time per turn (the worker's time on the turn minus the provider's), p50,
  over every turn of the run, and of each step's turns apart (context);
- the webhook's p50 with the assistant on against a second server with it off.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import redis

from bench.load import Request, percentiles, run_load, send

WORKER_PROCESSES = 2
TURNS = 200
LATENCY_ROUNDS = 150
BROKER = "redis://127.0.0.1:6379/13"


def measure(runner, database: str, info: dict, log) -> None:
    from assistant.tests.fake_llm import FakeLLMServer
    from messaging.tests.fake_bridge import FakeBridgeServer

    main = info["main_digits"]
    # One chat per turn: messages of one chat in quick succession get one answer.
    senders = [f"1999{n:07d}" for n in range(TURNS)]
    # The server with the assistant off writes to other chats: its messages, which get
    # no turn, must not count as later messages in the chats the assistant answers.
    others = [f"1998{n:07d}" for n in range(TURNS)]
    with FakeLLMServer() as llm, FakeBridgeServer() as bridge:
        keys = [llm.issue_key("openai") for _ in senders]
        runner.task(
            database, "assistant_prepare", {"senders": senders, "others": others, "keys": keys}
        )
        redis.Redis.from_url(BROKER).flushdb()
        extra = {
            "CELERY_BROKER_URL": BROKER,
            "ASSISTANT_ENABLED": "true",
            "ASSISTANT_DEBOUNCE_SECONDS": "0",
            "WHATSAPP_BACKEND": "zapw",
            "WHATSAPP_BRIDGE_URL": bridge.url,
            "OPENAI_BASE_URL": llm.url("openai"),
        }
        worker = runner.start_celery_worker(
            database, processes=WORKER_PROCESSES, name="assistant", **extra
        )
        ports: list[int] = []
        try:
            on = runner.start_server(
                database, workers=runner.args.workers, name="assistant-on", **extra
            )
            ports.append(on)
            off = runner.start_server(
                database,
                workers=runner.args.workers,
                name="assistant-off",
                **{**extra, "ASSISTANT_ENABLED": "false"},
            )
            ports.append(off)
            time.sleep(3)  # the worker's processes are up
            since = datetime.now(UTC).isoformat()

            def event(n: int, prefix: str, contacts: list[str] = senders) -> Request:
                message_id = f"{prefix}{runner.run_tag}{n:08X}"
                now_ms = int(time.time() * 1000)
                body = {
                    "sessionId": info["main_session"],
                    "origin": main,
                    "eventType": "message.received",
                    "timestamp": now_ms,
                    "data": {
                        "from": f"{contacts[n % len(contacts)]}@s.whatsapp.net",
                        "to": f"{main}@s.whatsapp.net",
                        "messageId": message_id,
                        "timestamp": now_ms,
                        "type": "text",
                        "text": f"bench question {n}: what did I say yesterday?",
                        "isGroup": False,
                    },
                }
                return Request(
                    "POST",
                    runner.webhook_path(),
                    json.dumps(body).encode(),
                    {"Content-Type": "application/json", "X-Webhook-Event": "message.received"},
                )

            log("assistant: webhook latency with the assistant on vs off")
            latencies: dict[str, list[float]] = {"on": [], "off": []}
            for n in range(LATENCY_ROUNDS):
                for name, port, contacts in (("on", on, senders), ("off", off, others)):
                    request = event(n, "L" + name[1].upper(), contacts)
                    response = send(port, request, keep_body=False)
                    if response.status // 100 != 2:
                        raise SystemExit(f"assistant webhook ({name}): HTTP {response.status}")
                    latencies[name].append(response.seconds)
            _wait_for_sends(bridge, LATENCY_ROUNDS)

            log(f"assistant: {TURNS} turns end to end through the worker")
            before = len(bridge.sent)
            started = time.perf_counter()
            result = run_load(
                on, lambda n: event(n, "E"), concurrency=4, max_requests=TURNS, max_seconds=120
            )
            if result.requests != TURNS:
                raise SystemExit(f"assistant: only {result.requests} of {TURNS} posted")
            _wait_for_sends(bridge, before + TURNS)
            e2e_rate = TURNS / (time.perf_counter() - started)

            log("assistant: the bare loop (provider, then bridge, directly)")
            bare_rate = _bare_loop(llm, bridge, keys, senders)
            times = runner.task(database, "assistant_turn_times", {"since": since})
        finally:
            for port in ports:
                runner.stop_server(port)
            runner.stop_celery_worker(worker)

    own = percentiles([ms / 1000 for ms in times["own_ms"]])
    # Context: the turns of each step apart. The latency rounds' ("L") each run beside a
    # webhook request on each server; most of the throughput step's ("E") run after its
    # posts are done, beside the worker's other process only.
    own_by_step = {
        step: percentiles(
            [
                ms / 1000
                for ms, by in zip(times["own_ms"], times["posted_by"], strict=True)
                if by == letter
            ]
        )
        for step, letter in (("latency_rounds", "L"), ("throughput", "E"))
    }
    on_p, off_p = percentiles(latencies["on"]), percentiles(latencies["off"])
    runner.results["details"]["assistant"] = {
        "turns_measured": len(times["own_ms"]),
        "own_time": own,
        "own_time_by_step": own_by_step,
        "total_time": percentiles([ms / 1000 for ms in times["total_ms"]]),
        "webhook_on": on_p,
        "webhook_off": off_p,
        "worker_processes": WORKER_PROCESSES,
    }
    figures = runner.results["figures"]
    figures["assistant_turns_per_second"] = {
        "value": round(e2e_rate, 1),
        "baseline": round(bare_rate, 1),
        "unit": "turns/s",
        "ratio": round(e2e_rate / bare_rate, 3),
        "target": ">= 0.5x the bare provider + bridge loop",
        "met": e2e_rate / bare_rate >= 0.5,
    }
    figures["assistant_own_time_p50"] = {
        "value": round(own["p50_ms"], 1),
        "baseline": 30.0,
        "unit": "ms",
        "ratio": round(own["p50_ms"] / 30.0, 3),
        "target": "<= 30 ms of Zapa's own time per turn (p50)",
        "met": own["p50_ms"] <= 30.0,
    }
    for step, own_of_step in own_by_step.items():
        figures[f"assistant_own_time_p50_{step}"] = {
            "value": round(own_of_step["p50_ms"], 1),
            "baseline": 30.0,
            "unit": "ms",
            "ratio": round(own_of_step["p50_ms"] / 30.0, 3),
            "target": f"(context: the same, the {step.replace('_', ' ')} step's turns only)",
            "met": None,
        }
    ratio = on_p["p50_ms"] / off_p["p50_ms"]
    figures["webhook_assistant_on_vs_off"] = {
        "value": round(on_p["p50_ms"], 2),
        "baseline": round(off_p["p50_ms"], 2),
        "unit": "ms p50",
        "ratio": round(ratio, 3),
        "target": "<= 1.2x the webhook with the assistant off",
        "met": ratio <= 1.2,
    }


def _wait_for_sends(bridge, count: int, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while len(bridge.sent) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"assistant: {len(bridge.sent)} of {count} replies reached the bridge")
        time.sleep(0.05)


def _bare_loop(llm, bridge, keys: list[str], senders: list[str]) -> float:
    """The same provider call and bridge send, straight from here, WORKER_PROCESSES at once."""

    local = threading.local()  # one kept-alive client per thread, as Zapa keeps one per process
    clients: list[httpx.Client] = []

    def one(n: int) -> None:
        http = getattr(local, "client", None)
        if http is None:
            http = local.client = httpx.Client(timeout=30)
            clients.append(http)
        answer = http.post(
            f"{llm.url('openai')}/chat/completions",
            headers={"Authorization": f"Bearer {keys[n % len(keys)]}"},
            json={
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You are Zapa."},
                    {"role": "user", "content": f"bench question {n}"},
                ],
            },
        )
        answer.raise_for_status()
        text = answer.json()["choices"][0]["message"]["content"]
        sent = http.post(
            f"{bridge.url}/sessions/main/messages",
            json={"type": "text", "to": senders[n % len(senders)], "text": text},
        )
        sent.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKER_PROCESSES) as pool:
        list(pool.map(one, range(TURNS)))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return TURNS / elapsed
