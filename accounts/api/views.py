"""Login by WhatsApp code, logout, and the caller's own profile. Thin: the rules
live in accounts.services and accounts.limits."""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import limits, services
from accounts.api.serializers import (
    MeSerializer,
    RequestCodeResponseSerializer,
    RequestCodeSerializer,
    TokenResponseSerializer,
    VerifyCodeSerializer,
)
from accounts.api.throttles import AuthRequestCodeThrottle, AuthVerifyThrottle
from core.errors import ErrorSerializer


class InvalidCode(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_code"
    default_detail = (
        "This code is not valid: it may be wrong, expired or already used. "
        "Check the code or request a new one."
    )


class CodeRequestLimited(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "code_request_limited"
    default_detail = "No new code can be sent to this number right now. Try again later."


CODE_SENT_BODY = {
    "detail": "If this number can receive WhatsApp messages, a login code is on its way.",
    "expires_in": int(limits.CODE_TTL.total_seconds()),
}

_ERROR = OpenApiResponse(ErrorSerializer, description="Error in the API's one error shape.")
_THROTTLED = OpenApiResponse(ErrorSerializer, description="Too many requests from this client.")
_UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="Missing or invalid token.")


class RequestCodeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRequestCodeThrottle]

    @extend_schema(
        operation_id="auth_request_code",
        summary="Send a login code over WhatsApp",
        description="Always answers 202 with the same body for a valid number, known or "
        "not (a new number gets an account). The code is valid for 5 minutes and "
        "replaces any earlier one.",
        request=RequestCodeSerializer,
        responses={
            202: RequestCodeResponseSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Malformed phone number."),
            429: OpenApiResponse(
                ErrorSerializer,
                description="Too many requests from this client, or too many codes for "
                "this number (code_request_limited).",
            ),
        },
        tags=["auth"],
    )
    def post(self, request):
        serializer = RequestCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.auth_code_request(
            phone_number=serializer.validated_data["phone_number"], request=request
        )
        if outcome == services.CodeRequestOutcome.LIMITED:
            raise CodeRequestLimited
        return Response(CODE_SENT_BODY, status=status.HTTP_202_ACCEPTED)


@method_decorator(sensitive_post_parameters("code"), name="dispatch")
class VerifyCodeView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthVerifyThrottle]

    @extend_schema(
        operation_id="auth_verify",
        summary="Exchange a login code for an API token",
        description="Answers one generic invalid_code error for a wrong, expired or used "
        "code, an unknown number or a temporarily locked one.",
        request=VerifyCodeSerializer,
        responses={200: TokenResponseSerializer, 400: _ERROR, 429: _THROTTLED},
        tags=["auth"],
    )
    @method_decorator(sensitive_variables("serializer", "issued"))
    def post(self, request):
        serializer = VerifyCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            issued = services.auth_code_verify(**serializer.validated_data, request=request)
        except services.LoginCodeInvalid:
            raise InvalidCode from None
        body = TokenResponseSerializer(
            {"token": issued.token, "expiry": issued.expiry, "user": issued.user}
        ).data
        return Response(body)


class LogoutView(APIView):
    @extend_schema(
        operation_id="auth_logout",
        summary="Revoke the token used for this request",
        request=None,
        responses={204: None, 401: _UNAUTHENTICATED},
        tags=["auth"],
    )
    def post(self, request):
        services.auth_token_revoke(auth_token=request.auth, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(
        operation_id="auth_logout_all",
        summary="Revoke every token of the caller",
        request=None,
        responses={204: None, 401: _UNAUTHENTICATED},
        tags=["auth"],
    )
    def post(self, request):
        services.user_tokens_revoke_all(user=request.user, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(
        operation_id="me_retrieve",
        summary="The caller's profile",
        responses={200: MeSerializer, 401: _UNAUTHENTICATED},
        tags=["me"],
    )
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        operation_id="me_update",
        summary="Change the caller's display name or preferences",
        description="phone_number, id, first_seen and last_active are read-only.",
        request=MeSerializer,
        responses={200: MeSerializer, 400: _ERROR, 401: _UNAUTHENTICATED},
        tags=["me"],
    )
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, **serializer.validated_data)
        return Response(MeSerializer(user).data)
