"""Message rows as plain tuples in `MESSAGE_COLUMNS` order: the hot loop of seeding."""

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from messaging.seeding.fake_values import media_pool, sentence_pool
from messaging.seeding.people import Chat

# How often each type appears (WhatsApp chats are mostly text).
TYPE_WEIGHTS = {
    "text": 72,
    "image": 9,
    "audio": 6,
    "video": 3,
    "document": 4,
    "location": 3,
    "contact": 3,
}
REPLY_SHARE = 0.08
CAPTION_SHARE = 0.4


def message_rows(
    rng: random.Random,
    chats: list[Chat],
    chat_weights: list[float],
    *,
    total: int,
    start: datetime,
    end: datetime,
    first_id: int,
) -> Iterator[tuple]:
    """`total` rows in MESSAGE_COLUMNS order, ids from `first_id` up, timestamps ascending."""
    random_ = rng.random
    if not total:
        return
    sentences = sentence_pool(rng)
    n_sentences = len(sentences)
    media = {kind: media_pool(rng, kind) for kind in TYPE_WEIGHTS if kind != "text"}
    types = list(TYPE_WEIGHTS)
    type_cum = _cumulative(TYPE_WEIGHTS.values())
    chat_cum = _cumulative(chat_weights)
    step = (end - start).total_seconds() / total
    second = timedelta(seconds=1)
    recent_cutoff = end - timedelta(hours=1)
    block = 10_000
    for block_start in range(0, total, block):
        count = min(block, total - block_start)
        picked_chats = rng.choices(chats, cum_weights=chat_cum, k=count)
        picked_types = rng.choices(types, cum_weights=type_cum, k=count)
        for offset in range(count):
            i = block_start + offset
            chat = picked_chats[offset]
            kind = picked_types[offset]
            message_id = first_id + i
            timestamp = start + (i + random_()) * step * second
            created = timestamp + (1 + int(random_() * 3)) * second
            incoming = random_() < 0.55
            if incoming:
                participants = chat.participants
                sender = (
                    participants[0]
                    if len(participants) == 1
                    else participants[int(random_() * len(participants))]
                )
                recipient = chat.own_jid
                roll = random_()
                status = "read" if roll < 0.85 else "delivered"
            else:
                sender = chat.own_jid
                recipient = chat.chat_jid
                if timestamp > recent_cutoff:
                    status = "sent" if random_() < 0.5 else "pending"
                else:
                    roll = random_()
                    status = (
                        "read"
                        if roll < 0.75
                        else "delivered"
                        if roll < 0.9
                        else "sent"
                        if roll < 0.97
                        else "failed"
                    )
            if kind == "text":
                content = sentences[int(random_() * n_sentences)]
                caption = None
                metadata = "{}"
            else:
                content = None
                caption = (
                    sentences[int(random_() * n_sentences)]
                    if kind in ("image", "video", "document") and random_() < CAPTION_SHARE
                    else None
                )
                pool = media[kind]
                metadata = pool[int(random_() * len(pool))]
            recent = chat.recent
            reply_to = None
            if recent and random_() < REPLY_SHARE:
                reply_to = recent[int(random_() * len(recent))]
            if len(recent) >= 4:
                del recent[0]
            recent.append(message_id)
            chat.sent += 1
            yield (
                message_id,
                created,
                created,
                chat.session_id,
                chat.user_id,
                f"{chat.id_prefix}{chat.sent:08X}",
                chat.chat_jid,
                sender,
                recipient,
                "incoming" if incoming else "outgoing",
                timestamp,
                kind,
                content,
                caption,
                reply_to,
                metadata,
                status,
            )


def _cumulative(weights: Iterable[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out
