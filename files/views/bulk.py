"""Actions on several ticked files and folders at once (issue #15): move to the trash,
restore, delete permanently, move and copy. HTTP only: the items come from
``files.selection`` (the same access checks and audit events as one item at a time),
the changes from ``files.services``, all of them in one transaction: a selection is
changed whole or not at all. The streamed ZIP of a selection is in
``sharing.views.selection`` (it reuses sharing's archives).

What can be undone (trash, move) is offered back with "Undo"; a permanent deletion
asks first, naming the files (``core.confirm``); so do a move out of a team space and a
move or copy into a folder that external links reach (``files.views.team_exit``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import signed_in_user
from core.confirm import confirmation_page, confirmed, undo_offer
from core.errors import NotFoundForActor
from core.http import next_path
from files import selectors, services
from files.errors import FileRuleError
from files.models import File, Folder
from files.selection import Selection, selection_get_for_actor
from files.selectors import Permission
from files.views.team_exit import (
    copy_into_linked_folder_confirmation,
    team_exit_confirmation,
)

# Names listed on a confirmation page; beyond that, "and N more".
NAMES_SHOWN = 20


def back_url(request: HttpRequest) -> str:
    """Where the list that posted the selection lives (``next``), or the person's files."""
    target = next_path(request, request.POST.get("next", ""))
    if target:
        return target
    return reverse("files:home")


def selection_error_page(request: HttpRequest, error: FileRuleError) -> HttpResponse:
    """A refused selection: what went wrong, and the way back (400, 404 or 409)."""
    context = {"message": str(error), "back": back_url(request)}
    return render(request, "files/selection_error.html", context, status=error.status_code)


def _names(selection: Selection) -> str:
    names = selection.names
    # A name in the reader's quotation marks: “…” in English, « … » in French.
    shown = ", ".join(_("“%(name)s”") % {"name": name} for name in names[:NAMES_SHOWN])
    if len(names) > NAMES_SHOWN:
        more = len(names) - NAMES_SHOWN
        shown += " " + ngettext("and %(count)d more", "and %(count)d more", more) % {"count": more}
    return shown


def _run(
    request: HttpRequest,
    *,
    action: str,
    need: Permission,
    in_trash: bool = False,
    change: Callable[[User, Selection], HttpResponse],
) -> HttpResponse:
    me = signed_in_user(request)
    try:
        selection = selection_get_for_actor(
            actor=me, data=request.POST, action=action, need=need, in_trash=in_trash
        )
        return change(me, selection)
    except FileRuleError as error:
        return selection_error_page(request, error)
    except NotFoundForActor:  # a destination out of reach (audited by its selector)
        return selection_error_page(request, FileRuleError(_("No such folder."), status_code=404))


@login_required
@require_POST
def selection_trash(request: HttpRequest) -> HttpResponse:
    def change(me: User, ticked: Selection) -> HttpResponse:
        selection = ticked.outermost()
        with transaction.atomic():
            for folder in selection.folders:
                services.folder_delete(actor=me, folder=folder)
            for file in selection.files:
                services.file_delete(actor=me, file=file)
        items: list[File | Folder] = [*selection.folders, *selection.files]
        if all(selectors.trash_restore_allowed(actor=me, item=item) for item in items):
            undo_offer(
                request,
                ngettext(
                    "%(count)d item is in the trash: you can restore it.",
                    "%(count)d items are in the trash: you can restore them.",
                    len(selection),
                )
                % {"count": len(selection)},
                action=reverse("files:selection_restore"),
                fields={**selection.ids_fields(), "next": back_url(request)},
            )
        else:  # an editor of a share: shares give nothing on trashed items
            messages.success(
                request,
                ngettext(
                    "%(count)d item is in the trash of the space it belongs to: only its "
                    "owner can restore it.",
                    "%(count)d items are in the trash of the space they belong to: only "
                    "their owner can restore them.",
                    len(selection),
                )
                % {"count": len(selection)},
            )
        return redirect(back_url(request))

    return _run(request, action="trash", need=Permission.MANAGE, change=change)


@login_required
@require_POST
def selection_restore(request: HttpRequest) -> HttpResponse:
    def change(me: User, selection: Selection) -> HttpResponse:
        with transaction.atomic():
            for folder in selection.folders:
                services.folder_restore(actor=me, folder=folder)
            for file in selection.files:
                services.file_restore(actor=me, file=file)
        messages.success(
            request,
            ngettext("%(count)d item is restored.", "%(count)d items are restored.", len(selection))
            % {"count": len(selection)},
        )
        return redirect(back_url(request))

    return _run(request, action="restore", need=Permission.MANAGE, in_trash=True, change=change)


