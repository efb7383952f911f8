"""REST API for file requests: /api/v1/sharing/requests/ (docs/sharing-transfers.md).

Creation returns the public URL once (``url``); it is stored nowhere. The public side
(``/r/<token>/``, tus at ``/r/<token>/uploads/``) needs no account.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import signed_in_user
from files import selectors as files_selectors
from files.api import ErrorSerializer
from files.selectors import Permission
from sharing import selectors
from sharing.api.scopes import ReadOrShareScope
from sharing.models import FileRequest
from sharing.services import file_requests
from sharing.services import policy as sharing_policy


class FileRequestUploadSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    size = serializers.IntegerField()
    uploader_name = serializers.CharField()
    uploader_email = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    file = serializers.IntegerField(source="version.file_id", allow_null=True, default=None)


class FileRequestSerializer(serializers.Serializer[FileRequest]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    instructions = serializers.CharField()
    folder = serializers.IntegerField(source="folder_id")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    max_files = serializers.IntegerField()
    max_bytes = serializers.IntegerField()
    # What the request's uploads take now (unfinished ones past their hold not counted).
    files_reserved = serializers.SerializerMethodField()
    bytes_reserved = serializers.SerializerMethodField()
    notify_owner = serializers.BooleanField()
    status = serializers.SerializerMethodField()

    def get_status(self, file_request: FileRequest) -> str:
        return selectors.file_request_status(file_request)

    def get_files_reserved(self, file_request: FileRequest) -> int:
        return selectors.file_request_places(file_request)[0]

    def get_bytes_reserved(self, file_request: FileRequest) -> int:
        return selectors.file_request_places(file_request)[1]


class FileRequestDetailSerializer(FileRequestSerializer):
    """What the answers about one request hold (``_detail``): the schema must say so."""

    uploads = FileRequestUploadSerializer(many=True)


class FileRequestCreatedSerializer(FileRequestDetailSerializer):
    url = serializers.CharField(
        help_text="The address to give the sender. Shown in this response only."
    )


class FileRequestCreateSerializer(serializers.Serializer[Any]):
    folder = serializers.IntegerField()
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    expires_in_days = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Days from now, on the site's clock (any number up to the sharing policy's "
        "maximum; the browser offers 1, 7, 30 or a date). Default: the policy's default.",
    )
    max_files = serializers.IntegerField(min_value=1, required=False)
    max_bytes = serializers.IntegerField(min_value=1, required=False)
    notify_owner = serializers.BooleanField(required=False, default=True)


class RequestsAPIView(APIView):
    permission_classes = [IsAuthenticated, ReadOrShareScope]


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Not allowed as asked (see detail)."),
    404: OpenApiResponse(ErrorSerializer, description="No such request or folder, or not yours."),
}


def _detail(file_request: FileRequest) -> dict[str, Any]:
    return {
        **FileRequestSerializer(file_request).data,
        "uploads": FileRequestUploadSerializer(
            selectors.file_request_uploads(file_request), many=True
        ).data,
    }


class FileRequestListView(RequestsAPIView):
    @extend_schema(
        summary="Your file requests",
        responses={200: FileRequestSerializer(many=True)},
        tags=["sharing"],
    )
    def get(self, request: Request) -> Response:
        items = list(selectors.file_requests_for_actor(signed_in_user(request))[:500])
        return Response(FileRequestSerializer(items, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        summary="Create a file request; the response holds its URL, once",
        request=FileRequestCreateSerializer,
        responses={201: FileRequestCreatedSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request) -> Response:
        me = signed_in_user(request)
        data = FileRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        folder = files_selectors.folder_get_for_actor(
            actor=me, folder_id=values["folder"], need=Permission.VIEW
        )
        days = values.get("expires_in_days") or sharing_policy.expiry_default_days()
        file_request, token = file_requests.file_request_create(
            actor=me,
            folder=folder,
            title=values["title"],
            instructions=values["instructions"],
            expires_at=sharing_policy.expiry_in_days(days),
            max_files=values.get("max_files"),
            max_bytes=values.get("max_bytes"),
            notify_owner=values["notify_owner"],
        )
        body = {**_detail(file_request), "url": selectors.file_request_url(token)}
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class FileRequestView(RequestsAPIView):
    @extend_schema(
        summary="A file request and what arrived through it",
        responses={200: FileRequestDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def get(self, request: Request, request_id: int) -> Response:
        file_request = selectors.file_request_get_for_actor(
            actor=signed_in_user(request), request_id=request_id
        )
        return Response(_detail(file_request))


class FileRequestCloseView(RequestsAPIView):
    @extend_schema(
        summary="Close a file request (its link answers 410 from now on)",
        request=None,
        responses={200: FileRequestDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request, request_id: int) -> Response:
        me = signed_in_user(request)
        file_request = selectors.file_request_get_for_actor(actor=me, request_id=request_id)
        file_requests.file_request_close(actor=me, file_request=file_request)
        return Response(_detail(file_request))
