"""Who may post to the bridge webhook: the path token, plus a signature when configured.

The bridge cannot sign requests, so the secret path token (settings.WEBHOOK_TOKEN)
is the baseline. When settings.WEBHOOK_SECRET is set (a signing proxy in front of
the bridge, or a newer bridge), every request must also carry a Standard Webhooks
signature (https://www.standardwebhooks.com/):

- ``webhook-id``: the delivery id;
- ``webhook-timestamp``: epoch seconds, within `TOLERANCE_SECONDS` of our clock;
- ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
  ``f"{id}.{timestamp}.{raw body}"``; one matching entry is enough (key rotation).

The secret is given either as ``whsec_<base64>`` (the bytes are the decoded
base64, as Standard Webhooks libraries do) or as a plain string (its UTF-8 bytes).
All comparisons are constant-time.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from django.conf import settings
from django.utils.crypto import constant_time_compare

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The request's signature is missing, wrong or too old."""

    status_code = 403
    code = "invalid_signature"


class SignatureMissing(SignatureError):
    status_code = 401
    code = "signature_required"


class SignatureStale(SignatureError):
    code = "stale_signature"


def token_is_valid(token: str) -> bool:
    expected = settings.WEBHOOK_TOKEN
    return bool(expected) and constant_time_compare(token or "", expected)


def secret_bytes(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64 after all: use the whole string, like any other raw secret
    return secret.encode("utf-8")


def sign(*, secret: str, message_id: str, timestamp: str | int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of a delivery (what a signing sender computes)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Raise a SignatureError unless `headers` carry a fresh, valid signature of `body`."""
    message_id = (headers.get("webhook-id") or "").strip()
    timestamp = (headers.get("webhook-timestamp") or "").strip()
    signatures = (headers.get("webhook-signature") or "").strip()
    if not (message_id and timestamp and signatures):
        raise SignatureMissing(
            "A signature is required: send webhook-id, webhook-timestamp and "
            "webhook-signature headers."
        )
    if not timestamp.isdigit():
        raise SignatureError("webhook-timestamp must be epoch seconds.")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise SignatureStale("webhook-timestamp is too old or too far in the future.")
    expected = sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and constant_time_compare(candidate, expected):
            return
    raise SignatureError("The webhook signature does not match.")
