import pytest
from django.db import connection
from rest_framework.test import APIClient


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` run only when the test database is PostgreSQL."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (this run uses SQLite)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_local_cache():
    """Throttle counters live in the default (in-process) cache: no test inherits another's."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches["default"]
    # Only the in-process cache: clearing a shared Redis would hit other processes.
    local = isinstance(cache, LocMemCache)
    if local:
        cache.clear()
    yield
    if local:
        cache.clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def auth_client(user):
    """An API client logged in as `user` with a real knox token."""
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.user = user
    client.token = token
    return client


@pytest.fixture
def staff_user(db):
    from accounts.tests.factories import StaffUserFactory

    return StaffUserFactory()


@pytest.fixture
def admin_client_logged_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def outbox(settings):
    """The locmem WhatsApp backend's outbox, emptied for the test."""
    from core.whatsapp import backends

    settings.WHATSAPP_BACKEND = "locmem"
    backends.outbox.clear()
    return backends.outbox


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"
