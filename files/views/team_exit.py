"""The confirmation asked before team content leaves the team space (a manager moving
a file or folder into someone's personal space or into another team's): it changes who
can see it, so the page says so before it happens. HTTP only: who may is decided by
``files.selectors.move_destination_check``, called by the services for every way in.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.confirm import confirmation_page, confirmed
from files import selectors
from files.models import File, Folder


def team_exit_confirmation(
    request: HttpRequest,
    *,
    items: Sequence[File | Folder],
    destination: Folder,
    cancel_url: str,
) -> HttpResponse | None:
    """The page asking to confirm, or ``None`` when nothing leaves a team space or the
    person has confirmed. Call it after ``move_destination_check`` (a member is refused
    before being asked anything)."""
    if confirmed(request):
        return None
    leaving = [
        (item, team)
        for item in items
        if (team := selectors.team_left_by_move(item=item, destination=destination)) is not None
    ]
    if not leaving:
        return None
    teams = sorted({team.name for _item, team in leaving})
    destination_label = selectors.space_holder_label(destination.space)
    names = ", ".join(_("“%(name)s”") % {"name": item.name} for item, _team in leaving[:20])
    if len(leaving) == 1:
        title = _("Move “%(name)s” out of the team %(team)s?") % {
            "name": leaving[0][0].name,
            "team": teams[0],
        }
    else:
        title = ngettext(
            "Move %(count)d item out of the team %(team)s?",
            "Move %(count)d items out of the team %(team)s?",
            len(leaving),
        ) % {"count": len(leaving), "team": ", ".join(teams)}
    what = [
        _("%(names)s will go to %(destination)s.")
        % {"names": names, "destination": destination_label},
        _(
            "The members of %(team)s will no longer see it; the team's managers and access "
            "reviews will no longer cover it, and it will no longer stay with the team when "
            "people leave."
        )
        % {"team": ", ".join(teams)},
        _("The move is recorded in the audit log and shown to the team's managers."),
    ]
    return confirmation_page(
        request,
        title=title,
        losses=what,
        button=_("Move out of the team"),
        cancel_url=cancel_url,
        reversible=True,
        closing=_("A manager of the team can move it back into the team space."),
    )
