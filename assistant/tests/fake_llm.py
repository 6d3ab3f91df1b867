"""A small real HTTP server imitating the three providers' chat endpoints.

Serves, under one port:

- POST /openai/v1/chat/completions                   (Authorization: Bearer <key>)
- POST /anthropic/v1/messages                        (x-api-key, or Bearer as the 2.x SDK
                                                      sends it; anthropic-version required)
- POST /google/v1beta/models/{model}:generateContent (x-goog-api-key, or ?key=)

Keys: `issue_key(provider)` makes one the fake accepts; any other key gets the provider's
real rejection. Answers are scripted per provider: `script(provider, *answers)` queues
`Text`, `ToolUse`, `Fail` (429 with Retry-After, 500, 401/403 with the provider's real
error body, which echoes the key as some providers do, 400), `Slow` (answers after N
seconds) or `Garbage`; once the queue is empty, every request gets `DEFAULT_TEXT`.
Each answer is written in the provider's wire format (ids, object types, finish/stop
reasons, usage). The fake also refuses, with the provider's 400, what the real API
refuses and a client could get wrong: tool results that answer no call (or calls left
unanswered), Anthropic sampling parameters under API version 2026-10-21, replayed
Gemini function calls without the thought signature they came with, Anthropic tool calls
replayed without the thinking block they came with.
Every request is recorded (provider, path, query, headers, parsed JSON body), and every
response (status, body).
"""

import base64
import binascii
import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from assistant.tests import fake_llm_wire as wire

PROVIDERS = ("openai", "anthropic", "google")
PREFIXES = {"openai": "/openai/v1", "anthropic": "/anthropic/v1", "google": "/google/v1beta"}
DEFAULT_TEXT = "This is the fake's default answer."
SKIP_SIGNATURE = b"skip_thought_signature_validator"
_GOOGLE_PATH = re.compile(r"/google/v1beta/models/(?P<model>[^/:]+):generateContent")


# -- scripted answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str
    input_tokens: int = 17
    output_tokens: int = 9


@dataclass(frozen=True)
class ToolUse:
    """One or more tool calls: (name, arguments). A str as arguments is sent raw (OpenAI
    only: the model's JSON text, possibly invalid)."""

    calls: tuple[tuple[str, dict | str], ...]
    text: str = ""
    thinking: bool = True  # Anthropic: a thinking block first; Gemini: a thought signature
    native_ids: bool = False  # Gemini: give the calls ids (Gemini 3 does, 2.x did not)
    input_tokens: int = 31
    output_tokens: int = 12


@dataclass(frozen=True)
class Fail:
    """`status` with the provider's real error body for it. 401/403 echo the key. A 429's
    `retry_after` goes in a Retry-After header (unless `header` is False) and, for Google,
    also in the body's google.rpc.RetryInfo as Google itself does."""

    status: int
    retry_after: float | None = None
    header: bool = True


@dataclass(frozen=True)
class Slow:
    seconds: float
    then: Any = Text("A late answer.")


@dataclass(frozen=True)
class Garbage:
    """200 with an HTML page, as a proxy in maintenance might answer."""


def tool_use(*calls: tuple[str, dict | str], **kwargs) -> ToolUse:
    return ToolUse(tuple(calls), **kwargs)


# -- the server --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    provider: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)
    body: Any = None
    received_at: float = 0.0


