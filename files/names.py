"""File and folder names: what a person may call something, and how names compare.

Names are shown to people and offered as download file names; they are never used to
build a storage key or a path (storage keys are random, files/storage.py). The rules
still keep names portable to the places files end up: Windows, macOS and Linux desktops
that clinicians download to, and zip bundles later. The known traps:

* path separators (``/``, ``\\``) and ``.``/``..``: path traversal when a name is
  joined to a path by someone (CVE-2021-31542, CVE-2021-45452 in Django's own uploads);
* control characters (newlines in headers and logs) and Unicode bidirectional
  overrides, which make ``report‮fdp.exe`` display as ``reportexe.pdf``;
* invisible characters (zero-width space, BOM, soft hyphen, tags: Unicode's
  default-ignorable code points): two names that look the same in one folder, or a
  name with nothing visible at all;
* Windows device names (``CON``, ``NUL``, ``COM1``… with or without an extension) and
  trailing dots or spaces, which Windows silently strips or refuses;
* more than 255 bytes of UTF-8, the limit of ext4, APFS and NTFS components;
* one name, two spellings: NFC normalisation makes a composed and a decomposed ``é``
  the same name (macOS produces the decomposed form);
* compatibility folding (NFKC/NFKD): ``\uff0e\uff0e\uff0fevil.sh`` (fullwidth full
  stops and solidus) is no path as typed, but becomes ``../evil.sh`` in any tool that folds it,
  as an ASCII download name once did. The path rules are checked on the folded form
  too, and what leaves (``download_name``) is folded first, so nothing folds later.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _

from files.errors import FileRuleError

MAX_NAME_BYTES = 255

_SEPARATORS = frozenset("/\\")
# Slashes NFKC leaves alone but that read as one, and that Windows' "best fit" code-page
# conversion may turn into one: division slash, fraction slash, big (reverse) solidus.
_SEPARATOR_LOOKALIKES = frozenset("\u2215\u2044\u29f8\u29f9")
# Bidirectional formatting characters (Unicode TR 9): embeddings, overrides, isolates.
_BIDI_CONTROLS = frozenset(
    "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Characters that take no room and change nothing visible (zero-width space, word
# joiner, zero-width no-break space / BOM, Mongolian vowel separator): "re\u200bport.pdf"
# would sit beside "report.pdf" in one folder looking the same. The zero-width
# (non-)joiners stay allowed: emoji sequences and Persian or Indic words need them.
_INVISIBLE = frozenset("\u200b\u2060\ufeff\u180e")
# The rest of Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode
# 15.1), which renderers draw as nothing: soft hyphen, combining grapheme joiner, Hangul
# fillers, invisible operators, tags ("ASCII smuggling"), plus the interlinear
# annotation marks that hide the text between them. "rap\u00adport.pdf" sat beside
# "rapport.pdf" looking the same. Ranges, inclusive.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x2061, 0x206F),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE00FF),
    (0xE01F0, 0xE0FFF),
)
# Default-ignorable but shaping what is drawn, so part of ordinary names: the joiners
# (emoji sequences, Persian, Indic), variation selectors (emoji presentation, CJK
# ideographic variants), Mongolian free variation selectors.
# A flag's tag sequence (U+1F3F4, tag letters, U+E007F cancel tag) draws a flag.
_BLACK_FLAG = "\U0001f3f4"
_TAGS = range(0xE0020, 0xE0080)
# What is not seen on its own: spaces, format characters, combining marks.
_UNSEEN_CATEGORIES = frozenset({"Zs", "Cf", "Mn", "Me"})
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "123456789¹²³"}
)


def _is_separator(char: str) -> bool:
    return char in _SEPARATORS or char in _SEPARATOR_LOOKALIKES


def _is_control(char: str) -> bool:
    # Line and paragraph separators (U+2028, U+2029) break a line wherever a name is
    # shown or logged, as a newline does.
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI_CONTROLS


def _has_hidden(name: str) -> bool:
    """Whether ``name`` holds a character drawn as nothing that could make it pass for
    another name (``_INVISIBLE``, ``_IGNORABLE_RANGES``); a flag's tags are drawn."""
    in_flag = False
    for char in name:
        point = ord(char)
        if char == _BLACK_FLAG:
            in_flag = True
            continue
        if in_flag and point in _TAGS:
            continue
        in_flag = False
        if char in _INVISIBLE or any(low <= point <= high for low, high in _IGNORABLE_RANGES):
            return True
    return False


def name_clean(raw: str) -> str:
    """The NFC-normalised name, or ``FileRuleError`` saying what is wrong with it.

    The name is kept as typed (NFC), but its path rules hold for its NFKC form as well:
    fullwidth ``..`` or ``a/b`` (U+FF0E, U+FF0F) must not become a path in whatever folds
    it.
    """
    name = unicodedata.normalize("NFC", raw)
    if not name:
        raise FileRuleError(_("A name cannot be empty."))
    for form in (name, unicodedata.normalize("NFKC", name)):
        if form in {".", ".."}:
            raise FileRuleError(_("“.” and “..” cannot be used as names."))
        if any(_is_separator(char) for char in form):
            raise FileRuleError(_("A name cannot contain “/” or “\\”."))
        if any(_is_control(char) for char in form):
            raise FileRuleError(_("A name cannot contain control or text-direction characters."))
    if _has_hidden(name):
        raise FileRuleError(_("A name cannot contain invisible characters (zero-width spaces)."))
    if all(unicodedata.category(char) in _UNSEEN_CATEGORIES for char in name):
        raise FileRuleError(_("A name needs at least one visible character."))
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


def path_components(path: str) -> list[str]:
    """``path`` folded (NFKC) and split at every separator or look-alike, control and
    text-direction characters dropped first: what a ZIP member name is made from."""
    visible = "".join(char for char in path if not _is_control(char))
    folded = unicodedata.normalize("NFKC", visible)
    parts = [""]
    for char in folded:
        if _is_separator(char):
            parts.append("")
        else:
            parts[-1] += char
    return parts


def path_component_safe(name: str, *, fallback: str) -> str:
    """``name`` as one path component whatever it holds: folded (NFKC, so that no later
    folding changes it), control and text-direction characters dropped, the pieces
    between separators (or look-alikes) joined with ``_`` once dot segments are left
    out, and ``fallback`` if nothing is left. For names that leave SecureDrive
    (download names), including ones stored before a rule existed."""
    pieces = [piece for piece in path_components(name) if piece.strip(" .")]
    return "_".join(pieces) or fallback


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


def name_search_key(text: str) -> str:
    """What search compares: compatibility-decomposed (NFKD), accents and other combining
    marks dropped, case folded. ``Échographie``, ``ECHOGRAPHIE`` and ``échographie`` all
    give ``echographie``; fullwidth ``\uff45\uff43\uff48\uff4f`` gives ``echo``.
    Computed in Python, for the stored names and the query alike, so PostgreSQL and
    SQLite compare the same text (no ``unaccent`` extension, no collation)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    # Casefolding may recompose or produce new decomposable letters: fold once more.
    again = unicodedata.normalize("NFKD", stripped.casefold())
    return "".join(char for char in again if not unicodedata.combining(char))
