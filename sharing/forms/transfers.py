"""Form shapes for transfers. Rules (policy, recipients, expiry) live in
sharing/services/transfers.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin, recipient_language_field
from files.models import File
from sharing.forms.expiry import ExpiryField


class TransferForm(BootstrapFormMixin, forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    message = forms.CharField(
        label=_("Message"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    expiry = ExpiryField()

    def __init__(self, *args: Any, max_days: int, default_days: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["expiry"]
        assert isinstance(field, ExpiryField)  # noqa: S101
        field.policy_set(max_days=max_days, default_days=default_days)


class TransferSendForm(BootstrapFormMixin, forms.Form):
    recipients = forms.CharField(
        label=_("Recipients"),
        help_text=_("One e-mail address per line. Each recipient gets a personal link."),
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        max_length=20000,
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Give it to the recipients another way (phone, text message)."),
    )
    # Checked unless the sender unticks it (when the policy lets them): patient files
    # leave the hospital, and the code keeps them from whoever else reads the e-mail.
    email_verification = forms.BooleanField(
        label=_("Recipients must confirm their e-mail address with a code"),
        required=False,
        initial=True,
        help_text=_(
            "Before downloading, each recipient types a code e-mailed to their own address."
        ),
    )
    # The e-mail goes out in the recipient's language, which only the sender knows.
    recipient_language = recipient_language_field()

    def __init__(
        self, *args: Any, password_required: bool, verification_required: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if password_required:
            self.fields["password"].required = True
            self.fields["password"].help_text = _("Required by the sharing policy.")
        if verification_required:
            field = self.fields["email_verification"]
            field.initial = True
            field.disabled = True
            field.help_text = _("Required by the sharing policy.")
        self.verification_required = verification_required


class TransferPickForm(BootstrapFormMixin, forms.Form):
    file_ids = forms.TypedMultipleChoiceField(
        label=_("Add from my files"), coerce=int, widget=forms.SelectMultiple(attrs={"size": 8})
    )

    def __init__(self, *args: Any, files: list[File], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["file_ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)  # noqa: S101
        field.choices = [(file.pk, file_path_label(file)) for file in files]


def file_path_label(file: File) -> str:
    from files.forms import folder_label

    return f"{folder_label(file.folder)} / {file.name}"
