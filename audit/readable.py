"""Events as an auditor reads them: who (a name and an e-mail address, or the outside
recipient and the link they used), did what (the catalogue's label), to which file (its
name and path then, where it is now), when, from where, and how much was sent.

Names come from the apps through ``audit.resolvers``, a batch per kind for a page;
what the event itself recorded (a recipient, a name, a path) wins over what the
objects say today, since they may have changed since.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import resolvers
from audit.actions import CONTENT_SENT, Action, action_label
from audit.floods import flood_sentence
from audit.messages import message_in_reader_language
from audit.models import AuditEvent, Outcome
from audit.refusals import ANONYMOUS_LABEL
from audit.selectors import DownloadEnd, download_ends
from core.sizes import size_text

ACCOUNT_TARGET = "accounts.user"
EXTERNAL_LABEL = re.compile(r"^(link|request):(\d+)$")
SYSTEM_LABEL = "system"


@dataclass(frozen=True)
class Readable:
    event: AuditEvent
    action: str
    who: str  # a name, an e-mail address, "the system"
    who_email: str  # "" when ``who`` is the address itself
    who_via: str  # 'by link “Echo for Dr X”', 'by transfer “Study”'
    outside: bool
    what: str  # the file or folder's name (then), a transfer's subject
    path_then: str
    now: str  # where it is now, "in the trash", "deleted for good"
    version: str
    recipient: str  # who it was shared with (a link's, a share's recipient)
    note: str  # why refused, in words
    ip_address: str
    device: str
    bytes_sent: int | None
    completed: bool | None
    original: str = ""  # a copy's content: the file it was copied from, then ("name (path)")
    part: str = ""  # a part of the file only (a Range, a resume): "bytes 100 to 199 of 5.0 kB"
    # A move between spaces: "from team Cardiologie to Alice Martin's personal space".
    moved: str = ""
    # Done by a person to her own account (signed in, a new password): ``what`` names
    # ``who`` again, which a sentence ("Alice Martin signed in") leaves out.
    about_self: bool = False

    @property
    def occurred_at(self) -> dt.datetime:
        return self.event.occurred_at

    @property
    def sequence(self) -> int:
        return self.event.sequence


# --- Devices -----------------------------------------------------------------------------

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests", "Python"),
    ("rclone", "rclone"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_summary(user_agent: str) -> str:
    """ "Firefox on Windows" from a user-agent string; its first word when unknown."""
    if not user_agent:
        return ""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or user_agent.split(" ", 1)[0][:40]


# --- Rows --------------------------------------------------------------------------------


def _text(details: dict[str, Any], name: str) -> str:
    value = details.get(name)
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def _item_of(event: AuditEvent) -> tuple[str, str]:
    """("file" | "folder" | "transfer", id) the event is about, or ("", "")."""
    details = event.details or {}
    if event.target_type == "files.file":
        return "file", event.target_id
    if event.target_type == "files.folder":
        return "folder", event.target_id
    if _text(details, "file"):
        return "file", _text(details, "file")
    if event.action == Action.SHARING_LINK_CREATE:
        kinds = {"files.file": "file", "files.folder": "folder", "sharing.transfer": "transfer"}
        kind = kinds.get(_text(details, "target_type"), "")
        return (kind, _text(details, "target_id")) if kind else ("", "")
    if event.target_type == "sharing.transfer":
        return "transfer", event.target_id
    return "", ""


def _channel_of(event: AuditEvent) -> tuple[str, str]:
    match = EXTERNAL_LABEL.match(event.actor_label)
    return (match.group(1), match.group(2)) if match and not event.actor_id else ("", "")


def _link_of(event: AuditEvent) -> str:
    """The link an event is about (made, opened, withdrawn...), or ""."""
    return event.target_id if event.target_type == "sharing.link" else ""


_RANGE = re.compile(r"^(?:bytes=)?(\d+)-(\d*)$")


def _part(details: dict[str, Any]) -> str:
    """ "bytes 100 to 199 of 5.0 kB" when only a part of the file was asked for (a Range, a
    resumed download), so that a part never reads as the whole file."""
    match = _RANGE.match(_text(details, "range").strip())
    if match is None:
        return ""
    first, last = match.group(1), match.group(2)
    size = details.get("size")
    if not last and isinstance(size, int) and size > 0:
        last = str(size - 1)
    if isinstance(size, int) and not isinstance(size, bool):
        if first == "0" and last == str(size - 1):
            return ""  # a Range asking for everything is the whole file
        return _("bytes %(first)s to %(last)s of %(size)s") % {
            "first": first,
            "last": last,
            "size": size_text(size),
        }
    return _("bytes %(first)s to %(last)s") % {"first": first, "last": last}


def _via(channel: resolvers.Channel | None) -> str:
    if channel is None:
        return ""
    if channel.transfer:
        return _("by transfer “%(name)s”") % {"name": channel.transfer}
    if channel.kind == "request":
        return _("through the file request “%(name)s”") % {"name": channel.name}
    if channel.name:
        return _("by link “%(name)s”") % {"name": channel.name}
    return _("by link")


def _where_now(item: resolvers.Item | None) -> str:
    if item is None:
        return ""
    if item.purged:
        return _("deleted for good")
    if item.deleted:
        return _("in the trash (from %(location)s)") % {"location": item.location}
    return item.location


# Refusal codes the apps write in "outcome", "reason" or "need" (sharing's AccessOutcome,
# the files app's refusals): shown in words, the code stays on the event's own page.
_REASONS: dict[str, Promise] = {
    "wrong password": gettext_lazy("wrong password"),
    "invalid credentials": gettext_lazy("wrong e-mail address or password"),
    "locked out": gettext_lazy("locked out after failed sign-ins"),
    "bad code": gettext_lazy("wrong e-mail code"),
    # A second factor's code (accounts/mfa.py): a typo, or a right code typed again
    # (read over a shoulder, relayed by a phishing page).
    "invalid code": gettext_lazy("wrong code"),
    "code already used": gettext_lazy("code already used"),
    "unknown": gettext_lazy("unknown link"),
    "revoked": gettext_lazy("withdrawn link"),
    "expired": gettext_lazy("expired link"),
    "limit reached": gettext_lazy("download limit reached"),
    "rate limited": gettext_lazy("too many attempts"),
    "gone": gettext_lazy("no longer available"),
    "quarantined": gettext_lazy("quarantined by the virus scanner"),
    "blocked": gettext_lazy("blocked by the scanning policy"),
    "integrity_failed": gettext_lazy("failed an integrity check"),
    "view": gettext_lazy("no access"),
    "edit": gettext_lazy("no right to change it"),
    "manage": gettext_lazy("no right to manage it"),
    # Team content leaves the team space by a manager's hand only; a copy is for those
    # who may change the file, not for a viewer (docs/sharing-shares.md).
    "move_out_of_team": gettext_lazy("only the team's managers move its files out of the team"),
    "move_out_of_space": gettext_lazy("shared with them: it stays in its owner's space"),
    "view_only": gettext_lazy("view-only access: no copy"),
    "not_space_member": gettext_lazy(
        "shared with them: only the people of its space send it outside"
    ),
    # A leaver's sign-in, token, browser, upload or download refused (docs/accounts.md).
    "account deactivated": gettext_lazy("account deactivated"),
    # A preview that cannot be made (files/previews.py): not a refusal of access.
    "not_an_image": gettext_lazy("this file cannot be shown as an image"),
    "not_streamable": gettext_lazy("this file cannot be played in the browser"),
    "too_large": gettext_lazy("too large to preview"),
    "too_many_pixels": gettext_lazy("too large to preview"),
    "no_pages": gettext_lazy("this file cannot be shown as an image"),
    # Separation of duties (accounts/roles.py): an auditor reads no file content, and
    # nobody confirms in an access review what they granted themselves.
    "auditor": gettext_lazy("an auditor reads no file content"),
    # An auditor's teams, shares, links or file requests left from before the rule:
    # suspended while they hold the role (files.selectors.role_withholds_content).
    "auditor_suspended": gettext_lazy(
        "suspended: an auditor reads no file content, whatever teams or shares they still hold"
    ),
    "auditor_content_access": gettext_lazy("they can read colleagues' files: not while an auditor"),
    "own_grant": gettext_lazy("nobody confirms access they granted themselves"),
    "self_grant": gettext_lazy("nobody gives themselves a role, a team or others' files"),
    # An API token used for what its scopes do not allow (accounts/authentication.py).
    "missing scope": gettext_lazy("the token's scopes do not allow it"),
    # A tus upload refused (files/tus.py): its credential ended while the body arrived,
    # or its person has too many unfinished uploads.
    "token revoked during upload": gettext_lazy("token revoked while the file was arriving"),
    # A download under way cut because its API token ended meanwhile (files/downloads.py).
    "token revoked": gettext_lazy("API token revoked while the file was being sent"),
    "token expired": gettext_lazy("API token expired while the file was being sent"),
    "session ended during upload": gettext_lazy("signed out while the file was arriving"),
    "too many uploads in progress": gettext_lazy("too many uploads in progress"),
}


# A refused API token (accounts/tokens.py): "revoked" and "expired" are the token's here,
# where _REASONS would read them as a link's.
_TOKEN_REASONS: dict[str, Promise] = {
    "revoked": gettext_lazy("revoked API token"),
    "expired": gettext_lazy("expired API token"),
    "unknown token": gettext_lazy("unknown API token"),
    "malformed": gettext_lazy("not an API token"),
    # An auditor holds none: her console is behind the second factor (docs/api.md).
    "auditor": gettext_lazy("an auditor holds no API token"),
}


# A link, transfer or file request withdrawn because its creator was made an auditor
# (accounts.roles.BECAME_AUDITOR; audit imports no app): why, and whose it was.
BECAME_AUDITOR = "became an auditor"


# And because its creator left the team whose files it opened
# (accounts.services.LEFT_THE_TEAM): which team, and who removed her.
LEFT_THE_TEAM = "left the team"


# The same, found afterwards by the operator's backfill of departures and grants from
# before these withdrew anything (sharing/services/withdrawals_backfill.py).
LEFT_THE_TEAM_EARLIER = "left the team earlier"
BECAME_AUDITOR_EARLIER = "became an auditor earlier"
# Opened on content an older move brought into a team's space she is not of.
MOVED_IN_EARLIER = "moved in earlier"


# And because what it opened was moved into a space its creator is not of
# (files.signals.MOVED_OUT): the moved item, both sides and who moved it.
MOVED_OUT = "moved out"


def _files_named(details: dict[str, Any]) -> str:
    files = [str(path) for path in details.get("files") or [] if isinstance(path, str)]
    return " (" + _("files: %(files)s") % {"files": ", ".join(files)} + ")" if files else ""


def _became_auditor_note(details: dict[str, Any]) -> str:
    name = _person_named(_text(details, "owner_person")) or _text(details, "owner")
    note = _("%(name)s became an auditor: an auditor reads no file content") % {"name": name}
    return note + _files_named(details)


def _left_the_team_note(details: dict[str, Any]) -> str:
    name = _person_named(_text(details, "owner_person")) or _text(details, "owner")
    team, removed_by = _text(details, "team"), _text(details, "removed_by")
    if removed_by:
        note = _("%(name)s left the team %(team)s (removed by %(by)s)") % {
            "name": name,
            "team": team,
            "by": removed_by,
        }
    else:
        note = _("%(name)s left the team %(team)s") % {"name": name, "team": team}
    return note + _files_named(details)


def _moved_out_note(details: dict[str, Any]) -> str:
    name = _person_named(_text(details, "owner_person")) or _text(details, "owner")
    values = {
        "name": name,
        "item": _text(details, "moved_item"),
        "from": _place(details, "from"),
        "to": _place(details, "to"),
        "by": _text(details, "moved_by"),
    }
    if values["by"]:
        note = (
            _(
                "%(name)s may no longer open it to people outside: “%(item)s” was moved from "
                "%(from)s to %(to)s by %(by)s"
            )
            % values
        )
    else:
        note = (
            _(
                "%(name)s may no longer open it to people outside: “%(item)s” was moved from "
                "%(from)s to %(to)s"
            )
            % values
        )
    return note + _files_named(details)


def _found_afterwards_note(details: dict[str, Any], *, auditor: bool) -> str:
    name = _person_named(_text(details, "owner_person")) or _text(details, "owner")
    if auditor:
        note = _(
            "%(name)s had become an auditor (an auditor reads no file content); found "
            "afterwards by the operator's backfill"
        ) % {"name": name}
    else:
        note = _(
            "%(name)s had left the team %(team)s; found afterwards by the operator's backfill"
        ) % {"name": name, "team": _text(details, "team")}
    return note + _files_named(details)


def _note(event: AuditEvent) -> str:
    """Why an attempt failed, in words; nothing when the code is not one of the above.
    A withdrawal that is not a refusal says why too when its reason is one a person
    would otherwise have to guess (``BECAME_AUDITOR``, ``LEFT_THE_TEAM``, a link
    withdrawn because of its recipient)."""
    details = event.details or {}
    if _text(details, "reason") == BECAME_AUDITOR:
        return _became_auditor_note(details)
    if _text(details, "reason") == LEFT_THE_TEAM:
        return _left_the_team_note(details)
    if _text(details, "reason") == MOVED_OUT:
        return _moved_out_note(details)
    if _text(details, "reason") == MOVED_IN_EARLIER:
        name = _person_named(_text(details, "owner_person")) or _text(details, "owner")
        note = _(
            "%(name)s is not a member of the team %(team)s, into whose space it was moved "
            "after it was opened; found afterwards by the operator's backfill"
        ) % {"name": name, "team": _text(details, "team")}
        return note + _files_named(details)
    if _text(details, "reason") in {LEFT_THE_TEAM_EARLIER, BECAME_AUDITOR_EARLIER}:
        return _found_afterwards_note(
            details, auditor=_text(details, "reason") == BECAME_AUDITOR_EARLIER
        )
    if event.outcome == Outcome.SUCCESS:
        return _withdrawal_note(event.action, details)
    if event.action == Action.REQUEST_INPUT_REFUSE:
        return _input_refusal_note(details)
    if event.action == Action.RATELIMIT_FLOOD:
        return flood_sentence(details, target_type=event.target_type)
    # Their codes are a token's, not a link's.
    if event.action in (Action.ACCOUNTS_TOKEN_USE, Action.ACCOUNTS_TOKEN_CREATE):
        token_reason = _TOKEN_REASONS.get(_text(details, "reason"))
        if token_reason is not None:
            return _flood_started(str(token_reason), details)
    # "rule": the precise reason a sender was not shown (sharing/services/links.py).
    for field in ("outcome", "reason", "need", "rule"):
        reason = _REASONS.get(_text(details, field))
        if reason is not None:
            return _flood_started(str(reason), details)
    if details.get("flood_window_minutes"):  # a limit's own event (ratelimit.api...)
        return _flood_started(str(_REASONS["rate limited"]), details)
    if details.get("message_id") or details.get("message_language"):
        # A refusal that keeps the message the person was shown (audit/messages.py): a
        # file request's as ``detail`` (its ``reason`` a code), a link or transfer
        # refused as ``reason``.
        for field in ("detail", "reason", "message"):
            if _text(details, field):
                return message_in_reader_language(details, field=field)
    return ""


def _withdrawal_note(action: str, details: dict[str, Any]) -> str:
    """Why a link was withdrawn by someone other than its maker (the codes of
    sharing/services/addressed_links.py): its recipient left, or her address changed
    (from which address, the one the link was made for, to which)."""
    if action != Action.SHARING_LINK_REVOKE:
        return ""
    reason = _text(details, "reason")
    if reason == "recipient left":
        return _("its recipient left")
    if reason == "recipient address changed":
        return _("the address of its recipient changed from %(former)s to %(new)s") % {
            "former": _text(details, "recipient"),
            "new": _text(details, "recipient_new_address"),
        }
    return ""


def _flood_started(note: str, details: dict[str, Any]) -> str:
    """The first refusal of a rate limit's window says what becomes of the next ones."""
    minutes = details.get("flood_window_minutes")
    if not details.get("next_not_recorded") or not isinstance(minutes, int):
        return note
    then = _(
        "the next ones from the same source in the following %(minutes)s minutes are "
        "counted, and recorded as one event when the window ends"
    ) % {"minutes": minutes}
    return f"{note} ({then})"


