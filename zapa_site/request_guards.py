"""Guards in front of the API, so bad input is answered before any view parses it.

For every request, cookies holding a NUL character are dropped and a NUL in the URL
gets 400 (PostgreSQL cannot compare text with NUL in it). Under ``/api/``:

- a body larger than ``API_MAX_BODY_BYTES`` (``WEBHOOK_MAX_BODY_BYTES`` under the
  webhook prefix) gets 413, judged on ``Content-Length`` and, for a chunked body,
  while reading it (never more than the limit plus one byte is read);
- a NUL character in the URL or a header gets 400;
- a body that is not JSON gets 415; JSON that is not UTF-8, nests deeper than
  ``API_MAX_JSON_DEPTH``, or holds a NUL character or an unpaired surrogate (which
  PostgreSQL cannot store) gets 400 — except under the webhook prefix, whose body
  the ingest reads itself, once (`messaging.ingest.parse.read_body`: text the
  database cannot store is cleaned there, not refused, since the bridge's traffic
  is never refused);
- an error answer that Django rendered as HTML (a 404 while DEBUG is on, a plain
  405, a CSRF 403, ...) is rewritten into the one JSON error shape.
"""

from http import HTTPStatus
from io import BytesIO

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.errors import handler400, json_error
from core.json_body import has_unstorable_text, json_depth_exceeds

API_PREFIX = "/api/"
WEBHOOK_PREFIX = "/api/v1/webhooks/"


_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        drop_nul_cookies(request)
        if not request.path.startswith(API_PREFIX):
            if has_nul_in_url(request):
                return handler400(request)  # e.g. an admin filter would reach the database
            return self.get_response(request)
        response = self.check(request) or self.get_response(request)
        return self.as_json_error(request, response)

    def check(self, request: HttpRequest) -> HttpResponse | None:
        if has_nul_in_url(request):
            return json_error(400, "bad_request", "The URL must not contain NUL characters.")
        if has_nul_header(request):
            return json_error(400, "bad_request", "Headers must not contain NUL characters.")
        limit = body_limit(request.path)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.strip():
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return json_error(400, "bad_request", "The Content-Length header is invalid.")
            if length > limit:
                return too_large(limit)
            body = request.body if length else b""
        elif is_chunked(request):
            body = read_unsized_body(request, limit)
            if body is None:
                return json_error(
                    411, "length_required", "Send the request body with a Content-Length header."
                )
            if len(body) > limit:
                return too_large(limit)
        else:
            body = b""
        if body:
            return check_json_body(request, body)
        return None

    @staticmethod
    def as_json_error(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Error answers under /api/ are JSON even when Django rendered them as HTML."""
        if response.status_code < 400 or is_json(response.get("Content-Type", "")):
            return response
        if response.status_code >= 500 and settings.DEBUG:
            return response  # the developer's debug page: DEBUG is never on in production
        status = response.status_code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        replacement = json_error(status, _ERROR_CODES.get(status, "error"), f"{phrase}.")
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def drop_nul_cookies(request: HttpRequest) -> None:
    """A cookie with a NUL (Django decodes quoted octal escapes, so `"\\000"` is one) is
    treated as absent: a session key holding one would fail the session lookup on
    PostgreSQL and turn any admin page into a 500."""
    if any("\x00" in value for value in request.COOKIES.values()):
        request.COOKIES = {
            name: value for name, value in request.COOKIES.items() if "\x00" not in value
        }


def has_nul_in_url(request: HttpRequest) -> bool:
    return "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "")


def has_nul_header(request: HttpRequest) -> bool:
    """gunicorn refuses such headers itself; other servers may not, and a NUL that
    reaches a PostgreSQL query (e.g. a token lookup) is an error there."""
    return any(
        "\x00" in value
        for name, value in request.META.items()
        if name.startswith("HTTP_") and isinstance(value, str)
    )


def body_limit(path: str) -> int:
    if path.startswith(WEBHOOK_PREFIX):
        return settings.WEBHOOK_MAX_BODY_BYTES
    return settings.API_MAX_BODY_BYTES


def too_large(limit: int) -> HttpResponse:
    return json_error(
        413, "request_too_large", f"The request body is larger than the limit of {limit} bytes."
    )


def is_chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def read_unsized_body(request: HttpRequest, limit: int) -> bytes | None:
    """Read a body sent without Content-Length (chunked), at most `limit` + 1 bytes.

    Django reads nothing without a Content-Length under WSGI, so the body is read here
    from the server's stream and handed on as if it had been sized. Returns None when
    the server cannot say where such a body ends (no ``wsgi.input_terminated``, as with
    runserver). Under ASGI Django has already buffered the body.
    """
    stream = request.META.get("wsgi.input")
    if stream is None:
        stream = request._stream
    elif not request.META.get("wsgi.input_terminated"):
        return None
    body = stream.read(limit + 1)
    if len(body) <= limit:
        request._body = body
        request._stream = BytesIO(body)
        request.META["CONTENT_LENGTH"] = str(len(body))
    return body


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def check_json_body(request: HttpRequest, body: bytes) -> HttpResponse | None:
    if not is_json(request.META.get("CONTENT_TYPE", "")):
        return json_error(
            415,
            "unsupported_media_type",
            "Send the request body as Content-Type: application/json.",
        )
    charset = request.content_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        return json_error(
            415, "unsupported_media_type", "Send JSON encoded as UTF-8 (charset=utf-8)."
        )
    if request.path.startswith(WEBHOOK_PREFIX):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return json_error(400, "parse_error", "The request body is not valid UTF-8.")
    max_depth = settings.API_MAX_JSON_DEPTH
    if json_depth_exceeds(body, max_depth):
        return json_error(
            400, "parse_error", f"The JSON body is nested more than {max_depth} levels deep."
        )
    if has_unstorable_text(body):
        return json_error(
            400,
            "parse_error",
            "The JSON body contains a NUL character or an unpaired surrogate (\\u0000, \\ud800).",
        )
    return None
