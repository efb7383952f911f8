"""French dates: "6 décembre 2026 à 18:30" (the time zone is named by the ``when`` filter,
core/templatetags/dates.py)."""

DATE_FORMAT = "j F Y"
SHORT_DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = r"j F Y \à H:i"
SHORT_DATETIME_FORMAT = r"j F Y \à H:i"
