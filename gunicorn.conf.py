"""Gunicorn settings for production: `gunicorn` in the project directory picks this up.

Every value can be set from the environment. Run with DEBUG=false and real secrets
(see README.md); put a TLS-terminating proxy in front and set BEHIND_TLS_PROXY=true.
"""

import os

from gunicorn.glogging import Logger

from zapa_site.log_redaction import redact_url_secrets

wsgi_app = "zapa_site.wsgi:application"
# Loopback by default (a proxy on the same host); HOST=0.0.0.0 inside a container.
host = os.environ.get("HOST", "127.0.0.1")
bind = os.environ.get("GUNICORN_BIND", f"{host}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Request line and headers: gunicorn's own limits, stated so they are visible.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Which proxy addresses may set X-Forwarded-Proto (see BEHIND_TLS_PROXY / NUM_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# gunicorn's control socket has one default path per user, which a second server on the
# same machine would fight over: off unless GUNICORN_CONTROL_SOCKET names a path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


class RedactingLogger(Logger):
    """The access log without the webhook token that travels in the webhook's path."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_url_secrets(atoms[key])
        for key in ("{raw_uri}e", "{path_info}e", "{http_referer}e", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_url_secrets(atoms[key])
        return atoms


logger_class = RedactingLogger
