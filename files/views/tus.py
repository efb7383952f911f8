"""HTTP for the tus 1.0 upload server at /api/v1/uploads/ (docs/uploads.md).

Thin: parse headers, call ``files.tus``, answer with the tus headers. Authenticated by a
personal access token with the ``write`` scope, or an MFA-verified browser session
(CSRF token in the ``X-CSRFToken`` header). OPTIONS (discovery) needs no credentials.

The body of a PATCH (or of a POST with creation-with-upload) is read from the WSGI
input in bounded chunks by ``files.tus``; nothing here touches ``request.data``,
``request.body`` or Django's upload handlers, so no byte is spooled to a temporary file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import http_date
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import sessions, tokens
from accounts.authentication import HasScope
from accounts.models import PersonalAccessToken, User
from accounts.permissions import signed_in_user
from files import selectors, tus
from files.models import UploadSession
from files.request_body import body_readinto
from files.views.browser import not_found_as_404


class _WriteScopeExceptDiscovery(BasePermission):
    """OPTIONS is public discovery (tus 1.0); everything else needs ``write``."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method == "OPTIONS":
            return True
        if not (request.user and request.user.is_authenticated):
            return False
        check = HasScope("write")()
        allowed = check.has_permission(request, view)
        self.message = getattr(check, "message", "")
        return allowed


class _BodyLeftUnread(BaseParser):
    """The only body a tus request has is upload data, read by ``files.tus`` from the WSGI
    input segment by segment. DRF parses a POST when the CSRF check of a browser session
    looks for a form token (``request.POST``): with no parser for tus data that was a 415
    for every POST with a body (creation-with-upload, X-HTTP-Method-Override: PATCH),
    and any other parser would read the body. This one answers "no form fields" without
    reading a byte, so the token is taken from the X-CSRFToken header."""

    media_type = tus.OFFSET_CONTENT_TYPE

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {}


def _upload_headers(session: UploadSession) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(session.offset),
        "Upload-Length": str(session.length),
        "Cache-Control": "no-store",
    }
    if session.completed_at is None:
        headers["Upload-Expires"] = http_date(session.expires_at.timestamp())
    return headers


def _credential_check(request: Request) -> tus.CredentialCheck:
    """Whether what this request was signed in with still holds once its body arrived:
    the API token (revoked, expired) or the browser session (revoked from the session
    list, signed out everywhere, a new password, the identity provider's logout)."""
    token_id = request.auth.pk if isinstance(request.auth, PersonalAccessToken) else None
    user_session_id = sessions.serving_session()
    person_id = signed_in_user(request).pk

    def check() -> str | None:
        # One query when all is well (bench/README.md, "what a PATCH costs"); the reason
        # is looked for only when something ended.
        refusal: str | None = None
        if token_id is not None:
            refusal = tokens.token_refusal(token_id)
            if refusal is None:
                return None
        elif user_session_id is not None and sessions.session_is_open(
            user_session_id, person_active=True
        ):
            return None
        if not User.objects.filter(pk=person_id, is_active=True).exists():
            # The cause, before its consequences: the offboarding revokes her tokens and
            # ends her sessions.
            return "account deactivated during upload"
        if refusal is not None:
            return f"{refusal} during upload"
        if user_session_id is not None:
            return "session ended during upload"
        return None

    return check


def _content_length(request: Request) -> int:
    return tus.content_length_of(request.META)


def _is_offset_stream(request: Request) -> bool:
    return request.content_type.split(";")[0].strip().lower() == tus.OFFSET_CONTENT_TYPE


class TusView(APIView):
    permission_classes = [_WriteScopeExceptDiscovery]
    parser_classes = [_BodyLeftUnread]
    throttle_classes: list[Any] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != tus.TUS_VERSION:
            raise tus.TusError(412, "Tus-Resumable: 1.0.0 is required.")
        # X-HTTP-Method-Override (tus 1.0), after authentication, permissions and the
        # CSRF check were made for the POST on the wire; dispatch then picks the handler
        # of the method meant.
        request._request.method = tus.method_overridden(
            request.method or "", request.headers.get("X-HTTP-Method-Override")
        )

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = tus.TUS_VERSION
        return response


# tus is specified by its own protocol (docs/uploads.md): headers and status codes an
# OpenAPI schema cannot describe usefully, so the tus endpoints stay out of it.
@extend_schema(exclude=True)
class UploadCollectionView(TusView):
    # DRF passes its Request; the Django stubs type View.options with HttpRequest.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        response = Response(status=204)
        response["Tus-Version"] = tus.TUS_VERSION
        response["Tus-Extension"] = tus.TUS_EXTENSIONS
        response["Tus-Max-Size"] = str(settings.TUS_MAX_SIZE_BYTES)
        response["Tus-Checksum-Algorithm"] = ",".join(tus.CHECKSUM_ALGORITHMS)
        return response

    def post(self, request: Request) -> Response:
        me = signed_in_user(request)
        body_length = _content_length(request)
        if body_length and not _is_offset_stream(request):
            raise tus.TusError(415, f"Send upload data as {tus.OFFSET_CONTENT_TYPE}.")
        session = tus.upload_create(
            actor=me,
            length_header=request.headers.get("Upload-Length"),
            metadata_header=request.headers.get("Upload-Metadata", ""),
        )
        if body_length or session.length == 0:
            # creation-with-upload (and an empty file, complete at once)
            session = tus.upload_append_at_creation(
                actor=me,
                session=session,
                content_length=body_length,
                read=request._request.read,
                readinto=body_readinto(request._request),
                checksum_header=request.headers.get("Upload-Checksum"),
                credential_check=_credential_check(request),
            )
        response = Response(status=201, headers=_upload_headers(session))
        response["Location"] = request.build_absolute_uri(f"{session.pk}/")
        return response


@extend_schema(exclude=True)
class UploadView(TusView):
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        return UploadCollectionView().options(request)

    def head(self, request: Request, upload_id: str) -> Response:
        me = signed_in_user(request)
        session = tus.upload_get_for_actor(actor=me, upload_id=upload_id)
        session = tus.upload_complete_if_stranded(actor=me, session=session)
        return Response(status=200, headers=_upload_headers(session))

    def patch(self, request: Request, upload_id: str) -> Response:
        me = signed_in_user(request)
        session = tus.upload_get_for_actor(actor=me, upload_id=upload_id)
        if not _is_offset_stream(request):
            raise tus.TusError(415, f"Send upload data as {tus.OFFSET_CONTENT_TYPE}.")
        result = tus.upload_append(
            actor=me,
            session=session,
            offset_header=request.headers.get("Upload-Offset"),
            content_length=_content_length(request),
            read=request._request.read,
            readinto=body_readinto(request._request),
            checksum_header=request.headers.get("Upload-Checksum"),
            credential_check=_credential_check(request),
        )
        return Response(status=204, headers=_upload_headers(result.session))

    def delete(self, request: Request, upload_id: str) -> Response:
        me = signed_in_user(request)
        session = tus.upload_get_for_actor(actor=me, upload_id=upload_id)
        tus.upload_terminate(actor=me, session=session)
        return Response(status=204)


# --- Browser fragments --------------------------------------------------------------------


@login_required
@require_GET
@not_found_as_404
def scan_badge(request: HttpRequest, file_id: int) -> HttpResponse:
    """The current version's scan badge; htmx polls it while the scan is under way."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (guaranteed by login_required)
    file = selectors.file_get_for_actor(actor=user, file_id=file_id)
    return render(request, "files/includes/upload_badge.html", {"file": file})