def _input_refusal_note(details: dict[str, Any]) -> str:
    """Why what was sent was refused: the message the person was shown, else the fields
    of the form (their names, never their values)."""
    if details.get("next_not_recorded"):
        return _(
            "too many refusals from this client: the next ones in the following 10 minutes "
            "are not recorded, only logged"
        )
    message = message_in_reader_language(details)
    if message:
        return message
    fields = [str(name) for name in details.get("fields") or [] if isinstance(name, str)]
    if fields:
        return _("the form was not valid (fields: %(fields)s)") % {"fields": ", ".join(fields)}
    return _("what was sent could not be used")


def readable_events(events: Sequence[AuditEvent]) -> list[Readable]:
    """A page of events in words, with one lookup per kind of name."""
    # The people who acted, and those acted on (an account deactivated, exported...).
    people = resolvers.people(
        [event.actor_id for event in events]
        + [event.target_id for event in events if event.target_type == ACCOUNT_TARGET]
    )
    wanted: dict[str, set[str]] = {"file": set(), "folder": set(), "transfer": set()}
    channel_ids: dict[str, set[str]] = {"link": set(), "request": set()}
    for event in events:
        kind, identifier = _item_of(event)
        if kind:
            wanted[kind].add(identifier)
        channel_kind, channel_id = _channel_of(event)
        if channel_kind:
            channel_ids[channel_kind].add(channel_id)
        if _link_of(event):
            channel_ids["link"].add(_link_of(event))
    ends = download_ends(list(events))
    files = resolvers.items("file", wanted["file"])
    folders = resolvers.items("folder", wanted["folder"])
    transfers = resolvers.channels("transfer", wanted["transfer"])
    links = resolvers.channels("link", channel_ids["link"])
    requests = resolvers.channels("request", channel_ids["request"])
    return [
        _readable(
            event, people, files, folders, transfers, links, requests, ends.get(event.sequence)
        )
        for event in events
    ]


