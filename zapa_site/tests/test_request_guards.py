"""Bad input under /api/ is answered with a 4xx in the one error shape, never a 500."""

import http.client
import io
import json

import httpx
import pytest
from django.test import Client
from django.test.client import FakePayload

from core.json_body import has_unstorable_text, json_depth_exceeds
from zapa_site.tests.live_server import gunicorn_server, wait_for_log

pytestmark = pytest.mark.django_db

# Any API path works: the guards answer before URL routing matters.
API_PATH = "/api/v1/no-such-endpoint/"
WEBHOOK_PATH = "/api/v1/webhooks/whatsapp/some-token/"


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


def post_raw(client, path, body: bytes, content_type="application/json", **extra):
    return client.generic("POST", path, data=body, content_type=content_type, **extra)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


class TestBodySize:
    def test_declared_length_over_the_api_limit_is_413(self, client, settings):
        settings.API_MAX_BODY_BYTES = 1000
        response = post_raw(client, API_PATH, b'{"a": "' + b"x" * 1000 + b'"}')
        assert response.status_code == 413
        error = error_of(response)
        assert error["code"] == "request_too_large"
        assert "1000 bytes" in error["message"]

    def test_default_api_limit_is_one_mebibyte(self, client):
        body = json.dumps({"text": "x" * (1024 * 1024)}).encode()
        response = post_raw(client, API_PATH, body)
        assert response.status_code == 413

    def test_a_body_at_the_limit_passes_the_guard(self, client, settings):
        body = b'{"a": "xxxx"}'
        settings.API_MAX_BODY_BYTES = len(body)
        # Passes the guard and reaches URL routing, which has nothing here.
        assert post_raw(client, API_PATH, body).status_code == 404

    def test_webhook_prefix_has_its_own_larger_limit(self, client, settings):
        settings.API_MAX_BODY_BYTES = 100
        settings.WEBHOOK_MAX_BODY_BYTES = 10_000
        body = json.dumps({"data": "x" * 5000}).encode()
        assert post_raw(client, API_PATH, body).status_code == 413
        assert post_raw(client, WEBHOOK_PATH, body).status_code != 413
        too_big = json.dumps({"data": "x" * 10_000}).encode()
        assert post_raw(client, WEBHOOK_PATH, too_big).status_code == 413

    def test_invalid_content_length_is_400(self, client):
        response = client.generic(
            "POST", API_PATH, data=b"{}", content_type="application/json", CONTENT_LENGTH="-5"
        )
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_request"

    def test_chunked_body_over_the_limit_is_413_without_reading_it_all(self, client, settings):
        settings.API_MAX_BODY_BYTES = 1000
        payload = FakePayload(b"x" * 5000)
        response = client.generic(
            "POST",
            API_PATH,
            CONTENT_TYPE="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
            **{"wsgi.input": payload, "wsgi.input_terminated": True},
        )
        assert response.status_code == 413
        assert error_of(response)["code"] == "request_too_large"
        # Read the limit plus one byte, not the rest.
        assert payload.read_started
        assert len(payload.read()) == 5000 - 1001

    def test_chunked_body_without_a_terminated_stream_is_411(self, client):
        response = client.generic(
            "POST",
            API_PATH,
            CONTENT_TYPE="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
            **{"wsgi.input": FakePayload(b"{}")},
        )
        assert response.status_code == 411
        assert error_of(response)["code"] == "length_required"

    def test_small_chunked_body_is_handed_on_as_if_sized(self, client):
        # Deep nesting proves the guard read the chunked body and checked it.
        body = nested(40)
        response = client.generic(
            "POST",
            API_PATH,
            CONTENT_TYPE="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
            **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
        )
        assert response.status_code == 400
        assert "nested" in error_of(response)["message"]


