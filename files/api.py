"""REST API for files: /api/v1/files/ (docs/storage.md, docs/api.md).

HTTP only: lookups through ``files.selectors`` (404 for what the caller may not see),
changes through ``files.services``, downloads through ``files.downloads`` (the same
code as the browser). Token scopes: ``read`` for GET/HEAD, ``write`` for the rest; a
verified browser session may do both.

Uploads take the raw file as the request body (``Content-Type:
application/octet-stream``, ``Content-Length`` required): it is encrypted as it is read,
without multipart parsing or any temporary file.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import HasScope
from accounts.permissions import signed_in_user
from accounts.roles import Withdrawn
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.http import header_count
from files import selectors, services
from files.downloads import version_download_response
from files.errors import (
    BodyRefusedError,
    FileRuleError,
)
from files.models import File, FileVersion, Folder, Space
from files.selectors import Permission
from files.signals import MoveLoss, move_exposures
from files.uploads import UPLOAD_CHUNK_SIZE, BlobIngest, SealedBlob

# --- Serializers ------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


class VersionSerializer(serializers.Serializer[FileVersion]):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    content_type = serializers.CharField()
    uploaded_by = serializers.EmailField(source="uploaded_by.email", allow_null=True)
    created_at = serializers.DateTimeField()
    scan_status = serializers.CharField()
    integrity_failed = serializers.BooleanField()
    downloadable = serializers.BooleanField(source="is_downloadable")


class FileSerializer(serializers.Serializer[File]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    space = serializers.IntegerField(source="space_id")
    folder = serializers.IntegerField(source="folder_id")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted_at = serializers.DateTimeField(allow_null=True)
    current_version = VersionSerializer(allow_null=True)


class MoveWithdrawnItemSerializer(serializers.Serializer[Withdrawn]):
    kind = serializers.ChoiceField(choices=["link", "transfer", "file_request"])
    # The link's file or folder, the transfer's subject, the file request's title.
    name = serializers.CharField()
    # A transfer's files that left with the move (as sent); [] otherwise.
    files = serializers.ListField(child=serializers.CharField())


class MoveWithdrawalSerializer(serializers.Serializer[MoveLoss]):
    """One person who is not of the destination, and what she had opened to outsiders
    on the moved content, withdrawn by the move (she is e-mailed the same list)."""

    person = serializers.CharField()
    withdrawn = MoveWithdrawnItemSerializer(many=True)


def _withdrawn_data(withdrawals: list[MoveLoss]) -> Any:
    return MoveWithdrawalSerializer(withdrawals, many=True).data  # type: ignore[arg-type]


def _opened_by_links(item: File | Folder, destination: Folder | None) -> int:
    """Asked before the move or copy (a script has no confirmation to read it on): the
    links that will show ``item`` (or its copy) to people outside once in ``destination``."""
    if destination is None:
        return 0
    return sum(one.count for one in move_exposures(items=[item], destination=destination))


class FileChangedSerializer(FileSerializer):
    withdrawn = MoveWithdrawalSerializer(many=True)
    # How many external links show the moved item to people outside that did not
    # before (links to the destination folder or above it); 0 for a rename.
    opened_by_links = serializers.IntegerField()


class FileCopiedSerializer(FileSerializer):
    # As FileChangedSerializer's: the links that show the copy to people outside and
    # did not show the source where it is (0 for a copy within what they show).
    opened_by_links = serializers.IntegerField()


class FolderSummarySerializer(serializers.Serializer[Folder]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    space = serializers.IntegerField(source="space_id")
    # "parent" is also Serializer.parent (the enclosing serializer) in the stubs.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        source="parent_id", allow_null=True
    )
    created_at = serializers.DateTimeField()
    deleted_at = serializers.DateTimeField(allow_null=True)


class FolderChangedSerializer(FolderSummarySerializer):
    withdrawn = MoveWithdrawalSerializer(many=True)
    opened_by_links = serializers.IntegerField()  # as FileChangedSerializer's


class FolderSerializer(FolderSummarySerializer):
    folders = FolderSummarySerializer(many=True)
    files = FileSerializer(many=True)


class SpaceSerializer(serializers.Serializer[Space]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.SerializerMethodField()
    root_folder = serializers.SerializerMethodField()
    quota_bytes = serializers.IntegerField(source="quota_effective")
    used_bytes = serializers.SerializerMethodField()
    # Held by resumable uploads in progress (declared length, staged bytes included):
    # not free for new files until they complete, are terminated or expire.
    reserved_bytes = serializers.SerializerMethodField()

    def get_name(self, space: Space) -> str:
        return (
            space.team.name if space.team is not None else space.owner.email if space.owner else ""
        )

    def get_root_folder(self, space: Space) -> int:
        return services.space_root(space).pk

    def get_used_bytes(self, space: Space) -> int:
        return selectors.space_used_bytes(space)

    def get_reserved_bytes(self, space: Space) -> int:
        return selectors.space_reserved_bytes(space)


class TrashSerializer(serializers.Serializer[Any]):
    folders = FolderSummarySerializer(many=True)
    files = FileSerializer(many=True)


class FolderCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=255, trim_whitespace=False)


class FolderChangeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=255, trim_whitespace=False, required=False)
    parent = serializers.IntegerField(  # type: ignore[assignment]
        required=False, help_text="Move under this folder."
    )


class FileChangeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=255, trim_whitespace=False, required=False)
    folder = serializers.IntegerField(required=False, help_text="Move into this folder.")


class FileCopySerializer(serializers.Serializer[Any]):
    folder = serializers.IntegerField()
    name = serializers.CharField(max_length=255, trim_whitespace=False, required=False)


# --- Plumbing ---------------------------------------------------------------------------


class ReadOrWriteScope(BasePermission):
    """Token scope ``read`` for safe methods, ``write`` for changes."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        scope = "read" if request.method in {"GET", "HEAD", "OPTIONS"} else "write"
        check = HasScope(scope)()
        allowed = check.has_permission(request, view)
        self.message = getattr(check, "message", "")
        return allowed