@login_required
@require_POST
def selection_purge(request: HttpRequest) -> HttpResponse:
    def change(me: User, ticked: Selection) -> HttpResponse:
        selection = ticked.outermost()
        if not confirmed(request):
            versions = sum(selectors.file_versions_count(file) for file in selection.files)
            files_inside = sum(selectors.folder_purge_summary(f)[0] for f in selection.folders)
            losses = [_names(selection)]
            if selection.files:
                losses.append(
                    ngettext(
                        "%(count)d version of the selected files",
                        "%(count)d versions of the selected files",
                        versions,
                    )
                    % {"count": versions}
                )
            if selection.folders:
                losses.append(
                    ngettext(
                        "%(count)d file inside the selected folders",
                        "%(count)d files inside the selected folders",
                        files_inside,
                    )
                    % {"count": files_inside}
                )
            return confirmation_page(
                request,
                title=ngettext(
                    "Delete %(count)d item permanently?",
                    "Delete %(count)d items permanently?",
                    len(selection),
                )
                % {"count": len(selection)},
                losses=losses,
                button=_("Delete permanently"),
                cancel_url=back_url(request),
            )
        with transaction.atomic():
            for folder in selection.folders:
                services.folder_purge(actor=me, folder=folder)
            for file in selection.files:
                services.file_purge(actor=me, file=file)
        messages.success(
            request,
            ngettext(
                "%(count)d item is deleted permanently.",
                "%(count)d items are deleted permanently.",
                len(selection),
            )
            % {"count": len(selection)},
        )
        return redirect(back_url(request))

    # EDIT, as the single "Delete permanently" of a file in the trash asks.
    return _run(request, action="purge", need=Permission.EDIT, in_trash=True, change=change)


def _destination(request: HttpRequest, me: User) -> Folder:
    value = request.POST.get("destination", "")
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise FileRuleError(_("Choose a folder."))
    return selectors.folder_get_for_actor(actor=me, folder_id=int(value), need=Permission.EDIT)


@login_required
@require_POST
def selection_move(request: HttpRequest) -> HttpResponse:
    def change(me: User, selection: Selection) -> HttpResponse:
        destination = _destination(request, me)
        origins = {item.parent_id for item in selection.folders} | {
            item.folder_id for item in selection.files
        }
        items: list[File | Folder] = [*selection.folders, *selection.files]
        # Checked before the transaction, so that a refusal's audit event is not rolled
        # back with it; then asked, when something leaves a team space.
        for item in items:
            selectors.move_destination_check(actor=me, item=item, destination=destination)
        asked = team_exit_confirmation(
            request, items=items, destination=destination, cancel_url=back_url(request)
        )
        if asked is not None:
            return asked
        with transaction.atomic():
            for folder in selection.folders:
                services.folder_move(actor=me, folder=folder, destination=destination)
            for file in selection.files:
                services.file_move(actor=me, file=file, destination=destination)
        message = ngettext(
            "%(count)d item moved to “%(name)s”.",
            "%(count)d items moved to “%(name)s”.",
            len(selection),
        ) % {
            "count": len(selection),
            "name": selectors.folder_label_for(actor=me, folder=destination),
        }
        back_allowed = all(
            selectors.move_back_allowed(
                actor=me, moved_to=destination, back_to_space_id=item.space_id
            )
            for item in items
        )
        if len(origins) == 1 and back_allowed:  # all from one folder: "Undo" puts them back
            undo_offer(
                request,
                message,
                action=reverse("files:selection_move"),
                fields={
                    **selection.ids_fields(),
                    "destination": str(origins.pop()),
                    "next": back_url(request),
                },
            )
        else:
            messages.success(request, message)
        return redirect(back_url(request))

    return _run(request, action="move", need=Permission.MANAGE, change=change)


@login_required
@require_POST
def selection_copy(request: HttpRequest) -> HttpResponse:
    def change(me: User, selection: Selection) -> HttpResponse:
        if selection.folders:
            raise FileRuleError(_("Folders cannot be copied: tick files only."))
        destination = _destination(request, me)
        for file in selection.files:  # before the transaction: the refusal stays recorded
            selectors.copy_check(actor=me, file=file)
        asked = copy_into_linked_folder_confirmation(
            request,
            actor=me,
            files=selection.files,
            destination=destination,
            cancel_url=back_url(request),
        )
        if asked is not None:
            return asked
        with transaction.atomic():
            for file in selection.files:
                services.file_copy(actor=me, file=file, destination=destination)
        messages.success(
            request,
            ngettext(
                "%(count)d file copied to “%(name)s”.",
                "%(count)d files copied to “%(name)s”.",
                len(selection),
            )
            % {
                "count": len(selection),
                "name": selectors.folder_label_for(actor=me, folder=destination),
            },
        )
        return redirect(back_url(request))

    return _run(request, action="copy", need=Permission.VIEW, change=change)