def _readable(
    event: AuditEvent,
    people: dict[str, resolvers.Person],
    files: dict[str, resolvers.Item],
    folders: dict[str, resolvers.Item],
    transfers: dict[str, resolvers.Channel],
    links: dict[str, resolvers.Channel],
    requests: dict[str, resolvers.Channel],
    end: DownloadEnd | None = None,
) -> Readable:
    details = event.details or {}
    who, who_email, who_via, outside = event.actor_label, "", "", False
    person = people.get(event.actor_id)
    channel_kind, channel_id = _channel_of(event)
    if person is not None:
        who, who_email = person.name, person.email
        if not person.active:
            who_via = _("(account closed)")
        token_name = _text(details, "api_token_name") or _text(details, "api_token")
        if token_name:  # not in a browser: through the REST API with a personal token
            by_token = _("with the API token “%(name)s”") % {"name": token_name}
            who_via = f"{by_token} {who_via}" if who_via else by_token
    elif channel_kind:
        channel = (links if channel_kind == "link" else requests).get(channel_id)
        outside = True
        who = (
            _text(details, "recipient")
            or _text(details, "uploader_email")
            or (channel.recipient if channel else "")
            or _text(details, "uploader_name")
            or _("an outside person")
        )
        who_via = _via(channel) or (
            _("by link") if channel_kind == "link" else _("through a file request")
        )
    elif event.actor_label == ANONYMOUS_LABEL:
        who = _("someone not signed in")
    elif event.actor_label == SYSTEM_LABEL or not event.actor_label:
        who = _("the system")
    kind, identifier = _item_of(event)
    item = {"file": files, "folder": folders}.get(kind, {}).get(identifier)
    what = _text(details, "name")
    if kind == "transfer":
        transfer = transfers.get(identifier)
        # The transfer's own actions say "a transfer" already ("sent a transfer
        # “Scanner”"); the others (a file added through it) need the word.
        named = (
            _("“%(name)s”")
            if event.action.startswith("sharing.transfer.")
            else _("transfer “%(name)s”")
        )
        what = what or (named % {"name": transfer.name} if transfer else "")
    elif item is not None:
        what = what or item.name
    link = links.get(_link_of(event))
    if not what and link is not None:  # a link opened or withdrawn: what it gives
        what = link.target
    if not what and event.target_type == ACCOUNT_TARGET:  # done to a person
        target_person = people.get(event.target_id)
        if target_person is not None:
            what = (
                f"{target_person.name} ({target_person.email})"
                if target_person.name != target_person.email
                else target_person.email
            )
    if not what and event.action == Action.REVIEWS_ITEM_DECIDE:
        # The member, share or link decided, worded in the reader's language.
        what = resolvers.review_item(details)
    # Imaging events name the patient and study they touched (imaging/names.py).
    study_name = _text(details, "study_name")
    if study_name:
        what = f"{what} ({study_name})" if what else study_name
    number = _text(details, "number")
    sends_content = event.action in CONTENT_SENT
    bytes_value = details.get("bytes") if sends_content else None
    completed = details.get("completed") if sends_content else None
    if end is not None:  # what really left, from the download's end event
        bytes_value, completed = end.bytes_sent, end.completed
    recipient = ""
    if event.action in (Action.SHARING_LINK_CREATE, Action.SHARING_TRANSFER_SEND):
        recipient = _text(details, "recipient") or ", ".join(
            str(value) for value in details.get("recipients", []) if isinstance(value, str)
        )
    elif event.action in (Action.SHARING_SHARE_CREATE, Action.SHARING_SHARE_DELETE):
        recipient = _text(details, "recipient_user")
    elif event.action == Action.SHARING_LINK_REVOKE and link is not None:
        # Whose link, for whom: an administrator (or the offboarding) withdrawing a
        # colleague's link names both.
        recipient = link.recipient
        sent = [name for name in details.get("files") or [] if isinstance(name, str)]
        if what and _text(details, "transfer"):
            # A recipient's link of a transfer, withdrawn with her address (leaver,
            # address changed): the subject and the files it gave, as recorded then.
            what = _("transfer “%(name)s”") % {"name": what}
            if sent:
                what = f"{what} ({', '.join(sent)})"
        owner = _text(details, "owner") or link.owner
        if owner and owner != (person.email if person is not None else ""):
            owner = _person_named(_text(details, "owner_person")) or owner
            made_by = _("link made by %(owner)s") % {"owner": owner}
            what = f"{what} ({made_by})" if what else made_by
    return Readable(
        event=event,
        action=action_label(event.action),
        who=who,
        who_email=who_email if who_email != who else "",
        who_via=who_via,
        outside=outside,
        what=what,
        path_then=_text(details, "path"),
        now=_where_now(item),
        version=(_("version %(number)s") % {"number": number}) if number else "",
        recipient=recipient,
        note=_note(event),
        ip_address=event.ip_address,
        device=device_summary(event.user_agent),
        bytes_sent=bytes_value if isinstance(bytes_value, int) else None,
        completed=completed if isinstance(completed, bool) else None,
        original=_original(details),
        part=_seen_part(event.action, details),
        moved=_moved(event.action, details),
        about_self=bool(event.actor_id)
        and event.target_type == ACCOUNT_TARGET
        and event.target_id == event.actor_id,
    )