class StreamedBodyParser(BaseParser):
    """Accepts ``application/octet-stream`` without reading it: the view streams the
    body through the encryptor itself."""

    media_type = "application/octet-stream"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> dict[str, Any]:
        return {}


class FilesAPIView(APIView):
    permission_classes = [IsAuthenticated, ReadOrWriteScope]


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Not allowed as asked (see detail)."),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours to see."),
    409: OpenApiResponse(ErrorSerializer, description="A name clash, or not downloadable now."),
}
_RAW_BODY = {"application/octet-stream": {"type": "string", "format": "binary"}}


def _receive_raw(request: Request, space: Space) -> BlobIngest:
    """Encrypt the request body into a new blob as it is read. Raises ``FileRuleError``."""
    if request.content_type.split(";")[0].strip() != "application/octet-stream":
        raise BodyRefusedError(
            _("Send the file as the body, with Content-Type application/octet-stream."), 415
        )
    declared = header_count(request.META.get("CONTENT_LENGTH"))
    if declared is None:
        raise BodyRefusedError(_("Content-Length is required."), 411)
    limit, refusal = services.upload_limit_bytes(space)
    if declared > limit:
        raise refusal
    ingest = BlobIngest(max_bytes=limit, refusal=refusal, size_hint=declared)
    body = request._request
    try:
        while chunk := body.read(UPLOAD_CHUNK_SIZE):
            ingest.write(chunk)
        if ingest.size != declared:
            raise FileRuleError(_("The body ended before Content-Length bytes arrived."))
    except BaseException:
        ingest.discard()
        raise
    return ingest


def _store_raw(request: Request, space: Space, store: Any) -> FileVersion:
    ingest = _receive_raw(request, space)
    try:
        sealed: SealedBlob = ingest.finish()
        version: FileVersion = store(sealed)
    except BaseException:
        ingest.discard()
        raise
    return version


# --- Spaces -------------------------------------------------------------------------------


class SpaceListView(FilesAPIView):
    @extend_schema(
        summary="Your spaces", responses={200: SpaceSerializer(many=True)}, tags=["files"]
    )
    def get(self, request: Request) -> Response:
        me = signed_in_user(request)
        # A read: the spaces were made with the account and the teams, not here.
        personal = selectors.space_personal_for(me)
        spaces = [personal] if personal is not None else []
        spaces += selectors.spaces_of_teams_for(me)
        # The stubs type ``instance`` as one object even with many=True.
        return Response(SpaceSerializer(spaces, many=True).data)  # type: ignore[arg-type]


