"""The OpenAPI document is valid and complete, and Swagger UI works offline."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from drf_spectacular.validation import validate_schema

BASE_DIR = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Every endpoint the API promises (README "API overview"): path -> methods.
PROMISED = {
    "/api/v1/auth/request-code/": {"post"},
    "/api/v1/auth/verify/": {"post"},
    "/api/v1/auth/logout/": {"post"},
    "/api/v1/auth/logout-all/": {"post"},
    "/api/v1/me/": {"get"},
    "/api/v1/messages/": {"get"},
    "/api/v1/messages/{id}/": {"get"},
    "/api/v1/messages/stats/": {"get"},
    "/api/v1/messages/export/": {"get"},
    "/api/v1/conversations/": {"get"},
    "/api/v1/sessions/": {"get"},
    "/api/v1/llm/providers/": {"get"},
    "/api/v1/llm/configs/": {"get", "post"},
    "/api/v1/llm/configs/{id}/activate/": {"post"},
    "/api/v1/llm/configs/{id}/check/": {"post"},
    "/api/v1/webhooks/whatsapp/{token}/": {"post"},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 meta-schema


def test_schema_is_served_as_yaml_by_default(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


def test_schema_generates_without_warnings():
    """`manage.py spectacular --validate --fail-on-warn`: every view is described
    precisely enough for drf-spectacular not to guess."""
    env = {**os.environ, "ENV_FILE": "/dev/null", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    warnings = "\n".join(
        line for line in result.stderr.splitlines() if "Warning" in line or "Error" in line
    )
    assert result.returncode == 0, warnings or result.stderr[-3000:]


def test_every_promised_endpoint_is_documented(schema):
    documented = {path: set(item) & HTTP_METHODS for path, item in schema["paths"].items()}
    missing = {
        f"{method.upper()} {path}"
        for path, methods in PROMISED.items()
        for method in methods - documented.get(path, set())
    }
    assert not missing, f"not in the schema: {sorted(missing)}"


def test_every_operation_documents_success_and_the_error_shape(schema):
    for path, method, operation in operations(schema):
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), f"{method} {path}: no 2xx response"
        default = operation["responses"]["default"]["content"]["application/json"]["schema"]
        assert default == {"$ref": "#/components/schemas/Error"}, f"{method} {path}"
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"}


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))


def test_protected_operations_declare_token_auth(schema):
    scheme = schema["components"]["securitySchemes"]["knoxApiToken"]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    me = schema["paths"]["/api/v1/me/"]["get"]
    assert me["security"] == [{"knoxApiToken": []}]


class TestSwaggerUi:
    @pytest.fixture
    def docs_client(self, settings, db):
        # Serve static files the way the development server does, to fetch the assets.
        settings.WHITENOISE_USE_FINDERS = True
        settings.WHITENOISE_AUTOREFRESH = True
        from django.test import Client

        return Client()

    def test_docs_page_uses_only_local_assets(self, docs_client):
        response = docs_client.get("/api/docs/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "swagger-ui" in html
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls, "no assets found"
        for url in urls:
            assert url.startswith("/static/"), url
        assert not re.search(r"https?://", html), "absolute URL (a CDN?) in the docs page"
        assert "/api/schema/" in html

    def test_docs_assets_are_served(self, docs_client):
        html = docs_client.get("/api/docs/").content.decode()
        for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            response = docs_client.get(url)
            assert response.status_code == 200, url
            assert int(response.get("Content-Length", "1")) > 0
