"""Site-wide middleware."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from core.errors import error_body

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """Answer 503 + Retry-After, in the one JSON error shape, when the database is unreachable.

    OperationalError/InterfaceError are what Django raises when the connection is
    refused, drops mid-query or times out — all worth retrying, none a bug. DRF's
    exception handler leaves them alone, so they reach `process_exception` here.
    The answer carries no stack trace; the log gets one line, with the URL pattern
    rather than the path (a path may hold a secret, e.g. the webhook token) and
    without the request body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        match = getattr(request, "resolver_match", None)
        route = f"/{match.route}" if match and match.route else "(unresolved path)"
        first_line = (str(exception).strip().splitlines() or [""])[0][:200]
        logger.warning(
            "Database unavailable: %s %s -> 503 (%s: %s)",
            request.method,
            route,
            type(exception).__name__,
            first_line,
        )
        response = JsonResponse(
            error_body(
                "database_unavailable",
                "The service is temporarily unavailable (database unreachable). "
                "Please retry shortly.",
            ),
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        response._has_been_logged = True  # logged above, without the raw path
        return response
