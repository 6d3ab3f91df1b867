"""The people of the demo data: users, their WhatsApp sessions, and who chats with whom.

Few rows, so the ORM's bulk_create is fast enough here.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import User
from messaging.ingest.orm import INSERT_BATCH_SIZE
from messaging.models import WhatsAppSession
from messaging.seeding.fake_values import (
    contact_digits,
    id_prefix,
    jid,
    person_name,
    valid_number,
)

# The chat with the assistant weighs this many ordinary chats.
MAIN_CHAT_WEIGHT = 4.0


@dataclass
class Chat:
    session_id: int
    user_id: int
    chat_jid: str
    own_jid: str
    participants: tuple[str, ...]  # senders of incoming messages (one for a 1:1 chat)
    id_prefix: str  # makes wa_message_id unique per chat; a counter follows
    sent: int = 0
    recent: list[int] = field(default_factory=list)


@dataclass
class People:
    users: int  # rows created, the assistant's owner included when it was new
    sessions: int
    chats: list[Chat]
    chat_weights: list[float]  # each chat's share of the messages


def create_people(
    rng: random.Random, *, users: int, sessions_per_user: int, start: datetime, end: datetime
) -> People:
    taken = set(User.objects.values_list("phone_number", flat=True))
    main_session, created_main = _main_session(rng, taken, start)
    main_jid = jid(main_session.phone_number.lstrip("+"))
    span = (end - start).total_seconds()

    new_users = []
    for _ in range(users):
        first_seen = start + timedelta(seconds=rng.random() * span * 0.2)
        new_users.append(
            User(
                phone_number=valid_number(rng, taken),
                display_name=person_name(rng),
                first_seen=first_seen,
                last_active=end - timedelta(seconds=rng.random() * span * 0.1),
                password=f"!{rng.getrandbits(160):040x}",  # unusable, like Django's
                created_at=first_seen,
            )
        )
    new_users = User.objects.bulk_create(new_users, batch_size=INSERT_BATCH_SIZE)

    sessions = []
    for user in new_users:
        digits = user.phone_number.lstrip("+")
        for k in range(sessions_per_user):
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
    sessions = WhatsAppSession.objects.bulk_create(sessions, batch_size=INSERT_BATCH_SIZE)

    by_user: dict[int, list[WhatsAppSession]] = {}
    for session in sessions:
        by_user.setdefault(session.user_id, []).append(session)
    # Heavier users first: rank-based weights, shuffled so ids do not predict volume.
    user_weights = [1.0 / (rank + 3) ** 0.7 for rank in range(len(new_users))]
    rng.shuffle(user_weights)
    chats: list[Chat] = []
    chat_weights: list[float] = []
    for user, weight in zip(new_users, user_weights, strict=True):
        user_chats, shares = _chats_of(rng, user, main_session, main_jid, by_user[user.pk])
        total = sum(shares)
        chats.extend(user_chats)
        chat_weights.extend(weight * share / total for share in shares)
    return People(
        users=len(new_users) + int(created_main),
        sessions=len(sessions) + int(created_main),
        chats=chats,
        chat_weights=chat_weights,
    )


def _main_session(
    rng: random.Random, taken: set[str], start: datetime
) -> tuple[WhatsAppSession, bool]:
    """The assistant's shared number, created on the first run; True when new."""
    session_id = settings.WHATSAPP_MAIN_SESSION_ID
    existing = WhatsAppSession.objects.filter(bridge_session_id=session_id).first()
    if existing and existing.phone_number:
        return existing, False
    if existing:  # a main session that never reported its number
        existing.phone_number = valid_number(rng, taken)
        existing.save(update_fields=["phone_number", "updated_at"])
        return existing, False
    number = valid_number(rng, taken)
    owner = User.objects.create(
        phone_number=number,
        display_name="Zapa assistant",
        first_seen=start,
        password=f"!{rng.getrandbits(160):040x}",
        created_at=start,
    )
    session = WhatsAppSession.objects.create(
        user=owner,
        bridge_session_id=session_id,
        phone_number=number,
        session_type=WhatsAppSession.SessionType.MAIN,
        status=WhatsAppSession.Status.CONNECTED,
        connected_at=start,
        created_at=start,
    )
    return session, True


def _chats_of(
    rng: random.Random, user: User, main_session, main_jid: str, own_sessions
) -> tuple[list[Chat], list[float]]:
    """One user's chats (with the assistant, contacts, groups) and their relative shares."""
    user_jid = jid(user.phone_number.lstrip("+"))
    chats = [
        Chat(
            session_id=main_session.pk,
            user_id=user.pk,
            chat_jid=user_jid,
            own_jid=main_jid,
            participants=(user_jid,),
            id_prefix=id_prefix(main_session.bridge_session_id, user_jid),
        )
    ]
    shares = [MAIN_CHAT_WEIGHT]
    for session in own_sessions:
        for _ in range(rng.randint(3, 7)):
            contact = jid(contact_digits(rng))
            chats.append(
                Chat(
                    session.pk,
                    user.pk,
                    contact,
                    user_jid,
                    (contact,),
                    id_prefix(session.bridge_session_id, contact),
                )
            )
            shares.append(rng.uniform(0.3, 2.0))
        for _ in range(rng.randint(0, 2)):
            group = f"120363{rng.randrange(10**11, 10**12)}@g.us"
            members = tuple(jid(contact_digits(rng)) for _ in range(rng.randint(3, 12)))
            chats.append(
                Chat(
                    session.pk,
                    user.pk,
                    group,
                    user_jid,
                    members,
                    id_prefix(session.bridge_session_id, group),
                )
            )
            shares.append(rng.uniform(0.5, 3.0))
    return chats, shares
