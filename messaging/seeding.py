"""Bulk demo data at database speed: users, sessions and realistic message history.

Everything is drawn from one `random.Random(seed)`, so the same seed on the same
database state gives the same rows (surrogate ids and `updated_at` aside). Message
rows are generated as plain tuples in `MESSAGE_COLUMNS` order and written with
PostgreSQL `COPY ... FROM STDIN` (psycopg 3), or `bulk_create` on other databases.

Shape of the data:
- one assistant number (the `main` session, `WHATSAPP_MAIN_SESSION_ID`), shared by
  all users: each user's chat with the assistant lives there, `user` = that contact;
- each user's own numbers (`--sessions-per-user` sessions of type `user`, the first
  connected), each with several one-to-one chats and a group or two;
- every message type with its media metadata, captions, replies to earlier messages
  of the same chat, delivery statuses, timestamps spread over `days` days, ids
  increasing with time as they would on a live system.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import connection, transaction

from accounts.models import User
from messaging.models import Message, WhatsAppSession

MESSAGE_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "session_id",
    "user_id",
    "wa_message_id",
    "chat_jid",
    "sender_jid",
    "recipient_jid",
    "direction",
    "timestamp",
    "message_type",
    "content",
    "caption",
    "reply_to_id",
    "media_metadata",
    "status",
)

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
# The chat with the assistant weighs this many ordinary chats.
MAIN_CHAT_WEIGHT = 4.0


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(sep))


_WORDS = _split(
    "the you to and is it that for of a in on my me we are have be this at so not do "
    "can just what will your with no yes ok okay all but get was going how if now see "
    "like know one there out up time about when good love today tomorrow tonight day "
    "call home work lunch dinner coffee meeting morning later soon back here send sent "
    "photo picture video voice message please thanks thank great nice sure sorry happy "
    "birthday weekend friday monday week next last year month new price order delivery "
    "address office school class exam doctor appointment train bus car traffic airport "
    "flight hotel trip beach party game match team football music movie book pizza "
    "bread milk market shop money bank card payment invoice report project deadline "
    "document file contract meeting client boss mom dad brother sister kids baby dog "
    "cat rain sun weather cold hot late early ready done check look wait need want "
    "think remember forget bring buy pay help ask tell said told let us them they he "
    "she our their where why who which very really still again also already maybe "
    "never always every some any more much many little big small best better first "
    "street park garden kitchen room house city center station corner left right near "
    "far open closed free busy tired sick fine well hungry dinner reservation table"
)
# Whole phrases people actually type; most sentences start from one of them.
_PHRASES = _split(
    "see you tomorrow|running late|call me when you can|on my way|happy birthday|"
    "good morning|good night|thank you so much|no problem|sounds good|let me know|"
    "where are you|what time|are you coming|I will be there|can you send me|just arrived|"
    "the meeting is at|did you see the|dinner tonight|how was your day|talk later|"
    "miss you|almost there|stuck in traffic|the invoice is attached|"
    "please confirm the order|the delivery arrives|pick up the kids|"
    "the flight is delayed|check your email|coffee this afternoon",
    "|",
)
_FIRST_NAMES = _split(
    "Ana Bruno Carla Diego Elena Felipe Gabriela Hugo Isabel João Karina Lucas Maria "
    "Nuno Olivia Pedro Quinn Rafael Sofia Tiago Ursula Vitor Wendy Xavier Yara Zoe "
    "Amir Chen Fatima Hiroshi Ivan Jamal Lena Mei Noah Priya Sven Tomasz Ngozi Aisha"
)
_LAST_NAMES = _split(
    "Silva Santos Oliveira Souza Costa Pereira Almeida Ferreira Rodrigues Gomes Smith "
    "Johnson Brown Garcia Martinez Müller Schmidt Rossi Bianchi Dubois Novak Kowalski "
    "Tanaka Wang Kim Nguyen Patel Okafor Haddad Cohen Ivanova Larsen Jensen Murphy"
)
_PLACES = (
    ("Café Central", "Rua Augusta 120, Lisboa"),
    ("Ibirapuera Park", "Av. Pedro Álvares Cabral, São Paulo"),
    ("Hauptbahnhof", "Europaplatz 1, Berlin"),
    ("Golden Gate Park", "San Francisco, CA"),
    ("Office", "Av. Paulista 1000, São Paulo"),
    ("Home", ""),
    ("Airport Terminal 2", ""),
    ("Mercado Municipal", "Rua da Cantareira 306, São Paulo"),
)
_DOC_KINDS = (
    ("application/pdf", "pdf", ("invoice", "report", "contract", "ticket", "menu")),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", ("budget",)),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", ("cv",)),
    ("text/plain", "txt", ("notes",)),
)
# Mobile ranges: country code, national prefixes, then a number in [low, high).
_NUMBER_PLANS = (
    ("1", ("415", "212", "312", "617", "206", "303", "512", "404"), 2_000_000, 10_000_000),
    ("55", ("119", "219", "319", "419", "519", "619", "719", "819"), 60_000_000, 100_000_000),
    ("44", ("7400", "7500", "7700", "7800", "7900"), 100_000, 1_000_000),
    ("49", ("151", "152", "157", "159"), 10_000_000, 100_000_000),
    ("351", ("91", "92", "93", "96"), 1_000_000, 10_000_000),
    ("91", ("9",), 100_000_000, 1_000_000_000),
)


@dataclass(frozen=True)
class SeedPlan:
    users: int
    messages: int
    seed: int = 0
    sessions_per_user: int = 1
    days: int = 180
    # The newest timestamp; defaults to the start of the current UTC day, so a
    # seed gives the same rows all day long.
    end: datetime | None = None
    chunk_size: int = 100_000


@dataclass
class SeedResult:
    users: int = 0
    sessions: int = 0
    messages: int = 0
    seconds: float = 0.0
    message_seconds: float = 0.0
    first_message_id: int | None = None
    stats: dict = field(default_factory=dict)

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.message_seconds if self.message_seconds else 0.0


@dataclass
class _Chat:
    session_id: int
    user_id: int
    chat_jid: str
    own_jid: str
    participants: tuple[str, ...]  # senders of incoming messages (one for a 1:1 chat)
    id_prefix: str  # makes wa_message_id unique per chat; a counter follows
    sent: int = 0
    recent: list[int] = field(default_factory=list)


def _jid(digits: str) -> str:
    return f"{digits}@s.whatsapp.net"


def _contact_digits(rng: random.Random) -> str:
    country, prefixes, low, high = rng.choice(_NUMBER_PLANS)
    return f"{country}{rng.choice(prefixes)}{rng.randrange(low, high)}"


def _valid_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        e164 = "+" + _contact_digits(rng)
        if e164 in taken:
            continue
        parsed = phonenumbers.parse(e164, None)
        if phonenumbers.is_valid_number(parsed) and (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == e164
        ):
            taken.add(e164)
            return e164


def _sentence_pool(rng: random.Random, size: int = 4096) -> list[str]:
    # Zipf-like word frequencies, so common pairs ("see you") recur as in real chats.
    weights = [1.0 / (rank + 8) for rank in range(len(_WORDS))]
    pool = []
    for _ in range(size):
        words = rng.choices(_WORDS, weights=weights, k=rng.randint(0, 10))
        if rng.random() < 0.7 or len(words) < 2:
            words.insert(rng.randint(0, len(words)), rng.choice(_PHRASES))
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice((".", "!", "?", "", " :)"))
        pool.append(sentence)
    return pool


def _media_pool(rng: random.Random, kind: str, size: int = 256) -> list[str]:
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
            mime, ext, stems = rng.choice(_DOC_KINDS)
            meta = {
                "mime_type": mime,
                "size": rng.randrange(10_000, 8_000_000),
                "file_name": f"{rng.choice(stems)}-{2024 + n % 3}-{1 + n % 12:02d}.{ext}",
                "url": url,
            }
        elif kind == "location":
            name, address = rng.choice(_PLACES)
            meta = {
                "location": {
                    "latitude": round(rng.uniform(-34.0, 60.0), 6),
                    "longitude": round(rng.uniform(-122.0, 140.0), 6),
                    "name": name,
                    "address": address,
                }
            }
        else:  # contact
            digits = _contact_digits(rng)
            meta = {
                "contact": {
                    "name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
                    "number": f"+{digits}",
                }
            }
        pool.append(json.dumps(meta, ensure_ascii=False, separators=(",", ":")))
    return pool


def _id_prefix(*parts: str) -> str:
    # 12 hex chars from the chat's identity, then an 8-hex counter: 20 chars like WhatsApp's.
    return hashlib.blake2b("|".join(parts).encode(), digest_size=6).hexdigest().upper()


class BulkSeeder:
    """Generates one plan's rows and writes them with the fastest path of the database."""

    def __init__(self, plan: SeedPlan, *, progress: Callable[[int], None] | None = None):
        if plan.users < 1 or plan.messages < 0 or plan.sessions_per_user < 1 or plan.days < 1:
            raise ValueError("users, sessions per user and days must be at least 1")
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.progress = progress or (lambda n: None)
        end = plan.end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.end = end.astimezone(UTC)
        self.start = self.end - timedelta(days=plan.days)
        self.chats: list[_Chat] = []
        self.chat_weights: list[float] = []

    # --- users and sessions (few rows: the ORM's bulk_create is fast enough) ---

    def _create_users_and_sessions(self) -> tuple[int, int]:
        rng = self.rng
        taken = set(User.objects.values_list("phone_number", flat=True))
        main_session, created_main = self._main_session(taken)
        main_jid = _jid(main_session.phone_number.lstrip("+"))
        span = (self.end - self.start).total_seconds()

        users = []
        for _ in range(self.plan.users):
            first_seen = self.start + timedelta(seconds=rng.random() * span * 0.2)
            users.append(
                User(
                    phone_number=_valid_number(rng, taken),
                    display_name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
                    first_seen=first_seen,
                    last_active=self.end - timedelta(seconds=rng.random() * span * 0.1),
                    password=f"!{rng.getrandbits(160):040x}",  # unusable, like Django's
                    created_at=first_seen,
                )
            )
        users = User.objects.bulk_create(users, batch_size=1000)

        sessions = []
        for user in users:
            digits = user.phone_number.lstrip("+")
            for k in range(self.plan.sessions_per_user):
                connected = k == 0
                connected_at = user.first_seen + timedelta(hours=1 + k)
                sessions.append(
                    WhatsAppSession(
                        user=user,
                        bridge_session_id=f"wa-{digits}-{k + 1}",
                        phone_number=user.phone_number,
                        session_type=WhatsAppSession.SessionType.USER,
                        status=WhatsAppSession.Status.CONNECTED
                        if connected
                        else WhatsAppSession.Status.DISCONNECTED,
                        connected_at=connected_at,
                        disconnected_at=None if connected else connected_at + timedelta(days=3),
                        metadata={"platform": rng.choice(("android", "iphone", "web"))},
                        created_at=connected_at,
                    )
                )
        sessions = WhatsAppSession.objects.bulk_create(sessions, batch_size=1000)

        by_user: dict[int, list[WhatsAppSession]] = {}
        for session in sessions:
            by_user.setdefault(session.user_id, []).append(session)
        # Heavier users first: rank-based weights, shuffled so ids do not predict volume.
        user_weights = [1.0 / (rank + 3) ** 0.7 for rank in range(len(users))]
        rng.shuffle(user_weights)
        for user, weight in zip(users, user_weights, strict=True):
            self._add_chats(user, weight, main_session, main_jid, by_user[user.pk])
        return len(users) + int(created_main), len(sessions) + int(created_main)

    def _main_session(self, taken: set[str]) -> tuple[WhatsAppSession, bool]:
        session_id = settings.WHATSAPP_MAIN_SESSION_ID
        existing = WhatsAppSession.objects.filter(bridge_session_id=session_id).first()
        if existing and existing.phone_number:
            return existing, False
        if existing:  # a main session that never reported its number
            existing.phone_number = _valid_number(self.rng, taken)
            existing.save(update_fields=["phone_number", "updated_at"])
            return existing, False
        number = _valid_number(self.rng, taken)
        owner = User.objects.create(
            phone_number=number,
            display_name="Zapa assistant",
            first_seen=self.start,
            password=f"!{self.rng.getrandbits(160):040x}",
            created_at=self.start,
        )
        session = WhatsAppSession.objects.create(
            user=owner,
            bridge_session_id=session_id,
            phone_number=number,
            session_type=WhatsAppSession.SessionType.MAIN,
            status=WhatsAppSession.Status.CONNECTED,
            connected_at=self.start,
            created_at=self.start,
        )
        return session, True

    def _add_chats(self, user, weight, main_session, main_jid, own_sessions) -> None:
        rng = self.rng
        user_digits = user.phone_number.lstrip("+")
        user_jid = _jid(user_digits)
        chats = [
            _Chat(
                session_id=main_session.pk,
                user_id=user.pk,
                chat_jid=user_jid,
                own_jid=main_jid,
                participants=(user_jid,),
                id_prefix=_id_prefix(main_session.bridge_session_id, user_jid),
            )
        ]
        shares = [MAIN_CHAT_WEIGHT]
        for session in own_sessions:
            for _ in range(rng.randint(3, 7)):
                contact = _jid(_contact_digits(rng))
                chats.append(
                    _Chat(
                        session.pk,
                        user.pk,
                        contact,
                        user_jid,
                        (contact,),
                        _id_prefix(session.bridge_session_id, contact),
                    )
                )
                shares.append(rng.uniform(0.3, 2.0))
            for _ in range(rng.randint(0, 2)):
                group = f"120363{rng.randrange(10**11, 10**12)}@g.us"
                members = tuple(_jid(_contact_digits(rng)) for _ in range(rng.randint(3, 12)))
                chats.append(
                    _Chat(
                        session.pk,
                        user.pk,
                        group,
                        user_jid,
                        members,
                        _id_prefix(session.bridge_session_id, group),
                    )
                )
                shares.append(rng.uniform(0.5, 3.0))
        total = sum(shares)
        self.chats.extend(chats)
        self.chat_weights.extend(weight * share / total for share in shares)

    # --- messages ---

    def message_rows(self, first_id: int) -> Iterator[tuple]:
        """Rows in MESSAGE_COLUMNS order, ids from `first_id` up, timestamps ascending."""
        rng = self.rng
        random_ = rng.random
        total = self.plan.messages
        if not total:
            return
        sentences = _sentence_pool(rng)
        n_sentences = len(sentences)
        media = {kind: _media_pool(rng, kind) for kind in TYPE_WEIGHTS if kind != "text"}
        types = list(TYPE_WEIGHTS)
        type_cum = _cumulative(TYPE_WEIGHTS.values())
        chat_cum = _cumulative(self.chat_weights)
        chats = self.chats
        start = self.start
        step = (self.end - self.start).total_seconds() / total
        second = timedelta(seconds=1)
        recent_cutoff = self.end - timedelta(hours=1)
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

    def run(self) -> SeedResult:
        result = SeedResult()
        started = time.perf_counter()
        with transaction.atomic():
            result.users, result.sessions = self._create_users_and_sessions()
        messages_started = time.perf_counter()
        if self.plan.messages:
            first_id = reserve_message_ids(self.plan.messages)
            result.first_message_id = first_id
            rows = self.message_rows(first_id)
            if connection.vendor == "postgresql":
                write_rows_copy(rows, chunk_size=self.plan.chunk_size, progress=self.progress)
            else:
                write_rows_orm(rows, chunk_size=self.plan.chunk_size, progress=self.progress)
        result.messages = self.plan.messages
        finished = time.perf_counter()
        result.message_seconds = finished - messages_started
        result.seconds = finished - started
        return result