def _person_named(value: str) -> str:
    """ "Alice Martin" from "Alice Martin <alice@…>" (how a move names a person)."""
    name, _bracket, _address = value.partition(" <")
    return name


def _place(details: dict[str, Any], prefix: str) -> str:
    team = _text(details, f"{prefix}_team")
    if team:
        return _("team %(team)s") % {"team": team}
    owner = _text(details, f"{prefix}_owner")
    if owner:
        return _("%(name)s's personal space") % {"name": _person_named(owner)}
    return ""


def _moved(action: str, details: dict[str, Any]) -> str:
    """Whose space a move took a file or folder out of, and into, as it recorded them."""
    if action not in (Action.FILES_FILE_MOVE, Action.FILES_FOLDER_MOVE):
        return ""
    origin, destination = _place(details, "from"), _place(details, "to")
    if not origin or not destination:
        return ""
    return _("from %(origin)s to %(destination)s") % {
        "origin": origin,
        "destination": destination,
    }


def _seen_part(action: str, details: dict[str, Any]) -> str:
    """Which part of the content left or was shown, when not the whole file."""
    if action not in CONTENT_SENT:
        return ""
    if _text(details, "rendition") == "thumbnail":
        return _("a thumbnail")
    return _part(details)


def _original(details: dict[str, Any]) -> str:
    """The file a copy's content came from, as the event named it (files/lineage.py)."""
    original = details.get("original")
    if not isinstance(original, dict) or original.get("file") == details.get("file"):
        return ""  # no copy, or a restored version of the same file
    name, path = _text(original, "name"), _text(original, "path")
    return path or name
