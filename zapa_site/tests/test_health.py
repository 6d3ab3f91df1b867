import httpx
import pytest
from django.core.cache import caches

from zapa_site.tests.live_server import closed_port, gunicorn_server


def test_healthz_answers_without_touching_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_with_database_and_cache(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "webhook_backlog": {"waiting": 0, "oldest_seconds": 0.0},
    }


@pytest.mark.django_db
def test_readyz_checks_a_real_redis_cache(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["cache"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    try:
        response = client.get("/readyz")
    finally:
        caches["default"].close()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "cache": "unreachable",
        "webhook_backlog": {"waiting": 0, "oldest_seconds": 0.0},
    }


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_accept_only_get(client, method):
    assert getattr(client, method)("/healthz").status_code == 405
    assert getattr(client, method)("/readyz").status_code == 405


def test_readyz_is_503_when_the_database_is_down():
    """A real server whose DATABASE_URL points at a port nothing listens on."""
    down = f"postgres://postgres@127.0.0.1:{closed_port()}/zapa"
    with gunicorn_server({"DATABASE_URL": down}) as server:
        alive = httpx.get(f"{server.url}/healthz")
        ready = httpx.get(f"{server.url}/readyz")
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable", "cache": "ok"}
    assert "127.0.0.1" not in ready.text  # no connection details for the caller
