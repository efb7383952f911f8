"""Several ticked files and folders at once, the sharing side (issue #15): download
them as one streamed ZIP, or share them all with one person or team. The other bulk
actions (trash, restore, move, copy, delete permanently) are in files/views/bulk.py;
both read the selection through ``files.selection`` (the same access checks and audit
events as one item at a time; all or nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.permissions import signed_in_user
from audit import services as audit
from audit.actions import Action
from audit.context import context_from_request
from files.downloads import download_end_recorder
from files.errors import FileRuleError
from files.lineage import version_lineage_details
from files.models import File
from files.selection import selection_get_for_actor
from files.views.bulk import back_url, selection_error_page
from sharing.errors import ShareRuleError
from sharing.forms.shares import ShareAddForm
from sharing.services import shares
from sharing.services.archives import (
    ArchiveEntry,
    archive_entries_for_folder,
    archive_response,
)
from sharing.services.link_downloads import archive_members_sent


@login_required
@require_POST
def selection_download(request: HttpRequest) -> HttpResponseBase:
    """The ticked files, and the folders with everything in them, as one ZIP streamed
    while it is made (sharing/services/archives.py). A file not downloadable now (not
    scanned yet, quarantined) is left out and said so; nothing downloadable at all is
    a 409. Audited like single downloads: one ``files.version.download`` event per
    member, naming its lineage, all tied together by an archive id."""
    me = signed_in_user(request)
    try:
        selection = selection_get_for_actor(actor=me, data=request.POST, action="download")
    except FileRuleError as error:
        return selection_error_page(request, error)
    entries: list[ArchiveEntry] = []
    left_out: list[File] = []
    for folder in selection.folders:
        inside, skipped = archive_entries_for_folder(folder)
        entries += inside
        left_out += skipped
    for file in selection.files:
        version = file.current_version
        if version is None or not version.is_downloadable:
            left_out.append(file)
        else:
            entries.append(ArchiveEntry(path=file.name, version=version))
    if not entries:
        return selection_error_page(
            request,
            FileRuleError(
                _(
                    "None of the selected files can be downloaded now: they are waiting "
                    "for the virus scanner or were stopped by it."
                ),
                status_code=409,
            ),
        )
    archive_id = str(uuid.uuid4())
    context = context_from_request(request)
    if left_out:
        # Shown on the next page the person opens (the download itself has no page).
        messages.warning(
            request,
            ngettext(
                "%(count)d file was left out of the ZIP: it cannot be downloaded yet.",
                "%(count)d files were left out of the ZIP: they cannot be downloaded yet.",
                len(left_out),
            )
            % {"count": len(left_out)},
        )
    name = _("SecureDrive %(date)s") % {"date": timezone.localdate().isoformat()}

    # Recorded from what ``archive_response``'s own re-check puts in the ZIP (a version
    # quarantined since the listing above is left out of it, and out of the log).
    ends: list[Callable[[int, bool], None]] = []
    archived: list[ArchiveEntry] = []

    def started(members: list[ArchiveEntry], dropped: list[ArchiveEntry]) -> None:
        # Each member's start and end share a ``download`` id, as a single download's
        # do: the auditor reads one row per file with the bytes really sent and whether
        # the ZIP completed (audit.selectors.download_ends).
        archived.extend(members)
        for entry in members:
            download_id = uuid.uuid4().hex
            audit.record(
                action=Action.FILES_VERSION_DOWNLOAD,
                actor=me,
                target_type="files.version",
                target_id=entry.version.pk,
                # The file, version and path at the time (and the original of a copy).
                details={
                    **version_lineage_details(entry.version),
                    "download": download_id,
                    "archive": archive_id,
                    "archive_path": entry.path,
                    "archive_members": len(members),
                    "archive_left_out": len(left_out) + len(dropped),
                },
                request=context,
            )
            # Each member's end: files.downloads' recorder, as a single download's.
            ends.append(
                download_end_recorder(
                    actor=me,
                    version=entry.version,
                    context=context,
                    download_id=download_id,
                    extra={"archive": archive_id},
                )
            )

    def finished(bytes_sent: int, completed: bool) -> None:
        sent = archive_members_sent(archived, bytes_sent=bytes_sent, completed=completed)
        for end, (member_bytes, member_completed) in zip(ends, sent, strict=True):
            end(member_bytes, member_completed)

    return archive_response(
        request=request,
        entries=entries,
        archive_name=name,
        actor=me,
        on_finished=finished,
        on_start=started,
    )


@login_required
@require_POST
def selection_share(request: HttpRequest) -> HttpResponse:
    """Share every ticked item with one person or team, with one role. Each item is
    checked as on its own sharing page; one refusal and nothing is shared."""
    me = signed_in_user(request)
    try:
        selection = selection_get_for_actor(actor=me, data=request.POST, action="share")
    except FileRuleError as error:
        return selection_error_page(request, error)
    form = ShareAddForm(request.POST)
    if not form.is_valid():
        return selection_error_page(
            request, FileRuleError(_("Enter a colleague's e-mail address or a team's name."))
        )
    try:
        with transaction.atomic():
            recipient = None
            for item in [*selection.folders, *selection.files]:
                checked = shares.item_for_sharing(
                    actor=me,
                    file_id=item.pk if isinstance(item, File) else None,
                    folder_id=None if isinstance(item, File) else item.pk,
                )
                if recipient is None:
                    recipient = shares.recipient_find(
                        actor=me, text=form.cleaned_data["recipient"], item=checked
                    )
                shares.share_create(
                    actor=me, item=checked, recipient=recipient, role=form.cleaned_data["role"]
                )
    except ShareRuleError as error:
        return selection_error_page(request, FileRuleError(str(error), error.status_code))
    messages.success(
        request,
        ngettext(
            "%(count)d item shared with %(name)s.",
            "%(count)d items shared with %(name)s.",
            len(selection),
        )
        % {"count": len(selection), "name": recipient},
    )
    return redirect(back_url(request))
