"""English dates as a reader outside the United States expects them: "6 December 2026,
18:30" (Django's English default is "12/06/2026 6:30 p.m."). The time zone is named by the
``when`` filter (core/templatetags/dates.py), which every page and e-mail uses."""

DATE_FORMAT = "j F Y"
SHORT_DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATETIME_FORMAT = "j F Y, H:i"
