"""Per-client-IP throttles for the login endpoints.

The client IP is DRF's `get_ident`: X-Forwarded-For is read only as far as
REST_FRAMEWORK["NUM_PROXIES"] trusts it, so a caller cannot mint fresh identities
by sending its own header. Counters live in the default cache (Redis in production).
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ClientIPRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        # Read at request time (not at import like DRF's class attribute), so a
        # changed setting takes effect without a restart of the test process.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AuthRequestCodeThrottle(ClientIPRateThrottle):
    scope = "auth_request_code"


class AuthVerifyThrottle(ClientIPRateThrottle):
    scope = "auth_verify"
