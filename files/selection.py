"""Several files and folders chosen at once in a list (issue #15, bulk actions).

The list posts the ticked rows as ``file`` and ``folder`` fields (one id per value,
or ids joined by commas: an "Undo" offer carries a whole selection in one field). Each
item is looked up through the same selectors as a single action, so the same access
rules, refusals and audit events apply; a selection is all or nothing: if the person
may not act on one item, nothing is done and the page says how many were refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from files import selectors
from files.errors import FileNotFoundForActor, FileRuleError
from files.models import File, Folder
from files.selectors import Permission

# More than anyone ticks by hand; a crafted form cannot make one request lock and
# audit an unbounded number of rows.
SELECTION_MAX_ITEMS = 1000


class SelectionError(FileRuleError):
    """The selection itself is wrong (empty, too long, not ids): 400."""


class SelectionRefused(FileRuleError):
    """Some items are not there or not the person's to act on: nothing was done."""

    status_code = 404


@dataclass
class Selection:
    files: list[File] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) + len(self.folders)

    @property
    def names(self) -> list[str]:
        return [folder.name for folder in self.folders] + [file.name for file in self.files]

    def outermost(self) -> Selection:
        """Without what lies below a ticked folder: purging or trashing that folder takes
        it along, and acting on it again would be refused (“not in the trash”), rolling
        back the whole selection. In the trash, a folder deleted on its own and then
        its parent both show, and "select all" ticks both."""
        below = set(selectors.folder_descendant_ids([folder.pk for folder in self.folders]))
        return Selection(
            files=[
                file
                for file in self.files
                if file.folder_id not in below
                and all(file.folder_id != folder.pk for folder in self.folders)
            ],
            folders=[folder for folder in self.folders if folder.pk not in below],
        )

    def ids_fields(self) -> dict[str, str]:
        """The selection as one field per kind (an "Undo" offer's form)."""
        return {
            "file": ",".join(str(file.pk) for file in self.files),
            "folder": ",".join(str(folder.pk) for folder in self.folders),
        }


def _ids(data: QueryDict, name: str) -> list[int]:
    ids: list[int] = []
    for value in data.getlist(name):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isascii() or not part.isdigit() or len(part) > 18:
                raise SelectionError(_("The selection is not valid: reload the page."))
            ids.append(int(part))
    return list(dict.fromkeys(ids))


def selection_refusal_record(*, actor: User, action: str, reason: str, count: int) -> None:
    """A refused selection as such (each refused item is audited by its selector too)."""
    audit.record(
        action=Action.FILES_SELECTION_REFUSE,
        outcome=Outcome.DENIED,
        actor=actor,
        details={"bulk_action": action, "reason": reason, "items": count},
    )


def selection_get_for_actor(
    *,
    actor: User,
    data: QueryDict,
    action: str,
    need: Permission = Permission.VIEW,
    in_trash: bool = False,
) -> Selection:
    """The ticked items, each checked as its single action would (``need``, live or in
    the trash). Raises ``SelectionError`` (nothing ticked, too many, not ids) or
    ``SelectionRefused`` (some items refused: each one audited by its selector, and the
    selection as a whole recorded as ``files.selection.refuse``)."""
    try:
        file_ids, folder_ids = _ids(data, "file"), _ids(data, "folder")
    except SelectionError:
        selection_refusal_record(actor=actor, action=action, reason="malformed", count=0)
        raise
    count = len(file_ids) + len(folder_ids)
    if not count:
        selection_refusal_record(actor=actor, action=action, reason="empty", count=0)
        raise SelectionError(_("Tick at least one file or folder first."))
    if count > SELECTION_MAX_ITEMS:
        selection_refusal_record(actor=actor, action=action, reason="too_many", count=count)
        raise SelectionError(
            ngettext(
                "Select at most %(limit)d item at once.",
                "Select at most %(limit)d items at once.",
                SELECTION_MAX_ITEMS,
            )
            % {"limit": SELECTION_MAX_ITEMS}
        )
    selection = Selection()
    refused = 0
    for file_id in file_ids:
        try:
            selection.files.append(
                selectors.file_get_for_actor(
                    actor=actor, file_id=file_id, need=need, in_trash=in_trash
                )
            )
        except FileNotFoundForActor:
            refused += 1
    for folder_id in folder_ids:
        try:
            if in_trash:
                found = selectors.folder_in_trash_get_for_actor(actor=actor, folder_id=folder_id)
                if selectors.folder_permission(actor=actor, folder=found) < need:
                    raise FileNotFoundForActor(f"files.folder {folder_id}")
            else:
                found = selectors.folder_get_for_actor(actor=actor, folder_id=folder_id, need=need)
            selection.folders.append(found)
        except FileNotFoundForActor:
            refused += 1
    if refused:
        selection_refusal_record(actor=actor, action=action, reason="refused", count=refused)
        raise SelectionRefused(
            ngettext(
                "Nothing was done: %(refused)d of the %(count)d selected items is not "
                "there any more or is not yours to change this way.",
                "Nothing was done: %(refused)d of the %(count)d selected items are not "
                "there any more or are not yours to change this way.",
                refused,
            )
            % {"refused": refused, "count": count}
        )
    return selection
