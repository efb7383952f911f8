"""REST API for transfers: /api/v1/sharing/transfers/ (docs/sharing-transfers.md).

The same services as the pages. Files are uploaded with tus (``/api/v1/uploads/``,
``Upload-Metadata: folder <transfer folder id>``) or copied from the caller's files;
recipients get their personal link by e-mail only (the API never returns tokens).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import signed_in_user
from core.http import id_number
from files import selectors as files_selectors
from files.api import ErrorSerializer
from sharing import selectors
from sharing.api.scopes import ReadOrShareScope
from sharing.models import ShareLink, Transfer
from sharing.services import policy as sharing_policy
from sharing.services import transfers


class TransferFileSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField(source="current_version.size", allow_null=True)
    scan_status = serializers.CharField(source="current_version.scan_status", allow_null=True)


class TransferReceiptSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    name = serializers.CharField()
    is_archive = serializers.BooleanField()
    bytes_sent = serializers.IntegerField()


class TransferViewSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    name = serializers.CharField()


class TransferRecipientSerializer(serializers.Serializer[Any]):
    link = serializers.IntegerField(source="link.pk")
    email = serializers.EmailField(source="link.recipient_email")
    status = serializers.CharField()
    first_downloaded_at = serializers.DateTimeField(
        source="link.first_downloaded_at", allow_null=True
    )
    downloads = TransferReceiptSerializer(many=True)
    # Files this recipient opened in the browser (previews), newest first.
    views = TransferViewSerializer(many=True)


class TransferSerializer(serializers.Serializer[Transfer]):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    message = serializers.CharField()
    folder = serializers.IntegerField(source="folder_id", allow_null=True)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    purged_at = serializers.DateTimeField(allow_null=True)
    status = serializers.SerializerMethodField()

    def get_status(self, transfer: Transfer) -> str:
        return selectors.transfer_status(transfer)


class TransferDetailSerializer(TransferSerializer):
    """What the answers about one transfer hold (``_detail``): the schema must say so."""

    files = TransferFileSerializer(many=True)
    total_bytes = serializers.IntegerField()
    recipients = TransferRecipientSerializer(many=True)


class TransferCreateSerializer(serializers.Serializer[Any]):
    subject = serializers.CharField(max_length=200)
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Days from now, on the site's clock (any number up to the sharing policy's "
        "maximum; the browser offers 1, 7, 30 or a date). Default: the policy's default.",
    )


class TransferFilesAddSerializer(serializers.Serializer[Any]):
    files = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=500)


class TransferSendSerializer(serializers.Serializer[Any]):
    recipients = serializers.ListField(child=serializers.CharField(max_length=320), min_length=1)
    password = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    # On unless the client says false (and the policy allows it), as the page's box.
    email_verification = serializers.BooleanField(required=False, default=True)


def _detail(transfer: Transfer) -> dict[str, Any]:
    files = selectors.transfer_files(transfer)
    return {
        **TransferSerializer(transfer).data,
        "files": TransferFileSerializer(files, many=True).data,
        "total_bytes": selectors.transfer_total_bytes(files),
        "recipients": TransferRecipientSerializer(
            selectors.transfer_recipients(transfer), many=True
        ).data,
    }


class TransfersAPIView(APIView):
    permission_classes = [IsAuthenticated, ReadOrShareScope]


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Not allowed as asked (see detail)."),
    404: OpenApiResponse(ErrorSerializer, description="No such transfer, or not yours."),
}


class TransferListView(TransfersAPIView):
    @extend_schema(
        summary="Your transfers", responses={200: TransferSerializer(many=True)}, tags=["sharing"]
    )
    def get(self, request: Request) -> Response:
        items = list(selectors.transfers_for_actor(signed_in_user(request))[:500])
        return Response(TransferSerializer(items, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        summary="Start a transfer (a draft with its own folder)",
        request=TransferCreateSerializer,
        responses={201: TransferDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request) -> Response:
        data = TransferCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get("expires_in_days") or sharing_policy.expiry_default_days()
        transfer = transfers.transfer_create(
            actor=signed_in_user(request),
            subject=data.validated_data["subject"],
            message=data.validated_data["message"],
            expires_at=sharing_policy.expiry_in_days(days),
        )
        return Response(_detail(transfer), status=status.HTTP_201_CREATED)


class TransferView(TransfersAPIView):
    @extend_schema(
        summary="A transfer: files, recipients and download receipts",
        responses={200: TransferDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def get(self, request: Request, transfer_id: int) -> Response:
        transfer = selectors.transfer_get_for_actor(
            actor=signed_in_user(request), transfer_id=transfer_id
        )
        return Response(_detail(transfer))

    @extend_schema(
        summary="Delete a transfer now (links revoked, files crypto-shredded)",
        responses={204: None, **_ERRORS},
        tags=["sharing"],
    )
    def delete(self, request: Request, transfer_id: int) -> Response:
        me = signed_in_user(request)
        transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
        transfers.transfer_purge(transfer_id=transfer.pk, actor=me)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferFilesView(TransfersAPIView):
    @extend_schema(
        summary="Add some of your files to a draft transfer (referenced, not copied)",
        request=TransferFilesAddSerializer,
        responses={200: TransferDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request, transfer_id: int) -> Response:
        me = signed_in_user(request)
        transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
        data = TransferFilesAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = [
            files_selectors.file_get_for_actor(actor=me, file_id=file_id)
            for file_id in data.validated_data["files"]
        ]
        transfers.transfer_files_add(actor=me, transfer=transfer, files=files)
        return Response(_detail(transfer))


class TransferSendView(TransfersAPIView):
    @extend_schema(
        summary="Send a transfer: one personal link per recipient, e-mailed to them",
        request=TransferSendSerializer,
        responses={200: TransferDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request, transfer_id: int) -> Response:
        me = signed_in_user(request)
        transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
        data = TransferSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transfers.transfer_send(
            actor=me,
            transfer=transfer,
            recipients=data.validated_data["recipients"],
            password=data.validated_data["password"],
            email_verification=data.validated_data["email_verification"],
        )
        transfer.refresh_from_db()
        return Response(_detail(transfer))


class TransferRevokeView(TransfersAPIView):
    @extend_schema(
        summary="Revoke every link of a transfer (or one recipient's: ?link=<id>)",
        request=None,
        responses={200: TransferDetailSerializer, **_ERRORS},
        tags=["sharing"],
    )
    def post(self, request: Request, transfer_id: int) -> Response:
        me = signed_in_user(request)
        transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
        link_id = str(request.query_params.get("link", ""))
        if link_id:
            link = ShareLink.objects.filter(pk=id_number(link_id) or 0, transfer=transfer).first()
            if link is None:
                raise NotFound()
            transfers.transfer_recipient_revoke(actor=me, transfer=transfer, link=link)
        else:
            transfers.transfer_revoke(actor=me, transfer=transfer)
        transfer.refresh_from_db()
        return Response(_detail(transfer))
