"""A small real HTTP server imitating the providers' list-models endpoints.

Serves, under one port:

- /openai/v1/models           (Authorization: Bearer <key>)
- /anthropic/v1/models        (x-api-key + anthropic-version)
- /google/v1beta/models       (x-goog-api-key, or ?key=)

A key in `valid_keys` gets the provider's model list; any other key gets the
provider's real rejection (401 for OpenAI/Anthropic, 400 API_KEY_INVALID for
Google), with the key echoed in the message as some providers partly do, so the
tests can prove Zapa scrubs it. `mode` switches to failures: "error" (500),
"garbage" (200, not JSON), "slow" (answers after `delay` seconds).
Every request is recorded (path, query, headers) for assertions.
"""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from core.testing.http_server import LocalHTTPServer, send_bytes, send_json

MODELS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"],
    "anthropic": ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"],
    "google": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"],
}
PREFIXES = {"openai": "/openai/v1", "anthropic": "/anthropic/v1", "google": "/google/v1beta"}


@dataclass
class RecordedRequest:
    provider: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)


def _models_body(provider: str) -> dict:
    ids = MODELS[provider]
    if provider == "openai":
        return {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}
    if provider == "anthropic":
        return {
            "data": [{"id": i, "type": "model", "display_name": i} for i in ids],
            "has_more": False,
            "first_id": ids[0],
            "last_id": ids[-1],
        }
    return {"models": [{"name": f"models/{i}", "displayName": i} for i in ids]}


def _rejection(provider: str, key: str) -> tuple[int, dict]:
    if provider == "openai":
        return 401, {
            "error": {
                "message": f"Incorrect API key provided: {key}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
    if provider == "anthropic":
        return 401, {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"invalid x-api-key {key}"},
        }
    return 400, {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        }
    }


class FakeProviderServer(LocalHTTPServer):
    def __init__(self):
        super().__init__()
        self.valid_keys: set[str] = set()
        self.mode = "ok"
        self.delay = 2.0
        self.requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd.handle_error = lambda request, client_address: None

    def base_urls(self) -> dict[str, str]:
        return {provider: f"{self.url}{prefix}" for provider, prefix in PREFIXES.items()}

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()  # wakes the "slow" answers up
        super().__exit__(*exc_info)

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        provider = next(
            (p for p, prefix in PREFIXES.items() if parts.path == f"{prefix}/models"), None
        )
        if provider is None:
            return send_json(handler, 404, {"error": {"message": "Not found"}})
        headers = {name.lower(): value for name, value in handler.headers.items()}
        query = parse_qs(parts.query)
        self.requests.append(RecordedRequest(provider, parts.path, query, headers))

        if self.mode == "slow":
            self._stopping.wait(self.delay)
        if self.mode == "error":
            return send_json(handler, 500, {"error": {"message": "The server had an error"}})
        if self.mode == "garbage":
            return send_bytes(handler, 200, b"<html>maintenance</html>", "text/html")

        key = self._key(provider, headers, query)
        if provider == "anthropic" and headers.get("anthropic-version") != "2023-06-01":
            return send_json(handler, 400, {"error": {"message": "anthropic-version missing"}})
        if key not in self.valid_keys:
            return send_json(handler, *_rejection(provider, key))
        return send_json(handler, 200, _models_body(provider))

    @staticmethod
    def _key(provider: str, headers: dict[str, str], query: dict[str, list[str]]) -> str:
        if provider == "openai":
            return headers.get("authorization", "").removeprefix("Bearer ")
        if provider == "anthropic":
            return headers.get("x-api-key", "")
        return headers.get("x-goog-api-key") or query.get("key", [""])[0]


# -- test keys and leak checks ---------------------------------------------------------

_key_counter = iter(range(10**6))
ISSUED_KEYS: set[str] = set()


def fake_key(provider: str) -> str:
    """A fresh, well-formed, unique key for `provider`, remembered for leak checks."""
    n = next(_key_counter)
    # The counter comes last so every key has its own last 4 characters.
    if provider == "openai":
        key = f"sk-proj-h6TestQwErTyUiOpAsDfGhJkLzXcVbNm{n:06d}"
    elif provider == "anthropic":
        key = f"sk-ant-api03-h6TestQwErTyUiOpAsDfGhJkLzXcVbNm{n:06d}"
    else:
        key = f"AIzah6TestQwErTyUiOpAsDfGhJkLzXcV{n:06d}"
    ISSUED_KEYS.add(key)
    return key


def leaked_keys(text: str) -> list[str]:
    """The issued keys (or their secret part, all but the last 4) found in `text`."""
    return [key for key in ISSUED_KEYS if key in text or key[:-4] in text]


class ResponseRecorder:
    """Wraps a test client so every response body it receives is kept for leak checks."""

    def __init__(self, client):
        self.bodies: list[str] = []
        original = client.request

        def request(**kwargs):
            response = original(**kwargs)
            content = b"" if getattr(response, "streaming", False) else response.content
            self.bodies.append(content.decode("utf-8", "replace"))
            self.bodies.append(str(dict(response.headers)))
            return response

        client.request = request

    def assert_no_key_leaked(self, *, require_responses: bool = True) -> None:
        if require_responses:
            assert self.bodies, "no response was recorded: the leak check would prove nothing"
        for body in self.bodies:
            assert not leaked_keys(body), f"an API key leaked into a response: {body[:300]}"