def _cumulative(weights) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def reserve_message_ids(count: int) -> int:
    """Take a block of `count` message ids from the table's sequence; return the first.

    On PostgreSQL the table is locked for the instant between reading and advancing
    the identity sequence, so a concurrent insert cannot draw an id inside the block.
    """
    table = Message._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            (max_id,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s)", [sequence])
            (first,) = cursor.fetchone()
            first = max(first, max_id + 1)
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
            return first
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        (max_id,) = cursor.fetchone()
        return max_id + 1


def write_rows_copy(
    rows: Iterator[tuple],
    *,
    chunk_size: int = 100_000,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """COPY rows (MESSAGE_COLUMNS order) into the message table, one transaction per chunk.

    Chunks keep PostgreSQL's queue of deferred foreign-key checks small; replies only
    point backwards, so every chunk is consistent on its own.
    """
    sql = f"COPY {Message._meta.db_table} ({', '.join(MESSAGE_COLUMNS)}) FROM STDIN"
    written = 0
    exhausted = False
    while not exhausted:
        in_chunk = 0
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.connection.cursor().copy(sql) as copy,
        ):
            write_row = copy.write_row
            for row in rows:
                write_row(row)
                in_chunk += 1
                if in_chunk % 10_000 == 0:
                    progress(10_000)
                if in_chunk == chunk_size:
                    break
            else:
                exhausted = True
        progress(in_chunk % 10_000)
        written += in_chunk
    return written


def write_rows_orm(
    rows: Iterator[tuple],
    *,
    chunk_size: int = 100_000,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """The portable path (SQLite): bulk_create, one transaction per chunk."""
    written = 0
    batch: list[Message] = []

    def flush():
        nonlocal written
        with transaction.atomic():
            Message.objects.bulk_create(batch, batch_size=500)
        written += len(batch)
        progress(len(batch))
        batch.clear()

    for row in rows:
        values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
        values["media_metadata"] = json.loads(values["media_metadata"])
        batch.append(Message(**values))
        if len(batch) >= min(chunk_size, 5000):
            flush()
    if batch:
        flush()
    return written
