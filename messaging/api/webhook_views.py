"""The WhatsApp bridge's webhook: POST /api/v1/webhooks/whatsapp/<token>/."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.errors import ErrorSerializer, error_body
from messaging import webhook_auth
from messaging.ingest import hooks, queue
from messaging.ingest.events import EVENT_TYPES
from messaging.ingest.parse import BodyError
from messaging.ingest.receive import Delivery, delivery_receive
from messaging.models import WebhookEvent

logger = logging.getLogger(__name__)


class WebhookResponse(JsonResponse):
    """A JSON answer that runs `after_sent` callbacks once the server has sent it (the
    WSGI server calls `close()` after the last byte), before Django's own
    request_finished handlers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.after_sent: list = []

    def close(self) -> None:
        callbacks, self.after_sent = self.after_sent, []  # once, however often closed
        try:
            for callback in callbacks:
                callback()
        finally:
            super().close()


def _ingest_later() -> None:
    """Queued ingest: wake a worker unless a wake-up is pending (with no broker, ingest
    here, now that the bridge has its answer). A lost publish only delays: beat runs
    the same task every 15 s."""
    from messaging import tasks  # the task module imports Celery's app

    try:
        if settings.CELERY_TASK_ALWAYS_EAGER or queue.wake_wanted():
            tasks.ingest_waiting.apply_async(
                countdown=settings.WEBHOOK_INGEST_GATHER_SECONDS or None
            )
    except Exception:  # the broker's own connection errors; the events wait, stored
        logger.warning("Could not queue the ingest of waiting events", exc_info=True)


class WebhookRateThrottle(ScopedRateThrottle):
    """Deliveries per client IP, counted in fixed windows as long as the rate's period.

    DRF's own throttles keep the time of every request in the window, as one cached
    list that each request reads and writes back whole. The bridge posts from one
    address, thousands of times a minute, so that list grew to thousands of entries
    and cost more CPU than storing an event. Here a window is one counter (`incr`,
    atomic in Redis), the same cost at any rate. A burst can reach twice the rate
    across a window boundary, which is fine for a flood guard.
    """

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        # Read at request time (DRF binds the rates at import), like accounts' throttles.
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) if self.scope else None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        now = self.timer()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        key = self.cache_format % {
            "scope": self.scope,
            "ident": f"{self.get_ident(request)}:{window}",
        }
        return self._count(key) <= self.num_requests

    def _count(self, key: str) -> int:
        try:
            return self.cache.incr(key)
        except ValueError:  # the window's first request
            if self.cache.add(key, 1, timeout=self.duration + 1):
                return 1
            return self.cache.incr(key)  # another process added it first

    def wait(self) -> float:
        return self.wait_seconds


class BridgeEventSerializer(serializers.Serializer):
    """One event as the bridge (zapw) sends it (documentation only)."""

    sessionId = serializers.CharField(help_text="The bridge's session name.")
    origin = serializers.CharField(
        required=False, help_text="The session's own phone number, digits."
    )
    eventType = serializers.ChoiceField(choices=EVENT_TYPES)
    timestamp = serializers.IntegerField(required=False, help_text="Epoch milliseconds.")
    data = serializers.DictField(
        help_text="Per event type: messages have from, to, messageId, timestamp, type, "
        "text/caption/mediaUrl/…; statuses have messageId and status (2 sent, 3 "
        "delivered, 4 read)."
    )


class WebhookEventResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stored WebhookEvent's id.")
    state = serializers.CharField()
    error = serializers.CharField(required=False, help_text="Why it was ignored or failed.")


class WebhookResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    processed = serializers.IntegerField()
    deferred = serializers.IntegerField(help_text="Statuses waiting for their message.")
    ignored = serializers.IntegerField(
        help_text="Bridge events Zapa does not act on (unknown event types, Status posts, "
        "events without a message id, …), kept with the reason."
    )
    failed = serializers.IntegerField()
    queued = serializers.IntegerField(
        help_text="Stored, for a worker to ingest (WEBHOOK_INGEST=queued)."
    )
    events = WebhookEventResultSerializer(many=True)


