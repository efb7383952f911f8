"""One way to show a moment to a person: in the language they read, in the site's time
zone, and naming that zone ("6 December 2026, 18:30 (Paris time)", "6 décembre 2026 à
18:30 (heure de Paris)"). A date-time without its zone is ambiguous for a recipient
abroad; a US-style "12/06/2026" is read as 12 June in Europe."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

register = template.Library()


def zone_label(zone: str) -> str:
    """The time zone as the reader says it: "Paris time", "heure de Paris"."""
    if "/" not in zone:
        return zone  # "UTC"
    # Translators: a time zone named by its city ("Paris time"), from its key "Europe/Paris".
    return _("%(city)s time") % {"city": zone.rsplit("/", 1)[1].replace("_", " ")}


def zone_named(moment: dt.datetime) -> str:
    """``moment`` in the site's time zone, in the active language, its zone named."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return "{} ({})".format(
        formats.date_format(local, "DATETIME_FORMAT"),
        zone_label(timezone.get_current_timezone_name()),
    )


@register.filter
def when(value: dt.datetime | None) -> str:
    """``{{ link.expires_at|when }}``: see the module's docstring; "" for no value."""
    if not isinstance(value, dt.datetime):
        return ""
    return zone_named(value)