class SpaceTrashView(FilesAPIView):
    @extend_schema(
        summary="What is in a space's trash",
        responses={200: TrashSerializer, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, space_id: int) -> Response:
        space = selectors.space_get_for_actor(actor=signed_in_user(request), space_id=space_id)
        trash = selectors.trash_listing(space)
        return Response(TrashSerializer({"folders": trash.folders, "files": trash.files}).data)


class SearchHitSerializer(serializers.Serializer[selectors.SearchHit]):
    kind = serializers.SerializerMethodField()
    id = serializers.IntegerField(source="item.pk")
    name = serializers.CharField(source="item.name")
    space = serializers.IntegerField(source="item.space_id")
    path = serializers.CharField()

    def get_kind(self, hit: selectors.SearchHit) -> str:
        return "folder" if hit.is_folder else "file"


class SearchSerializer(serializers.Serializer[selectors.SearchResults]):
    query = serializers.CharField()
    results = SearchHitSerializer(source="hits", many=True)
    more = serializers.BooleanField()


class SearchView(FilesAPIView):
    @extend_schema(
        summary="Files and folders you may read whose name contains q",
        description=(
            "Accents, case and compatibility forms are ignored; at least "
            f"{selectors.SEARCH_QUERY_MIN} characters, at most {selectors.SEARCH_QUERY_MAX}; "
            f"the first {selectors.SEARCH_RESULTS_LIMIT} results, `more` says if there are more."
        ),
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True)],
        responses={200: SearchSerializer, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request) -> Response:
        me = signed_in_user(request)
        query = request.query_params.get("q", "")
        refusal = selectors.search_query_refusal(query)
        if refusal is not None:
            audit.record(
                action=Action.FILES_SEARCH_REFUSE,
                outcome=Outcome.DENIED,
                actor=me,
                details={"reason": "too_long", "length": len(query)},
            )
            return Response({"detail": refusal}, status=status.HTTP_400_BAD_REQUEST)
        results = selectors.search_for_actor(actor=me, query=query)
        return Response(SearchSerializer(results).data)


# --- Folders -------------------------------------------------------------------------------


