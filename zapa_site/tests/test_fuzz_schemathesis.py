"""Schemathesis fuzzes every operation of the OpenAPI schema, in process (WSGI).

For each operation it sends schema-valid and schema-violating requests, logged in
with a real knox token, and checks two things: the server never answers 5xx
(`not_a_server_error`), and every answer matches what the schema documents for its
status (`response_schema_conformance`; undocumented statuses must be the one error
shape, which every operation lists as its `default` response).

Runs in the PostgreSQL pass (the production database, where NUL bytes and other
input that SQLite shrugs off do fail), with a bounded number of examples.
"""

from types import SimpleNamespace

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from zapa_site.tests.live_server import closed_port

MAX_EXAMPLES = 25


def _load_schema():
    """The schema as the app serves it (no database access needed to build it)."""
    from zapa_site.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


# Loaded at collection time: schemathesis' lazy `from_fixture` loader does not work
# with this pytest version.
schema = _load_schema()


@pytest.fixture
def keep_db_connection():
    """Calling the WSGI app directly fires request_started/finished, whose handler
    closes the database connection, and with it the test's transaction; Django's
    test client disconnects it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db, keep_db_connection, settings, user):
    """Some data to read, and no way out of the machine."""
    from llm.tests.factories import LLMConfigFactory
    from messaging.tests.factories import MessageFactory, WhatsAppSessionFactory

    # Provider key checks must never leave the machine: point them at a closed port.
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings.LLM_PROVIDER_BASE_URLS = {
        name: f"{nowhere}/{name}" for name in settings.LLM_PROVIDER_BASE_URLS
    }
    settings.WHATSAPP_BACKEND = "locmem"
    session = WhatsAppSessionFactory(user=user)
    messages = MessageFactory.create_batch(3, session=session, user=user)
    config = LLMConfigFactory(user=user, is_active=True)
    return SimpleNamespace(user=user, message_id=messages[0].pk, config_id=config.pk)


def _aim_at_real_objects(case, world, webhook_token: str) -> None:
    """Random ids find nothing: half of the cases get an id that exists, and the
    webhook always gets the right token, so the fuzzing reaches the views' logic."""
    params = case.path_parameters or {}
    if "token" in params:
        params["token"] = webhook_token
    generated = params.get("id")
    if isinstance(generated, int) and generated % 2 == 0:
        params["id"] = world.config_id if "/llm/configs/" in case.path else world.message_id


@pytest.mark.postgres
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_never_breaks_and_matches_its_schema(case, fuzz_world, settings):
    # A fresh token per example: logout and logout-all revoke the one they are sent with.
    _, token = AuthToken.objects.create(user=fuzz_world.user)
    cache.clear()  # throttles would otherwise answer most examples with 429
    _aim_at_real_objects(case, fuzz_world, settings.WEBHOOK_TOKEN)
    response = case.call(headers={"Authorization": f"Token {token}"})
    checks = [response_schema_conformance]
    if not _documented_gateway_error(case, response.status_code):
        checks.append(not_a_server_error)
    case.validate_response(response, checks=checks)


def _documented_gateway_error(case, status: int) -> bool:
    """502/503/504 that the operation documents are answers, not crashes: the key check
    says so when the provider is unreachable (here: always). A 500 never is."""
    documented = case.operation.definition.raw.get("responses", {})
    return status in (502, 503, 504) and str(status) in documented
