"""Zapa settings: every value comes from the environment (or a local `.env`).

Development defaults are safe; with DEBUG off Zapa refuses to start on a missing
or default secret.
"""

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file. ENV_FILE=/dev/null ignores it (tests do).
env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Placeholders that are only acceptable while DEBUG is on.
INSECURE_SECRET_KEY = "django-insecure-zapa-development-only"
INSECURE_WEBHOOK_TOKEN = "dev-webhook-token"
# A valid Fernet key, published here, so it must never protect real data.
INSECURE_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtMDA="

SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[INSECURE_FIELD_ENCRYPTION_KEY])
WEBHOOK_TOKEN = env.str("WEBHOOK_TOKEN", default=INSECURE_WEBHOOK_TOKEN)
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
# inline: the webhook ingests its events before answering. queued: it only stores them
# and a Celery worker ingests them in batches (messaging/ingest/queue.py).
WEBHOOK_INGEST = env.str("WEBHOOK_INGEST", default="inline").strip().lower()
if WEBHOOK_INGEST not in ("inline", "queued"):
    raise ImproperlyConfigured(
        f"WEBHOOK_INGEST must be 'inline' or 'queued', not {WEBHOOK_INGEST!r}."
    )
# Queued mode: a woken worker starts this long after the first waiting event, so a
# burst rides one task and one batch instead of a task per few events.
WEBHOOK_INGEST_GATHER_SECONDS = env.float("WEBHOOK_INGEST_GATHER_SECONDS", default=0.2)
if not 0 <= WEBHOOK_INGEST_GATHER_SECONDS <= 60:
    raise ImproperlyConfigured(
        "WEBHOOK_INGEST_GATHER_SECONDS must be between 0 and 60, "
        f"not {WEBHOOK_INGEST_GATHER_SECONDS:g}."
    )
# Keyed hash of login codes: separate from SECRET_KEY so rotating one leaves the other.
AUTH_CODE_PEPPER = env.str("AUTH_CODE_PEPPER", default=SECRET_KEY)


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.strip().encode())) == 32
    except (binascii.Error, ValueError):
        return False


if not DEBUG:
    _problems = []
    if SECRET_KEY == INSECURE_SECRET_KEY or len(SECRET_KEY) < 32:
        _problems.append("SECRET_KEY must be set to a random value of 32+ characters")
    if not FIELD_ENCRYPTION_KEYS or INSECURE_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
        _problems.append("FIELD_ENCRYPTION_KEYS must hold your own Fernet key(s)")
    elif not all(_is_fernet_key(key) for key in FIELD_ENCRYPTION_KEYS):
        _problems.append(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes; "
            "make one with Fernet.generate_key())"
        )
    if SECRET_KEY in FIELD_ENCRYPTION_KEYS:
        _problems.append("FIELD_ENCRYPTION_KEYS must differ from SECRET_KEY")
    if WEBHOOK_TOKEN == INSECURE_WEBHOOK_TOKEN or len(WEBHOOK_TOKEN) < 24:
        _problems.append("WEBHOOK_TOKEN must be set to a random value of 24+ characters")
    if _problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off: " + "; ".join(_problems) + "."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Zapa's apps, bottom layer first; each imports only from those above it in this
    # list (docs/architecture.md), and zapa_site (the project: dashboard tags) sits on top.
    "core",
    "accounts",
    "llm",
    "messaging",
    "assistant",
    "zapa_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "zapa_site.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "zapa_site.request_guards.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "zapa_site.urls"
WSGI_APPLICATION = "zapa_site.wsgi.application"
ASGI_APPLICATION = "zapa_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "zapa_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if env.bool("DATABASE_POOL", default=False):
        # psycopg's pool replaces persistent connections (CONN_MAX_AGE must be 0).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", f"-c statement_timeout={env.int('DATABASE_STATEMENT_TIMEOUT_MS', default=30000)}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://zapa")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request bodies under /api/ (zapa_site.request_guards): larger ones get 413.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=5 * 1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int(
    "DATA_UPLOAD_MAX_MEMORY_SIZE", default=max(API_MAX_BODY_BYTES, WEBHOOK_MAX_BODY_BYTES)
)

# Behind a proxy: how many trusted hops add X-Forwarded-For (DRF throttles and audit IPs).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["knox.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "auth_request_code": env.str("THROTTLE_AUTH_REQUEST_CODE", default="10/hour"),
        "auth_verify": env.str("THROTTLE_AUTH_VERIFY", default="30/hour"),
        "webhook": env.str("THROTTLE_WEBHOOK", default="6000/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": env.int("TOKEN_LIMIT_PER_USER", default=20),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Zapa API",
    "DESCRIPTION": "Backend of a WhatsApp AI assistant: login by WhatsApp code, "
    "message history, LLM configuration and the WhatsApp bridge webhook.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.errors.add_default_error_response",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "messaging.models.MessageStatus",
        "SessionStatusEnum": "messaging.models.SessionStatus",
        "ActionStatusEnum": "llm.models.ActionStatus",
    },
}

