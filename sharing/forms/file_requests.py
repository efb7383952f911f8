"""Form shapes for file requests. Rules (policy caps, expiry) live in
sharing/services/file_requests.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from files.forms import folder_label
from files.models import Folder
from sharing.forms.expiry import ExpiryField

MEGABYTE = 1000 * 1000


class FileRequestForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    instructions = forms.CharField(
        label=_("Instructions"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Shown to the person who uploads (what to send, how to name it)."),
    )
    folder = forms.TypedChoiceField(label=_("Files go into"), coerce=int)
    expiry = ExpiryField()
    max_files = forms.IntegerField(label=_("At most (files)"), min_value=1)
    max_megabytes = forms.IntegerField(label=_("At most (MB in all)"), min_value=1)
    notify_owner = forms.BooleanField(
        label=_("E-mail me when files arrive"), required=False, initial=True
    )

    def __init__(
        self,
        *args: Any,
        folders: list[Folder],
        max_days: int,
        default_days: int,
        max_files: int,
        max_bytes: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        folder = self.fields["folder"]
        assert isinstance(folder, forms.TypedChoiceField)  # noqa: S101
        folder.choices = [(item.pk, folder_label(item)) for item in folders]
        expiry = self.fields["expiry"]
        assert isinstance(expiry, ExpiryField)  # noqa: S101
        expiry.policy_set(max_days=max_days, default_days=default_days)
        limits = {
            "max_files": (max_files, max_files),
            "max_megabytes": (max(1, max_bytes // MEGABYTE), max(1, max_bytes // MEGABYTE)),
        }
        for name, (ceiling, initial) in limits.items():
            field = self.fields[name]
            field.validators.append(MaxValueValidator(ceiling))
            field.initial = initial
            field.widget.attrs["max"] = str(ceiling)
            field.help_text = _("At most %(limit)s (sharing policy).") % {"limit": ceiling}
