"""GDPR duties: a person's data export (Art. 15 and 20) and the erasure of their
content by crypto-shredding (Art. 17). Both are audited; the audit log itself is kept
(Art. 17(3)(b) and (e): a legal obligation of the health-data host, and evidence for
legal claims), with the retention of docs/audit.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import zipstream
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit import services as audit
from audit.actions import Action, action_catalogued
from audit.exports import jsonl_chunks
from audit.models import Outcome
from audit.selectors import EventFilter, audit_head_sequence
from core.errors import RuleError
from files.lineage import file_path
from files.models import File, FileVersion, Folder, UploadSession
from files.services.common import purge_cleanup_on_commit, versions_shred
from files.tus import upload_delete
from privacy import selectors

README = """SecureDrive personal data export
================================

Person: {email} (account {id})
Exported: {exported_at} by {exported_by}

profile.json          your account: name, e-mail, roles, teams, dates
files.jsonl           one line per file you own or added: name, folder path, space,
                      dates and every version's size, type, date and scan status.
                      File content is not included: download your files from
                      SecureDrive itself while your account is active.
shares.jsonl          files and folders you shared with colleagues or teams
links.jsonl           external links you created (the link secrets are never stored)
transfers.jsonl       transfers you sent
file_requests.jsonl   file requests you opened
activity.jsonl        your actions as recorded in the audit log, up to event #{head}
                      (when, what, which file, from which address and browser)
