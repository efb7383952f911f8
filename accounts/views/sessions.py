"""Your sessions: where you are signed in, with revoke and "sign out everywhere"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import selectors, sessions
from accounts.permissions import signed_in_user


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
    sessions.user_sessions_revoke_all(actor=signed_in_user(request))
    logout(request)
    messages.success(request, _("You are signed out on every device."))
    return redirect("accounts:login")
