"""Form shapes of imaging pages; the rules live in imaging/deidentify.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin
from imaging.selectors import StudyView

SEND_TRANSFER, SEND_LINK = "transfer", "link"
DATES_SHIFT, DATES_KEEP = "shift", "keep"


class DeidentifyForm(BootstrapFormMixin, forms.Form):
    series = forms.TypedMultipleChoiceField(
        label=_("Series to send"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one series to send.")},
    )
    dates = forms.ChoiceField(
        label=_("Dates"),
        choices=[
            (DATES_SHIFT, _("Shift every date by the same random number of days (recommended)")),
            (DATES_KEEP, _("Keep the real dates (the recipient needs them)")),
        ],
        initial=DATES_SHIFT,
        widget=forms.RadioSelect,
    )
    send_as = forms.ChoiceField(
        label=_("Send as"),
        choices=[
            (SEND_TRANSFER, _("A transfer to named recipients")),
            (SEND_LINK, _("A link")),
        ],
        initial=SEND_TRANSFER,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, view: StudyView, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        risky = {item.series.pk for item in view.burned_in_series}
        field = self.fields["series"]
        assert isinstance(field, forms.TypedMultipleChoiceField)  # noqa: S101
        field.choices = [(item.series.pk, str(item.series.pk)) for item in view.series]
        # Series that may show names in their pixels start unticked: opting in is a choice.
        field.initial = [item.series.pk for item in view.series if item.series.pk not in risky]
