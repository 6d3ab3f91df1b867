"""A small real HTTP server imitating the WhatsApp bridge's (zapw) session API.

Implements, on 127.0.0.1 and a free port:

- POST /sessions            create a session (201), or 409 if it exists
- GET /sessions/{id}        the session; a fresh QR once the last one expired
- DELETE /sessions/{id}     end it (204, no body)
- POST /sessions/{id}/messages   send a text: ``{status, data: {messageId, timestamp,
  status: "sent"}}``; recorded in `sent`

Answers are wrapped as zapw does (`{"status": "success", "data": {...}}`); a
pairing session carries `qrCode` (a `data:image/png;base64,…` image, or the raw
QR text when `raw_qr` is set, as older bridges send) and `qrExpiresAt`.
With `qr_after_polls` set, a new session starts "initializing" without a QR and gets
one on that many-th GET, as a slow bridge does. `mode` switches to failures: "error"
(500 on every request, its message `error_message`), "garbage" (200, not JSON),
"hangup" (the connection is closed without an answer). With `api_key` set, a request
without that X-API-Key gets 401, as zapw answers. `delay` (seconds) holds every
answer back, to play a bridge that times out. `connect()` plays the phone scanning
the code, `put()` places a session in any state (or makes its GET answer an error
with `http_status`), `forget()` drops one as a bridge restart or a deletion elsewhere
does. Every request is recorded (method, path,
headers, JSON body).
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import segno


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str] = field(repr=False)
    body: Any = None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeBridgeServer:
    def __init__(self, *, qr_lifetime: timedelta = timedelta(seconds=60)):
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.mode = "ok"
        self.error_message = "Bridge exploded"
        self.delay = 0.0
        self.api_key: str | None = None
        self.raw_qr = False
        self.qr_after_polls = 0
        self.qr_lifetime = qr_lifetime
        self._qr_serial = 0
        # POST /sessions/{id}/messages: what was sent (session, messageId, type, to, text).
        self.sent: list[dict[str, Any]] = []
        self._sent_serial = 0
        # Unique across instances, as WhatsApp's are: a database kept between runs (the
        # bench's --reuse-data) must not see an earlier run's ids again.
        self._sent_prefix = "3EB0" + secrets.token_hex(4).upper()
        self.accept_any_session = True
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as zapw (Express) answers
            disable_nagle_algorithm = True

            def log_message(self, format, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

            def do_DELETE(self):
                server._handle(self, "DELETE")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeBridgeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- what a test does to the "phone" ----------------------------------------

    def connect(self, session_id: str, *, phone_number: str = "14155550199") -> dict:
        """The QR was scanned: the bridge's session is connected."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(
                status="connected",
                phoneNumber=phone_number,
                name="Test phone",
                connectedAt=_iso(datetime.now(UTC)),
                qrCode=None,
                qrExpiresAt=None,
            )
            return dict(session)

    def put(
        self, session_id: str, *, status: str = "connected", http_status: int = 0, **fields: Any
    ) -> dict:
        """The bridge has this session in this state (fields in the bridge's spelling).

        With `http_status`, a GET of it is answered with that error status instead.
        """
        with self._lock:
            session = {"id": session_id, "status": status, "createdAt": _iso(datetime.now(UTC))}
            if http_status:
                session["_http_status"] = http_status
            if status == "connected":
                session.update(
                    phoneNumber="14155550199", name="Test phone", connectedAt=session["createdAt"]
                )
            elif status == "qr_waiting":
                self._new_qr(session)
            session.update(fields)
            self.sessions[session_id] = session
            return dict(session)

    def forget(self, session_id: str) -> None:
        """The bridge no longer has the session (deleted there, or the bridge restarted)."""
        with self._lock:
            self.sessions.pop(session_id, None)

    def expire_qr(self, session_id: str) -> None:
        with self._lock:
            self.sessions[session_id]["qrExpiresAt"] = _iso(datetime.now(UTC) - timedelta(1))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- HTTP --------------------------------------------------------------------

    def _new_qr(self, session: dict[str, Any]) -> None:
        self._qr_serial += 1
        text = f"2@fake-bridge-qr-{session['id']}-{self._qr_serial}"
        session["_qr_text"] = text
        session["qrCode"] = (
            text if self.raw_qr else segno.make_qr(text).png_data_uri(scale=4, border=2)
        )
        session["qrExpiresAt"] = _iso(datetime.now(UTC) + self.qr_lifetime)

    def _public(self, session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_") and v is not None}

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body = None
        length = int(headers.get("content-length") or 0)
        if length:
            raw = handler.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(RecordedRequest(method, path, headers, body))

        if self.delay:
            time.sleep(self.delay)
        if self.mode == "hangup":
            handler.close_connection = True
            return None
        if self.mode == "error":
            return self._send(handler, 500, {"error": "Internal", "message": self.error_message})
        if self.api_key is not None and headers.get("x-api-key") != self.api_key:
            return self._send(handler, 401, {"error": "Unauthorized", "message": "Bad API key"})
        if self.mode == "garbage":
            return self._send_raw(handler, 200, b"<html>maintenance</html>", "text/html")

        with self._lock:
            status, answer = self._route(method, path, body)
        if status == 204:
            return self._send_raw(handler, 204, b"", None)
        return self._send(handler, status, answer)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict | None]:
        parts = [part for part in path.split("/") if part]
        if len(parts) == 3 and parts[0] == "sessions" and parts[2] == "messages":
            return self._message(parts[1], method, body)
        if parts[:1] != ["sessions"] or len(parts) > 2:
            return 404, {"error": "Not found", "message": f"No route {method} {path}"}
        if len(parts) == 1 and method == "POST":
            session_id = (body or {}).get("sessionId") if isinstance(body, dict) else None
            if not session_id:
                return 400, {"error": "Bad request", "message": "sessionId is required"}
            if session_id in self.sessions:
                return 409, {
                    "error": "Conflict",
                    "message": f"Session with ID '{session_id}' already exists",
                }
            session = {
                "id": session_id,
                "status": "qr_waiting",
                "createdAt": _iso(datetime.now(UTC)),
            }
            if self.qr_after_polls:
                session.update(status="initializing", _polls_left=self.qr_after_polls)
            else:
                self._new_qr(session)
            self.sessions[session_id] = session
            return 201, {"status": "success", "data": self._public(session)}
        if len(parts) != 2:
            return 405, {"error": "Method not allowed", "message": method}
        session = self.sessions.get(parts[1])
        if session is None:
            return 404, {
                "error": "Session not found",
                "message": f"Session with ID '{parts[1]}' does not exist",
            }
        if method == "GET" and session.get("_http_status"):
            return session["_http_status"], {"error": "Refused", "message": "Cannot read it"}
        if method == "GET":
            if session["status"] == "initializing" and "_polls_left" in session:
                session["_polls_left"] -= 1
                if session["_polls_left"] <= 0:
                    session["status"] = "qr_waiting"
                    self._new_qr(session)
            expires = session.get("qrExpiresAt")
            if session["status"] == "qr_waiting" and expires and expires < _iso(datetime.now(UTC)):
                self._new_qr(session)
            return 200, {"status": "success", "data": self._public(session)}
        if method == "DELETE":
            del self.sessions[parts[1]]
            return 204, None
        return 405, {"error": "Method not allowed", "message": method}

    def _message(self, session_id: str, method: str, body: Any) -> tuple[int, dict]:
        """POST /sessions/{id}/messages, as zapw answers it."""
        if method != "POST":
            return 405, {"error": "Method not allowed", "message": method}
        if self.sessions and session_id not in self.sessions and not self.accept_any_session:
            return 404, {"error": "Session not found", "message": f"No session {session_id}"}
        if not isinstance(body, dict) or body.get("type") != "text" or not body.get("to"):
            return 400, {"error": "Bad request", "message": "type, to and text are required"}
        self._sent_serial += 1
        message_id = f"{self._sent_prefix}{self._sent_serial:012X}"
        timestamp = int(datetime.now(UTC).timestamp() * 1000)
        self.sent.append({"session": session_id, "messageId": message_id, **body})
        return 200, {
            "status": "success",
            "data": {"messageId": message_id, "timestamp": timestamp, "status": "sent"},
        }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict | None) -> None:
        FakeBridgeServer._send_raw(handler, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send_raw(handler, status: int, payload: bytes, content_type: str | None) -> None:
        try:
            handler.send_response(status)
            if content_type:
                handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if payload:
                handler.wfile.write(payload)
        except OSError:
            pass
