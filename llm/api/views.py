"""LLM API: the provider catalogue, a user's configs, and checking a stored key."""

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from core.errors import ErrorSerializer, error_body
from core.pagination import KeysetField, KeysetPagination
from llm import selectors, services
from llm.api.serializers import (
    KeyCheckResultSerializer,
    LLMConfigCreateSerializer,
    LLMConfigSerializer,
    LLMConfigUpdateSerializer,
    ProviderSerializer,
    drf_detail,
)
from llm.key_check import Outcome
from llm.models import LLMConfig
from llm.providers import all_providers

TAG = "LLM"
ERROR_400 = OpenApiResponse(ErrorSerializer, description="Invalid input (details per field).")
ERROR_401 = OpenApiResponse(ErrorSerializer, description="Not logged in.")
ERROR_404 = OpenApiResponse(ErrorSerializer, description="No such config among yours.")
BAD_QUERY = OpenApiResponse(ErrorSerializer, description="A query parameter is invalid.")


def _service_error(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(drf_detail(exc))


class LLMConfigPagination(KeysetPagination):
    keyset = (
        KeysetField("created_at", descending=True, kind=datetime),
        KeysetField("id", descending=True, kind=int),
    )
    cursor_salt = "llm.api.configs"
    max_page_size = 100


class ConfigMixin:
    def get_config(self, pk: int, *, with_key: bool = False) -> LLMConfig:
        try:
            return selectors.llm_config_for_user(
                user=self.request.user, config_id=pk, with_key=with_key
            )
        except LLMConfig.DoesNotExist:
            raise NotFound("No such LLM config.") from None


class ProviderCatalogueView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=[TAG],
        summary="Supported providers, their models, setting ranges and key formats",
        responses={200: ProviderSerializer(many=True)},
        auth=[],
    )
    def get(self, request):
        return Response(ProviderSerializer(all_providers(), many=True).data)


