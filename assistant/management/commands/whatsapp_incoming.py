"""Make a WhatsApp message arrive exactly as the bridge would post it.

    manage.py whatsapp_incoming +5511987654321 "What did I ask you about the dentist?"

The message goes through the same ingest as the webhook (stored, then the assistant's
turn); with the console backend the reply, or the notice, is printed.
"""

import json
import secrets
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.phone import normalize_phone_number
from messaging.ingest.parse import BodyError
from messaging.ingest.receive import delivery_receive
from messaging.models import WhatsAppSession


class Command(BaseCommand):
    help = (
        "Make a WhatsApp message from PHONE arrive on the assistant's number, as the bridge would."
    )

    def add_arguments(self, parser):
        parser.add_argument("phone", help="The sender, in E.164 (e.g. +5511987654321).")
        parser.add_argument("text", help="The message text.")

    def handle(self, *args, phone: str, text: str, **options):
        try:
            sender = normalize_phone_number(phone).lstrip("+")
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from exc
        main = WhatsAppSession.objects.filter(
            bridge_session_id=settings.WHATSAPP_MAIN_SESSION_ID
        ).first()
        if main is None or not main.phone_number:
            raise CommandError(
                f"There is no main session '{settings.WHATSAPP_MAIN_SESSION_ID}' with a phone "
                "number: pair one in the admin, or load the demo data (manage.py loaddata demo)."
            )
        own = main.phone_number.lstrip("+")
        now_ms = int(time.time() * 1000)
        event = {
            "sessionId": main.bridge_session_id,
            "origin": own,
            "eventType": "message.received",
            "timestamp": now_ms,
            "data": {
                "from": f"{sender}@s.whatsapp.net",
                "to": f"{own}@s.whatsapp.net",
                "messageId": f"3EB0{secrets.token_hex(8).upper()}",
                "timestamp": now_ms,
                "type": "text",
                "text": text,
                "isGroup": False,
            },
        }
        try:
            delivery = delivery_receive(body=json.dumps(event).encode())
        except BodyError as exc:
            raise CommandError(str(exc)) from exc
        [stored] = delivery.events
        self.stdout.write(
            f"Webhook event {stored.pk}: {stored.state}"
            + (f" ({stored.error})" if stored.error else "")
        )
