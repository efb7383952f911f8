"""REST API for integrators: who am I, and personal access tokens (/api/v1/).

HTTP only: parse and validate, call accounts.tokens, serialise. Authentication and
scopes are in accounts/authentication.py.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.cache import add_never_cache_headers
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, UserRateThrottle
from rest_framework.views import APIView

from accounts import tokens
from accounts.authentication import HasScope, VerifiedSessionOnly
from accounts.models import PersonalAccessToken, TeamRole, TokenScope, User
from accounts.permissions import signed_in_user
from accounts.throttling import ExactRateThrottleMixin
from accounts.tokens import TokenStatus

# --- Serializers ----------------------------------------------------------------------


@extend_schema_serializer(component_name="AccountsError")
class ErrorSerializer(serializers.Serializer[Any]):
    # Same shape as files.api.ErrorSerializer (DRF's {"detail": ...}); two classes may
    # not share one OpenAPI component name. TODO: one shared serializer for both apps.
    detail = serializers.CharField()


class TeamMembershipSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="team.id")
    name = serializers.CharField(source="team.name")
    slug = serializers.CharField(source="team.slug")
    role = serializers.ChoiceField(choices=TeamRole.choices)


class TokenSummarySerializer(serializers.Serializer[PersonalAccessToken]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices))
    expires_at = serializers.DateTimeField()


class MeSerializer(serializers.Serializer[User]):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    roles = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    authentication = serializers.SerializerMethodField()
    token = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=["site_admin", "auditor"]))
    )
    def get_roles(self, user: User) -> list[str]:
        roles = []
        if user.is_site_admin:
            roles.append("site_admin")
        if user.is_auditor:
            roles.append("auditor")
        return roles

    @extend_schema_field(TeamMembershipSerializer(many=True))
    def get_teams(self, user: User) -> list[dict[str, Any]]:
        memberships = user.memberships.select_related("team").order_by("team__name")
        return [dict(row) for row in TeamMembershipSerializer(memberships, many=True).data]

    @extend_schema_field(serializers.ChoiceField(choices=["token", "session"]))
    def get_authentication(self, user: User) -> str:
        return "token" if self.context.get("token") is not None else "session"

    @extend_schema_field(TokenSummarySerializer(allow_null=True))
    def get_token(self, user: User) -> dict[str, Any] | None:
        token = self.context.get("token")
        if token is None:
            return None
        return dict(TokenSummarySerializer(token).data)


class TokenSerializer(serializers.Serializer[PersonalAccessToken]):
    """A token as listed: never its secret, nor its hash."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    prefix = serializers.CharField(
        read_only=True, help_text="The first characters of the token, to recognise it."
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices), read_only=True
    )
    created_at = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_used_ip = serializers.CharField(read_only=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)
    status = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=TokenStatus.choices))
    def get_status(self, token: PersonalAccessToken) -> str:
        return str(tokens.token_status(token))


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The token itself. Shown in this response only: store it now.",
    )


class TokenCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=tokens.TOKEN_NAME_MAX_LENGTH)
    scopes = serializers.MultipleChoiceField(choices=TokenScope.choices, allow_empty=False)
    expires_in_days = serializers.IntegerField(
        min_value=1, help_text="Required; at most the site's policy (90 days by default)."
    )


# --- OpenAPI descriptions of the two ways in (accounts/authentication.py) -------------


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (sdpat_...), created in SecureDrive.",
        }


class MFAVerifiedSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.MFAVerifiedSessionAuthentication"
    name = "verifiedSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The browser session, once signed in with a second factor.",
        }


# --- Throttling -----------------------------------------------------------------------


class TokenCreateThrottle(ExactRateThrottleMixin, UserRateThrottle):
    """Minting is rarer than listing: its own, lower rate ("token_create"). A token is a
    credential: while this cannot be counted, minting answers 503 (fails closed)."""

    scope = "token_create"
    fail_open = False

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


# --- Views ----------------------------------------------------------------------------

_UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No valid token or session.")
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Missing scope or not allowed.")


class MeView(APIView):
    # Any valid token may ask whose it is: no scope needed.
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Who am I",
        description="The person behind the token or session, their roles and teams.",
        responses={200: MeSerializer, 401: _UNAUTHENTICATED},
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        me = signed_in_user(request)
        token = request.auth if isinstance(request.auth, PersonalAccessToken) else None
        serializer = MeSerializer(me, context={"token": token})
        return Response(serializer.data)


class TokenListView(APIView):
    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsAuthenticated(), VerifiedSessionOnly()]
        return [IsAuthenticated(), HasScope(TokenScope.READ)()]

    def get_throttles(self) -> list[BaseThrottle]:
        return [*super().get_throttles(), TokenCreateThrottle()]

    @extend_schema(
        summary="List your tokens",
        description="Your tokens, newest first, without their secrets. Token scope: read.",
        responses={200: TokenSerializer(many=True), 401: _UNAUTHENTICATED, 403: _FORBIDDEN},
        tags=["tokens"],
    )
    def get(self, request: Request) -> Response:
        mine = tokens.tokens_of(user=signed_in_user(request))
        # The stubs type ``instance`` as one object even with many=True.
        return Response(TokenSerializer(mine, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        summary="Create a token",
        description=(
            "Only from a signed-in, MFA-verified browser session: a token cannot create "
            "tokens. The response holds the token once; only its hash is kept."
        ),
        request=TokenCreateSerializer,
        responses={
            201: TokenCreatedSerializer,
            400: OpenApiResponse(description="Invalid name, scopes or expiry (per field)."),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
        },
        tags=["tokens"],
    )
    def post(self, request: Request) -> Response:
        form = TokenCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            token, plaintext = tokens.token_create(
                actor=signed_in_user(request),
                name=form.validated_data["name"],
                scopes=form.validated_data["scopes"],
                expires_in_days=form.validated_data["expires_in_days"],
            )
        except tokens.AuditorTokenRefused as error:
            # Not an input to correct: the account may hold no token (docs/api.md).
            raise PermissionDenied(str(tokens.AUDITOR_REFUSAL)) from error
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        data = dict(TokenSerializer(token).data)
        data["token"] = plaintext
        response = Response(data, status=status.HTTP_201_CREATED)
        # A response carrying a secret must not be stored by any cache (RFC 6749 5.1).
        add_never_cache_headers(response)
        return response


class TokenDetailView(APIView):
    permission_classes = [IsAuthenticated, HasScope(TokenScope.WRITE)]

    @extend_schema(
        summary="Revoke a token",
        description=(
            "Revokes one of your tokens at once (idempotent). Token scope: write. "
            "Another person's token is a 404."
        ),
        responses={
            204: None,
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="No such token of yours."),
        },
        tags=["tokens"],
    )
    def delete(self, request: Request, token_id: int) -> Response:
        me = signed_in_user(request)
        token = tokens.token_get_for_actor(actor=me, token_id=token_id)
        if token is None:
            raise NotFound()
        tokens.token_revoke(actor=me, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
