from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms_admin import SuccessorChoiceField
from accounts.models import User
from core.forms import BootstrapFormMixin
from directory.models import SuccessorRule


class DirectoryTokenForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=_("Name of the directory"), max_length=100)
    successor_rule = forms.ChoiceField(
        label=_("When the directory deactivates someone, their personal files go to"),
        # Not "the administrator who created the token": nobody names themselves
        # (directory.tokens.directory_token_create refuses it).
        choices=[
            choice for choice in SuccessorRule.choices if choice[0] != SuccessorRule.TOKEN_CREATOR
        ],
        initial=SuccessorRule.TEAM_MANAGER,
    )
    successor = SuccessorChoiceField(
        label=_("Named account"),
        queryset=User.objects.filter(is_active=True, is_auditor=False).order_by("full_name"),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("successor_rule") == SuccessorRule.NAMED and not cleaned.get("successor"):
            self.add_error("successor", _("Choose the account that receives the files."))
        return cleaned
