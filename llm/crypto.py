"""Field encryption under a key ring (`FIELD_ENCRYPTION_KEYS`).

The first key encrypts; every key decrypts. A stored value names the key that
wrote it: ``zf1$<key id>$<Fernet token>``, where the key id is the first 8 hex
digits of the key's SHA-256. A value no configured key can open raises
`DecryptionError` and is never handed back as if it were the plaintext.
"""

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "zf1"


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@lru_cache(maxsize=8)
def _ring(keys: tuple[str, ...]) -> tuple[tuple[str, Fernet], ...]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    ring = []
    for key in keys:
        try:
            ring.append((key_id(key), Fernet(key.encode())))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key (id {key_id(key)}): "
                "each key must be 32 url-safe base64-encoded bytes."
            ) from exc
    return tuple(ring)


def key_ring() -> tuple[tuple[str, Fernet], ...]:
    return _ring(tuple(k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def is_ciphertext(value: str) -> bool:
    parts = value.split("$", 2)
    return len(parts) == 3 and parts[0] == PREFIX and len(parts[1]) == 8 and bool(parts[2])


def encrypt(plaintext: str) -> str:
    primary_id, fernet = key_ring()[0]
    return f"{PREFIX}${primary_id}${fernet.encrypt(plaintext.encode()).decode()}"


def writer_key_id(ciphertext: str) -> str:
    if not is_ciphertext(ciphertext):
        raise DecryptionError("The stored value is not in Zapa's encrypted format.")
    return ciphertext.split("$", 2)[1]


def decrypt(ciphertext: str) -> str:
    kid = writer_key_id(ciphertext)
    token = ciphertext.split("$", 2)[2].encode()
    for candidate_id, fernet in key_ring():
        if candidate_id == kid:
            try:
                return fernet.decrypt(token).decode()
            except InvalidToken as exc:
                raise DecryptionError(
                    f"The value written by key {kid} failed to decrypt (corrupted or tampered)."
                ) from exc
    raise DecryptionError(
        f"No configured key can decrypt this value: it was written by key {kid}, which is not "
        "in FIELD_ENCRYPTION_KEYS. Add that key back, or re-enter the secret."
    )


def needs_rotation(ciphertext: str) -> bool:
    return writer_key_id(ciphertext) != key_ring()[0][0]


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the first key (a no-op for values already under it)."""
    return ciphertext if not needs_rotation(ciphertext) else encrypt(decrypt(ciphertext))
