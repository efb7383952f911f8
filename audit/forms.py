from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from audit.actions import Category
from audit.models import Outcome
from audit.selectors import QUESTION_FAILURES, QUESTION_OUTSIDE, EventFilter
from core.forms import BootstrapFormMixin

ITEM_PATTERN = r"^(file|folder):[0-9]{1,18}$"


class EventFilterForm(BootstrapFormMixin, forms.Form):
    """The console's filter; also the query string of exports and pages."""

    since = forms.DateTimeField(
        label=_("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label=_("Until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    actor = forms.CharField(label=_("Person (e-mail or id)"), required=False, max_length=320)
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("any")), *Category.choices]
    )
    action = forms.CharField(label=_("Action starts with"), required=False, max_length=100)
    target_type = forms.CharField(label=_("Target type"), required=False, max_length=100)
    target_id = forms.CharField(label=_("Target id"), required=False, max_length=100)
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("any")), *Outcome.choices]
    )
    ip_address = forms.CharField(label=_("IP address"), required=False, max_length=45)
    upto = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    # Set by the question pages (audit/questions.py), carried into their exports.
    item = forms.RegexField(regex=ITEM_PATTERN, required=False, widget=forms.HiddenInput)
    question = forms.ChoiceField(
        required=False,
        choices=[
            ("", ""),
            (QUESTION_OUTSIDE, QUESTION_OUTSIDE),
            (QUESTION_FAILURES, QUESTION_FAILURES),
        ],
        widget=forms.HiddenInput,
    )
    console = forms.BooleanField(label=_("Show the auditors' own browsing"), required=False)

    def active_filters(self, only: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """The visible filters that are set (of ``only``, if given), each as its label
        and its value in words (a category's name, not its code): the folded form's
        summary names them, so a phone shows what the results are filtered by without
        unfolding the form. A filter with no value of its own (the console's toggle)
        has an empty value."""
        cleaned = self.cleaned_data if self.is_valid() else {}
        found: list[tuple[str, str]] = []
        for bound in self.visible_fields():
            if only and bound.name not in only:
                continue
            raw = bound.value()
            if raw in (None, "", False):
                continue
            value = cleaned.get(bound.name, raw)
            if isinstance(bound.field, forms.BooleanField):
                words = ""
            elif isinstance(bound.field, forms.ChoiceField):
                labels = {str(key): str(label) for key, label in bound.field.widget.choices}
                words = labels.get(str(value), str(value))
            elif isinstance(value, dt.datetime):
                words = formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")
            else:
                words = str(value)
            found.append((str(bound.label), words))
        return found

    def active_dates(self) -> list[tuple[str, str]]:
        """What the questions' date form (templates/audit/_dates.html) has set."""
        return self.active_filters(only=("since", "until", "console"))

    def event_filter(self) -> EventFilter:
        data = self.cleaned_data
        return EventFilter(
            since=data.get("since"),
            until=data.get("until"),
            actor=(data.get("actor") or "").strip(),
            category=data.get("category") or "",
            action=(data.get("action") or "").strip(),
            target_type=(data.get("target_type") or "").strip(),
            target_id=(data.get("target_id") or "").strip(),
            outcome=data.get("outcome") or "",
            ip_address=(data.get("ip_address") or "").strip(),
            up_to_sequence=data.get("upto"),
            item=data.get("item") or "",
            question=data.get("question") or "",
            # The console's page views flood the log (11 a minute while someone reads
            # it): hidden unless asked for, or unless the expert filters on audit.*.
            hide_console=not data.get("console")
            and not (data.get("action") or "").strip().startswith("audit."),
            # One row per download, its end on it; an expert filtering on an action
            # sees every event as written.
            hide_download_ends=not (data.get("action") or "").strip(),
        )


class VerifyNowForm(BootstrapFormMixin, forms.Form):
    """ "Verify now" asks for a confirmation: the run reads the log and is audited."""

    confirm = forms.BooleanField(
        label=_("I want to verify the audit log now (this request is recorded)."),
        required=True,
    )
    full = forms.BooleanField(
        label=_("Recompute everything from the first event (slower)"), required=False
    )


class ItemForm(forms.Form):
    """A file or folder, as the question pages name it ("file:7", "folder:3")."""

    item = forms.RegexField(regex=ITEM_PATTERN, widget=forms.HiddenInput)
