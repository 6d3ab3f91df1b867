"""A real HTTP server on a free 127.0.0.1 port, run in a background thread, for the
fakes of outside services (LLM providers, the WhatsApp bridge) that tests talk to."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHTTPServer:
    """Use as a context manager; a subclass answers requests in `handle`."""

    methods: tuple[str, ...] = ("GET",)

    def __init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # keep test output quiet
                pass

        for method in self.methods:
            setattr(
                Handler,
                f"do_{method}",
                lambda handler, method=method: server.handle(handler, method),
            )
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def send_json(handler: BaseHTTPRequestHandler, status: int, body) -> None:
    send_bytes(handler, status, json.dumps(body).encode(), "application/json")


def send_bytes(
    handler: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
    except OSError:  # the client gave up (the timeout tests do that on purpose)
        pass
