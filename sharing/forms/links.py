"""Forms for links (create) and for the site's sharing policy."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.forms import BootstrapFormMixin, recipient_language_field
from sharing.forms.expiry import ExpiryField
from sharing.models import SharingPolicy
from sharing.services.links import MAX_DOWNLOADS_LIMIT

GIB = 1024**3

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class LinkForm(BootstrapFormMixin, forms.Form):
    """A new link: its expiry chosen like every other (``ExpiryField``), within the
    policy's maximum; the policy also decides what is mandatory."""

    expiry = ExpiryField()
    password = forms.CharField(
        label=gettext_lazy("Password (optional)"),
        required=False,
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Give it to the recipient another way (phone, text message)."),
    )
    max_downloads = forms.IntegerField(
        label=gettext_lazy("Limit of views and downloads (optional)"),
        required=False,
        min_value=1,
        max_value=MAX_DOWNLOADS_LIMIT,
        help_text=gettext_lazy(
            "Opening a file in the browser counts as one, as downloading it does. "
            "The last one closes the link."
        ),
    )
    recipient_email = forms.EmailField(
        label=gettext_lazy("Recipient's e-mail (optional)"), required=False
    )
    email_verification = forms.BooleanField(
        label=gettext_lazy("The recipient must confirm this address with a code sent to it"),
        required=False,
    )
    send_email = forms.BooleanField(
        label=gettext_lazy("E-mail the link to the recipient"), required=False
    )
    # The e-mail goes out in the recipient's language, which only the sender knows.
    recipient_language = recipient_language_field()
    notify_owner = forms.BooleanField(
        label=gettext_lazy("E-mail me when it is first viewed or downloaded"),
        required=False,
        initial=True,
    )
    label = forms.CharField(
        label=gettext_lazy("Label (only you see it)"), required=False, max_length=200
    )
    view_only = forms.BooleanField(
        label=gettext_lazy("View only, no download (the recipient sees previews only)"),
        required=False,
    )

    def __init__(self, *args: Any, policy: SharingPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        expiry = self.fields["expiry"]
        assert isinstance(expiry, ExpiryField)  # noqa: S101
        expiry.policy_set(max_days=policy.link_max_days, default_days=policy.link_default_days)
        if policy.password_required:
            self.fields["password"].required = True
            self.fields["password"].label = _("Password")
        if policy.email_verification_required:
            self.fields["recipient_email"].required = True
            self.fields["recipient_email"].label = _("Recipient's e-mail")
            self.fields["email_verification"].initial = True
            self.fields["email_verification"].disabled = True
        domains = policy.allowed_domains()
        if domains:
            self.fields["recipient_email"].help_text = _("Addresses at: %(domains)s.") % {
                "domains": ", ".join(domains)
            }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.policy.email_verification_required:
            cleaned["email_verification"] = True
        if cleaned.get("email_verification") and not cleaned.get("recipient_email"):
            self.add_error(
                "recipient_email", _("E-mail verification needs the recipient's address.")
            )
        if cleaned.get("send_email") and not cleaned.get("recipient_email"):
            self.add_error("recipient_email", _("Enter the address to send the link to."))
        return cleaned


class SharingPolicyForm(BootstrapFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SharingPolicy
        fields = [
            "external_sharing",
            "link_default_days",
            "link_max_days",
            "password_required",
            "email_verification_required",
            "transfer_email_verification_required",
            "allowed_recipient_domains",
            "file_request_max_files",
        ]
        widgets = {"allowed_recipient_domains": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "email_verification_required": gettext_lazy("Every link must then name its recipient."),
            "transfer_email_verification_required": gettext_lazy(
                "Recommended: transfers carry patient files outside the hospital."
            ),
            "allowed_recipient_domains": gettext_lazy(
                "One domain per line (chu-exemple.fr). Empty: any domain."
            ),
        }

    # An administrator thinks in gigabytes, the policy row stores bytes.
    file_request_max_gib = forms.IntegerField(
        label=gettext_lazy("A file request accepts at most (GB in all)"),
        min_value=1,
        max_value=100_000,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file_request_max_gib"].initial = max(
            1, self.instance.file_request_max_bytes // GIB
        )

    def changes(self) -> dict[str, Any]:
        """The policy fields as the sharing services take them."""
        changes = {name: self.cleaned_data[name] for name in self.Meta.fields}
        changes["file_request_max_bytes"] = self.cleaned_data["file_request_max_gib"] * GIB
        return changes

    def clean_link_max_days(self) -> int:
        value: int = self.cleaned_data["link_max_days"]
        if not 1 <= value <= 365:
            raise forms.ValidationError(_("Between 1 and 365 days."))
        return value

    def clean_allowed_recipient_domains(self) -> str:
        lines = [
            line.strip().lower().lstrip("@")
            for line in str(self.cleaned_data["allowed_recipient_domains"]).splitlines()
            if line.strip()
        ]
        wrong = [line for line in lines if not _DOMAIN.fullmatch(line)]
        if wrong:
            raise forms.ValidationError(
                _("Not a domain name: %(names)s.") % {"names": ", ".join(wrong)}
            )
        return "\n".join(lines)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        default, maximum = cleaned.get("link_default_days"), cleaned.get("link_max_days")
        if default is not None and maximum is not None and not 1 <= default <= maximum:
            self.add_error("link_default_days", _("Between 1 day and the maximum number of days."))
        return cleaned
