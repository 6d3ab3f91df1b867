"""Baselines measured next to Zapa's own endpoints, on the same server.

- `ping`: the least a Django JSON view can do with the webhook's request (read
  the body, parse it, answer JSON) — the ceiling for the single-event webhook.
- `NaiveSearchView`: the history search done the naive way, `ILIKE '%phrase%'`
  over content and caption, otherwise the same query, page size and serializer as
  GET /api/v1/messages/?q=.
- `StoreOnlyWebhookView`: context for the single-event figure, the webhook
  (token, throttle, parsing, validation) storing each event without processing it,
  which is all a request would do with processing on a task queue.
"""

import json

from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors
from messaging.api.history_serializers import MessageSerializer
from messaging.api.webhook_views import WhatsAppWebhookView

PAGE_SIZE = 50


@csrf_exempt
def ping(request):
    body = json.loads(request.body) if request.body else None
    return JsonResponse({"ok": True, "received": 1 if body is not None else 0})


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class NaiveSearchView(APIView):
    def get(self, request: Request) -> Response:
        pattern = f"%{_escape_like(request.query_params.get('q', ''))}%"
        matches = RawSQL(
            '("messaging_message"."content" ILIKE %s OR "messaging_message"."caption" ILIKE %s)',
            (pattern, pattern),
            output_field=BooleanField(),
        )
        messages = selectors.message_history(user=request.user).filter(matches)[:PAGE_SIZE]
        serializer = MessageSerializer()
        return Response(
            {"next": None, "results": [serializer.to_representation(m) for m in messages]}
        )


class StoreOnlyWebhookView(WhatsAppWebhookView):
    process_events = False
