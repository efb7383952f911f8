"""The confirmation asked before team content leaves the team space (a manager moving
a file or folder into someone's personal space or into another team's): it changes who
can see it, so the page says so before it happens. It is asked too before any move that
withdraws what people had opened to outsiders on the moved content, since they are not
of the destination (``files.signals``): each of them by name, with what she loses, ten
at most and "and N more" (``core.bounded``). HTTP only: who may is decided by
``files.selectors.move_destination_check``, called by the services for every way in.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Team
from core.bounded import bounded
from core.confirm import confirmation_page, confirmed
from files import selectors
from files.models import File, Folder
from files.signals import move_exposures, move_losses


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
        opening = sum(exposure.count for exposure in exposures)
        makers = sorted({maker for exposure in exposures for maker in exposure.makers})
        what.append(
            ngettext(
                "People outside the organisation will open it: %(count)d external link "
                "reaches the folder it goes to (made by %(makers)s), and a link to a "
                "folder shows files added later too.",
                "People outside the organisation will open it: %(count)d external links "
                "reach the folder it goes to (made by %(makers)s), and a link to a "
                "folder shows files added later too.",
                opening,
            )
            % {"count": opening, "makers": ", ".join(makers)}
        )
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