class TestBodyContent:
    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""],
    )
    def test_non_json_body_is_415(self, client, content_type):
        response = post_raw(client, API_PATH, b"phone_number=%2B14155550100", content_type)
        assert response.status_code == 415
        assert error_of(response)["code"] == "unsupported_media_type"

    def test_multipart_body_is_415(self, client):
        response = client.post(API_PATH, {"phone_number": "+14155550100"})  # multipart
        assert response.status_code == 415

    def test_json_in_another_charset_is_415(self, client):
        response = post_raw(client, API_PATH, b"{}", "application/json; charset=latin-1")
        assert response.status_code == 415

    def test_json_variants_are_accepted(self, client):
        for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
            assert post_raw(client, API_PATH, b"{}", content_type).status_code == 404

    def test_invalid_utf8_is_400(self, client):
        response = post_raw(client, API_PATH, b'{"text": "caf\xe9 \xff"}')
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "parse_error"
        assert "UTF-8" in error["message"]

    def test_deep_nesting_is_400(self, client):
        response = post_raw(client, API_PATH, nested(33))
        assert response.status_code == 400
        assert "32 levels" in error_of(response)["message"]

    def test_stack_exhausting_nesting_is_400_not_500(self, client):
        response = post_raw(client, API_PATH, b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
        assert response.status_code == 400

    def test_nesting_at_the_limit_passes(self, client):
        assert post_raw(client, API_PATH, nested(32)).status_code == 404

    @pytest.mark.parametrize("escape", [rb"\u0000", rb"\ud800", rb"\udfff", rb"x\ud83dx"])
    def test_nul_and_lone_surrogates_are_400(self, client, escape):
        response = post_raw(client, API_PATH, b'{"text": "a' + escape + b'b"}')
        assert response.status_code == 400
        assert "NUL" in error_of(response)["message"]

    def test_nul_in_a_key_is_400(self, client):
        assert post_raw(client, API_PATH, rb'{"a\u0000": 1}').status_code == 400

    def test_surrogate_pairs_and_escaped_backslashes_pass(self, client):
        body = rb'{"emoji": "\ud83d\ude00", "literal": "\\u0000", "nul": "\\\\u0000"}'
        assert post_raw(client, API_PATH, body).status_code == 404

    def test_empty_body_needs_no_content_type(self, client):
        assert client.generic("POST", API_PATH, data=b"").status_code == 404

    def test_nul_in_query_string_is_400(self, client):
        response = client.get(API_PATH + "?search=a%00b")
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_request"

    def test_nul_in_a_header_is_400_not_a_database_error(self, client, user):
        response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Token abc\x00def")
        assert response.status_code == 400
        assert "Headers must not contain NUL" in error_of(response)["message"]

    def test_a_session_cookie_with_a_nul_is_ignored_not_a_500(self):
        client = Client(raise_request_exception=False)
        # Django decodes the quoted octal escape into a NUL character.
        response = client.get("/admin/", HTTP_COOKIE='sessionid="abcdefghij\\000klm"')
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    @pytest.mark.parametrize(
        "url", ["/admin/messaging/message/?chat_jid=%00", "/admin/accounts/user/%00/change/"]
    )
    def test_nul_in_an_admin_url_is_400(self, admin_client_logged_in, url):
        admin_client_logged_in.raise_request_exception = False
        response = admin_client_logged_in.get(url)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")

    def test_non_api_paths_are_not_guarded(self, client, settings):
        settings.API_MAX_BODY_BYTES = 10
        response = post_raw(client, "/admin/login/", b"x" * 100, "text/plain")
        assert response.status_code not in (413, 415)


class TestScanners:
    def test_depth_ignores_brackets_inside_strings(self):
        body = json.dumps({"text": "[" * 100 + "{" * 100}).encode()
        assert not json_depth_exceeds(body, 32)

    def test_depth_counts_mixed_nesting(self):
        assert json_depth_exceeds(b'{"a": [{"b": [[1]]}]}', 4)
        assert not json_depth_exceeds(b'{"a": [{"b": [[1]]}]}', 5)

    def test_sibling_containers_do_not_add_up(self):
        body = json.dumps([[1]] * 1000).encode()
        assert not json_depth_exceeds(body, 2)

    def test_unstorable_text_detection(self):
        assert has_unstorable_text(rb'["\u0000"]')
        assert has_unstorable_text(rb'["\uDBFF"]')
        assert not has_unstorable_text(rb'["\uD83D\uDE00", "\u00e9"]')
        assert not has_unstorable_text(rb'["\\ud800"]')


class TestErrorResponsesAreJson:
    def test_unknown_api_path_is_json_404_even_in_debug(self, client, settings):
        settings.DEBUG = True
        response = client.get("/api/v1/definitely-not-here/")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"

    def test_unknown_api_path_is_json_404(self, client):
        response = client.get("/api/nothing")
        assert response.status_code == 404
        assert error_of(response) == {"code": "not_found", "message": "Not found."}

    def test_non_api_404_stays_html(self, client):
        response = client.get("/definitely-not-here/")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")

    def test_method_not_allowed_on_schema_is_json(self):
        response = Client().delete("/api/schema/")
        assert response.status_code == 405
        error = error_of(response)
        assert error["code"] == "method_not_allowed"
        assert "GET" in response["Allow"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Zapa under gunicorn; the guards answer before any database access."""
    database = tmp_path_factory.mktemp("guards") / "unused.sqlite3"
    with gunicorn_server(
        {"API_MAX_BODY_BYTES": "1000", "DATABASE_URL": f"sqlite:///{database}"}
    ) as server:
        yield server


class TestUnderGunicorn:
    """The production server: chunked bodies arrive without Content-Length."""

    @staticmethod
    def post_chunked(server, chunks: list[bytes]) -> tuple[int, dict]:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request(
                "POST",
                API_PATH,
                body=iter(chunks),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def test_chunked_body_over_the_limit_is_413(self, server):
        status, body = self.post_chunked(server, [b"[" + b"1," * 200] * 5)
        assert status == 413
        assert body["error"]["code"] == "request_too_large"

    def test_chunked_body_under_the_limit_is_read_and_checked(self, server):
        status, body = self.post_chunked(server, [b"[" * 20, b"[" * 20, b"]" * 40])
        assert status == 400
        assert "nested" in body["error"]["message"]
        status, body = self.post_chunked(server, [b'{"a":', b" 1}"])
        assert status == 404
        assert body["error"]["code"] == "not_found"

    def test_webhook_token_stays_out_of_the_logs(self, server):
        token = "secret-token-" + "z" * 20
        httpx.post(f"{server.url}/api/v1/webhooks/whatsapp/{token}/", content=b"{")
        httpx.get(f"{server.url}/api/v1/webhooks/whatsapp/{token}/?x=1")
        log = wait_for_log(server, "GET /api/v1/webhooks/whatsapp/[redacted]/")
        assert "POST /api/v1/webhooks/whatsapp/[redacted]/" in log
        assert "GET /api/v1/webhooks/whatsapp/[redacted]/" in log
        assert token not in log
