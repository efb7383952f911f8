"""REST API for external links: /api/v1/sharing/ (docs/sharing-links.md).

List and create the links of a file or folder, list one's links, revoke one. The
token comes back once, in the answer to the creation (``token`` and ``url``); it is
stored nowhere. Same services, same policy, same audit events as the browser pages.
"""

from __future__ import annotations

from typing import Any

from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import signed_in_user
from files import selectors as files_selectors
from files.models import File, Folder
from sharing import selectors
from sharing.api.scopes import ReadOrShareScope
from sharing.errors import LinkRuleError
from sharing.models import ShareLink, ShareLinkDownload
from sharing.services import links
from sharing.services.link_access import link_state_now


class ReceiptSerializer(serializers.Serializer[ShareLinkDownload]):
    at = serializers.DateTimeField()
    recipient_email = serializers.EmailField()
    name = serializers.CharField()
    file = serializers.IntegerField(source="file_id", allow_null=True)
    version = serializers.UUIDField(source="version_id", allow_null=True)
    is_archive = serializers.BooleanField()
    bytes_sent = serializers.IntegerField()


class LinkSerializer(serializers.Serializer[ShareLink]):
    id = serializers.IntegerField()
    file = serializers.IntegerField(source="file_id", allow_null=True)
    folder = serializers.IntegerField(source="folder_id", allow_null=True)
    transfer = serializers.IntegerField(source="transfer_id", allow_null=True)
    label = serializers.CharField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    state = serializers.SerializerMethodField()
    has_password = serializers.SerializerMethodField()
    max_downloads = serializers.IntegerField(allow_null=True)
    download_count = serializers.IntegerField()
    recipient_email = serializers.EmailField()
    email_verification = serializers.BooleanField()
    notify_owner = serializers.BooleanField()
    view_only = serializers.BooleanField()
    first_downloaded_at = serializers.DateTimeField(allow_null=True)
    downloads = ReceiptSerializer(many=True)

    def get_state(self, link: ShareLink) -> str:
        # As recipients find it: a link whose maker left the team is dead.
        return str(link_state_now(link))

    def get_has_password(self, link: ShareLink) -> bool:
        return bool(link.password_hash)


class LinkCreatedSerializer(LinkSerializer):
    token = serializers.CharField(help_text="Shown once; SecureDrive keeps only its hash.")
    url = serializers.CharField()


class LinkCreateSerializer(serializers.Serializer[Any]):
    expires_at = serializers.DateTimeField(
        required=False, help_text="Default: the policy's default; at most its maximum."
    )
    password = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False, max_length=200
    )
    # Views and downloads alike (docs/sharing-links.md): a preview opened is one use.
    max_downloads = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=links.MAX_DOWNLOADS_LIMIT,
        help_text="How many times files may be viewed or downloaded through the link.",
    )
    recipient_email = serializers.EmailField(required=False, default="", allow_blank=True)
    email_verification = serializers.BooleanField(required=False, default=False)
    notify_owner = serializers.BooleanField(required=False, default=True)
    view_only = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Previews only: the download and ZIP addresses refuse (403).",
    )
    label = serializers.CharField(  # type: ignore[assignment]
        required=False, default="", allow_blank=True, max_length=200
    )
    send_email = serializers.BooleanField(
        required=False, default=False, help_text="E-mail the link to recipient_email."
    )


class LinksAPIView(APIView):
    permission_classes = [IsAuthenticated, ReadOrShareScope]

    def _list(self, request: Request, target: File | Folder) -> Response:
        me = signed_in_user(request)
        links.share_link_target_check(actor=me, target=target, request=request._request)
        rows = selectors.share_links_for_item(actor=me, target=target)
        return Response(LinkSerializer(rows, many=True).data)  # type: ignore[arg-type]

    def _create(self, request: Request, target: File | Folder) -> Response:
        asked = LinkCreateSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        me = signed_in_user(request)
        link, token = links.share_link_create(
            actor=me,
            target=target,
            expires_at=data.get("expires_at"),
            password=data["password"],
            max_downloads=data.get("max_downloads"),
            recipient_email=data["recipient_email"],
            email_verification=data["email_verification"],
            notify_owner=data["notify_owner"],
            view_only=data["view_only"],
            label=data["label"],
            request=request._request,
        )
        if data["send_email"]:
            links.share_link_shared_email_send(link=link, token=token, actor=me)
        body = dict(LinkSerializer(link).data)
        body.update({"token": token, "url": links.share_link_url(token)})
        response = Response(body, status=status.HTTP_201_CREATED)
        # The token's only showing (only its hash is kept): no cache keeps it either.
        add_never_cache_headers(response)
        return response


class FileLinksView(LinksAPIView):
    @extend_schema(
        summary="Links to a file", responses={200: LinkSerializer(many=True)}, tags=["sharing"]
    )
    def get(self, request: Request, file_id: int) -> Response:
        file = files_selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
        return self._list(request, file)

    @extend_schema(
        summary="Create a link to a file",
        request=LinkCreateSerializer,
        responses={201: LinkCreatedSerializer},
        tags=["sharing"],
    )
    def post(self, request: Request, file_id: int) -> Response:
        file = files_selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
        return self._create(request, file)


class FolderLinksView(LinksAPIView):
    @extend_schema(
        summary="Links to a folder", responses={200: LinkSerializer(many=True)}, tags=["sharing"]
    )
    def get(self, request: Request, folder_id: int) -> Response:
        folder = files_selectors.folder_get_for_actor(
            actor=signed_in_user(request), folder_id=folder_id
        )
        return self._list(request, folder)

    @extend_schema(
        summary="Create a link to a folder",
        request=LinkCreateSerializer,
        responses={201: LinkCreatedSerializer},
        tags=["sharing"],
    )
    def post(self, request: Request, folder_id: int) -> Response:
        folder = files_selectors.folder_get_for_actor(
            actor=signed_in_user(request), folder_id=folder_id
        )
        return self._create(request, folder)


class MyLinksView(LinksAPIView):
    @extend_schema(
        summary="Every link you created",
        responses={200: LinkSerializer(many=True)},
        tags=["sharing"],
    )
    def get(self, request: Request) -> Response:
        rows = selectors.share_links_of_actor(actor=signed_in_user(request))[:1000]
        return Response(LinkSerializer(rows, many=True).data)  # type: ignore[arg-type]


class LinkRevokeView(LinksAPIView):
    @extend_schema(
        summary="Withdraw a link (at once)",
        request=None,
        responses={200: LinkSerializer},
        tags=["sharing"],
    )
    def post(self, request: Request, link_id: int) -> Response:
        me = signed_in_user(request)
        try:
            link = selectors.share_link_get_for_actor(actor=me, link_id=link_id)
        except LinkRuleError:
            raise NotFound() from None
        links.share_link_revoke(actor=me, link=link, request=request._request)
        return Response(LinkSerializer(link).data)
