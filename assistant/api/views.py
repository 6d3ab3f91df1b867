"""The caller's assistant turns and reminders: thin views over the models."""

from datetime import datetime

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant import reminders
from assistant.api.serializers import ReminderSerializer, TurnSerializer
from assistant.models import Reminder, Turn
from core.errors import ErrorSerializer, error_body
from core.pagination import KeysetField, KeysetPagination

TAG = "assistant"
ERROR_401 = OpenApiResponse(ErrorSerializer, description="Not logged in.")
ERROR_404 = OpenApiResponse(ErrorSerializer, description="No such reminder among yours.")


class TurnPagination(KeysetPagination):
    keyset = (
        KeysetField("created_at", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "assistant.api.turns"


class ReminderPagination(KeysetPagination):
    keyset = (
        KeysetField("due_at", descending=False, kind=datetime),
        KeysetField("id", descending=False, kind=int),
    )
    cursor_salt = "assistant.api.reminders"


class TurnListView(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = TurnPagination

    @extend_schema(
        operation_id="assistant_turns_list",
        tags=[TAG],
        summary="Your assistant's turns (each answer it owed you), newest first",
        responses={200: TurnSerializer(many=True), 401: ERROR_401},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            Turn.objects.filter(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(TurnSerializer(page, many=True).data)


class ReminderListView(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = ReminderPagination

    @extend_schema(
        operation_id="reminders_list",
        tags=[TAG],
        summary="Your reminders, soonest first",
        responses={200: ReminderSerializer(many=True), 401: ERROR_401},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            Reminder.objects.filter(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(ReminderSerializer(page, many=True).data)


class ReminderDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def _own(self, request: Request, pk: int) -> Reminder:
        reminder = Reminder.objects.filter(pk=pk, user=request.user).first()
        if reminder is None:
            raise NotFound("No such reminder among yours.")
        return reminder

    @extend_schema(
        operation_id="reminders_retrieve",
        tags=[TAG],
        summary="One of your reminders",
        responses={200: ReminderSerializer, 401: ERROR_401, 404: ERROR_404},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReminderSerializer(self._own(request, pk)).data)

    @extend_schema(
        operation_id="reminders_cancel",
        tags=[TAG],
        summary="Cancel one of your scheduled reminders",
        responses={
            200: ReminderSerializer,
            401: ERROR_401,
            404: ERROR_404,
            409: OpenApiResponse(ErrorSerializer, description="Already sent or cancelled."),
        },
    )
    def delete(self, request: Request, pk: int) -> Response:
        reminder = self._own(request, pk)
        try:
            reminders.reminder_cancel(reminder=reminder)
        except reminders.ReminderRefused as exc:
            return Response(error_body("conflict", str(exc)), status=status.HTTP_409_CONFLICT)
        return Response(ReminderSerializer(reminder).data)