about_you.jsonl       what others did that concerns you, up to the same event: changes
                      to your account, and events that name your e-mail address
                      (shares, links and transfers sent to you, invitations).
                      Who did it is named; their network address and browser, and
                      anyone else's e-mail address, read "(another person)" or are
                      left empty: they are that person's data, not yours.
{left_out}"""

AUDIT_WORK_LEFT_OUT = """
Left out of activity.jsonl: your work in the audit console (searches, exports,
reports). This archive was made for you by an administrator, and what an auditor
looked at is not for an administrator to read. Ask an auditor of {organisation}:
the audit console exports it (filter on your account).
"""

ANOTHER_PERSON = "(another person)"


class ErasureRefused(RuleError):
    """The erasure may not run: the account is active, or the confirmation is wrong."""


def _json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _someone_elses_redacted(value: Any, *, address: str) -> Any:
    if isinstance(value, list):
        return [_someone_elses_redacted(item, address=address) for item in value]
    if isinstance(value, str) and (
        value.strip().casefold() == address
        # The person as the log names them, "Name <address>": their own name. Only
        # that shape: a free text ending with their address may quote someone else.
        or re.fullmatch(r"[^<>@\n]*<" + re.escape(address) + ">", value.strip().casefold())
    ):
        return value
    return ANOTHER_PERSON


def _about_redacted(chunks: Iterable[bytes], *, person: User) -> Iterator[bytes]:
    """Others' events about the person without the others' own personal data.

    GDPR Art. 15(4): a copy for one person must not disclose another's data. The event
    says who acted (the person is owed that), not from which address and browser, and
    in the details the catalogue marks as personal (audit/actions.py) only the person's
    own address stays: a transfer sent to them and to a patient's GP must not hand them
    the GP's address. The hashes are the log's, for the DPO to find the original event.
    """
    address = person.email.strip().casefold()
    for chunk in chunks:
        for line in chunk.splitlines():
            event = json.loads(line)
            event["ip_address"] = ""
            event["user_agent"] = ""
            details = event.get("details")
            action = action_catalogued(event["action"])
            if isinstance(details, dict) and action is not None:
                for field in action.personal_details & details.keys():
                    details[field] = _someone_elses_redacted(details[field], address=address)
            yield (json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def personal_data_export(*, actor: User, person: User) -> Iterator[bytes]:
    """The person's data as a ZIP, built while it is sent (constant memory).

    The export is recorded before the first byte leaves; the activity is pinned to the
    head of the log at that moment, so the archive does not chase its own event.
    """
    head = audit_head_sequence()
    # Made by someone else (an administrator, for a leaver): the person's searches of
    # the audit log stay out. An auditor under one administrator's eyes would otherwise
    # be one deactivation away from having her investigations read (docs/privacy.md).
    for_someone_else = actor.pk != person.pk
    audit.record(
        action=Action.PRIVACY_EXPORT,
        actor=actor,
        target_type="accounts.user",
        target_id=person.pk,
        details={
            "person": person.email,
            "up_to_sequence": head,
            "audit_work_left_out": for_someone_else,
        },
    )
    archive = zipstream.ZipStream(compress_type=zipstream.ZIP_DEFLATED, sized=False)
    archive.add(
        README.format(
            email=person.email,
            id=person.pk,
            exported_at=timezone.now().isoformat(timespec="seconds"),
            exported_by=actor.email,
            head=head,
            left_out=AUDIT_WORK_LEFT_OUT.format(organisation=settings.ORGANISATION_NAME)
            if for_someone_else
            else "",
        ),
        "README.txt",
    )
    archive.add(
        json.dumps(selectors.person_profile(person), ensure_ascii=False, indent=2, sort_keys=True),
        "profile.json",
    )
    archive.add(_json_lines(selectors.person_files_metadata(person)), "files.jsonl")
    archive.add(_json_lines(selectors.person_shares(person)), "shares.jsonl")
    archive.add(_json_lines(selectors.person_links(person)), "links.jsonl")
    archive.add(_json_lines(selectors.person_transfers(person)), "transfers.jsonl")
    archive.add(_json_lines(selectors.person_file_requests(person)), "file_requests.jsonl")
    activity = EventFilter(
        actor=str(person.pk), up_to_sequence=head, hide_audit_work=for_someone_else
    )
    archive.add(jsonl_chunks(activity), "activity.jsonl")
    # The catalogue (audit/actions.py) says which event details hold personal data.
    about = EventFilter(about_email=person.email, about_account=str(person.pk), up_to_sequence=head)
    archive.add(_about_redacted(jsonl_chunks(about), person=person), "about_you.jsonl")
    return iter(archive)


@dataclass(frozen=True)
class ErasureReport:
    files: int
    versions_shredded: int
    uploads_discarded: int


def person_content_erase(*, actor: User, person: User, confirmation: str) -> ErasureReport:
    """Crypto-shred the files left in a deactivated person's personal space.

    The versions' wrapped data keys are destroyed in this transaction (the blobs become
    unreadable at once, backups included); the blobs are deleted after the commit by
    the files app's usual task. Unfinished uploads lose their keys too. Refused unless
    the account is deactivated and ``confirmation`` is the person's e-mail address.
    """
    if person.is_active:
        raise ErasureRefused(_("Deactivate the account before erasing its content."))
    if confirmation.strip().casefold() != person.email.casefold():
        raise ErasureRefused(_("Type the person's e-mail address exactly to confirm."))
    now = timezone.now()
    with transaction.atomic():
        person = User.objects.select_for_update(no_key=True).get(pk=person.pk)
        if person.is_active:
            raise ErasureRefused(_("Deactivate the account before erasing its content."))
        files = File.objects.select_for_update().filter(
            pk__in=selectors.person_erasable_files(person).values("pk")
        )
        erased = list(files)
        file_ids = [file.pk for file in erased]
        # Each file's own history says it was destroyed, when and by whom, as a file
        # deleted for good does: the auditor asking about one file sees its end, not
        # only one event about the person with a count (the path is the one now).
        for file in erased:
            audit.record(
                action=Action.FILES_FILE_PURGE,
                actor=actor,
                target_type="files.file",
                target_id=file.pk,
                details={
                    "name": file.name,
                    "path": file_path(file),
                    "space": file.space_id,
                    "erasure": True,  # the privacy.erasure event beside it names the person
                    "versions_shredded": file.versions.filter(shredded_at__isnull=True).count(),
                },
            )
        shredded = versions_shred(FileVersion.objects.filter(file_id__in=file_ids), now)
        File.objects.filter(pk__in=file_ids).update(purged_at=now)
        File.objects.filter(pk__in=file_ids, deleted_at__isnull=True).update(deleted_at=now)
        folders = Folder.objects.filter(space__owner=person, parent__isnull=False)
        folders.filter(deleted_at__isnull=True).update(deleted_at=now)
        folders.update(purged_at=now)
        # Row and staged ciphertext both (the objects go after the commit): deleting the
        # rows alone left the upload's objects in storage, which nothing would ever remove.
        uploads = 0
        for session in UploadSession.objects.filter(owner=person, completed_at__isnull=True):
            upload_delete(session=session)
            uploads += 1
        audit.record(
            action=Action.PRIVACY_ERASURE,
            actor=actor,
            target_type="accounts.user",
            target_id=person.pk,
            details={
                "person": person.email,
                "files": len(file_ids),
                "versions_shredded": shredded,
                "uploads_discarded": uploads,
            },
        )
        purge_cleanup_on_commit()
    return ErasureReport(len(file_ids), shredded, uploads)


def personal_data_export_refused(*, actor: User, person_id: int, reason: str = "") -> None:
    audit.record(
        action=Action.PRIVACY_EXPORT,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=person_id,
        details={"reason": reason} if reason else {},
    )


def export_for_other_refusal(*, actor: User, person: User) -> str:
    """Why ``actor`` may not export ``person``'s data for them ("" when they may).

    An active person downloads their own data. The administrator's export is for those
    who can no longer sign in: on an active account it would hand the administrator
    that person's whole activity in the audit log (an auditor's searches included),
    which separation of duties keeps from administrators (docs/accounts.md).
    """
    if actor.pk != person.pk and person.is_active:
        return "person_active"
    return ""
