"""Sizes in words, one unit system everywhere (issue #15).

Decimal SI units (1 kB = 1,000 bytes), as the operating systems' file managers show
them (macOS Finder, GNOME Files, Android, iOS): the uploader (static/securedrive/
dropzone.js ``sizeText``) and the list must say the same "314.6 MB" for one file.
Django's ``filesizeformat`` divides by 1,024 but writes "MB", which is where the list's
"300.0 MB" for the uploader's "314.6 MB" came from. One decimal from kB up, none for
bytes; the decimal separator and the unit names follow the language (French: "314,6 Mo").
Number and unit are joined by a no-break space (U+00A0): a narrow column on a phone
would otherwise put "6" on one line and "octets" on the next.
The JavaScript twin follows the same rules; tests/test_files_list.py holds both to the
same table of sizes.
"""

from __future__ import annotations

from django.utils.formats import get_format, number_format
from django.utils.translation import gettext, ngettext

SIZE_STEP = 1000
# Between a number and its unit: a line never breaks there (French typography wants it,
# and "6" alone at the end of a line, "octets" on the next, reads as nonsense).
NO_BREAK_SPACE = "\u00a0"


def size_units() -> list[str]:
    """kB, MB, GB, TB, PB in the active language (French: ko, Mo, Go, To, Po)."""
    # Translators: decimal units of size (kilobyte to petabyte), as short as possible.
    return [gettext("kB"), gettext("MB"), gettext("GB"), gettext("TB"), gettext("PB")]


def size_text(size: object) -> str:
    """``size`` bytes in words: "999 bytes", "1.0 kB", "314.6 MB"; "—" when unknown."""
    try:
        count = int(size)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "—"
    if count < SIZE_STEP:
        text = ngettext("%(count)d byte", "%(count)d bytes", count) % {"count": count}
        # The catalogue's plain space (translators type one) becomes the no-break one.
        return text.replace(f"{count} ", f"{count}{NO_BREAK_SPACE}", 1)
    units = size_units()
    unit = 1  # kB
    while count >= SIZE_STEP ** (unit + 1) and unit < len(units):
        unit += 1
    tenths = _tenths(count, unit)
    # 999,950 bytes would read "1000.0 kB": say "1.0 MB", as the JS twin does.
    if tenths >= 10 * SIZE_STEP and unit < len(units):
        unit += 1
        tenths = _tenths(count, unit)
    whole, tenth = divmod(tenths, 10)
    number = f"{number_format(whole, 0)}{get_format('DECIMAL_SEPARATOR')}{tenth}"
    return f"{number}{NO_BREAK_SPACE}{units[unit - 1]}"


def _tenths(count: int, unit: int) -> int:
    """``count / 1000**unit`` in tenths, halves rounded up, in integers: the JS twin
    computes ``Math.round(count * 10 / 1000**unit)`` and agrees on every tie."""
    divisor = SIZE_STEP**unit
    return int((count * 10 + divisor // 2) // divisor)
