"""A small load generator: threads, one fresh HTTP/1.1 connection per request.

Gunicorn's sync workers close the connection after each response, so a new
connection per request is what any client gets from them. Every run is bounded by
a request count and a wall-clock limit, and talks to 127.0.0.1 only.
"""

import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seconds: float


def send(port: int, request: Request, *, timeout: float = 60.0, keep_body: bool = True) -> Response:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    try:
        headers = {"Host": f"{HOST}:{port}", **request.headers}
        connection.request(request.method, request.path, body=request.body, headers=headers)
        response = connection.getresponse()
        chunks = []
        while chunk := response.read(65536):
            if keep_body:
                chunks.append(chunk)
        return Response(
            response.status, response.getheaders(), b"".join(chunks), time.perf_counter() - started
        )
    finally:
        connection.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: Counter
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            **percentiles(self.latencies),
        }


def percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(at(0.95) * 1000, 2),
        "p99_ms": round(at(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def run_load(
    port: int,
    make_request: Callable[[int], Request],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> LoadResult:
    """`concurrency` threads send `make_request(n)` until either limit is reached."""
    lock = threading.Lock()
    issued = 0
    statuses: Counter = Counter()
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds

    def worker():
        nonlocal issued
        while time.perf_counter() < deadline:
            with lock:
                if issued >= max_requests:
                    return
                n = issued
                issued += 1
            try:
                response = send(port, make_request(n), keep_body=False)
                status, seconds = response.status, response.seconds
            except OSError:
                status, seconds = 0, 0.0
            with lock:
                statuses[status] += 1
                if status:
                    latencies.append(seconds)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult(sum(statuses.values()), elapsed, statuses, latencies)


def measure_latencies(
    targets: dict[str, tuple[int, Request]], *, rounds: int, warmup: int = 3
) -> dict[str, LoadResult]:
    """One client, the targets taken in turn each round, so noise hits them alike."""
    results = {name: LoadResult(0, 0.0, Counter(), []) for name in targets}
    for round_number in range(warmup + rounds):
        for name, (port, request) in targets.items():
            response = send(port, request, keep_body=False)
            if round_number < warmup:
                continue
            result = results[name]
            result.requests += 1
            result.seconds += response.seconds
            result.statuses[response.status] += 1
            result.latencies.append(response.seconds)
    return results
