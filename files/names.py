"""File and folder names: what a person may call something, and how names compare.

Names are shown to people and offered as download file names; they are never used to
build a storage key or a path (storage keys are random, files/storage.py). The rules
still keep names portable to the places files end up: Windows, macOS and Linux desktops
that clinicians download to, and zip bundles later. The known traps:

* path separators (``/``, ``\\``) and ``.``/``..``: path traversal when a name is
  joined to a path by someone (CVE-2021-31542, CVE-2021-45452 in Django's own uploads);
* control characters (newlines in headers and logs) and Unicode bidirectional
  overrides, which make ``report‮fdp.exe`` display as ``reportexe.pdf``;
* Windows device names (``CON``, ``NUL``, ``COM1``… with or without an extension) and
  trailing dots or spaces, which Windows silently strips or refuses;
* more than 255 bytes of UTF-8, the limit of ext4, APFS and NTFS components;
* one name, two spellings: NFC normalisation makes a composed and a decomposed ``é``
  the same name (macOS produces the decomposed form).
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _

from files.errors import FileRuleError

MAX_NAME_BYTES = 255

_SEPARATORS = frozenset("/\\")
# Bidirectional formatting characters (Unicode TR 9): embeddings, overrides, isolates.
_BIDI_CONTROLS = frozenset(
    "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "123456789¹²³"}
)


def name_clean(raw: str) -> str:
    """The NFC-normalised name, or ``FileRuleError`` saying what is wrong with it."""
    name = unicodedata.normalize("NFC", raw)
    if not name:
        raise FileRuleError(_("A name cannot be empty."))
    if name in {".", ".."}:
        raise FileRuleError(_("“.” and “..” cannot be used as names."))
    if any(char in _SEPARATORS for char in name):
        raise FileRuleError(_("A name cannot contain “/” or “\\”."))
    if any(unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS for char in name):
        raise FileRuleError(_("A name cannot contain control or text-direction characters."))
    if name[-1] in {".", " "}:
        raise FileRuleError(_("A name cannot end with a dot or a space."))
    if name[0].isspace():
        raise FileRuleError(_("A name cannot start with a space."))
    stem = name.split(".", 1)[0].rstrip(" ")
    if stem.upper() in _WINDOWS_DEVICES:
        raise FileRuleError(
            _("“%(name)s” is reserved by Windows and cannot be used as a name.") % {"name": stem}
        )
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise FileRuleError(
            _("A name can be at most %(limit)d bytes long (accented letters count double).")
            % {"limit": MAX_NAME_BYTES}
        )
    return name


def name_key(name: str) -> str:
    """What two names must not share in one folder: case-insensitive, normalised."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def name_variant(name: str, number: int) -> str:
    """``report (2).pdf`` for ``report.pdf``: a free name after a clash (copy, restore)."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f" ({number})"
    tail = f".{extension}" if extension else ""
    budget = MAX_NAME_BYTES - len((suffix + tail).encode("utf-8"))
    encoded = stem.encode("utf-8")[: max(budget, 1)]
    trimmed = encoded.decode("utf-8", errors="ignore").rstrip(" .") or "file"
    return f"{trimmed}{suffix}{tail}"
