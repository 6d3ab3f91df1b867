#!/usr/bin/env python
"""Zapa's benchmark: each figure next to its baseline, measured in one run.

    .venv/bin/python bench/run.py                      # 1M messages
    .venv/bin/python bench/run.py --messages 10000000  # 10M (--large is the same)

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432) and
drops/creates its own databases `bench_small` and `bench_big`. It migrates them,
seeds them with `manage.py seed_bulk`, runs gunicorn (gunicorn.conf.py; DEBUG off,
generated secrets, psycopg pool) with bench.settings (Zapa's settings plus the
baseline views), drives it from this machine over 127.0.0.1, prints a table and
writes JSON to bench/results/. Every load step is bounded by requests and seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    Request,
    measure_latencies,
    percentiles,
    run_load,
    send,
)
from core.testing.ports import free_port  # noqa: E402
from messaging.seeding.columns import CHUNK_SIZE, MESSAGE_COLUMNS  # noqa: E402

PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results"
COPY_COLUMNS = ", ".join(MESSAGE_COLUMNS)
# Measurement steps in run order (--only picks some; seeding is measured whenever it runs).
FIGURE_STEPS = (
    "history",
    "admin",
    "search",
    "single_webhook",
    "batch_webhook",
    "queued",
    "assistant",
    "export",
)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="Size of bench_big.")
    parser.add_argument("--large", action="store_true", help="Same as --messages 10000000.")
    parser.add_argument("--small-messages", type=int, default=10_000, help="bench_small size.")
    parser.add_argument("--export-big", type=int, default=100_000, help="Big export's user.")
    parser.add_argument("--export-small", type=int, default=1_000, help="Small export's user.")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="Gunicorn workers per server (default: gunicorn.conf.py's own, 2 x CPUs + 1).",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Per throughput test.")
    parser.add_argument("--batches", type=int, default=60, help="Batch webhook POSTs.")
    parser.add_argument("--rounds", type=int, default=100, help="Latency samples per figure.")
    parser.add_argument(
        "--only",
        default=",".join(FIGURE_STEPS),
        help="Comma-separated steps to measure (default: all): " + ", ".join(FIGURE_STEPS),
    )
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="Keep existing bench databases (skip create/seed; seed figures are then n/a).",
    )
    parser.add_argument(
        "--prefix",
        default="bench",
        help="Database names: <prefix>_small and <prefix>_big (_<messages> unless 1M).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (without database name).",
    )
    args = parser.parse_args()
    if args.large:
        args.messages = 10_000_000
    args.only = [step.strip() for step in args.only.split(",") if step.strip()]
    unknown = sorted(set(args.only) - set(FIGURE_STEPS))
    if unknown or not args.only:
        parser.error(f"--only: unknown step(s) {unknown}; choose from {', '.join(FIGURE_STEPS)}")
    if args.messages < args.export_big + args.export_small + 10_000:
        parser.error("--messages must leave room for the two export users and 10k more")
    return args


# --- environment and processes ------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        # One database per size, so a 1M and a 10M run can be kept side by side.
        self.small_db = f"{args.prefix}_small"
        self.big_db = f"{args.prefix}_big" + (
            "" if args.messages == 1_000_000 else f"_{args.messages}"
        )
        self.server_url = args.database_url.rstrip("/")
        self.secret_key = secrets.token_urlsafe(48)
        self.fernet_key = Fernet.generate_key().decode()
        self.webhook_token = secrets.token_urlsafe(32)
        self.staff_phone = "+14155550100"
        self.staff_password = secrets.token_urlsafe(18)
        self.run_tag = secrets.token_hex(3).upper()
        self.results: dict = {"figures": {}, "details": {}}
        self.servers: list[subprocess.Popen] = []
        self.logdir = Path(tempfile.mkdtemp(prefix="zapa-bench-"))

    def db_url(self, name: str) -> str:
        return f"{self.server_url}/{name}"

    def env(self, database: str, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ENV_FILE": os.devnull,  # a developer's .env must not change the run
                "DJANGO_SETTINGS_MODULE": "zapa_site.settings",
                "DATABASE_URL": self.db_url(database),
                "DATABASE_POOL": "true",
                "DEBUG": "false",
                "SECRET_KEY": self.secret_key,
                "FIELD_ENCRYPTION_KEYS": self.fernet_key,
                "WEBHOOK_TOKEN": self.webhook_token,
                "WEBHOOK_SECRET": "",
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "false",
                "WHATSAPP_BACKEND": "console",
                "LOG_LEVEL": "WARNING",
                # The per-IP webhook throttle stays on (one cache round trip per
                # request), but with a rate the load generator cannot reach.
                "THROTTLE_WEBHOOK": "100000000/minute",
                # The ingest figures measure ingest. Without a broker the assistant
                # would answer inside the web process; the assistant step switches it
                # on with its own broker and worker.
                "ASSISTANT_ENABLED": "false",
            }
        )
        env.update(extra)
        return env

    def manage(self, database: str, *args: str) -> str:
        return self.python(database, ["manage.py", *args], what=f"manage.py {' '.join(args)}")

    def task(self, database: str, name: str, spec: dict | None = None) -> dict:
        argv = ["bench/tasks.py", name, json.dumps(spec or {})]
        out = self.python(database, argv, what=f"bench/tasks.py {name}")
        return json.loads(out.strip().splitlines()[-1])

    def python(self, database: str, argv: list[str], *, what: str, **extra: str) -> str:
        """Run one of the project's scripts against `database`; its stdout."""
        result = subprocess.run(
            [PYTHON, *argv],
            cwd=ROOT,
            env=self.env(database, **extra),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise SystemExit(f"{what} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    @contextmanager
    def sql(self, database: str, autocommit: bool = True):
        with psycopg.connect(self.db_url(database), autocommit=autocommit) as conn:
            yield conn

    def start_server(self, database: str, *, workers: int, name: str, **extra: str) -> int:
        port = free_port()
        log_path = self.logdir / f"gunicorn-{name}.log"
        env = self.env(
            database,
            DJANGO_SETTINGS_MODULE="bench.settings",
            ZAPA_BENCH="1",
            GUNICORN_BIND=f"127.0.0.1:{port}",
            WEB_CONCURRENCY=str(workers),
            # No worker recycling mid-measurement (production recycles every ~2000).
            GUNICORN_MAX_REQUESTS="0",
            GUNICORN_ACCESSLOG=str(self.logdir / f"access-{name}.log"),
            GUNICORN_LOGLEVEL="warning",
            **extra,
        )
        process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.port = port  # type: ignore[attr-defined]
        self.servers.append(process)
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                raise SystemExit(
                    f"gunicorn exited; see {log_path}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                healthy = send(port, Request("GET", "/healthz"), timeout=5).status == 200
                if healthy and len(_worker_pids(process.pid)) >= workers:
                    return port
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not come up; see {log_path}")

    def stop_server(self, port: int) -> None:
        for process in list(self.servers):
            if getattr(process, "port", None) == port:
                _stop(process)
                self.servers.remove(process)

    def stop_all(self) -> None:
        for process in self.servers:
            _stop(process)
        self.servers.clear()

    def start_celery_worker(
        self, database: str, *, processes: int, name: str, **extra: str
    ) -> subprocess.Popen:
        """`celery -A zapa_site worker` on `database`; stop it with `stop_celery_worker`."""
        return subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "zapa_site",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(processes),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env(database, **{**extra, "DATABASE_POOL": "false"}),
            stdout=(self.logdir / f"celery-worker-{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )

    def stop_celery_worker(self, worker: subprocess.Popen | None) -> None:
        if worker is not None:
            _stop(worker)

    def alternate(self, port: int, targets: dict) -> dict:
        """Rounds of load, one target after the other, so a noisy neighbour hits all
        alike: 4 rounds over `--seconds`, 8 clients. Per target: requests, seconds,
        statuses, latencies (every answer must be 2xx) and its rate."""
        rounds, per_round = 4, self.args.seconds / 4
        results = {
            name: {"requests": 0, "seconds": 0.0, "statuses": {}, "latencies": []}
            for name in targets
        }
        offset = 0
        for _ in range(rounds):
            for name, make in targets.items():
                result = run_load(
                    port,
                    lambda n, make=make, offset=offset: make(offset + n),
                    concurrency=8,
                    max_requests=20_000,
                    max_seconds=per_round,
                )
                totals = results[name]
                totals["requests"] += result.requests
                totals["seconds"] += result.seconds
                for status, count in result.statuses.items():
                    totals["statuses"][str(status)] = totals["statuses"].get(str(status), 0) + count
                totals["latencies"].extend(result.latencies)
            offset += 20_000
        for name, totals in results.items():
            bad = {k: v for k, v in totals["statuses"].items() if not k.startswith("2")}
            if bad:
                raise SystemExit(f"{name}: non-2xx answers {bad}")
            totals["rate"] = totals["requests"] / totals["seconds"]
        return results

    def webhook_requests(self, info: dict, id_prefix: str, path: str | None = None):
        """Request maker: the n-th `message.received` event, one per POST."""
        senders, main = info["senders"], info["main_digits"]
        path = path or self.webhook_path()

        def make(n: int) -> Request:
            message_id = f"{id_prefix}{self.run_tag}{n:08X}"
            body = json.dumps(_message_event(info, senders[n % len(senders)], main, message_id, n))
            return Request(
                "POST",
                path,
                body.encode(),
                {"Content-Type": "application/json", "X-Webhook-Event": "message.received"},
            )

        return make

    def ping_requests(self, info: dict):
        """Request maker: the same body to the minimal JSON view (the baseline)."""
        senders, main = info["senders"], info["main_digits"]

        def make(n: int) -> Request:
            body = json.dumps(_message_event(info, senders[n % len(senders)], main, f"P{n:08X}", n))
            return Request(
                "POST", "/bench/ping/", body.encode(), {"Content-Type": "application/json"}
            )

        return make

    # --- data ---------------------------------------------------------------------

    def create_databases(self) -> None:
        with self.sql("postgres") as conn:
            for name in (self.small_db, self.big_db):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
        for name in (self.small_db, self.big_db):
            self.manage(name, "migrate", "--noinput")

    def seed(self, database: str, *, users: int, messages: int, seed: int) -> dict:
        started = time.perf_counter()
        out = self.manage(
            database,
            "seed_bulk",
            "--users",
            str(users),
            "--messages",
            str(messages),
            "--seed",
            str(seed),
            "--json",
        )
        summary = json.loads(out.strip().splitlines()[-1])
        summary["wall_seconds"] = round(time.perf_counter() - started, 3)
        log(
            f"  seeded {database}: {messages:,} messages in {summary['message_seconds']}s "
            f"({summary['messages_per_second']:,.0f}/s)"
        )
        return summary

    def build_data(self) -> dict:
        args = self.args
        log(f"creating {self.small_db} and {self.big_db}")
        self.create_databases()
        log("seeding")
        small = self.seed(self.small_db, users=10, messages=args.small_messages, seed=1)
        rest = args.messages - args.export_big - args.export_small
        seeds = [
            self.seed(self.big_db, users=max(10, rest // 1000), messages=rest, seed=1),
            self.seed(self.big_db, users=1, messages=args.export_big, seed=2),
            self.seed(self.big_db, users=1, messages=args.export_small, seed=3),
        ]
        data = {
            "small": small,
            "big": seeds,
            "export_big_first_id": seeds[1]["first_message_id"],
            "export_small_first_id": seeds[2]["first_message_id"],
        }
        seeded = sum(s["messages"] for s in seeds)
        seconds = sum(s["message_seconds"] for s in seeds)
        log(f"raw COPY of the same {seeded:,} rows (TRUNCATE, then COPY in 100k-row chunks)")
        raw = self.raw_copy_roundtrip(self.big_db)
        self.results["figures"]["seed_bulk"] = {
            "value": round(seeded / seconds, 1),
            "baseline": round(raw["rows_per_second"], 1),
            "unit": "rows/s",
            "ratio": round((seeded / seconds) / raw["rows_per_second"], 3),
            "target": ">= 0.5x raw COPY",
            "met": (seeded / seconds) / raw["rows_per_second"] >= 0.5,
        }
        self.results["details"]["seed"] = {**data, "raw_copy": raw}
        return data

    def raw_copy_roundtrip(self, database: str, *, where: str = "TRUE") -> dict:
        """COPY the chosen message rows out, remove them, COPY the same bytes back in."""
        with tempfile.TemporaryFile() as dump, self.sql(database, autocommit=False) as conn:
            with conn.cursor() as cur:
                with cur.copy(
                    f"COPY (SELECT {COPY_COLUMNS} FROM messaging_message WHERE {where} "
                    "ORDER BY id) TO STDOUT"
                ) as copy:
                    for data in copy:
                        dump.write(data)
                if where == "TRUE":
                    cur.execute(
                        "TRUNCATE messaging_message CASCADE"
                    )  # and the assistant turns on it
                else:
                    cur.execute(f"DELETE FROM messaging_message WHERE {where}")
                deleted = cur.rowcount
            conn.commit()
            dump.seek(0)
            rows = 0
            started = time.perf_counter()
            while True:
                lines = [line for _, line in zip(range(CHUNK_SIZE), dump, strict=False)]
                if not lines:
                    break
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY messaging_message ({COPY_COLUMNS}) FROM STDIN") as copy,
                ):
                    copy.write(b"".join(lines))
                conn.commit()
                rows += len(lines)
            seconds = time.perf_counter() - started
        return {
            "rows": rows,
            "deleted_first": deleted,
            "seconds": round(seconds, 3),
            "rows_per_second": rows / seconds if seconds else 0.0,
        }

    def vacuum(self) -> None:
        for name in (self.small_db, self.big_db):
            with self.sql(name) as conn:
                conn.execute("VACUUM ANALYZE")

    # --- the measurements -----------------------------------------------------------

    def run(self) -> None:
        args = self.args
        started = time.perf_counter()
        self.results["machine"] = _machine(self.db_url("postgres"))
        self.results["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["parameters"] = {
            k: v for k, v in vars(args).items() if k not in ("database_url",)
        }
        if args.reuse_data:
            data = json.loads((RESULTS / f".data-{self.big_db}.json").read_text())
            for name in (self.small_db, self.big_db):
                self.manage(name, "migrate", "--noinput")  # kept data, current schema
        else:
            data = self.build_data()
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / f".data-{self.big_db}.json").write_text(json.dumps(data))
        log("VACUUM ANALYZE")
        self.vacuum()
        with self.sql(self.big_db) as conn:
            big_rows = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
        with self.sql(self.small_db) as conn:
            small_rows = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
        self.results["details"]["rows"] = {"big": big_rows, "small": small_rows}

        big_user = self.task(
            self.big_db, "user_of_message", {"message_id": data["export_big_first_id"]}
        )
        small_export_user = self.task(
            self.big_db, "user_of_message", {"message_id": data["export_small_first_id"]}
        )
        small_user = self.task(self.small_db, "heaviest_user")
        staff = {"staff_phone": self.staff_phone, "staff_password": self.staff_password}
        big = self.task(
            self.big_db,
            "prepare",
            {"token_users": [big_user["user_id"], small_export_user["user_id"]], **staff},
        )
        small = self.task(
            self.small_db, "prepare", {"token_users": [small_user["user_id"]], **staff}
        )
        self.results["details"]["users"] = {
            "history_user_big": big_user,
            "history_user_small": small_user,
            "export_small_user": small_export_user,
        }

        log("starting gunicorn on both databases")
        big_port = self.start_server(self.big_db, workers=args.workers, name="big")
        small_port = self.start_server(self.small_db, workers=args.workers, name="small")
        try:
            big_token = big["tokens"][str(big_user["user_id"])]
            small_token = small["tokens"][str(small_user["user_id"])]
            if "history" in args.only:
                self.history(big_port, big_token, small_port, small_token)
            if "admin" in args.only:
                self.admin(big_port, small_port)
            if "search" in args.only:
                self.search(big_port, big_token, big_user["user_id"])
            if "single_webhook" in args.only:
                self.single_webhook(big_port, big)
            if "batch_webhook" in args.only:
                self.batch_webhook(big_port, big)
            if "queued" in args.only:
                from bench import queued_step

                queued_step.measure(self, self.big_db, big, log)
            if "assistant" in args.only:
                from bench import assistant_step

                assistant_step.measure(self, self.small_db, small, log)
        finally:
            self.stop_all()
        if "export" in args.only:
            self.export_memory(
                big["tokens"][str(big_user["user_id"])],
                big["tokens"][str(small_export_user["user_id"])],
                big_user,
                small_export_user,
            )
        self.results["seconds"] = round(time.perf_counter() - started, 1)
        self.report()

    def history(self, big_port: int, big_token: str, small_port: int, small_token: str) -> None:
        log("history page: 50 newest of one user, big vs small database")
        path = "/api/v1/messages/?page_size=50"
        results = measure_latencies(
            {
                "big": (big_port, _get(path, big_token)),
                "small": (small_port, _get(path, small_token)),
                # The floor of any authenticated API call on this server right now.
                "me": (big_port, _get("/api/v1/me/", big_token)),
                # The overview pages of the same user, against its history page.
                "conversations": (big_port, _get("/api/v1/conversations/", big_token)),
                "stats": (big_port, _get("/api/v1/messages/stats/", big_token)),
            },
            rounds=self.args.rounds,
        )
        _check_ok(results, "history")
        for name in ("conversations", "stats"):
            page = percentiles(results[name].latencies)
            self.results["details"][f"{name}_page"] = page
        self.results["details"]["api_floor_get_me"] = percentiles(results["me"].latencies)
        big, small = (percentiles(results[k].latencies) for k in ("big", "small"))
        self.results["figures"]["history_page"] = {
            "value": big,
            "baseline": small,
            "unit": "ms",
            "ratio": round(big["p50_ms"] / small["p50_ms"], 3),
            "ratio_p95": round(big["p95_ms"] / small["p95_ms"], 3),
            "target": "p50 <= 1.3x the 10k database",
            "met": big["p50_ms"] / small["p50_ms"] <= 1.3,
        }
        for name in ("conversations", "stats"):
            page = self.results["details"][f"{name}_page"]
            self.results["figures"][f"{name}_page"] = {
                "value": page,
                "baseline": big,
                "unit": "ms",
                "ratio": round(page["p50_ms"] / big["p50_ms"], 3),
                "target": "p50 <= 2x the same user's history page",
                "met": page["p50_ms"] / big["p50_ms"] <= 2,
            }

    def admin(self, big_port: int, small_port: int) -> None:
        log("admin message changelist, big vs small database")
        cookies = {port: self.admin_login(port) for port in (big_port, small_port)}
        path = "/admin/messaging/message/"
        results = measure_latencies(
            {
                "big": (big_port, Request("GET", path, headers={"Cookie": cookies[big_port]})),
                "small": (
                    small_port,
                    Request("GET", path, headers={"Cookie": cookies[small_port]}),
                ),
            },
            rounds=max(20, self.args.rounds // 3),
        )
        _check_ok(results, "admin changelist")
        big, small = (percentiles(results[k].latencies) for k in ("big", "small"))
        self.results["figures"]["admin_changelist"] = {
            "value": big,
            "baseline": small,
            "unit": "ms",
            "ratio": round(big["p50_ms"] / small["p50_ms"], 3),
            "target": "p50 <= 2x the 10k database",
            "met": big["p50_ms"] / small["p50_ms"] <= 2.0,
        }

    def admin_login(self, port: int) -> str:
        """Log in through the admin's own form; return the Cookie header to send."""
        page = send(port, Request("GET", "/admin/login/?next=/admin/"))
        jar = _cookies(page.headers)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token.decode(),
                "username": self.staff_phone,
                "password": self.staff_password,
                "next": "/admin/",
            }
        ).encode()
        response = send(
            port,
            Request(
                "POST",
                "/admin/login/?next=/admin/",
                form,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
                },
            ),
        )
        jar.update(_cookies(response.headers))
        if response.status != 302 or "sessionid" not in jar:
            raise SystemExit(f"admin login failed on port {port}: HTTP {response.status}")
        return "; ".join(f"{k}={v}" for k, v in jar.items())

    def search(self, port: int, token: str, user_id: int) -> None:
        log("search: full-text (API) vs naive ILIKE, same user, same page size")
        phrases = self.pick_phrases(user_id)
        self.results["details"]["search_phrases"] = phrases
        figures = {}
        for kind in ("rare", "common"):
            phrase = phrases.get(kind)
            if not phrase:
                continue
            quoted = urllib.parse.quote(f'"{phrase["phrase"]}"')
            plain = urllib.parse.quote(phrase["phrase"])
            results = measure_latencies(
                {
                    "fts": (port, _get(f"/api/v1/messages/?page_size=50&q={quoted}", token)),
                    "naive": (port, _get(f"/bench/naive-search/?q={plain}", token)),
                },
                rounds=max(15, self.args.rounds // 4),
                warmup=2,
            )
            _check_ok(results, f"search ({kind})")
            fts, naive = (percentiles(results[k].latencies) for k in ("fts", "naive"))
            figures[kind] = {"fts": fts, "naive": naive, **phrase}
        sql_level = self.search_sql_timings(user_id, phrases["rare"]["phrase"])
        self.results["details"]["search"] = {**figures, "sql_only_rare_phrase": sql_level}
        if "common" in phrases:
            self.results["details"]["search"]["sql_only_common_phrase"] = self.search_sql_timings(
                user_id, phrases["common"]["phrase"]
            )
        rare = figures["rare"]
        table_scan = sql_level["ilike_whole_table"]
        speedup = table_scan["p50_ms"] / rare["fts"]["p50_ms"]
        self.results["figures"]["search"] = {
            "value": rare["fts"],
            "baseline": table_scan,
            "unit": "ms",
            "ratio": round(speedup, 2),
            "target": ">= 20x faster than a naive ILIKE scan of the table",
            "met": speedup >= 20,
            "phrase": rare["phrase"],
            "note": "API p50 over HTTP vs the bare SQL time of ILIKE over the whole table "
            "(the baseline pays no HTTP, auth or serialization)",
        }
        same_user = rare["naive"]["p50_ms"] / rare["fts"]["p50_ms"]
        self.results["figures"]["search_vs_naive_api"] = {
            "value": rare["fts"],
            "baseline": rare["naive"],
            "unit": "ms",
            "ratio": round(same_user, 2),
            "target": "(stricter) >= 20x vs the same request with ILIKE on the user's rows",
            "met": same_user >= 20,
            "phrase": rare["phrase"],
        }
        if "common" in figures:
            common = figures["common"]
            common_ratio = common["naive"]["p50_ms"] / common["fts"]["p50_ms"]
            self.results["figures"]["search_common_phrase"] = {
                "value": common["fts"],
                "baseline": common["naive"],
                "unit": "ms",
                "ratio": round(common_ratio, 2),
                "target": ">= 5x faster than the same naive request",
                "met": common_ratio >= 5,
                "phrase": common["phrase"],
                "note": "a phrase on more than a page of the user's messages; the naive "
                "request is the same API request with ILIKE on the user's rows",
            }

    def pick_phrases(self, user_id: int) -> dict:
        """A rare two-word phrase (fewer matches than a page) and a common one."""
        # The stored document (messaging/search.py) and its GIN index.
        match_fts = "search_document @@ phraseto_tsquery('simple'::regconfig, %s)"
        with self.sql(self.big_db) as conn:
            texts = [
                row[0]
                for row in conn.execute(
                    "SELECT content FROM messaging_message WHERE user_id = %s "
                    "AND message_type = 'text' ORDER BY id LIMIT 400",
                    [user_id],
                )
            ]
            pairs = []
            for text in texts:
                words = re.findall(r"[a-z]+", text.lower())
                pairs.extend(f"{a} {b}" for a, b in itertools.pairwise(words))
            seen: dict = {}
            for pair in dict.fromkeys(pairs):
                fts = conn.execute(
                    f"SELECT count(*) FROM messaging_message WHERE user_id = %s AND {match_fts}",
                    [user_id, pair],
                ).fetchone()[0]
                if "rare" not in seen and 5 <= fts < 50:
                    seen["rare"] = {"phrase": pair, "fts_matches": fts}
                if "common" not in seen and fts >= 1000:
                    seen["common"] = {"phrase": pair, "fts_matches": fts}
                if len(seen) == 2:
                    break
            for found in seen.values():
                found["ilike_matches"] = conn.execute(
                    "SELECT count(*) FROM messaging_message WHERE user_id = %s AND "
                    "(content ILIKE %s OR caption ILIKE %s)",
                    [user_id, f"%{found['phrase']}%", f"%{found['phrase']}%"],
                ).fetchone()[0]
        if "rare" not in seen:
            raise SystemExit("no rare two-word phrase found in the history user's messages")
        return seen

    def search_sql_timings(self, user_id: int, phrase: str) -> dict:
        """The same searches without HTTP, auth and serialization: SQL time alone."""
        pattern = f"%{phrase}%"
        quoted = f'"{phrase}"'
        # messaging/search.py's statements: the probe, then the page in one of two plans.
        query = "websearch_to_tsquery('simple'::regconfig, %s)"
        parse = (
            "to_tsvector('simple'::regconfig, "
            "COALESCE(content, '') || ' ' || COALESCE(caption, ''))"
        )
        hint = f"(search_document IS NOT NULL OR ts_match_vq({parse}, {query}))"
        queries = {
            "fts_probe": (
                f"SELECT count(*), count(*) FILTER (WHERE d @@ {query}) FROM (SELECT "
                f"search_document AS d FROM messaging_message WHERE user_id = %s AND {hint} "
                "ORDER BY timestamp DESC, id DESC LIMIT 500) AS newest",
                [quoted, user_id, quoted],
            ),
            "fts_user_gin": (
                "SELECT id FROM messaging_message WHERE user_id = %s AND id = ANY(ARRAY("
                "SELECT id FROM messaging_message WHERE user_id = %s AND "
                f"search_document @@ {query})) ORDER BY timestamp DESC, id DESC LIMIT 51",
                [user_id, user_id, quoted],
            ),
            "fts_user_walk": (
                "SELECT id FROM messaging_message WHERE user_id = %s AND "
                f"ts_match_vq(search_document, {query}) AND {hint} "
                "ORDER BY timestamp DESC, id DESC LIMIT 51",
                [user_id, quoted, quoted],
            ),
            "ilike_user": (
                "SELECT id FROM messaging_message WHERE user_id = %s AND "
                "(content ILIKE %s OR caption ILIKE %s) ORDER BY timestamp DESC, id DESC LIMIT 50",
                [user_id, pattern, pattern],
            ),
            "ilike_whole_table": (
                "SELECT id FROM messaging_message WHERE content ILIKE %s OR caption ILIKE %s "
                "ORDER BY timestamp DESC, id DESC LIMIT 50",
                [pattern, pattern],
            ),
        }
        timings = {}
        with self.sql(self.big_db) as conn:
            for name, (query, params) in queries.items():
                runs = []
                for _ in range(7):
                    started = time.perf_counter()
                    conn.execute(query, params).fetchall()
                    runs.append(time.perf_counter() - started)
                timings[name] = {"p50_ms": round(statistics.median(runs) * 1000, 2), "runs": 7}
        return timings

    def webhook_path(self) -> str:
        return f"/api/v1/webhooks/whatsapp/{self.webhook_token}/"

    def single_webhook(self, port: int, info: dict) -> None:
        log("single-event webhook vs a minimal Django JSON view, 8 concurrent clients")
        # `store_only` is context: the webhook storing the event without processing it
        # (bench/views.py).
        results = self.alternate(
            port,
            {
                "ping": self.ping_requests(info),
                "webhook": self.webhook_requests(info, "S"),
                "store_only": self.webhook_requests(
                    info, "Q", f"/api/v1/webhooks/bench-store-only/{self.webhook_token}/"
                ),
            },
        )
        webhook_rate = results["webhook"]["rate"]
        ping_rate = results["ping"]["rate"]
        store_rate = results["store_only"]["rate"]
        self.results["details"]["single_webhook"] = {
            name: {
                "requests": totals["requests"],
                "seconds": round(totals["seconds"], 2),
                "statuses": totals["statuses"],
                **percentiles(totals["latencies"]),
            }
            for name, totals in results.items()
        }
        self.results["figures"]["single_webhook"] = {
            "value": round(webhook_rate, 1),
            "baseline": round(ping_rate, 1),
            "unit": "req/s",
            "ratio": round(webhook_rate / ping_rate, 3),
            "target": ">= 0.6x a minimal Django JSON view",
            "met": webhook_rate / ping_rate >= 0.6,
        }
        self.results["figures"]["single_webhook_store_only"] = {
            "value": round(store_rate, 1),
            "baseline": round(ping_rate, 1),
            "unit": "req/s",
            "ratio": round(store_rate / ping_rate, 3),
            "target": "(context: the webhook storing the event, not processing it)",
            "met": None,
        }

    def batch_webhook(self, port: int, info: dict) -> None:
        per_post, batches = 500, self.args.batches
        log(f"batch webhook: {batches} POSTs of {per_post} events, 2 concurrent clients")
        senders, main = info["senders"], info["main_digits"]
        with self.sql(self.big_db) as conn:
            before_id = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM messaging_message"
            ).fetchone()[0]
            before = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
        bodies = []
        for b in range(batches):
            events = [
                _message_event(
                    info,
                    senders[(b * per_post + i) % len(senders)],
                    main,
                    f"B{self.run_tag}{b:04X}{i:04X}",
                    b * per_post + i,
                )
                for i in range(per_post)
            ]
            bodies.append(json.dumps(events).encode())
        path = self.webhook_path()
        result = run_load(
            port,
            lambda n: Request("POST", path, bodies[n], {"Content-Type": "application/json"}),
            concurrency=2,
            max_requests=batches,
            max_seconds=600,
        )
        if result.ok != result.requests:
            raise SystemExit(f"batch webhook: non-2xx answers {dict(result.statuses)}")
        with self.sql(self.big_db) as conn:
            after = conn.execute("SELECT count(*) FROM messaging_message").fetchone()[0]
        stored = after - before
        rate = stored / result.seconds
        log(f"  {stored:,} messages stored in {result.seconds:.1f}s; raw COPY of the same rows")
        raw = self.raw_copy_roundtrip(
            self.big_db, where=f"id > {int(before_id)} AND wa_message_id LIKE 'B{self.run_tag}%'"
        )
        self.results["details"]["batch_webhook"] = {
            **result.summary(),
            "events_sent": batches * per_post,
            "messages_stored": stored,
            "raw_copy": {k: round(v, 1) if isinstance(v, float) else v for k, v in raw.items()},
        }
        self.results["figures"]["batch_webhook"] = {
            "value": round(rate, 1),
            "baseline": round(raw["rows_per_second"], 1),
            "unit": "messages/s",
            "baseline_unit": "rows/s",
            "ratio": round(rate / raw["rows_per_second"], 3),
            "target": ">= 0.5x raw COPY",
            "met": rate / raw["rows_per_second"] >= 0.5,
        }

    def export_memory(self, big_token: str, small_token: str, big_user: dict, small_user: dict):
        log("export memory: one fresh single-worker gunicorn per export, peak RSS of the worker")
        measurements = {}
        for fmt in ("json", "csv"):
            for label, token, user in (
                ("small", small_token, small_user),
                ("big", big_token, big_user),
            ):
                port = self.start_server(
                    self.big_db, workers=1, name=f"export-{fmt}-{label}", GUNICORN_TIMEOUT="600"
                )
                try:
                    worker = _worker_pids(self.servers[-1].pid)[0]
                    # Warm up: import and touch everything an export uses, on a tiny export.
                    send(
                        port,
                        _get(
                            "/api/v1/messages/export/?format=json&until=2000-01-01T00:00:00Z", token
                        ),
                        keep_body=False,
                    )
                    reset = _reset_peak(worker)
                    base = _status_kb(worker, "VmRSS")
                    response = send(
                        port,
                        _get(f"/api/v1/messages/export/?format={fmt}", token),
                        keep_body=False,
                        timeout=600,
                    )
                    if response.status != 200:
                        raise SystemExit(f"export {fmt} {label}: HTTP {response.status}")
                    peak = _status_kb(worker, "VmHWM")
                    measurements[f"{fmt}_{label}"] = {
                        "messages": user["messages"],
                        "seconds": round(response.seconds, 2),
                        "rss_before_kb": base,
                        "peak_rss_kb": peak,
                        "growth_kb": peak - base,
                        "peak_reset": reset,
                    }
                finally:
                    self.stop_server(port)
        self.results["details"]["export"] = measurements
        for fmt in ("json", "csv"):
            big, small = measurements[f"{fmt}_big"], measurements[f"{fmt}_small"]
            ratio = big["peak_rss_kb"] / small["peak_rss_kb"]
            self.results["figures"][f"export_{fmt}"] = {
                "value": big["peak_rss_kb"],
                "baseline": small["peak_rss_kb"],
                "unit": "KiB peak RSS",
                "ratio": round(ratio, 3),
                "growth_kb": {"big": big["growth_kb"], "small": small["growth_kb"]},
                "target": "< 2x the export of 1k messages",
                "met": ratio < 2.0,
            }

    # --- output -------------------------------------------------------------------------

    def report(self) -> None:
        figures = self.results["figures"]
        rows = [("figure", "value", "baseline", "ratio", "target", "met")]
        for name, fig in figures.items():
            rows.append(
                (
                    name,
                    _fmt(fig["value"], fig["unit"]),
                    _fmt(fig["baseline"], fig.get("baseline_unit", fig["unit"])),
                    f"{fig['ratio']}x",
                    fig["target"],
                    {True: "yes", False: "NO", None: "-"}[fig["met"]],
                )
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        machine = self.results["machine"]
        print()
        print(
            f"Zapa benchmark, {self.results['details']['rows']['big']:,} messages "
            f"(small: {self.results['details']['rows']['small']:,}); {machine['cpus']} CPUs, "
            f"{machine['memory_gb']} GB RAM, PostgreSQL {machine['postgresql']}, "
            f"{self.results['seconds']}s"
        )
        print("\n".join(lines))
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(self.results, indent=2, default=str)
        (RESULTS / f"bench-{stamp}.json").write_text(text)
        (RESULTS / "latest.json").write_text(text)
        print(f"\nJSON: {RESULTS / f'bench-{stamp}.json'}  (server logs: {self.logdir})")


# --- helpers ------------------------------------------------------------------------


def _message_event(info: dict, sender: str, main: str, message_id: str, n: int) -> dict:
    now_ms = int(time.time() * 1000)
    data = {
        "from": f"{sender}@s.whatsapp.net",
        "to": f"{main}@s.whatsapp.net",
        "messageId": message_id,
        "timestamp": now_ms,
        "isGroup": False,
    }
    if n % 10 == 9:
        data.update(
            type="image",
            caption="photo from the trip",
            hasMedia=True,
            mimeType="image/jpeg",
            mediaUrl=f"https://mmg.whatsapp.net/v/t62/{message_id}.enc",
        )
    else:
        data.update(type="text", text=f"benchmark message {n}: see you tomorrow at the office")
    return {
        "sessionId": info["main_session"],
        "origin": main,
        "eventType": "message.received",
        "timestamp": now_ms,
        "data": data,
    }


def _get(path: str, token: str) -> Request:
    return Request("GET", path, headers={"Authorization": f"Token {token}"})


def _check_ok(results: dict, what: str) -> None:
    for name, result in results.items():
        if result.ok != result.requests:
            raise SystemExit(f"{what} ({name}): non-2xx answers {dict(result.statuses)}")


def _cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    jar = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            jar[key.strip()] = rest.split(";", 1)[0]
    return jar


def _worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _machine(database_url: str) -> dict:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(total_kb / 1024 / 1024, 1),
        "postgresql": version,
        "python": sys.version.split()[0],
        "load_average_at_start": os.getloadavg(),
    }


def _fmt(value, unit: str) -> str:
    if isinstance(value, dict) and "p95_ms" not in value:
        return f"p50 {value['p50_ms']} ms (SQL)"
    if isinstance(value, dict):
        return f"p50 {value['p50_ms']} ms / p95 {value['p95_ms']} ms"
    if unit.startswith("KiB"):
        return f"{value / 1024:.1f} MiB peak RSS"
    return f"{value:,.0f} {unit}"


def main() -> None:
    bench = Bench(parse_args())
    try:
        bench.run()
    finally:
        bench.stop_all()


if __name__ == "__main__":
    main()
