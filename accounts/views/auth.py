from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpResponse, HttpResponseBase
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from accounts.forms import EmailAuthenticationForm
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class SetupView(auth_views.PasswordResetConfirmView):
    """First password through a one-time link (first administrator; invitations later)."""

    template_name = "accounts/setup.html"
    success_url = reverse_lazy("accounts:login")
    post_reset_login = False

    def dispatch(self, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(*args, **kwargs)
        if response.status_code == 200 and not self.validlink:
            # Expired, already used or guessed: worth knowing about.
            audit.record(
                action=Action.ACCOUNTS_SETUP_LINK_USE,
                outcome=Outcome.DENIED,
                details={"reason": "invalid or expired link"},
            )
        return response

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        audit.record(
            action=Action.ACCOUNTS_PASSWORD_SET,
            actor=user,
            target_type="accounts.user",
            target_id=user.pk,
            details={"via": "setup link"},
        )
        messages.success(self.request, _("Your password is set. You can now sign in."))
        return response
