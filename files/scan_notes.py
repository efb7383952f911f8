"""The scan verdict in plain words, for the file's page and the uploader's e-mail.

``FileVersion.scan_note`` keeps what the scan found (files/services/finalize.py); this
module says it to a person: why a file was blocked or not fully scanned and what they
can do, which member of an archive held a threat, how many windows a scan took.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.sizes import size_text
from files.models import FileVersion, ScanStatus

_ARCHIVE_REASONS = {
    "encrypted": lambda: _(
        "It is an archive with a password-protected entry, which the virus scanner cannot open."
    ),
    "nested_too_deep": lambda: _(
        "It is an archive with archives nested too deeply inside each other to be checked."
    ),
    "nested_too_big": lambda: _(
        "It is an archive holding another archive too large to be checked inside it."
    ),
    "too_many_entries": lambda: _("It is an archive with more files than can be checked."),
    "ratio": lambda: _(
        "It is an archive that unpacks to far more than its size (like an archive bomb)."
    ),
    "hidden_data": lambda: _(
        "It is an archive holding data that belongs to none of its files, which cannot be checked."
    ),
    "unreadable": lambda: _("It is an archive that is damaged or in a form that cannot be opened."),
    "zip64": lambda: _("It is a ZIP64 archive the virus scanner cannot fully open."),
}


def _too_big(note: dict[str, Any]) -> str:
    limit = size_text(note.get("scan_max_bytes") or 0)
    member = note.get("member")
    if member:
        return _(
            "“%(member)s” in this archive is larger than the virus scanner can check in one "
            "pass (%(limit)s)."
        ) % {"member": member, "limit": limit}
    return _("It is larger than the virus scanner can check in one pass (%(limit)s).") % {
        "limit": limit
    }


def _reason(note: dict[str, Any]) -> str:
    reason = str(note.get("reason", ""))
    if reason == "too_big" and (note.get("scan_max_bytes") or note.get("member")):
        return _too_big(note)
    if reason in ("too_big", "scanner_limit"):
        return _("It is larger than the virus scanner can check.")
    if reason in _ARCHIVE_REASONS:
        return _ARCHIVE_REASONS[reason]()
    return _("The virus scanner could not fully check it.")


def _what_to_do(note: dict[str, Any]) -> str:
    if note.get("reason") in ("too_big", "scanner_limit"):
        return _(
            "What you can do: put it in a ZIP archive whose files are each smaller than "
            "that (each file of a ZIP is checked on its own), or ask your administrator "
            "to let your team's large files be scanned in windows."
        )
    return _(
        "What you can do: send the files unpacked or in a plain ZIP archive without a "
        "password, or ask your administrator."
    )


def scan_note_lines(version: FileVersion) -> list[str]:
    """Plain sentences about the version's scan, empty when there is nothing to add."""
    note: dict[str, Any] = version.scan_note or {}
    status = version.scan_status
    if status == ScanStatus.QUARANTINED and note.get("member"):
        return [
            _(
                "The virus scanner found a threat (%(signature)s) in “%(member)s” inside this "
                "archive: the whole upload is quarantined."
            )
            % {"signature": note.get("signature", ""), "member": note["member"]}
        ]
    if status == ScanStatus.BLOCKED:
        return [
            _(
                "Blocked by the site's scanning policy: no threat was found, but the file "
                "could not be fully checked, so nobody can download it."
            ),
            _reason(note),
            _what_to_do(note),
        ]
    if status == ScanStatus.NOT_SCANNED:
        return [
            _(
                "Not fully scanned: the site's policy lets it through although the virus "
                "scanner could not fully check it. Download it only if you trust its source."
            ),
            _reason(note),
        ]
    if status == ScanStatus.AVAILABLE and note.get("scan_windows"):
        windows = int(note["scan_windows"])
        return [
            ngettext(
                "Scanned in %(count)d overlapping window, being larger than the scanner "
                "takes in one pass.",
                "Scanned in %(count)d overlapping windows, being larger than the scanner "
                "takes in one pass.",
                windows,
            )
            % {"count": windows}
        ]
    return []