class WhatsAppWebhookView(APIView):
    """Receives every event of the WhatsApp bridge.

    The body is one event object or a JSON list of them (replays, busy bridges). Each
    event is stored before it is processed; redeliveries are harmless. The bridge's
    normal traffic is never refused (docs/bridge.md). Answers:

    - 200 when every event was processed, or ignored with a reason (an event Zapa
      does not act on: unknown types, Status posts, no message id, …);
    - 202 when the events are queued for a worker (WEBHOOK_INGEST=queued), or some
      statuses wait for their message (kept, applied when it arrives),
      or an event failed on our side (kept as failed for process_webhook_events);
    - 400 when the body is not a bridge event at all: not JSON, no eventType or
      sessionId, an impossible value such as a negative timestamp (the valid events
      of a list are still processed; the others are kept as rejected);
    - 401/403 for a wrong token or a missing/invalid/stale signature (nothing stored);
    - 503 with Retry-After when the database is unreachable (the bridge retries).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookRateThrottle]
    throttle_scope = "webhook"
    # None: as WEBHOOK_INGEST says. False: store the events and answer (queued ingest:
    # a worker ingests them); True: ingest them before answering.
    process_events: bool | None = None

    def dispatch(self, request, *args, **kwargs):
        # The apps above messaging hear about the stored messages after the bridge has
        # its answer (the assistant's publish to the queue never delays it).
        with hooks.announcements_held() as held:
            response = super().dispatch(request, *args, **kwargs)
        if held and isinstance(response, WebhookResponse):
            response.after_sent.append(lambda: hooks.send_held(held))
        else:
            hooks.send_held(held)
        return response

    @extend_schema(
        operation_id="whatsapp_webhook",
        tags=["webhooks"],
        summary="Receive WhatsApp bridge events",
        auth=[],
        parameters=[
            OpenApiParameter("token", str, OpenApiParameter.PATH, description="The webhook token."),
            OpenApiParameter(
                "webhook-signature",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Required with webhook-id and webhook-timestamp when "
                "WEBHOOK_SECRET is set: 'v1,<base64 HMAC-SHA256 of id.timestamp.body>'.",
            ),
        ],
        request=PolymorphicProxySerializer(
            component_name="BridgeEventOrList",
            serializers=[BridgeEventSerializer, BridgeEventSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            200: WebhookResultSerializer,
            202: OpenApiResponse(
                WebhookResultSerializer,
                description="Stored; queued for a worker, or some events wait for their "
                "message or failed on our side.",
            ),
            400: OpenApiResponse(ErrorSerializer, description="Not JSON, or an invalid event."),
            401: OpenApiResponse(ErrorSerializer, description="Wrong token or no signature."),
            403: OpenApiResponse(ErrorSerializer, description="Invalid or stale signature."),
            413: OpenApiResponse(ErrorSerializer, description="Body or list too large."),
            503: OpenApiResponse(ErrorSerializer, description="Database unavailable; retry."),
        },
        examples=[
            OpenApiExample(
                "Text message received",
                request_only=True,
                value={
                    "sessionId": "main",
                    "origin": "14155550100",
                    "eventType": "message.received",
                    "timestamp": 1763870400000,
                    "data": {
                        "from": "14155550123@s.whatsapp.net",
                        "to": "14155550100@s.whatsapp.net",
                        "messageId": "3EB0C431C26A1916E7F4",
                        "timestamp": 1763870399000,
                        "type": "text",
                        "text": "Hello!",
                    },
                },
            )
        ],
    )
    def post(self, request, token: str):
        if not webhook_auth.token_is_valid(token):
            return self._rejected(request, 401, "invalid_token", "Invalid webhook token.")
        try:
            body = request.body
        except RequestDataTooBig:
            return self._rejected(request, 413, "too_large", "The request body is too large.")
        if settings.WEBHOOK_SECRET:
            try:
                webhook_auth.signature_verify(
                    secret=settings.WEBHOOK_SECRET, headers=request.headers, body=body
                )
            except webhook_auth.SignatureError as exc:
                return self._rejected(request, exc.status_code, exc.code, str(exc))

        try:
            delivery = delivery_receive(body=body, request=request, process=self._inline())
        except BodyError as exc:
            return self._rejected(request, exc.status, exc.code, str(exc))
        response = self._answer(request, delivery)
        if delivery.states[WebhookEvent.State.RECEIVED] and queue.is_queued():
            response.after_sent.append(_ingest_later)
        return response

    def _inline(self) -> bool:
        return not queue.is_queued() if self.process_events is None else self.process_events

    def _answer(self, request, delivery: Delivery):
        events, rejected = delivery.events, delivery.rejected
        if rejected:
            problems = [
                {"index": index, "id": event.pk, "error": event.error} for index, event in rejected
            ]
            first = problems[0]
            if delivery.is_list:
                message = (
                    f"{len(rejected)} of {len(events)} events are invalid; "
                    f"events[{first['index']}]: {first['error']}"
                )
            else:
                message = first["error"]
            return self._rejected(
                request, 400, "invalid_event", message, details={"events": problems}
            )
        states = delivery.states
        body = {
            "received": len(events),
            "processed": states["processed"],
            "deferred": states["deferred"],
            "ignored": states["ignored"],
            "failed": states["failed"],
            "queued": states["received"],
            "events": [
                {"id": e.pk, "state": e.state, **({"error": e.error} if e.error else {})}
                for e in events
            ],
        }
        waiting = states["deferred"] or states["failed"] or states["received"]
        status = 202 if waiting else 200
        return WebhookResponse(body, status=status)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Django logs 4xx/5xx with the path, which holds the token: never for this view.
        response._has_been_logged = True
        return response

    def _rejected(self, request, status: int, code: str, message: str, details=None):
        logger.warning("Webhook delivery rejected (%s %s): %s", status, code, message[:200])
        return WebhookResponse(error_body(code, message, details), status=status)
