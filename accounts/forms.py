from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("E-mail address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    error_messages = {
        # Same message for an unknown account and a wrong password.
        "invalid_login": _("This e-mail address and password do not match an active account."),
        "inactive": _("This e-mail address and password do not match an active account."),
    }

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip().lower()
