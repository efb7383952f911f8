"""Bootstrap 5 styling for Django forms, so templates render ``{{ field }}`` as is."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import get_language, gettext_lazy

_CHECK_WIDGETS = (forms.CheckboxInput, forms.CheckboxSelectMultiple, forms.RadioSelect)


class BootstrapFormMixin:
    """Adds Bootstrap's classes to every widget (and is-invalid to fields in error)."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, _CHECK_WIDGETS):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in getattr(self, "errors", {}):
            self._mark_invalid(name)

    def add_error(self, field: str | None, error: Any) -> None:
        """Also a rule's refusal added by the view after validation."""
        super().add_error(field, error)  # type: ignore[misc]
        if field is not None:
            self._mark_invalid(field)

    def _mark_invalid(self, name: str) -> None:
        if name in self.fields:
            widget = self.fields[name].widget
            if "is-invalid" not in widget.attrs.get("class", "").split():
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


def _page_language() -> str:
    """The language the sender reads the page in, if the site offers it."""
    language = (get_language() or "").split("-")[0]
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def recipient_language_field() -> forms.ChoiceField:
    """The language an e-mail to someone outside is written in: the sender chooses it (we
    know nothing of the recipient), the page's language first (a French clinician most
    often writes to French recipients; the site's language chosen for them sent French
    patients English e-mail). Optional, so a form posted without it (an older page, a
    script) keeps working in the site's language."""
    return forms.ChoiceField(
        label=gettext_lazy("Language of the e-mail"),
        choices=settings.LANGUAGES,
        # A callable: evaluated when the form is shown, in that request's language.
        initial=_page_language,
        required=False,
    )
