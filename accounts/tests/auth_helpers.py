"""Shared helpers and fixtures for the login tests (this module holds no tests)."""

import re

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import TestCase

REQUEST_CODE_URL = "/api/v1/auth/request-code/"
VERIFY_URL = "/api/v1/auth/verify/"
LOGOUT_URL = "/api/v1/auth/logout/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
ME_URL = "/api/v1/me/"

_CODE_IN_TEXT = re.compile(r"\b(\d{6})\b")


def _clear_local_cache():
    # Only ever the in-process cache: clear() on a shared Redis would flush a whole
    # database other processes may be using (the Redis tests clean up by key prefix).
    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def fresh_cache():
    """Throttle counters live in the cache: every test starts (and ends) with none."""
    _clear_local_cache()
    yield
    _clear_local_cache()


def request_code(client, phone_number, **extra):
    """POST request-code and run what the view left for after commit (the send)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(REQUEST_CODE_URL, {"phone_number": phone_number}, **extra)


def verify(client, phone_number, code, **extra):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(VERIFY_URL, {"phone_number": phone_number, "code": code}, **extra)


def code_sent_to(outbox, phone_number) -> str:
    """The code in the newest WhatsApp text sent to `phone_number`."""
    digits = phone_number.lstrip("+")
    for message in reversed(outbox):
        if message.to == digits:
            match = _CODE_IN_TEXT.search(message.text)
            assert match, f"no code in {message.text!r}"
            return match.group(1)
    raise AssertionError(f"nothing was sent to {phone_number}")


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def login(client, outbox, phone_number) -> tuple[str, str]:
    """Run the whole flow; returns (code, token)."""
    response = request_code(client, phone_number)
    assert response.status_code == 202, response.content
    code = code_sent_to(outbox, phone_number)
    response = verify(client, phone_number, code)
    assert response.status_code == 200, response.content
    return code, response.json()["token"]
