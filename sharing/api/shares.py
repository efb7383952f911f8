"""REST API for internal shares: /api/v1/sharing/shares/ and /shared-with-me/.

HTTP only, the same rules as the pages (sharing/services/shares.py). Token scopes: ``read`` to
list, ``share`` to create, change or remove a share; a verified browser session may do
both. What may not be seen is a 404, as in the files API.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import signed_in_user
from core.http import id_number
from files.api import ErrorSerializer  # one "Error" component in the API schema
from sharing import selectors
from sharing.api.scopes import ReadOrShareScope
from sharing.errors import ShareRuleError
from sharing.models import Share, ShareRole
from sharing.services import shares

# --- Serializers ------------------------------------------------------------------------


class ShareSerializer(serializers.Serializer[Share]):
    id = serializers.IntegerField()
    file = serializers.IntegerField(source="file_id", allow_null=True)
    folder = serializers.IntegerField(source="folder_id", allow_null=True)
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)
    team = serializers.CharField(source="team.name", allow_null=True, default=None)
    role = serializers.ChoiceField(choices=ShareRole.choices)
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ShareCreateSerializer(serializers.Serializer[Any]):
    file = serializers.IntegerField(required=False)
    folder = serializers.IntegerField(required=False)
    user = serializers.EmailField(required=False, help_text="An active person's exact e-mail.")
    team = serializers.CharField(required=False, max_length=100, help_text="A team's exact name.")
    role = serializers.ChoiceField(choices=ShareRole.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("file" in attrs) == ("folder" in attrs):
            raise serializers.ValidationError("Give either file or folder.")
        if ("user" in attrs) == ("team" in attrs):
            raise serializers.ValidationError("Give either user or team.")
        return attrs


class ShareChangeSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=ShareRole.choices)


class SharedItemSerializer(serializers.Serializer[Any]):
    file = serializers.IntegerField(source="file.pk", allow_null=True, default=None)
    folder = serializers.IntegerField(source="folder.pk", allow_null=True, default=None)
    name = serializers.CharField()
    role = serializers.CharField()
    shared_by = serializers.EmailField(source="shared_by.email", allow_null=True, default=None)
    shared_at = serializers.DateTimeField()
    via_team = serializers.CharField(source="via_team.name", allow_null=True, default=None)


# --- Plumbing ---------------------------------------------------------------------------


class SharesAPIView(APIView):
    permission_classes = [IsAuthenticated, ReadOrShareScope]


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Not allowed as asked (see detail)."),
    403: OpenApiResponse(ErrorSerializer, description="Shared with you, not yours to share."),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours to see."),
    409: OpenApiResponse(ErrorSerializer, description="Already shared, or already has access."),
}
_ITEM_PARAMETERS = [
    OpenApiParameter("file", OpenApiTypes.INT, description="Shares of this file."),
    OpenApiParameter("folder", OpenApiTypes.INT, description="Shares of this folder."),
]


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    number = id_number(value)
    if number is None:
        raise ShareRuleError("file and folder are ids.")
    return number


# --- Views ------------------------------------------------------------------------------


class ShareListView(SharesAPIView):
    @extend_schema(
        summary="The shares of a file or a folder",
        parameters=_ITEM_PARAMETERS,
        responses={200: ShareSerializer(many=True), **_ERRORS},
        tags=["sharing"],
    )
    def get(self, request: Request) -> Response:
        file_id = _int_or_none(request.query_params.get("file"))
        folder_id = _int_or_none(request.query_params.get("folder"))
        if (file_id is None) == (folder_id is None):
            raise ShareRuleError("Give either file or folder.")
        item = shares.item_for_sharing(
            actor=signed_in_user(request), file_id=file_id, folder_id=folder_id
        )
        found = list(selectors.shares_of_item(item))
        return Response(ShareSerializer(found, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        summary="Share a file or a folder with a person or a team",
        request=ShareCreateSerializer,
        responses={201: ShareSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request) -> Response:
        me = signed_in_user(request)
        data = ShareCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        item = shares.item_for_sharing(
            actor=me, file_id=wanted.get("file"), folder_id=wanted.get("folder")
        )
        recipient = shares.recipient_find(
            actor=me, text=wanted.get("user") or wanted["team"], item=item
        )
        share = shares.share_create(actor=me, item=item, recipient=recipient, role=wanted["role"])
        return Response(ShareSerializer(share).data, status=status.HTTP_201_CREATED)


class ShareView(SharesAPIView):
    @extend_schema(
        summary="One share", responses={200: ShareSerializer, **_ERRORS}, tags=["sharing"]
    )
    def get(self, request: Request, share_id: int) -> Response:
        share = selectors.share_get_for_actor(actor=signed_in_user(request), share_id=share_id)
        return Response(ShareSerializer(share).data)

    @extend_schema(
        summary="Change the role of a share",
        request=ShareChangeSerializer,
        responses={200: ShareSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def patch(self, request: Request, share_id: int) -> Response:
        me = signed_in_user(request)
        share = selectors.share_get_for_actor(actor=me, share_id=share_id)
        change = ShareChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        share = shares.share_update(actor=me, share=share, role=change.validated_data["role"])
        return Response(ShareSerializer(share).data)

    @extend_schema(
        summary="Remove a share (access stops at once)",
        responses={204: None, **_ERRORS},
        tags=["sharing"],
    )
    def delete(self, request: Request, share_id: int) -> Response:
        me = signed_in_user(request)
        share = selectors.share_get_for_actor(actor=me, share_id=share_id)
        shares.share_delete(actor=me, share=share)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SharedWithMeView(SharesAPIView):
    @extend_schema(
        summary="Files and folders shared with you (directly or with your teams)",
        responses={200: SharedItemSerializer(many=True)},
        tags=["sharing"],
    )
    def get(self, request: Request) -> Response:
        items = selectors.shared_with_me(actor=signed_in_user(request))
        return Response(SharedItemSerializer(items, many=True).data)
