"""With DEBUG off, Zapa refuses to start on a missing or published secret.

Each case starts a fresh Python process with exactly the environment given (no .env),
the way a deployment starts Zapa.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[2]
SETUP = "import django; django.setup(); print('started')"


def real_secrets() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "AUTH_CODE_PEPPER": secrets.token_urlsafe(32),
        "WEBHOOK_TOKEN": secrets.token_urlsafe(32),
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ENV_FILE": "/dev/null",
        "DJANGO_SETTINGS_MODULE": "zapa_site.settings",
        "DATABASE_URL": f"sqlite:///{BASE_DIR / 'unused-settings-test.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["-c", SETUP], env)


def assert_refused(result: subprocess.CompletedProcess, reason: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "started" not in result.stdout
    assert "ImproperlyConfigured: Refusing to start with DEBUG off" in result.stderr
    assert reason in result.stderr


def test_starts_with_real_secrets():
    result = start(real_secrets())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_starts_in_debug_with_no_secrets_at_all():
    result = start({"DEBUG": "true"})
    assert result.returncode == 0, result.stderr


def test_debug_off_is_the_default():
    env = real_secrets()
    del env["DEBUG"], env["SECRET_KEY"]
    assert_refused(start(env), "SECRET_KEY must be set")


@pytest.mark.parametrize(
    "secret_key", [None, settings.INSECURE_SECRET_KEY, "short-but-not-default"]
)
def test_refuses_a_missing_default_or_short_secret_key(secret_key):
    env = real_secrets()
    if secret_key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret_key
    assert_refused(start(env), "SECRET_KEY must be set to a random value of 32+ characters")


@pytest.mark.parametrize("position", ["alone", "among_others"])
def test_refuses_the_published_development_encryption_key(position):
    env = real_secrets()
    published = settings.INSECURE_FIELD_ENCRYPTION_KEY
    env["FIELD_ENCRYPTION_KEYS"] = (
        published if position == "alone" else f"{env['FIELD_ENCRYPTION_KEYS']},{published}"
    )
    assert_refused(start(env), "FIELD_ENCRYPTION_KEYS must hold your own Fernet key(s)")


def test_refuses_a_missing_encryption_key():
    env = real_secrets()
    del env["FIELD_ENCRYPTION_KEYS"]
    assert_refused(start(env), "FIELD_ENCRYPTION_KEYS must hold your own Fernet key(s)")


def test_refuses_an_encryption_key_equal_to_the_secret_key():
    env = real_secrets()
    env["SECRET_KEY"] = env["FIELD_ENCRYPTION_KEYS"]
    assert_refused(start(env), "FIELD_ENCRYPTION_KEYS must differ from SECRET_KEY")


def test_refuses_an_encryption_key_that_is_not_a_fernet_key():
    env = real_secrets()
    env["FIELD_ENCRYPTION_KEYS"] = "not-a-fernet-key-" + secrets.token_hex(16)
    assert_refused(start(env), "FIELD_ENCRYPTION_KEYS must be Fernet keys")


@pytest.mark.parametrize("token", [None, settings.INSECURE_WEBHOOK_TOKEN, "too-short-token"])
def test_refuses_a_missing_default_or_short_webhook_token(token):
    env = real_secrets()
    if token is None:
        del env["WEBHOOK_TOKEN"]
    else:
        env["WEBHOOK_TOKEN"] = token
    assert_refused(start(env), "WEBHOOK_TOKEN must be set to a random value of 24+ characters")


def test_names_every_problem_at_once():
    result = start({"DEBUG": "false"})
    assert_refused(result, "SECRET_KEY must be set")
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr
    assert "WEBHOOK_TOKEN" in result.stderr


def test_refusal_does_not_echo_the_secrets():
    env = real_secrets()
    env["WEBHOOK_TOKEN"] = "leaky-but-short"
    result = start(env)
    assert_refused(result, "WEBHOOK_TOKEN")
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "AUTH_CODE_PEPPER", "WEBHOOK_TOKEN"):
        assert env[name] not in result.stderr


def test_console_backend_never_shows_codes_with_debug_off():
    env = {**real_secrets(), "WHATSAPP_CONSOLE_SHOW_TEXT": "true"}
    code = SETUP + "; from django.conf import settings; print(settings.WHATSAPP_CONSOLE_SHOW_TEXT)"
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["started", "False"]


def test_check_deploy_reports_no_issues_with_production_settings():
    env = {**real_secrets(), "ALLOWED_HOSTS": "zapa.example.com"}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr
    assert "?: (security" not in result.stdout + result.stderr


def test_check_deploy_flags_a_debug_deployment():
    """The deploy check itself works: it does warn when DEBUG is on."""
    env = {**real_secrets(), "DEBUG": "true", "ALLOWED_HOSTS": "zapa.example.com"}
    result = run(["manage.py", "check", "--deploy"], env)
    assert "security.W018" in result.stdout + result.stderr  # DEBUG=True in deployment


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SECURE_SSL_REDIRECT", True),
        ("SESSION_COOKIE_SECURE", True),
        ("CSRF_COOKIE_SECURE", True),
        ("SECURE_HSTS_SECONDS", 31536000),
    ],
)
def test_production_defaults_are_secure(name, expected):
    code = SETUP + f"; from django.conf import settings; print(repr(settings.{name}))"
    result = run(["-c", code], real_secrets())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == repr(expected)


def settings_env_names() -> set[str]:
    source = (BASE_DIR / "zapa_site" / "settings.py").read_text()
    return set(re.findall(r"env\.\w+\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']", source))


def test_every_setting_is_documented_in_the_readme_and_env_example():
    names = settings_env_names()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "WEBHOOK_TOKEN"} <= names
    readme = (BASE_DIR / "README.md").read_text()
    env_example = (BASE_DIR / ".env.example").read_text()
    assert not {n for n in names if f"`{n}`" not in readme}, "missing from README.md"
    assert not {n for n in names if not re.search(rf"^#? ?{n}=", env_example, re.M)}, (
        "missing from .env.example"
    )


@pytest.mark.parametrize("mode", ["inline", "queued", " Queued "])
def test_webhook_ingest_takes_inline_or_queued(mode):
    result = start({"DEBUG": "true", "WEBHOOK_INGEST": mode})
    assert result.returncode == 0, result.stderr


def test_webhook_ingest_refuses_anything_else():
    result = start({"DEBUG": "true", "WEBHOOK_INGEST": "later"})
    assert result.returncode != 0
    assert "WEBHOOK_INGEST must be 'inline' or 'queued', not 'later'" in result.stderr


@pytest.mark.parametrize("value", ["-1", "61"])
def test_webhook_ingest_gather_seconds_stays_within_a_minute(value):
    result = start({"DEBUG": "true", "WEBHOOK_INGEST_GATHER_SECONDS": value})
    assert result.returncode != 0
    assert "WEBHOOK_INGEST_GATHER_SECONDS must be between 0 and 60" in result.stderr


def test_webhook_ingest_gather_seconds_zero_starts_the_worker_at_once():
    result = start({"DEBUG": "true", "WEBHOOK_INGEST_GATHER_SECONDS": "0"})
    assert result.returncode == 0, result.stderr