class FakeLLMServer:
    def __init__(self):
        self.valid_keys: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.responses: list[tuple[int, str]] = []  # (status, body) as sent, in order
        self.echo_key = True
        self._queues: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.issued_signatures: set[bytes] = set()  # Gemini thought signatures handed out
        self.unsigned_calls: set[str] = set()  # Gemini calls handed out without one
        self.issued_thinking: dict[str, dict] = {}  # Anthropic: tool_use id -> thinking block
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real servers do: no 40 ms delayed-ACK stall

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def do_POST(self):
                server._handle(self)

            def do_GET(self):
                server._send(self, 405, {"error": {"message": "Method not allowed"}})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # fixture API

    def start(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, provider: str) -> str:
        """The base URL to configure, shaped like the real one (`.../v1`, `.../v1beta`)."""
        return f"{self.root}{PREFIXES[provider]}"

    def base_urls(self) -> dict[str, str]:
        return {provider: self.url(provider) for provider in PROVIDERS}

    def issue_key(self, provider: str) -> str:
        key = wire.new_key(provider)
        self.valid_keys.add(key)
        return key

    def script(self, provider: str, *answers) -> None:
        with self._lock:
            self._queues[provider].extend(answers)

    def requests_for(self, provider: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.provider == provider]

    # handling

    def _route(self, path: str) -> tuple[str | None, str]:
        if path == "/openai/v1/chat/completions":
            return "openai", ""
        if path == "/anthropic/v1/messages":
            return "anthropic", ""
        match = _GOOGLE_PATH.fullmatch(path)
        if match:
            return "google", unquote(match["model"])
        return None, ""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        provider, model = self._route(parts.path)
        if provider is None:
            return self._send(handler, 404, {"error": {"message": "Not found"}})
        headers = {name.lower(): value for name, value in handler.headers.items()}
        query = parse_qs(parts.query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                RecordedRequest(provider, parts.path, query, headers, body, time.monotonic())
            )
            answer = self._queues[provider].popleft() if self._queues[provider] else None
        if answer is None:
            answer = Text(DEFAULT_TEXT)

        if isinstance(answer, Slow):
            self._stopping.wait(answer.seconds)
            answer = answer.then

        key = self._key(provider, headers, query)
        if provider == "anthropic" and not headers.get("anthropic-version"):
            message = "anthropic-version: header is required"
            return self._send(handler, 400, wire.anthropic_error("invalid_request_error", message))
        if key not in self.valid_keys:
            return self._send(handler, *wire.rejection(provider, 401, key), wire.headers(provider))
        if not isinstance(body, dict):
            return self._send(handler, 400, wire.bad_request(provider, "The body is not JSON."))
        problem = self._check(provider, headers, body)
        if problem:
            return self._send(handler, 400, wire.bad_request(provider, problem))

        if isinstance(answer, Garbage):
            return self._send_raw(handler, 200, b"<html>maintenance</html>", "text/html", {})
        if isinstance(answer, Fail):
            return self._fail(handler, provider, answer, key)
        model = model or body.get("model", "")
        payload = self._answer(provider, model, answer)
        return self._send(handler, 200, payload, wire.headers(provider))

    def _fail(self, handler, provider: str, answer: Fail, key: str) -> None:
        extra = wire.headers(provider)
        status = answer.status
        if status in (401, 403):
            shown = key if self.echo_key else "(hidden)"
            status, body = wire.rejection(provider, status, shown)
        elif status == 429:
            body = wire.rate_limited(provider, answer.retry_after)
        elif status >= 500:
            body = wire.server_error(provider, status)
        else:
            body = wire.bad_request(provider, "Invalid value for 'temperature': must be <= 2.")
        if answer.retry_after is not None and answer.header:
            extra["retry-after"] = f"{answer.retry_after:g}"
        return self._send(handler, status, body, extra)

    def _answer(self, provider: str, model: str, answer) -> dict:
        if provider == "openai":
            return wire.openai_completion(model, answer)
        if provider == "anthropic":
            payload = wire.anthropic_message(model, answer)
            blocks = payload["content"]
            thinking = [b for b in blocks if b["type"] == "thinking"]
            for block in blocks:
                if block["type"] == "tool_use" and thinking:
                    self.issued_thinking[block["id"]] = thinking[0]
            return payload
        payload = wire.gemini_response(model, answer)
        parts = payload["candidates"][0]["content"]["parts"]
        for part in parts:
            if "thoughtSignature" in part:
                self.issued_signatures.add(base64.b64decode(part["thoughtSignature"]))
        if not any("thoughtSignature" in part for part in parts):
            self.unsigned_calls.update(
                wire.call_key(part["functionCall"]) for part in parts if "functionCall" in part
            )
        return payload

    # what the real APIs refuse

    def _check(self, provider: str, headers: dict[str, str], body: dict) -> str:
        if provider == "openai":
            return wire.check_openai(body)
        if provider == "anthropic":
            return wire.check_anthropic(body, headers, self.issued_thinking)
        return wire.check_gemini(body, self._signature_ok, self.unsigned_calls)

    def _signature_ok(self, raw: Any) -> bool:
        if not isinstance(raw, str):
            return False
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                value = decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                continue
            if value in self.issued_signatures or value == SKIP_SIGNATURE:
                return True
        return False

    @staticmethod
    def _key(provider: str, headers: dict[str, str], query: dict[str, list[str]]) -> str:
        bearer = headers.get("authorization", "")
        bearer = bearer[7:] if bearer.startswith("Bearer ") else ""
        if provider == "openai":
            return bearer
        if provider == "anthropic":
            # x-api-key wins when both are sent, as on the real API.
            return headers.get("x-api-key") or bearer
        return headers.get("x-goog-api-key") or query.get("key", [""])[0]

    def _send(self, handler, status: int, body: dict, extra: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self._send_raw(handler, status, payload, "application/json", extra or {})

    def _send_raw(self, handler, status: int, payload: bytes, content_type: str, extra: dict):
        with self._lock:
            self.responses.append((status, payload.decode("utf-8", "replace")))
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client gave up (the timeout tests do that on purpose)
            pass
