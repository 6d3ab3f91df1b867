"""Every error under /api/ has one JSON shape; a 500 never shows a stack trace."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

SECRET_IN_EXCEPTION = "boom-internal-detail-4242"


def plain_view_that_crashes(request):
    raise RuntimeError(SECRET_IN_EXCEPTION)


class EchoSerializer(serializers.Serializer):
    phone_number = serializers.CharField(max_length=16)
    count = serializers.IntegerField(min_value=1)


class ProbeView(APIView):
    """Raises whatever the `case` path segment asks for."""

    permission_classes = [AllowAny]

    def post(self, request, case):
        if case == "crash":
            raise RuntimeError(SECRET_IN_EXCEPTION)
        if case == "http404":
            raise Http404("no such thing")
        if case == "django-permission":
            raise PermissionDenied
        if case == "validate":
            serializer = EchoSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
        return Response({"ok": True})


class ProtectedView(APIView):
    def get(self, request):
        return Response({"ok": True})


# This module is also the URLconf of the tests below (see `pytestmark`).
urlpatterns = [
    path("api/test/crash/", plain_view_that_crashes),
    path("api/test/probe/<str:case>/", ProbeView.as_view()),
    path("api/test/protected/", ProtectedView.as_view()),
    path("html/crash/", plain_view_that_crashes),
    path("", include("zapa_site.urls")),
]
handler400 = "core.errors.handler400"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture
def client():
    """A client that gets the 500 response instead of the exception, like a real one."""
    return Client(raise_request_exception=False)


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:300]
    body = response.json()
    assert list(body) == ["error"]
    return body["error"]


class TestServerErrors:
    def test_crash_in_a_plain_view_is_json_without_details(self, client, settings):
        assert settings.DEBUG is False
        response = client.get("/api/test/crash/")
        assert response.status_code == 500
        assert error_of(response) == {"code": "server_error", "message": "Internal server error."}
        assert SECRET_IN_EXCEPTION.encode() not in response.content
        assert b"Traceback" not in response.content

    def test_crash_in_a_drf_view_is_json_without_details(self, client):
        response = client.post("/api/test/probe/crash/", {}, content_type="application/json")
        assert response.status_code == 500
        assert error_of(response)["code"] == "server_error"
        assert SECRET_IN_EXCEPTION.encode() not in response.content

    def test_crash_outside_the_api_is_a_plain_html_page(self, client):
        response = client.get("/html/crash/")
        assert response.status_code == 500
        assert response["Content-Type"].startswith("text/html")
        assert SECRET_IN_EXCEPTION.encode() not in response.content

    def test_crash_is_logged_for_the_operators(self, client, caplog):
        client.get("/api/test/crash/")
        assert any(r.exc_info and SECRET_IN_EXCEPTION in str(r.exc_info[1]) for r in caplog.records)


class TestClientErrors:
    def test_unknown_path(self, client):
        response = client.get("/api/v1/no/such/path/")
        assert response.status_code == 404
        assert error_of(response) == {"code": "not_found", "message": "Not found."}

    def test_http404_inside_a_drf_view(self, client):
        response = client.post("/api/test/probe/http404/", {}, content_type="application/json")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"

    def test_django_permission_denied_inside_a_drf_view(self, client):
        response = client.post(
            "/api/test/probe/django-permission/", {}, content_type="application/json"
        )
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"

    def test_method_not_allowed(self, client):
        response = client.delete("/api/test/probe/ok/")
        assert response.status_code == 405
        error = error_of(response)
        assert error["code"] == "method_not_allowed"
        assert error["message"] == 'Method "DELETE" not allowed.'
        assert "POST" in response["Allow"]

    def test_not_authenticated(self, client):
        response = client.get("/api/test/protected/")
        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"

    def test_bad_token(self, client):
        response = client.get("/api/test/protected/", HTTP_AUTHORIZATION="Token nonsense")
        assert response.status_code == 401
        assert error_of(response)["code"] in ("authentication_failed", "not_authenticated")

    def test_malformed_json(self, client):
        response = client.post(
            "/api/test/probe/validate/", b'{"phone_number": ', content_type="application/json"
        )
        assert response.status_code == 400
        assert error_of(response)["code"] == "parse_error"

    def test_validation_errors_carry_per_field_details(self, client):
        response = client.post(
            "/api/test/probe/validate/", {"count": 0}, content_type="application/json"
        )
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid"
        assert error["message"].startswith("phone_number: ")
        assert set(error["details"]) == {"phone_number", "count"}
        assert error["details"]["count"] == ["Ensure this value is greater than or equal to 1."]

    def test_non_object_json_is_a_validation_error(self, client):
        response = client.post("/api/test/probe/validate/", [1, 2], content_type="application/json")
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid"
        assert "non_field_errors" in error["details"]

    def test_disallowed_host_on_the_api_is_json_400(self, client):
        response = client.get("/api/v1/anything/", HTTP_HOST="evil.example.com")
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_request"

    def test_success_is_untouched(self, client):
        response = client.post("/api/test/probe/ok/", {}, content_type="application/json")
        assert response.status_code == 200
        assert response.json() == {"ok": True}
