"""One JSON error shape for the whole API.

Every error answer is ``{"error": {"code": ..., "message": ..., "details": ...}}``:
``code`` is stable and machine-readable, ``message`` is for people, ``details``
carries per-field validation messages when there are any.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler


def error_body(code: str, message: str, details=None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        message = _first_message(detail)
        details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        message = _first_message(detail)
        details = None
    response.data = error_body(code, message, details)
    return response


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def handler404(request, exception=None):
    return json_error(404, "not_found", "Not found.") if _is_api(request) else _html(request, 404)


def handler500(request):
    if _is_api(request):
        return json_error(500, "server_error", "Internal server error.")
    return _html(request, 500)


def handler400(request, exception=None):
    if _is_api(request):
        return json_error(400, "bad_request", "Bad request.")
    return _html(request, 400)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _html(request, status: int):
    from django.views import defaults

    if status == 404:
        return defaults.page_not_found(request, Http404())
    if status == 400:
        return defaults.bad_request(request, None)
    return defaults.server_error(request)


# --- The error shape in the OpenAPI schema -------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable, e.g. `invalid`.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.DictField(
        required=False, help_text="Per-field messages, when the input was invalid."
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (OpenAPI component `Error`): use it in
    `extend_schema(responses={400: ErrorSerializer, ...})`."""

    error = ErrorDetailSerializer()


ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "The one error shape of the API.",
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        "required": ["error"],
    },
    "ErrorDetail": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "Stable, machine-readable, e.g. `invalid`."},
            "message": {"type": "string", "description": "For people."},
            "details": {
                "type": "object",
                "additionalProperties": {},
                "description": "Per-field messages, when the input was invalid.",
            },
        },
        "required": ["code", "message"],
    },
}


def add_default_error_response(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents that any status
    it does not list answers in the one error shape."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault(
                    "default",
                    {
                        "description": "An error, in the one JSON error shape.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    return result