class LLMConfigListView(APIView):
    pagination_class = LLMConfigPagination

    @extend_schema(
        tags=[TAG],
        summary="Your LLM configs, newest first",
        responses={200: LLMConfigSerializer(many=True), 400: BAD_QUERY, 401: ERROR_401},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.llm_configs_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(LLMConfigSerializer(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        summary="Store a provider, API key and model settings",
        request=LLMConfigCreateSerializer,
        responses={201: LLMConfigSerializer, 400: ERROR_400, 401: ERROR_401},
    )
    def post(self, request):
        serializer = LLMConfigCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            config = services.llm_config_create(
                user=request.user, actor=request.user, request=request, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from None
        return Response(LLMConfigSerializer(config).data, status=status.HTTP_201_CREATED)


class LLMConfigDetailView(ConfigMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="One of your LLM configs",
        responses={200: LLMConfigSerializer, 401: ERROR_401, 404: ERROR_404},
    )
    def get(self, request, pk: int):
        return Response(LLMConfigSerializer(self.get_config(pk)).data)

    @extend_schema(
        tags=[TAG],
        summary="Change provider, API key and/or model settings",
        description=LLMConfigUpdateSerializer.__doc__,
        request=LLMConfigUpdateSerializer,
        responses={200: LLMConfigSerializer, 400: ERROR_400, 401: ERROR_401, 404: ERROR_404},
    )
    def patch(self, request, pk: int):
        config = self.get_config(pk)
        serializer = LLMConfigUpdateSerializer(data=request.data, context={"config": config})
        serializer.is_valid(raise_exception=True)
        try:
            config = services.llm_config_update(
                config=config, actor=request.user, request=request, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _service_error(exc) from None
        return Response(LLMConfigSerializer(config).data)

    @extend_schema(
        tags=[TAG],
        summary="Delete a config and its stored key",
        responses={204: None, 401: ERROR_401, 404: ERROR_404},
    )
    def delete(self, request, pk: int):
        services.llm_config_delete(config=self.get_config(pk), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LLMConfigActivateView(ConfigMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="Make this your active config (the others are deactivated)",
        request=None,
        responses={200: LLMConfigSerializer, 401: ERROR_401, 404: ERROR_404},
    )
    def post(self, request, pk: int):
        try:
            config = services.llm_config_activate(
                config=self.get_config(pk), actor=request.user, request=request
            )
        except LLMConfig.DoesNotExist:
            raise NotFound("No such LLM config.") from None
        return Response(LLMConfigSerializer(config).data)


class LLMConfigDeactivateView(ConfigMixin, APIView):
    @extend_schema(
        tags=[TAG],
        summary="Deactivate this config (you then have no active config)",
        request=None,
        responses={200: LLMConfigSerializer, 401: ERROR_401, 404: ERROR_404},
    )
    def post(self, request, pk: int):
        config = services.llm_config_deactivate(
            config=self.get_config(pk), actor=request.user, request=request
        )
        return Response(LLMConfigSerializer(config).data)


class KeyCheckThrottle(UserRateThrottle):
    """Each check calls a provider: cap how often one user can make Zapa do that."""

    scope = "llm_key_check"
    default_rate = "10/minute"

    def get_rate(self):
        return self.THROTTLE_RATES.get(self.scope, self.default_rate)


_CHECK_ERRORS = {
    Outcome.REJECTED: (status.HTTP_422_UNPROCESSABLE_ENTITY, "key_rejected"),
    Outcome.UNREADABLE_KEY: (status.HTTP_409_CONFLICT, "key_unreadable"),
    Outcome.PROVIDER_ERROR: (status.HTTP_502_BAD_GATEWAY, "provider_error"),
    Outcome.TIMEOUT: (status.HTTP_504_GATEWAY_TIMEOUT, "provider_timeout"),
}


class LLMConfigCheckView(ConfigMixin, APIView):
    throttle_classes = [KeyCheckThrottle]

    @extend_schema(
        tags=[TAG],
        summary="Check the stored key against the provider (lists its models)",
        description=(
            "Calls the provider's list-models endpoint with the stored key and logs the "
            "call. 422: the provider rejected the key; 409: the stored key cannot be "
            "decrypted (enter it again); 502: the provider failed or could not be reached; "
            "504: the provider did not answer in time."
        ),
        request=None,
        responses={
            200: KeyCheckResultSerializer,
            401: ERROR_401,
            404: ERROR_404,
            409: OpenApiResponse(ErrorSerializer, description="The stored key is unreadable."),
            422: OpenApiResponse(ErrorSerializer, description="The provider rejected the key."),
            429: OpenApiResponse(ErrorSerializer, description="Too many checks; wait a minute."),
            502: OpenApiResponse(ErrorSerializer, description="Provider error or unreachable."),
            504: OpenApiResponse(ErrorSerializer, description="Provider timed out."),
        },
    )
    def post(self, request, pk: int):
        config = self.get_config(pk, with_key=True)
        report = services.llm_config_check_key(config=config, actor=request.user, request=request)
        log = report.action_log
        summary = log.response_summary
        if report.valid:
            data = {
                "valid": True,
                "outcome": report.outcome,
                "message": report.message,
                "provider": config.provider,
                "models_available": summary["models_available"],
                "more_available": summary["more_available"],
                "configured_model_listed": summary.get("configured_model_listed"),
                "execution_time_ms": log.execution_time_ms,
                "action_log_id": log.pk,
                "checked_at": log.created_at,
            }
            return Response(KeyCheckResultSerializer(data).data)
        http_status, code = _CHECK_ERRORS[report.outcome]
        details = {
            "valid": False,
            "outcome": str(report.outcome),
            "provider": config.provider,
            "execution_time_ms": log.execution_time_ms,
            "action_log_id": log.pk,
        }
        if report.check.http_status is not None:
            details["provider_status"] = report.check.http_status
        if report.check.provider_message:
            details["provider_message"] = report.check.provider_message
        return Response(error_body(code, report.message, details), status=http_status)
