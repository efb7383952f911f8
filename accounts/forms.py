from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin


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


# --- Two-step verification ---------------------------------------------------------------

_ONE_TIME_CODE = {"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}


class _CodeForm(BootstrapFormMixin, forms.Form):
    """Refusals from accounts/mfa.py arrive after validation: mark the field too."""

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field in self.fields:
            widget = self.fields[field].widget
            if "is-invalid" not in widget.attrs.get("class", ""):
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class TOTPCodeForm(_CodeForm):
    """The six digits shown by an authenticator app, and which app when there are several."""

    code = forms.CharField(
        label=_("6-digit code"), max_length=10, widget=forms.TextInput(attrs=_ONE_TIME_CODE)
    )
    device = forms.TypedChoiceField(label=_("Authenticator app"), coerce=int, required=False)

    def __init__(self, *args: Any, devices: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(devices) > 1:
            device_field = cast(forms.TypedChoiceField, self.fields["device"])
            device_field.choices = [(device.pk, device.name) for device in devices]
            self.order_fields(["device", "code"])
        else:
            del self.fields["device"]


class TOTPEnrolForm(_CodeForm):
    code = forms.CharField(
        label=_("6-digit code shown by the app"),
        max_length=10,
        widget=forms.TextInput(attrs={**_ONE_TIME_CODE, "autofocus": False}),
    )
    name = forms.CharField(
        label=_("Name of this authenticator app"),
        max_length=64,
        initial=_("Authenticator app"),
        help_text=_("For example “Work phone”, to recognise it later."),
    )


class RecoveryCodeForm(_CodeForm):
    code = forms.CharField(
        label=_("Recovery code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class PasswordAgainForm(BootstrapFormMixin, forms.Form):
    """The password typed again before a first second factor (accounts/reauth.py)."""

    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field in self.fields:
            self.fields[field].widget.attrs["class"] = "form-control is-invalid"


class DeviceNameForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=64, widget=forms.TextInput(attrs={"autofocus": True})
    )


class PasskeyAddedForm(forms.Form):
    """Posted by static/securedrive/passkeys.js once the browser created the passkey."""

    device = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)