# WhatsApp sending backend, like Django's EMAIL_BACKEND: console | locmem | zapw.
WHATSAPP_BACKEND = env.str("WHATSAPP_BACKEND", default="console")
# The console backend hides message text (it may be a login code) unless this is on;
# honoured only with DEBUG on, so production logs never carry a code.
WHATSAPP_CONSOLE_SHOW_TEXT = DEBUG and env.bool("WHATSAPP_CONSOLE_SHOW_TEXT", default=False)
WHATSAPP_BRIDGE_URL = env.str("WHATSAPP_BRIDGE_URL", default="http://127.0.0.1:3000")
WHATSAPP_BRIDGE_API_KEY = env.str("WHATSAPP_BRIDGE_API_KEY", default="")
WHATSAPP_BRIDGE_TIMEOUT = env.float("WHATSAPP_BRIDGE_TIMEOUT", default=10.0)
# The bridge session that sends login codes (the assistant's own number).
WHATSAPP_MAIN_SESSION_ID = env.str("WHATSAPP_MAIN_SESSION_ID", default="main")

# LLM provider base URLs (overridable to point at a proxy or a local fake in tests).
LLM_PROVIDER_BASE_URLS = {
    "openai": env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1"),
    "anthropic": env.str("ANTHROPIC_BASE_URL", default="https://api.anthropic.com/v1"),
    "google": env.str(
        "GOOGLE_BASE_URL", default="https://generativelanguage.googleapis.com/v1beta"
    ),
}
LLM_PROVIDER_TIMEOUT = env.float("LLM_PROVIDER_TIMEOUT", default=10.0)

# Background work (docs/architecture.md, "The assistant loop"): Celery on Redis.
# Empty: tasks run in the web process after the transaction commits, and
# `manage.py run_scheduler` runs the periodic jobs (the laptop default).
_celery_broker = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not _celery_broker
# Eager runs still take a producer: an in-memory one, so nothing tries to reach a broker.
CELERY_BROKER_URL = _celery_broker or "memory://localhost/"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is not lost with it
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "assistant-sweep": {"task": "assistant.sweep", "schedule": 30.0},
    "assistant-reminders": {"task": "assistant.send_due_reminders", "schedule": 30.0},
    "messaging-sync-bridge-sessions": {"task": "messaging.sync_bridge_sessions", "schedule": 60.0},
    # Queued ingest: what a lost publish or a stopped worker left waiting (no-op inline).
    "messaging-ingest-waiting": {"task": "messaging.ingest_waiting", "schedule": 15.0},
    # A status whose message was stored at the same moment, in another transaction.
    "messaging-deferred-statuses": {
        "task": "messaging.deferred_statuses_recheck",
        "schedule": 60.0,
    },
}

# The assistant. ASSISTANT_ENABLED=false is the kill switch: no new turns at all.
ASSISTANT_ENABLED = env.bool("ASSISTANT_ENABLED", default=True)
ASSISTANT_DEBOUNCE_SECONDS = env.float("ASSISTANT_DEBOUNCE_SECONDS", default=3.0)
ASSISTANT_HUMAN_PAUSE_MINUTES = env.int("ASSISTANT_HUMAN_PAUSE_MINUTES", default=30)
ASSISTANT_MAX_TURNS_PER_DAY = env.int("ASSISTANT_MAX_TURNS_PER_DAY", default=200)
ASSISTANT_DAILY_TOKEN_BUDGET = env.int("ASSISTANT_DAILY_TOKEN_BUDGET", default=500_000)
ASSISTANT_CONTEXT_MESSAGES = env.int("ASSISTANT_CONTEXT_MESSAGES", default=20)
ASSISTANT_CONTEXT_CHARS = env.int("ASSISTANT_CONTEXT_CHARS", default=12_000)
# How long a worker holds a turn; a turn whose worker died is run again after it.
ASSISTANT_TURN_LEASE_SECONDS = env.int("ASSISTANT_TURN_LEASE_SECONDS", default=90)
ASSISTANT_NO_CONFIG_NOTICE = env.str(
    "ASSISTANT_NO_CONFIG_NOTICE",
    default="Hi! To get answers from the assistant, log in to Zapa with your phone number "
    "and add the API key of your AI provider (OpenAI, Anthropic or Google).",
)
ASSISTANT_KEY_REJECTED_NOTICE = env.str(
    "ASSISTANT_KEY_REJECTED_NOTICE",
    default="The assistant could not answer: your AI provider rejected your API key. "
    "Log in to Zapa and update it.",
)

DEFAULT_EXCEPTION_REPORTER_FILTER = "zapa_site.error_reports.SecretScrubbingReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_url_secrets": {"()": "zapa_site.log_redaction.RedactUrlSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_url_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Django's own loggers and runserver's access lines go to the console handler
        # above (and its redaction) instead of Django's default handlers.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
