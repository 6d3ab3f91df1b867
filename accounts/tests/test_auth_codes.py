"""Login codes: random digits, keyed hashes, constant-time comparison."""

import hmac

from django.test import override_settings

from accounts import codes


def test_codes_are_six_digits_and_vary():
    generated = {codes.generate_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in generated)
    assert len(generated) > 190  # 200 draws from a million: repeats are rare


def test_codes_keep_leading_zeros(monkeypatch):
    monkeypatch.setattr(codes.secrets, "randbelow", lambda n: 42)
    assert codes.generate_code() == "000042"


def test_hash_is_hmac_sha256_keyed_with_the_pepper():
    with override_settings(AUTH_CODE_PEPPER="pepper-one"):
        first = codes.hash_code(user_id=7, code="123456")
    with override_settings(AUTH_CODE_PEPPER="pepper-two"):
        second = codes.hash_code(user_id=7, code="123456")
    assert first != second
    assert len(first) == 64
    assert "123456" not in first
    expected = hmac.new(b"pepper-one", b"7:123456", "sha256").hexdigest()
    assert first == expected


def test_hash_is_bound_to_the_user():
    assert codes.hash_code(user_id=1, code="123456") != codes.hash_code(user_id=2, code="123456")


def test_code_matches(monkeypatch):
    stored = codes.hash_code(user_id=3, code="987654")
    assert codes.code_matches(user_id=3, code="987654", code_hash=stored)
    assert not codes.code_matches(user_id=3, code="987655", code_hash=stored)
    assert not codes.code_matches(user_id=4, code="987654", code_hash=stored)

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(codes.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    codes.code_matches(user_id=3, code="000000", code_hash=stored)
    assert calls == [1]
