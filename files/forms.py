"""Form shapes for the file browser. Rules (names, clashes, quotas) live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from files.models import Folder


def folder_label(folder: Folder) -> str:
    """“Cardiologie / Reports / 2026” for a folder list (the root is the space's name)."""
    from files.selectors import folder_breadcrumbs

    space = folder.space
    top = space.team.name if space.team_id and space.team else str(_("My files"))
    return " / ".join([top, *(part.name for part in folder_breadcrumbs(folder)[1:])])


class NameForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=255, strip=False)


class MoveForm(BootstrapFormMixin, forms.Form):
    destination = forms.TypedChoiceField(label=_("Move to"), coerce=int)

    def __init__(self, *args: Any, folders: list[Folder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["destination"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101
        field.choices = [(folder.pk, folder_label(folder)) for folder in folders]


class CopyForm(MoveForm):
    name = forms.CharField(
        label=_("Name of the copy"),
        max_length=255,
        strip=False,
        required=False,
        help_text=_("Leave empty to keep the name (a number is added if it is taken)."),
    )

    def __init__(self, *args: Any, folders: list[Folder], **kwargs: Any) -> None:
        super().__init__(*args, folders=folders, **kwargs)
        self.fields["destination"].label = _("Copy to")
