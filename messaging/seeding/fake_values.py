"""Believable values drawn from a seeded `random.Random`: numbers, names, texts, media."""

import hashlib
import json
import random

import phonenumbers

from messaging.seeding.vocabulary import (
    DOC_KINDS,
    FIRST_NAMES,
    LAST_NAMES,
    NUMBER_PLANS,
    PHRASES,
    PLACES,
    WORDS,
)


def jid(digits: str) -> str:
    return f"{digits}@s.whatsapp.net"


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def contact_digits(rng: random.Random) -> str:
    country, prefixes, low, high = rng.choice(NUMBER_PLANS)
    return f"{country}{rng.choice(prefixes)}{rng.randrange(low, high)}"


def valid_number(rng: random.Random, taken: set[str]) -> str:
    """A valid E.164 number not in `taken` (and added to it)."""
    while True:
        e164 = "+" + contact_digits(rng)
        if e164 in taken:
            continue
        parsed = phonenumbers.parse(e164, None)
        if phonenumbers.is_valid_number(parsed) and (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
        ):
            taken.add(e164)
            return e164


def id_prefix(*parts: str) -> str:
    # 12 hex chars from the chat's identity, then an 8-hex counter: 20 chars like WhatsApp's.
    return hashlib.blake2b("|".join(parts).encode(), digest_size=6).hexdigest().upper()


def sentence_pool(rng: random.Random, size: int = 4096) -> list[str]:
    # Zipf-like word frequencies, so common pairs ("see you") recur as in real chats.
    weights = [1.0 / (rank + 8) for rank in range(len(WORDS))]
    pool = []
    for _ in range(size):
        words = rng.choices(WORDS, weights=weights, k=rng.randint(0, 10))
        if rng.random() < 0.7 or len(words) < 2:
            words.insert(rng.randint(0, len(words)), rng.choice(PHRASES))
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice((".", "!", "?", "", " :)"))
        pool.append(sentence)
    return pool


def media_pool(rng: random.Random, kind: str, size: int = 256) -> list[str]:
    """JSON texts of `media_metadata` for one message type."""
    pool = []
    for n in range(size):
        token = f"{rng.getrandbits(64):016x}"
        url = f"https://mmg.whatsapp.net/v/t62.7118-24/{token}.enc"
        if kind == "image":
            width, height = rng.choice(((1600, 1200), (1200, 1600), (1080, 1920), (800, 600)))
            meta = {
                "mime_type": "image/jpeg",
                "size": rng.randrange(40_000, 3_000_000),
                "width": width,
                "height": height,
                "url": url,
            }
        elif kind == "video":
            meta = {
                "mime_type": "video/mp4",
                "size": rng.randrange(500_000, 16_000_000),
                "width": 1280,
                "height": 720,
                "duration": rng.randrange(2, 180),
                "url": url,
            }
        elif kind == "audio":
            meta = {
                "mime_type": "audio/ogg; codecs=opus",
                "size": rng.randrange(3_000, 900_000),
                "duration": rng.randrange(1, 240),
                "voice_note": rng.random() < 0.8,
                "url": url,
            }
        elif kind == "document":
            mime, ext, stems = rng.choice(DOC_KINDS)
            meta = {
                "mime_type": mime,
                "size": rng.randrange(10_000, 8_000_000),
                "file_name": f"{rng.choice(stems)}-{2024 + n % 3}-{1 + n % 12:02d}.{ext}",
                "url": url,
            }
        elif kind == "location":
            name, address = rng.choice(PLACES)
            meta = {
                "location": {
                    "latitude": round(rng.uniform(-34.0, 60.0), 6),
                    "longitude": round(rng.uniform(-122.0, 140.0), 6),
                    "name": name,
                    "address": address,
                }
            }
        else:  # contact
            digits = contact_digits(rng)
            meta = {"contact": {"name": person_name(rng), "number": f"+{digits}"}}
        pool.append(json.dumps(meta, ensure_ascii=False, separators=(",", ":")))
    return pool
