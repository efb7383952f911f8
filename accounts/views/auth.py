from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.forms import EmailAuthenticationForm
from accounts.models import User
from audit.context import client_ip
from core.ratelimit import address_counted, rate_limit_hit, rate_limit_peek

# Refused set-up links (unknown, used, expired) per address; fails closed (503) while it
# cannot be counted: the link is a credential, as an invitation's
# (accounts/views/invitation.py). Pages of valid links are not counted: a ward's new
# staff set their passwords from one NAT address (page, redirect, form, its errors).
SETUP_RATE = "30/h"

# The address whose password was just chosen: the sign-in form that follows is filled in.
_LOGIN_EMAIL_SESSION_KEY = "securedrive_login_email"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        email = self.request.session.get(_LOGIN_EMAIL_SESSION_KEY)
        if email:
            initial["username"] = email
        return initial


class LogoutView(auth_views.LogoutView):
    pass


class SetupView(auth_views.PasswordResetConfirmView):
    """First password through a one-time link (first administrator; invitations later)."""

    template_name = "accounts/setup.html"
    success_url = reverse_lazy("accounts:login")
    post_reset_login = False
    # Also ends a link once a newer one was issued (accounts/services.py).
    token_generator = services.setup_link_token_generator

    def get_user(self, uidb64: str) -> User | None:
        # Django's link checks the password and last sign-in, not the account's state:
        # a link printed before the person left must not set a password afterwards.
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        address = client_ip(request)
        # An IPv6 client's /64 is one client (core.ratelimit.address_counted).
        counted = address_counted(address)
        if rate_limit_peek(group="accounts.setup", key=counted, rate=SETUP_RATE).limited:
            rate_limit_hit(group="accounts.setup", key=counted, rate=SETUP_RATE)
            services.setup_link_limited_record(ip_address=address)
            return render(request, self.template_name, {"limited": True}, status=429)
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and not self.validlink:
            rate_limit_hit(group="accounts.setup", key=counted, rate=SETUP_RATE)
            services.setup_link_refused_record()
        return response

    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
        # Not super().form_valid(): it saves the password on its own, apart from the
        # event. The service does both in one transaction; the rest is what it did
        # (forget the link's token in the session; post_reset_login is off).
        language = getattr(self.request, "LANGUAGE_CODE", "")  # set by LocaleMiddleware
        if not form.user.language and language in dict(settings.LANGUAGES):
            # No language of theirs yet (the first administrator): the page they set
            # their password on is the first one they chose, so their e-mails (the
            # notice of this very password, to begin with) are written in it.
            User.objects.filter(pk=form.user.pk).update(language=language)
            form.user.language = language
        services.user_password_set(
            user=form.user, password=form.cleaned_data["new_password1"], via="setup link"
        )
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        self.request.session[_LOGIN_EMAIL_SESSION_KEY] = form.user.email
        messages.success(self.request, _("Your password is set. You can now sign in."))
        return HttpResponseRedirect(self.get_success_url())
