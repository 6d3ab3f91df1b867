"""Database-side chores of the benchmark, run inside Django against one database.

    DATABASE_URL=... python bench/tasks.py prepare '{"token_users": [1, 2], ...}'

Prints one JSON object. Runs as its own process so bench/run.py needs no Django
settings of its own and can prepare two databases one after the other.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zapa_site.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db.models import Count  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from accounts.models import User  # noqa: E402
from messaging.models import Message, WhatsAppSession  # noqa: E402


def prepare(spec: dict) -> dict:
    """Tokens for the users the load will act as, a staff login, webhook senders."""
    out: dict = {"tokens": {}}
    for user_id in spec.get("token_users", []):
        _, token = AuthToken.objects.create(user=User.objects.get(pk=user_id))
        out["tokens"][str(user_id)] = token
    if spec.get("staff_phone"):
        staff = User.objects.filter(phone_number=spec["staff_phone"]).first()
        if staff is None:
            staff = User.objects.create_superuser(spec["staff_phone"], spec["staff_password"])
        else:
            staff.set_password(spec["staff_password"])
            staff.is_staff = staff.is_superuser = True
            staff.save()
    main = WhatsAppSession.objects.get(bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID)
    out["main_session"] = main.bridge_session_id
    out["main_digits"] = main.phone_number.lstrip("+")
    senders = (
        User.objects.filter(whatsapp_sessions__session_type="user")
        .order_by("pk")
        .distinct()
        .values_list("phone_number", flat=True)[: spec.get("senders", 200)]
    )
    out["senders"] = [number.lstrip("+") for number in senders]
    return out


def heaviest_user(spec: dict) -> dict:
    row = (
        Message.objects.values("user_id").annotate(n=Count("id")).order_by("-n", "user_id").first()
    )
    return {"user_id": row["user_id"], "messages": row["n"]}


def user_of_message(spec: dict) -> dict:
    message = Message.objects.only("user_id").get(pk=spec["message_id"])
    count = Message.objects.filter(user_id=message.user_id).count()
    return {"user_id": message.user_id, "messages": count}


def assistant_prepare(spec: dict) -> dict:
    """An agent on the main session and an active LLM config (keys from the fake) for each
    sender, so every message the assistant step posts gets a real turn; `others` are
    contacts without one (known, so their messages take the same ingest path)."""
    from llm.models import Agent, LLMConfig

    agent, _ = Agent.objects.get_or_create(name="Bench agent", defaults={"model": "gpt-4o-mini"})
    WhatsAppSession.objects.filter(bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID).update(
        agent=agent
    )
    everyone = spec["senders"] + spec.get("others", [])
    User.objects.create_whatsapp_users({"+" + digits: "" for digits in everyone})
    for digits, key in zip(spec["senders"], spec["keys"], strict=True):
        user = User.objects.get(phone_number="+" + digits)
        LLMConfig.objects.filter(user=user, is_active=True).update(is_active=False)
        config = LLMConfig(user=user, provider="openai", model_settings={"model": "gpt-4o-mini"})
        config.set_api_key(key)
        config.is_active = True
        config.save()
    return {"configs": len(spec["keys"])}


def assistant_turn_times(spec: dict) -> dict:
    """Per replied turn since `since`: Zapa's own time (the worker's time on the turn
    minus the provider's), the whole time (in ms), and the first letter of its trigger's
    message id (which step of the bench posted it)."""
    from datetime import datetime

    from assistant.models import Turn

    rows = Turn.objects.filter(
        state="replied", created_at__gte=datetime.fromisoformat(spec["since"])
    ).values_list(
        "created_at", "started_at", "finished_at", "provider_ms", "trigger_message__wa_message_id"
    )
    own, total, posted_by = [], [], []
    for created, started, finished, provider_ms, wa_message_id in rows:
        own.append((finished - started).total_seconds() * 1000 - provider_ms)
        total.append((finished - created).total_seconds() * 1000)
        posted_by.append(wa_message_id[:1])
    return {"own_ms": own, "total_ms": total, "posted_by": posted_by}


TASKS = {
    "prepare": prepare,
    "heaviest_user": heaviest_user,
    "user_of_message": user_of_message,
    "assistant_prepare": assistant_prepare,
    "assistant_turn_times": assistant_turn_times,
}

if __name__ == "__main__":
    task, raw = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "{}")
    print(json.dumps(TASKS[task](json.loads(raw))))
