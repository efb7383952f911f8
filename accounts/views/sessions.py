"""Your sessions: where you are signed in, with revoke and "sign out everywhere"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts import selectors, sessions, tokens
from accounts.permissions import signed_in_user
from core.confirm import confirmation_page, confirmed


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    context = {
        "open_sessions": selectors.user_sessions_open(me),
        "current_key": request.session.session_key,
    }
    return render(request, "accounts/sessions.html", context)


@login_required
@require_POST
def session_revoke(request: HttpRequest, session_id: int) -> HttpResponse:
    me = signed_in_user(request)
    # Another person's session is a 404: its existence is not confirmed.
    user_session = get_object_or_404(selectors.user_sessions_open(me), pk=session_id)
    is_current = user_session.session_key == request.session.session_key
    sessions.user_session_revoke(actor=me, user_session=user_session)
    if is_current:
        return redirect("accounts:login")
    messages.success(request, _("The session was signed out."))
    return redirect("accounts:sessions")


@login_required
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    active_tokens = tokens.tokens_active_count(user=me)
    if active_tokens and not confirmed(request):
        # Revoking tokens cannot be undone: the scripts using them stop until new ones.
        return confirmation_page(
            request,
            title=_("Sign out everywhere?"),
            losses=[
                _("Every browser where you are signed in is signed out, this one too."),
                ngettext(
                    "Your %(count)d API token is revoked: scripts using it stop working.",
                    "Your %(count)d API tokens are revoked: scripts using them stop working.",
                    active_tokens,
                )
                % {"count": active_tokens},
            ],
            button=_("Sign out everywhere"),
            cancel_url=reverse("accounts:sessions"),
        )
    _ended, revoked = sessions.user_sessions_revoke_all(actor=me)
    logout(request)
    if revoked:
        messages.success(
            request,
            ngettext(
                "You are signed out on every device, and your %(count)d API token is revoked.",
                "You are signed out on every device, and your %(count)d API tokens are revoked.",
                len(revoked),
            )
            % {"count": len(revoked)},
        )
    else:
        messages.success(request, _("You are signed out on every device."))
    return redirect("accounts:login")