class FolderView(FilesAPIView):
    @extend_schema(
        summary="A folder and what is in it",
        responses={200: FolderSerializer, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, folder_id: int) -> Response:
        folder = selectors.folder_get_for_actor(actor=signed_in_user(request), folder_id=folder_id)
        listing = selectors.folder_listing(folder, page_size=None)
        body = {
            **FolderSummarySerializer(folder).data,
            "folders": FolderSummarySerializer(listing.folders, many=True).data,  # type: ignore[arg-type]
            "files": FileSerializer(listing.files, many=True).data,  # type: ignore[arg-type]
        }
        return Response(body)

    @extend_schema(
        summary="Rename or move a folder",
        description=(
            "A move into another space withdraws what people who are not of that space "
            "had opened to outsiders on the folder and below it (links, transfers, file "
            "requests): `withdrawn` lists them, person by person ([] when nothing was)."
        ),
        request=FolderChangeSerializer,
        responses={200: FolderChangedSerializer, **_ERRORS},
        tags=["files"],
    )
    def patch(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        # MANAGE: the item itself changes (an editor of a share may not rename, move
        # or trash the shared item, only what is inside it).
        folder = selectors.folder_get_for_actor(
            actor=me, folder_id=folder_id, need=Permission.MANAGE
        )
        change = FolderChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        destination = None
        if "parent" in change.validated_data:
            # Checked before the transaction, so the audited refusal is not rolled back.
            destination = selectors.folder_get_for_actor(
                actor=me, folder_id=change.validated_data["parent"], need=Permission.EDIT
            )
            selectors.move_destination_check(actor=me, item=folder, destination=destination)
        withdrawals: list[MoveLoss] = []
        opened_by_links = _opened_by_links(folder, destination)
        folder = services.folder_change(
            actor=me,
            folder=folder,
            name=change.validated_data.get("name"),
            destination=destination,
            withdrawals=withdrawals,
        )
        return Response(
            {
                **FolderSummarySerializer(folder).data,
                "withdrawn": _withdrawn_data(withdrawals),
                "opened_by_links": opened_by_links,
            }
        )

    @extend_schema(
        summary="Move a folder to the trash", responses={204: None, **_ERRORS}, tags=["files"]
    )
    def delete(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        # MANAGE: the item itself changes (an editor of a share may not rename, move
        # or trash the shared item, only what is inside it).
        folder = selectors.folder_get_for_actor(
            actor=me, folder_id=folder_id, need=Permission.MANAGE
        )
        services.folder_delete(actor=me, folder=folder)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FolderCreateView(FilesAPIView):
    @extend_schema(
        summary="Create a folder inside this one",
        request=FolderCreateSerializer,
        responses={201: FolderSummarySerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        parent = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.EDIT)
        data = FolderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        folder = services.folder_create(actor=me, parent=parent, name=data.validated_data["name"])
        return Response(FolderSummarySerializer(folder).data, status=status.HTTP_201_CREATED)


class FolderUploadView(FilesAPIView):
    parser_classes = [StreamedBodyParser]

    @extend_schema(
        summary="Upload a file into this folder",
        description=(
            "The body is the file. A file of the same name gets a new version. "
            "413 when the space's quota or the upload limit would be exceeded."
        ),
        parameters=[OpenApiParameter("name", OpenApiTypes.STR, required=True)],
        request=_RAW_BODY,
        responses={201: FileSerializer, 413: ErrorSerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.EDIT)
        name = request.query_params.get("name", "")
        if not name:
            raise FileRuleError(_("Give the file's name as ?name=."))

        def store(sealed: SealedBlob) -> FileVersion:
            return services.file_upload(actor=me, folder=folder, name=name, sealed=sealed)

        version = _store_raw(request, folder.space, store)
        return Response(FileSerializer(version.file).data, status=status.HTTP_201_CREATED)


class FolderRestoreView(FilesAPIView):
    @extend_schema(
        summary="Restore a folder from the trash",
        request=None,
        responses={200: FolderSummarySerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        folder = selectors.folder_in_trash_get_for_actor(actor=me, folder_id=folder_id)
        return Response(
            FolderSummarySerializer(services.folder_restore(actor=me, folder=folder)).data
        )


class FolderPurgeView(FilesAPIView):
    @extend_schema(
        summary="Delete a trashed folder permanently",
        request=None,
        responses={204: None, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, folder_id: int) -> Response:
        me = signed_in_user(request)
        folder = selectors.folder_in_trash_get_for_actor(actor=me, folder_id=folder_id)
        services.folder_purge(actor=me, folder=folder)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Files ---------------------------------------------------------------------------------


class FileView(FilesAPIView):
    @extend_schema(
        summary="A file and its current version",
        responses={200: FileSerializer, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, file_id: int) -> Response:
        file = selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
        return Response(FileSerializer(file).data)

    @extend_schema(
        summary="Rename or move a file",
        description=(
            "A move into another space withdraws what people who are not of that space "
            "had opened to outsiders on the file (links, transfers, file requests): "
            "`withdrawn` lists them, person by person ([] when nothing was). "
            "`opened_by_links`: how many external links will show it to people outside "
            "that did not before (links to the destination or a folder above it)."
        ),
        request=FileChangeSerializer,
        responses={200: FileChangedSerializer, **_ERRORS},
        tags=["files"],
    )
    def patch(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        # MANAGE: see FolderView.patch.
        file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.MANAGE)
        change = FileChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        destination = None
        if "folder" in change.validated_data:
            # As in FolderView.patch: refusals are audited outside the transaction.
            destination = selectors.folder_get_for_actor(
                actor=me, folder_id=change.validated_data["folder"], need=Permission.EDIT
            )
            selectors.move_destination_check(actor=me, item=file, destination=destination)
        withdrawals: list[MoveLoss] = []
        opened_by_links = _opened_by_links(file, destination)
        file = services.file_change(
            actor=me,
            file=file,
            name=change.validated_data.get("name"),
            destination=destination,
            withdrawals=withdrawals,
        )
        return Response(
            {
                **FileSerializer(file).data,
                "withdrawn": _withdrawn_data(withdrawals),
                "opened_by_links": opened_by_links,
            }
        )

    @extend_schema(
        summary="Move a file to the trash", responses={204: None, **_ERRORS}, tags=["files"]
    )
    def delete(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        # MANAGE: see FolderView.patch.
        file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.MANAGE)
        services.file_delete(actor=me, file=file)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileCopyView(FilesAPIView):
    @extend_schema(
        summary="Copy a file (the copy shares its content: no re-encryption)",
        request=FileCopySerializer,
        description=(
            "`opened_by_links`: how many external links will show the copy to people "
            "outside that did not show the file where it is (links to the destination "
            "or a folder above it)."
        ),
        responses={201: FileCopiedSerializer, 413: ErrorSerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.VIEW)
        data = FileCopySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        destination = selectors.folder_get_for_actor(
            actor=me, folder_id=data.validated_data["folder"], need=Permission.EDIT
        )
        opened_by_links = _opened_by_links(file, destination)
        copy = services.file_copy(
            actor=me, file=file, destination=destination, name=data.validated_data.get("name")
        )
        return Response(
            {**FileSerializer(copy).data, "opened_by_links": opened_by_links},
            status=status.HTTP_201_CREATED,
        )


class FileRestoreView(FilesAPIView):
    @extend_schema(
        summary="Restore a file from the trash",
        request=None,
        responses={200: FileSerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        file = selectors.file_get_for_actor(actor=me, file_id=file_id, in_trash=True)
        return Response(FileSerializer(services.file_restore(actor=me, file=file)).data)


class FilePurgeView(FilesAPIView):
    @extend_schema(
        summary="Delete a trashed file permanently (crypto-shredding)",
        request=None,
        responses={204: None, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        file = selectors.file_get_for_actor(
            actor=me, file_id=file_id, in_trash=True, need=Permission.EDIT
        )
        services.file_purge(actor=me, file=file)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionListView(FilesAPIView):
    parser_classes = [StreamedBodyParser]

    @extend_schema(
        summary="A file's versions, newest first",
        responses={200: VersionSerializer(many=True), **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, file_id: int) -> Response:
        file = selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
        versions = selectors.file_versions(file)
        return Response(VersionSerializer(versions, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        summary="Upload a new version",
        request=_RAW_BODY,
        responses={201: VersionSerializer, 413: ErrorSerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, file_id: int) -> Response:
        me = signed_in_user(request)
        file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.EDIT)

        def store(sealed: SealedBlob) -> FileVersion:
            return services.file_version_add(actor=me, file=file, sealed=sealed)

        version = _store_raw(request, file.space, store)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionRestoreView(FilesAPIView):
    @extend_schema(
        summary="Restore an old version as the newest",
        request=None,
        responses={201: VersionSerializer, **_ERRORS},
        tags=["files"],
    )
    def post(self, request: Request, file_id: int, version_id: uuid.UUID) -> Response:
        me = signed_in_user(request)
        version = selectors.version_get_for_actor(
            actor=me, file_id=file_id, version_id=version_id, need=Permission.EDIT
        )
        restored = services.version_restore(actor=me, version=version)
        return Response(VersionSerializer(restored).data, status=status.HTTP_201_CREATED)


# --- Downloads ---------------------------------------------------------------------------


class _DownloadView(FilesAPIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The body is the file, whatever the client accepts; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    def _send(self, request: Request, version: FileVersion) -> HttpResponseBase:
        # A NotDownloadableError (409) is answered by core.api.exception_handler.
        return version_download_response(
            request=request._request, actor=signed_in_user(request), version=version
        )


class FileContentView(_DownloadView):
    @extend_schema(
        summary="Download the current version (HTTP Range supported)",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, file_id: int) -> HttpResponseBase:
        file = selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
        if file.current_version_id is None:
            raise NotFound()
        version = selectors.version_get_for_actor(
            actor=signed_in_user(request), file_id=file.pk, version_id=file.current_version_id
        )
        return self._send(request, version)


class VersionContentView(_DownloadView):
    @extend_schema(
        summary="Download one version (HTTP Range supported)",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **_ERRORS},
        tags=["files"],
    )
    def get(self, request: Request, file_id: int, version_id: uuid.UUID) -> HttpResponseBase:
        version = selectors.version_get_for_actor(
            actor=signed_in_user(request), file_id=file_id, version_id=version_id
        )
        return self._send(request, version)
