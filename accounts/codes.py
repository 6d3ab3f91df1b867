"""Login codes: six random digits, stored only as a keyed hash.

The hash is HMAC-SHA256 keyed with ``settings.AUTH_CODE_PEPPER`` over the user's id
and the code, so a leaked table cannot be reversed by hashing all 10^6 codes without
the pepper, and two users who happen to get the same code get different hashes.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

CODE_DIGITS = 6


@sensitive_variables("code")
def generate_code() -> str:
    """A uniformly random code of CODE_DIGITS digits (leading zeros kept)."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    return code


@sensitive_variables("code")
def hash_code(*, user_id: int, code: str) -> str:
    key = settings.AUTH_CODE_PEPPER.encode()
    message = f"{user_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@sensitive_variables("code")
def code_matches(*, user_id: int, code: str, code_hash: str) -> bool:
    """Constant-time comparison of `code` against a stored hash."""
    return hmac.compare_digest(hash_code(user_id=user_id, code=code), code_hash)
