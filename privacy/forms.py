from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin


class ErasureConfirmForm(BootstrapFormMixin, forms.Form):
    """Typing the address, not ticking a box: erasure cannot be undone."""

    confirmation = forms.CharField(
        label=_("Type the person's e-mail address to confirm"),
        max_length=320,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
