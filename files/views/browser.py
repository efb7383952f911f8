"""The file browser: spaces, folders, files, versions and the trash (HTTP only).

Every lookup goes through ``files.selectors`` (404 for anything the person may not
see, audited); every change through ``files.services``. Errors a person can act on
re-render the page with the message and the matching status (400, 409, 413).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from accounts.permissions import signed_in_user
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.confirm import confirmation_page, confirmed, undo_offer
from core.http import errors_as_404, header_count, next_path
from files import favourites, selectors, services
from files.downloads import version_download_response
from files.errors import FileRuleError, NotDownloadableError
from files.forms import CopyForm, MoveForm, NameForm
from files.models import File, FileVersion, Folder
from files.selectors import Permission
from files.thumbnails import thumbnail_ready_ids
from files.uploads import (
    MULTIPART_OVERHEAD_ALLOWANCE,
    UPLOAD_FIELD,
    EncryptedUpload,
    EncryptingUploadHandler,
)
from files.views import rows as listing_rows
from files.views.team_exit import (
    copy_into_linked_folder_confirmation,
    team_exit_confirmation,
)

# ``FileNotFoundForActor`` (already audited by the selector) becomes a 404.
not_found_as_404 = errors_as_404(message=gettext_lazy("No such file or folder."))


# --- Pages -------------------------------------------------------------------------------


def _space_nav(request: HttpRequest) -> dict[str, Any]:
    me = signed_in_user(request)
    return {
        "personal_space": selectors.space_personal_for(me),
        "teams": list(selectors.teams_with_space_for(me)),
    }


def _destination_form(
    form_class: type[MoveForm],
    *,
    actor: User,
    folders: list[Folder],
    labels: dict[int, str] | None = None,
    **kwargs: Any,
) -> MoveForm:
    """A move/copy form whose folder names are those the person may see (a folder
    reached through a share is labelled from the shared folder down, never with the
    owner's folders above it)."""
    form = form_class(folders=[], **kwargs)  # labelled below, once
    field = form.fields["destination"]
    # Every label in two queries (folder_labels_for), not a path walk per folder: a
    # person with 140 folders cost ~600 ms a page before (bench/listing.py).
    # ``labels``: already worked out for these folders (or more) by the caller.
    if labels is None:
        labels = selectors.folder_labels_for(actor=actor, folders=folders)
    field.choices = [(folder.pk, labels[folder.pk]) for folder in folders]  # type: ignore[attr-defined]
    return form


def _access_context(actor: User, item: File | Folder, permission: Permission) -> dict[str, Any]:
    """What the page may offer: content changes (EDIT), changes to the item itself
    (MANAGE), sharing (people of the space), and whether it was reached by a share."""
    return {
        "permission": permission,
        "can_edit": permission >= Permission.EDIT,
        "can_manage": permission >= Permission.MANAGE,
        "can_share": selectors.share_allowed(actor=actor, item=item),
        # A copy is its maker's to share: not for someone who may only view the file.
        "can_copy": permission >= Permission.EDIT,
        "via_share": selectors.item_via_share_only(actor=actor, space=item.space),
    }


def _folder_page(
    request: HttpRequest,
    folder: Folder,
    *,
    status: int = 200,
    error: str = "",
    name_form: NameForm | None = None,
) -> HttpResponse:
    me = signed_in_user(request)
    sort, descending = selectors.listing_sort_parse(request.GET.get("sort", ""))
    page = header_count(request.GET.get("page", "1")) or 1
    listing = selectors.folder_listing(
        folder, actor=me, sort=sort, descending=descending, page=page
    )
    rows: list[listing_rows.Row] = []
    if request.GET.get("view") != "grid":  # the grid (_grid.html) shows no stars
        rows = listing_rows.listing_rows(
            folders=listing.folders,
            files=listing.files,
            starred=favourites.favourite_ids_for(
                actor=me, files=listing.files, folders=listing.folders
            ),
            thumbnail_ready=thumbnail_ready_ids(
                [file.current_version_id for file in listing.files if file.current_version_id]
            ),
        )
    space = folder.space
    access = _access_context(me, folder, selectors.folder_permission(actor=me, folder=folder))
    # One list of destinations for both move forms; the folder's own move leaves out
    # the folder and what is below it (as folders_for_move's exclude_under does).
    destinations = selectors.folders_for_move(actor=me, space=space)
    below = {folder.pk, *selectors.folder_descendant_ids([folder.pk])}
    labels = selectors.folder_labels_for(actor=me, folders=destinations)  # for both forms
    context = {
        **_space_nav(request),
        **access,
        "listing": listing,
        "rows": rows,
        "space": space,
        "used_bytes": 0 if access["via_share"] else selectors.space_used_bytes(space),
        "reserved_bytes": 0 if access["via_share"] else selectors.space_reserved_bytes(space),
        "quota_bytes": space.quota_effective,
        "error": error,
        "new_folder_form": name_form or NameForm(prefix="new"),
        "rename_form": NameForm(prefix="rename", initial={"name": folder.name}),
        "move_form": _destination_form(
            MoveForm,
            actor=me,
            prefix="move",
            folders=[candidate for candidate in destinations if candidate.pk not in below],
            labels=labels,
        ),
        "upload_field": UPLOAD_FIELD,
        "columns": _sort_columns(listing),
        # Ticked items may go anywhere the folder itself may, and into its subfolders.
        "selection_destinations": _destination_form(
            MoveForm, actor=me, prefix="selection", folders=destinations, labels=labels
        ),
    }
    return render(request, "files/folder.html", context, status=status)


def _sort_columns(listing: selectors.FolderListing) -> list[dict[str, Any]]:
    """The sortable headers: label, the link that sorts by it (again: the other way),
    and ``aria-sort`` for the column the list is sorted by."""
    labels = {
        selectors.ListingSort.NAME: _("Name"),
        selectors.ListingSort.SIZE: _("Size"),
        selectors.ListingSort.TYPE: _("Type"),
        selectors.ListingSort.MODIFIED: _("Modified"),
    }
    columns = []
    for key, label in labels.items():
        current = key == listing.sort
        descending_next = current and not listing.descending
        columns.append(
            {
                "key": str(key),
                "label": label,
                "query": f"-{key}" if descending_next else str(key),
                "aria_sort": (
                    ("descending" if listing.descending else "ascending") if current else ""
                ),
            }
        )
    return columns


def _file_page(
    request: HttpRequest, file: File, *, status: int = 200, error: str = ""
) -> HttpResponse:
    me = signed_in_user(request)
    access = _access_context(me, file, selectors.file_permission(actor=me, file=file))
    visible_path = selectors.folder_breadcrumbs_for(actor=me, folder=file.folder)
    context = {
        **_space_nav(request),
        **access,
        "file": file,
        "space": file.space,
        "breadcrumbs": visible_path,
        "versions": selectors.file_versions(file),
        "error": error,
        "rename_form": NameForm(prefix="rename", initial={"name": file.name}),
        "move_form": _destination_form(
            MoveForm,
            actor=me,
            prefix="move",
            folders=selectors.folders_for_move(actor=me, space=file.space),
            initial={"destination": file.folder_id},
        ),
        "copy_form": _destination_form(
            CopyForm,
            actor=me,
            prefix="copy",
            folders=selectors.folders_for_move(actor=me),
            initial={"destination": file.folder_id},
        ),
        "upload_field": UPLOAD_FIELD,
    }
    return render(request, "files/file.html", context, status=status)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The person's own space (made with the account: this read writes nothing)."""
    space = selectors.space_personal_for(signed_in_user(request))
    if space is None:
        raise Http404(_("No such file or folder."))
    return redirect("files:folder", folder_id=services.space_root(space).pk)


@login_required
@require_GET
@not_found_as_404
def team_home(request: HttpRequest, slug: str) -> HttpResponse:
    team = selectors.team_get_for_actor(actor=signed_in_user(request), slug=slug)
    space = selectors.team_space_for(team)
    if space is None:
        raise Http404(_("No such file or folder."))
    return redirect("files:folder", folder_id=services.space_root(space).pk)


@login_required
@require_GET
@not_found_as_404
def folder_view(request: HttpRequest, folder_id: int) -> HttpResponse:
    folder = selectors.folder_get_for_actor(actor=signed_in_user(request), folder_id=folder_id)
    return _folder_page(request, folder)


@login_required
@require_GET
@not_found_as_404
def file_view(request: HttpRequest, file_id: int) -> HttpResponse:
    file = selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
    return _file_page(request, file)


def _search_text(request: HttpRequest) -> tuple[str, str | None]:
    """The ``q`` parameter, and why it is refused (audited: the length, never the text,
    which may be a patient's name)."""
    query = request.GET.get("q", "")
    refusal = selectors.search_query_refusal(query)
    if refusal is not None:
        audit.record(
            action=Action.FILES_SEARCH_REFUSE,
            outcome=Outcome.DENIED,
            actor=signed_in_user(request),
            details={"reason": "too_long", "length": len(query)},
        )
    return query, refusal


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """Files and folders the person may read, by name (docs/storage.md, "Search")."""
    me = signed_in_user(request)
    query, refusal = _search_text(request)
    results = None
    if refusal is None and query.strip():
        results = selectors.search_for_actor(actor=me, query=query)
    context = {
        **_space_nav(request),
        "space": None,
        "query": query if refusal is None else "",
        "error": refusal or "",
        "results": results,
        "too_short": bool(query.strip()) and selectors.search_key_usable(query) is None,
        "query_min": selectors.SEARCH_QUERY_MIN,
        "query_max": selectors.SEARCH_QUERY_MAX,
        "results_limit": selectors.SEARCH_RESULTS_LIMIT,
    }
    return render(request, "files/search.html", context, status=400 if refusal else 200)


@login_required
@require_GET
@not_found_as_404
def trash_view(request: HttpRequest, space_id: int) -> HttpResponse:
    space = selectors.space_get_for_actor(actor=signed_in_user(request), space_id=space_id)
    query, refusal = _search_text(request)
    context = {
        **_space_nav(request),
        "space": space,
        "trash": selectors.trash_listing(space, query="" if refusal else query),
        "trash_query": "" if refusal else query,
        "error": refusal or "",
        "query_max": selectors.SEARCH_QUERY_MAX,
        "root": services.space_root(space),
        "trash_days": settings.FILES_TRASH_RETENTION_DAYS,
    }
    return render(request, "files/trash.html", context, status=400 if refusal else 200)


@login_required
@require_POST
@not_found_as_404
def file_favourite(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id)
    favourites.favourite_set(actor=me, item=file, starred=request.POST.get("starred") == "1")
    return _back_to_list(request, file.folder_id)


@login_required
@require_POST
@not_found_as_404
def folder_favourite(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id)
    favourites.favourite_set(actor=me, item=folder, starred=request.POST.get("starred") == "1")
    return _back_to_list(request, folder.parent_id or folder.pk)


def _back_to_list(request: HttpRequest, folder_id: int) -> HttpResponse:
    """Back to the list that posted (``next``, same site only), else the folder."""
    target = next_path(request, request.POST.get("next", ""))
    if target:
        return redirect(target)
    return redirect("files:folder", folder_id=folder_id)


# --- Downloads ---------------------------------------------------------------------------


def _download(request: HttpRequest, version: FileVersion) -> HttpResponseBase:
    try:
        return version_download_response(
            request=request,
            actor=signed_in_user(request),
            version=version,
            inline=request.GET.get("inline") == "1",
        )
    except NotDownloadableError as error:
        context = {"file": version.file, "version": version, "message": str(error)}
        return render(request, "files/unavailable.html", context, status=error.status_code)


@login_required
@require_http_methods(["GET", "HEAD"])
@not_found_as_404
def file_download(request: HttpRequest, file_id: int) -> HttpResponseBase:
    file = selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
    if file.current_version is None:
        raise Http404
    version = selectors.version_get_for_actor(
        actor=signed_in_user(request), file_id=file.pk, version_id=file.current_version.pk
    )
    return _download(request, version)


@login_required
@require_http_methods(["GET", "HEAD"])
@not_found_as_404
def version_download(request: HttpRequest, file_id: int, version_id: uuid.UUID) -> HttpResponseBase:
    version = selectors.version_get_for_actor(
        actor=signed_in_user(request), file_id=file_id, version_id=version_id
    )
    return _download(request, version)


# --- Uploads -------------------------------------------------------------------------------


def _upload_receive(
    request: HttpRequest, *, target_space: Any, on_sealed: Callable[[EncryptedUpload], Any]
) -> tuple[Any, str, int]:
    """Install the encrypting handler, read the body, hand the blob to ``on_sealed``.

    Returns (result, error message, status). The handler is installed before anything
    reads the body, then CSRF is checked (which parses it); whatever happens, a blob no
    version claimed is removed.
    """
    limit, refusal = services.upload_limit_bytes(target_space)
    declared = header_count(request.META.get("CONTENT_LENGTH") or "0")
    if declared is None:
        return None, _("Content-Length is not a number."), 400
    if declared > limit + MULTIPART_OVERHEAD_ALLOWANCE:
        # Refused before a byte is read: the client said how much it would send.
        return None, str(refusal), refusal.status_code
    handler = EncryptingUploadHandler(
        request, max_bytes=limit, refusal=refusal, size_hint=declared or None
    )
    request.upload_handlers = [handler]
    try:
        return _upload_after_csrf(request, handler, on_sealed)
    finally:
        handler.discard_unclaimed()


@csrf_protect
def _csrf_checked(request: HttpRequest) -> HttpResponse:
    """Runs only if the CSRF check (which parses the body) passed."""
    return HttpResponse(status=204)


def _upload_after_csrf(
    request: HttpRequest,
    handler: EncryptingUploadHandler,
    on_sealed: Callable[[EncryptedUpload], Any],
) -> tuple[Any, str, int]:
    checked = _csrf_checked(request)
    if checked.status_code != 204:
        return None, _("The form expired. Reload the page and try again."), 403
    upload = request.FILES.get(UPLOAD_FIELD)  # parses the body, if CSRF did not
    if handler.refusal is not None:
        return None, str(handler.refusal), handler.refusal.status_code
    if not isinstance(upload, EncryptedUpload):
        return None, _("Choose a file to upload."), 400
    try:
        result = on_sealed(upload)
    except FileRuleError as error:
        return None, str(error), error.status_code
    handler.claim()
    return result, "", 200


@csrf_exempt  # CSRF is checked in _upload_after_csrf, once the handler is installed
@login_required
@require_POST
@not_found_as_404
def folder_upload(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.EDIT)

    def store(upload: EncryptedUpload) -> FileVersion:
        return services.file_upload(
            actor=me, folder=folder, name=str(upload.name), sealed=upload.sealed
        )

    version, error, status = _upload_receive(request, target_space=folder.space, on_sealed=store)
    if error:
        response = _folder_page(request, folder, status=status, error=error)
        if status == 413:
            response["Connection"] = "close"  # the rest of the body was not read
        return response
    if version.number == 1:
        messages.success(request, _("“%(name)s” is uploaded.") % {"name": version.file.name})
    else:
        messages.success(
            request,
            _("“%(name)s” is uploaded as version %(number)d.")
            % {"name": version.file.name, "number": version.number},
        )
    return redirect("files:folder", folder_id=folder.pk)


@csrf_exempt  # as folder_upload
@login_required
@require_POST
@not_found_as_404
def file_upload_version(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.EDIT)

    def store(upload: EncryptedUpload) -> FileVersion:
        return services.file_version_add(actor=me, file=file, sealed=upload.sealed)

    version, error, status = _upload_receive(request, target_space=file.space, on_sealed=store)
    if error:
        response = _file_page(request, file, status=status, error=error)
        if status == 413:
            response["Connection"] = "close"
        return response
    messages.success(request, _("Version %(number)d is uploaded.") % {"number": version.number})
    return redirect("files:file", file_id=file.pk)


# --- Folder changes ------------------------------------------------------------------------


@login_required
@require_POST
@not_found_as_404
def folder_create(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    parent = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.EDIT)
    form = NameForm(request.POST, prefix="new")
    if not form.is_valid():
        return _folder_page(request, parent, status=400, name_form=form)
    try:
        folder = services.folder_create(actor=me, parent=parent, name=form.cleaned_data["name"])
    except FileRuleError as error:
        return _folder_page(request, parent, status=error.status_code, error=str(error))
    return redirect("files:folder", folder_id=folder.pk)


@login_required
@require_POST
@not_found_as_404
def folder_rename(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.MANAGE)
    form = NameForm(request.POST, prefix="rename")
    if not form.is_valid():
        return _folder_page(request, folder, status=400, error=_("Enter a name."))
    old_name = folder.name
    try:
        services.folder_rename(actor=me, folder=folder, name=form.cleaned_data["name"])
    except FileRuleError as error:
        return _folder_page(request, folder, status=error.status_code, error=str(error))
    undo_offer(
        request,
        _("Renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]},
        action=reverse("files:folder_rename", args=[folder.pk]),
        fields={"rename-name": old_name},
    )
    return redirect("files:folder", folder_id=folder.pk)


@login_required
@require_POST
@not_found_as_404
def folder_move(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.MANAGE)
    form = MoveForm(
        request.POST,
        prefix="move",
        folders=selectors.folders_for_move(actor=me, space=folder.space),
    )
    if not form.is_valid():
        return _folder_page(request, folder, status=400, error=_("Choose where to move it."))
    destination = selectors.folder_get_for_actor(
        actor=me, folder_id=form.cleaned_data["destination"], need=Permission.EDIT
    )
    old_parent_id = folder.parent_id
    try:
        selectors.move_destination_check(actor=me, item=folder, destination=destination)
        asked = team_exit_confirmation(
            request,
            items=[folder],
            destination=destination,
            cancel_url=reverse("files:folder", args=[folder.pk]),
        )
        if asked is not None:
            return asked
        services.folder_move(actor=me, folder=folder, destination=destination)
    except FileRuleError as error:
        return _folder_page(request, folder, status=error.status_code, error=str(error))
    _moved_notice(
        request,
        actor=me,
        destination=destination,
        back_to_space_id=folder.space_id,
        action=reverse("files:folder_move", args=[folder.pk]),
        fields={"move-destination": str(old_parent_id)},
    )
    return redirect("files:folder", folder_id=folder.pk)


def _moved_notice(
    request: HttpRequest,
    *,
    actor: User,
    destination: Folder,
    back_to_space_id: int,
    action: str,
    fields: dict[str, str],
) -> None:
    """ "Moved to …", with "Undo" unless moving back would be refused (out of a team
    space the person does not manage)."""
    message = _("Moved to “%(name)s”.") % {
        "name": selectors.folder_label_for(actor=actor, folder=destination)
    }
    if selectors.move_back_allowed(
        actor=actor, moved_to=destination, back_to_space_id=back_to_space_id
    ):
        undo_offer(request, message, action=action, fields=fields)
    else:
        messages.success(request, message)


def _trashed_notice(request: HttpRequest, item: File | Folder, *, action: str, actor: User) -> None:
    """ "Undo" for who may restore; an editor of a share is told where it went instead."""
    if selectors.trash_restore_allowed(actor=actor, item=item):
        undo_offer(
            request,
            _("“%(name)s” is in the trash: you can restore it.") % {"name": item.name},
            action=action,
        )
        return
    messages.success(
        request,
        _("“%(name)s” is in the trash of the space it belongs to: only its owner can restore it.")
        % {"name": item.name},
    )


@login_required
@require_POST
@not_found_as_404
def folder_delete(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_get_for_actor(actor=me, folder_id=folder_id, need=Permission.MANAGE)
    try:
        services.folder_delete(actor=me, folder=folder)
    except FileRuleError as error:
        return _folder_page(request, folder, status=error.status_code, error=str(error))
    _trashed_notice(
        request, folder, action=reverse("files:folder_restore", args=[folder.pk]), actor=me
    )
    return redirect("files:folder", folder_id=folder.parent_id)


@login_required
@require_POST
@not_found_as_404
def folder_restore(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_in_trash_get_for_actor(actor=me, folder_id=folder_id)
    folder = services.folder_restore(actor=me, folder=folder)
    messages.success(request, _("“%(name)s” is restored.") % {"name": folder.name})
    return redirect("files:folder", folder_id=folder.pk)


@login_required
@require_POST
@not_found_as_404
def folder_purge(request: HttpRequest, folder_id: int) -> HttpResponse:
    me = signed_in_user(request)
    folder = selectors.folder_in_trash_get_for_actor(actor=me, folder_id=folder_id)
    if not confirmed(request):
        files, versions = selectors.folder_purge_summary(folder)
        return confirmation_page(
            request,
            title=_("Delete “%(name)s” permanently?") % {"name": folder.name},
            losses=[
                _("the folder “%(name)s” and every folder inside it") % {"name": folder.name},
                ngettext("%(count)d file inside it", "%(count)d files inside it", files)
                % {"count": files},
                ngettext(
                    "%(count)d version of those files",
                    "%(count)d versions of those files",
                    versions,
                )
                % {"count": versions},
            ],
            button=_("Delete permanently"),
            cancel_url=reverse("files:trash", args=[folder.space_id]),
        )
    services.folder_purge(actor=me, folder=folder)
    messages.success(request, _("“%(name)s” is deleted permanently.") % {"name": folder.name})
    return redirect("files:trash", space_id=folder.space_id)


# --- File changes --------------------------------------------------------------------------


@login_required
@require_POST
@not_found_as_404
def file_rename(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.MANAGE)
    form = NameForm(request.POST, prefix="rename")
    if not form.is_valid():
        return _file_page(request, file, status=400, error=_("Enter a name."))
    old_name = file.name
    try:
        services.file_rename(actor=me, file=file, name=form.cleaned_data["name"])
    except FileRuleError as error:
        return _file_page(request, file, status=error.status_code, error=str(error))
    undo_offer(
        request,
        _("Renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]},
        action=reverse("files:file_rename", args=[file.pk]),
        fields={"rename-name": old_name},
    )
    return redirect("files:file", file_id=file.pk)


@login_required
@require_POST
@not_found_as_404
def file_move(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.MANAGE)
    form = MoveForm(
        request.POST, prefix="move", folders=selectors.folders_for_move(actor=me, space=file.space)
    )
    if not form.is_valid():
        return _file_page(request, file, status=400, error=_("Choose where to move it."))
    destination = selectors.folder_get_for_actor(
        actor=me, folder_id=form.cleaned_data["destination"], need=Permission.EDIT
    )
    old_folder_id = file.folder_id
    try:
        selectors.move_destination_check(actor=me, item=file, destination=destination)
        asked = team_exit_confirmation(
            request,
            items=[file],
            destination=destination,
            cancel_url=reverse("files:file", args=[file.pk]),
        )
        if asked is not None:
            return asked
        services.file_move(actor=me, file=file, destination=destination)
    except FileRuleError as error:
        return _file_page(request, file, status=error.status_code, error=str(error))
    _moved_notice(
        request,
        actor=me,
        destination=destination,
        back_to_space_id=file.space_id,
        action=reverse("files:file_move", args=[file.pk]),
        fields={"move-destination": str(old_folder_id)},
    )
    return redirect("files:file", file_id=file.pk)


@login_required
@require_POST
@not_found_as_404
def file_copy(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.VIEW)
    form = CopyForm(request.POST, prefix="copy", folders=selectors.folders_for_move(actor=me))
    if not form.is_valid():
        return _file_page(request, file, status=400, error=_("Choose where to copy it."))
    destination = selectors.folder_get_for_actor(
        actor=me, folder_id=form.cleaned_data["destination"], need=Permission.EDIT
    )
    try:
        selectors.copy_check(actor=me, file=file)  # a viewer is refused before being asked
        asked = copy_into_linked_folder_confirmation(
            request,
            actor=me,
            files=[file],
            destination=destination,
            cancel_url=reverse("files:file", args=[file.pk]),
        )
        if asked is not None:
            return asked
        copy = services.file_copy(
            actor=me, file=file, destination=destination, name=form.cleaned_data["name"] or None
        )
    except FileRuleError as error:
        return _file_page(request, file, status=error.status_code, error=str(error))
    messages.success(request, _("Copied as “%(name)s”.") % {"name": copy.name})
    return redirect("files:file", file_id=copy.pk)


@login_required
@require_POST
@not_found_as_404
def file_delete(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, need=Permission.MANAGE)
    services.file_delete(actor=me, file=file)
    _trashed_notice(request, file, action=reverse("files:file_restore", args=[file.pk]), actor=me)
    return redirect("files:folder", folder_id=file.folder_id)


@login_required
@require_POST
@not_found_as_404
def file_restore(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id, in_trash=True)
    file = services.file_restore(actor=me, file=file)
    messages.success(request, _("“%(name)s” is restored.") % {"name": file.name})
    return redirect("files:file", file_id=file.pk)


@login_required
@require_POST
@not_found_as_404
def file_purge(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(
        actor=me, file_id=file_id, in_trash=True, need=Permission.EDIT
    )
    if not confirmed(request):
        versions = selectors.file_versions_count(file)
        return confirmation_page(
            request,
            title=_("Delete “%(name)s” permanently?") % {"name": file.name},
            losses=[
                ngettext(
                    "the file “%(name)s” and its only version",
                    "the file “%(name)s” and all its %(count)d versions",
                    versions,
                )
                % {"name": file.name, "count": versions},
            ],
            button=_("Delete permanently"),
            cancel_url=reverse("files:trash", args=[file.space_id]),
        )
    services.file_purge(actor=me, file=file)
    messages.success(request, _("“%(name)s” is deleted permanently.") % {"name": file.name})
    return redirect("files:trash", space_id=file.space_id)


@login_required
@require_POST
@not_found_as_404
def version_restore(request: HttpRequest, file_id: int, version_id: uuid.UUID) -> HttpResponse:
    me = signed_in_user(request)
    version = selectors.version_get_for_actor(
        actor=me, file_id=file_id, version_id=version_id, need=Permission.EDIT
    )
    try:
        restored = services.version_restore(actor=me, version=version)
    except FileRuleError as error:
        return _file_page(request, version.file, status=error.status_code, error=str(error))
    messages.success(
        request,
        _("Version %(old)d is restored as version %(new)d.")
        % {"old": version.number, "new": restored.number},
    )
    return redirect("files:file", file_id=file_id)
