"""One way of choosing an expiry for links, transfers and file requests: 1 day, 7 days,
30 days or a date, within the sharing policy (presets past its maximum are not
offered; a date past it is refused with the limit named). A radio group and a date
input, in a fieldset: it works without JavaScript, and ``expiry.js`` only hides the
date input while a preset is chosen.

The rule itself (what "N days" means, the refusal's words) is
``sharing.services.policy``, which the services apply again to every way in (API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy, ngettext

from core.http import id_number
from sharing.services.policy import (
    EXPIRY_PRESET_DAYS,
    expiry_beyond_message,
    expiry_in_days,
)

DATE_CHOICE = "date"
# The last chosen day is available until this time, on the site's clock.
END_OF_DAY = dt.time(23, 59)


def _today() -> dt.date:
    return timezone.localdate(timezone.now(), timezone.get_default_timezone())


class ExpiryWidget(forms.Widget):
    """Posts ``<name>`` (a number of days, or "date") and ``<name>_date`` (YYYY-MM-DD)."""

    template_name = "sharing/widgets/expiry.html"
    use_fieldset = True

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.presets: list[int] = []
        self.date_min = ""
        self.date_max = ""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> tuple[str, str]:
        return (str(data.get(name, "")), str(data.get(f"{name}_date", "")))

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and f"{name}_date" not in data

    def format_value(self, value: Any) -> Any:
        return value

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_{DATE_CHOICE}" if id_ else id_

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        choice, day = value if isinstance(value, list | tuple) else ("", "")
        widget = context["widget"]
        base_id = widget["attrs"].get("id") or f"id_{name}"
        widget.update(
            {
                "base_id": base_id,
                "choice": str(choice),
                "day": str(day),
                "invalid": "is-invalid" in str(widget["attrs"].get("class", "")),
                "presets": [
                    {
                        "value": str(days),
                        "id": f"{base_id}_{days}",
                        "label": ngettext("%(count)d day", "%(count)d days", days)
                        % {"count": days},
                    }
                    for days in self.presets
                ],
                "date_choice": DATE_CHOICE,
                "date_min": self.date_min,
                "date_max": self.date_max,
            }
        )
        return context

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        # The project's templates (templates/), where the sharing pages live, rather than
        # the form renderer's own engine, which only looks in the apps.
        html = render_to_string(self.template_name, self.get_context(name, value, attrs))
        return mark_safe(html)  # noqa: S308 (rendered by an autoescaping template)


class ExpiryField(forms.Field):
    """Cleans to an aware datetime: N days from now on the site's clock, or the end of
    the chosen day (at most the policy's latest moment)."""

    widget = ExpiryWidget
    default_error_messages = {
        "required": gettext_lazy("Choose how long it stays available."),
        "invalid_choice": gettext_lazy("Choose one of the durations offered, or a date."),
        "no_date": gettext_lazy("Choose the last day."),
        "invalid_date": gettext_lazy("Enter a date."),
        "past": gettext_lazy("Choose a day from today on."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", gettext_lazy("Available for"))
        super().__init__(**kwargs)
        self.max_days = EXPIRY_PRESET_DAYS[-1]
        self.presets = list(EXPIRY_PRESET_DAYS)

    def policy_set(self, *, max_days: int, default_days: int) -> None:
        """Bounds the choices by the sharing policy and dates them from today: each form
        calls it from its ``__init__``, on its own copy of the field."""
        self.max_days = max_days
        self.presets = [days for days in EXPIRY_PRESET_DAYS if days <= max_days]
        today = _today()
        widget = self.widget
        assert isinstance(widget, ExpiryWidget)  # noqa: S101
        widget.presets = self.presets
        widget.date_min = today.isoformat()
        widget.date_max = self._latest_day().isoformat()
        if default_days in self.presets:
            self.initial = (str(default_days), "")
        else:
            default_day = today + dt.timedelta(days=min(default_days, max_days))
            self.initial = (DATE_CHOICE, default_day.isoformat())
        self.help_text = ngettext(
            "At most %(count)d day (sharing policy).",
            "At most %(count)d days (sharing policy).",
            max_days,
        ) % {"count": max_days}

    def _latest_day(self, now: dt.datetime | None = None) -> dt.date:
        latest = expiry_in_days(self.max_days, now=now)
        return timezone.localtime(latest, timezone.get_default_timezone()).date()

    def to_python(self, value: Any) -> dt.datetime | None:
        choice, day_text = value if isinstance(value, list | tuple) else (value or "", "")
        choice, day_text = str(choice).strip(), str(day_text).strip()
        if not choice and day_text:
            choice = DATE_CHOICE  # a date typed without ticking "until a date"
        if not choice:
            return None
        now = timezone.now()
        if choice == DATE_CHOICE:
            return self._day_end(day_text, now)
        days = id_number(choice)  # "²" or 5,000 digits: not a choice, never int()'s 500
        if days is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        if days > self.max_days:
            raise forms.ValidationError(
                expiry_beyond_message(self.max_days, now=now), code="beyond"
            )
        if days not in self.presets:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return expiry_in_days(days, now=now)

    def _day_end(self, day_text: str, now: dt.datetime) -> dt.datetime:
        if not day_text:
            raise forms.ValidationError(self.error_messages["no_date"], code="no_date")
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            raise forms.ValidationError(
                self.error_messages["invalid_date"], code="invalid_date"
            ) from None
        if day < timezone.localdate(now, timezone.get_default_timezone()):
            raise forms.ValidationError(self.error_messages["past"], code="past")
        if day > self._latest_day(now):
            raise forms.ValidationError(
                expiry_beyond_message(self.max_days, now=now), code="beyond"
            )
        end = dt.datetime.combine(day, END_OF_DAY, tzinfo=timezone.get_default_timezone())
        # The last allowed day ends at the policy's latest moment, not at midnight.
        return min(end, expiry_in_days(self.max_days, now=now))
