"""The confirmation asked before team content leaves the team space (a manager moving
a file or folder into someone's personal space or into another team's): it changes who
can see it, so the page says so before it happens. It is asked too before any move that
withdraws what people had opened to outsiders on the moved content, since they are not
of the destination (``files.signals``): each of them by name, with what she loses, ten
at most and "and N more" (``core.bounded``). A move or a copy into a folder that
external links reach names those links first (their makers, until when). HTTP only:
who may is decided by ``files.selectors.move_destination_check`` and ``copy_check``,
called by the services for every way in.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Team, User
from core.bounded import bounded
from core.confirm import confirmation_page, confirmed
from files import selectors
from files.models import File, Folder
from files.signals import MoveExposure, move_exposures, move_losses


def _title_out_of_team(leaving: list[tuple[File | Folder, Team]], teams: list[str]) -> str:
    if len(leaving) == 1:
        return _("Move “%(name)s” out of the team %(team)s?") % {
            "name": leaving[0][0].name,
            "team": teams[0],
        }
    return ngettext(
        "Move %(count)d item out of the team %(team)s?",
        "Move %(count)d items out of the team %(team)s?",
        len(leaving),
    ) % {"count": len(leaving), "team": ", ".join(teams)}


def _exposure_sentence(exposures: Sequence[MoveExposure], *, copying: bool) -> str:
    """How many external links will show the moved or copied items to people outside,
    who made them and until when (the mover or copier is often not the links' maker)."""
    opening = sum(exposure.count for exposure in exposures)
    makers = ", ".join(sorted({maker for exposure in exposures for maker in exposure.makers}))
    if copying:
        sentence = ngettext(
            "People outside the organisation will open what you copy: %(count)d external "
            "link reaches the folder it goes to (made by %(makers)s), and a link to a "
            "folder shows files added later too.",
            "People outside the organisation will open what you copy: %(count)d external "
            "links reach the folder it goes to (made by %(makers)s), and a link to a "
            "folder shows files added later too.",
            opening,
        )
    else:
        sentence = ngettext(
            "People outside the organisation will open it: %(count)d external link "
            "reaches the folder it goes to (made by %(makers)s), and a link to a "
            "folder shows files added later too.",
            "People outside the organisation will open it: %(count)d external links "
            "reach the folder it goes to (made by %(makers)s), and a link to a "
            "folder shows files added later too.",
            opening,
        )
    sentence %= {"count": opening, "makers": makers}
    ends = [exposure.until for exposure in exposures if exposure.until is not None]
    if ends:
        until = date_format(timezone.localtime(max(ends)), "DATE_FORMAT")
        sentence += " " + _("Open until %(until)s at the latest.") % {"until": until}
    return sentence


def team_exit_confirmation(
    request: HttpRequest,
    *,
    items: Sequence[File | Folder],
    destination: Folder,
    cancel_url: str,
) -> HttpResponse | None:
    """The page asking to confirm, or ``None`` when the person has confirmed, or when
    nothing leaves a team space and nothing anyone opened to outsiders is withdrawn.
    Call it after ``move_destination_check`` (a member is refused before being asked
    anything)."""
    if confirmed(request):
        return None
    leaving = [
        (item, team)
        for item in items
        if (team := selectors.team_left_by_move(item=item, destination=destination)) is not None
    ]
    losses = move_losses(items=items, destination=destination)
    exposures = move_exposures(items=items, destination=destination)
    if not leaving and not losses and not exposures:
        return None
    teams = sorted({team.name for _item, team in leaving})
    destination_label = selectors.space_holder_label(destination.space)
    crossing = (
        [item for item, _team in leaving]
        or [item for item in items if item.space_id != destination.space_id]
        or list(items)  # a move within the space, into a folder links reach
    )
    names = ", ".join(_("“%(name)s”") % {"name": item.name} for item in crossing[:20])
    if len(crossing) > 20:
        more = len(crossing) - 20
        names += " " + ngettext("and %(count)d more", "and %(count)d more", more) % {"count": more}
    if leaving:
        title = _title_out_of_team(leaving, teams)
    elif len(crossing) == 1:
        title = _("Move “%(name)s” to %(destination)s?") % {
            "name": crossing[0].name,
            "destination": destination_label,
        }
    else:
        title = ngettext(
            "Move %(count)d item to %(destination)s?",
            "Move %(count)d items to %(destination)s?",
            len(crossing),
        ) % {"count": len(crossing), "destination": destination_label}
    what = [
        _("%(names)s will go to %(destination)s.")
        % {"names": names, "destination": destination_label}
    ]
    if leaving:
        what += [
            _(
                "The members of %(team)s will no longer see it; the team's managers and "
                "access reviews will no longer cover it, and it will no longer stay with the "
                "team when people leave."
            )
            % {"team": ", ".join(teams)},
            _(
                "The move is recorded in the audit log, shown to the team's managers on "
                "the team's page and e-mailed to its other managers."
            ),
        ]
    if exposures:
        what.append(_exposure_sentence(exposures, copying=False))
    return confirmation_page(
        request,
        title=title,
        losses=what,
        details_template="files/_move_confirmation.html",
        details={
            "move_what": what,
            "move_losses": bounded(
                [{"person": loss.person, "withdrawn": bounded(loss.withdrawn)} for loss in losses]
            ),
            "destination_label": destination_label,
        },
        button=_("Move out of the team") if leaving else _("Move"),
        cancel_url=cancel_url,
        reversible=True,
        closing=(
            _("A manager of the team can move it back into the team space.")
            if leaving
            else _("You can move it back later.")
        ),
    )


def copy_into_linked_folder_confirmation(
    request: HttpRequest,
    *,
    actor: User,
    files: Sequence[File],
    destination: Folder,
    cancel_url: str,
) -> HttpResponse | None:
    """The page asking to confirm a copy of ``files`` into a folder that external links
    reach and that they do not already reach where the files are (the move's rule,
    ``files.signals.move_exposures``), or ``None``: confirmed, or nothing opened. The
    copier, on the source file's page, does not see the destination's banner. Call it
    after ``copy_check`` (a viewer is refused before being asked anything)."""
    if confirmed(request):
        return None
    exposures = move_exposures(items=files, destination=destination)
    if not exposures:
        return None
    destination_label = selectors.folder_label_for(actor=actor, folder=destination)
    if len(files) == 1:
        title = _("Copy “%(name)s” to “%(destination)s”?") % {
            "name": files[0].name,
            "destination": destination_label,
        }
    else:
        title = ngettext(
            "Copy %(count)d file to “%(destination)s”?",
            "Copy %(count)d files to “%(destination)s”?",
            len(files),
        ) % {"count": len(files), "destination": destination_label}
    return confirmation_page(
        request,
        title=title,
        losses=[_exposure_sentence(exposures, copying=True)],
        button=_("Copy"),
        cancel_url=cancel_url,
        reversible=True,
        closing=_(
            "You can delete the copy later, but what was downloaded through a link before "
            "stays with whoever downloaded it."
        ),
    )
