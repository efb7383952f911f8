"""Form shapes for the sharing pages. Rules (who, to whom) live in sharing/services/shares.py."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from sharing.models import ShareRole


class ShareAddForm(BootstrapFormMixin, forms.Form):
    recipient = forms.CharField(
        label=_("Person or team"),
        max_length=254,
        help_text=_("A colleague's exact e-mail address, or a team's exact name."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=ShareRole.choices, initial=ShareRole.VIEWER)


class ShareRoleForm(BootstrapFormMixin, forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ShareRole.choices)
