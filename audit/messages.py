"""Messages shown to a person, kept in the log in no one's language.

A refusal's message (``request.input.refuse``: "A team with this name already exists.")
is translated for the person it refused, in their language, before the audit sees it.
Stored as shown, an auditor reading the console in another language would read it in
the refused person's. So the log keeps the catalogue's ``msgid`` (the English) and the
values put into it, found back from the text shown by matching it against the
catalogue of the language it was shown in; the console translates the ``msgid`` into
the auditor's language when it displays the event (``message_in_reader_language``), as
it does for every other code it shows in words.

A message the catalogue does not know (a library's, a plural form, text built from
several pieces) is kept as shown, with the language it was shown in.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import trans_real

_PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])|%%")
# A message is matched against at most this many characters (the stored text is cut).
_LONGEST = 300


@dataclass(frozen=True)
class _Entry:
    msgid: str
    pattern: re.Pattern[str] | None  # None: no placeholder, compared as text
    literal_length: int


def _pattern_of(text: str) -> tuple[re.Pattern[str] | None, int]:
    """A regular expression for a translated text with ``%(name)s`` placeholders."""
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    literal = 0
    has_placeholder = False
    for match in _PLACEHOLDER.finditer(text):
        chunk = text[position : match.start()]
        parts.append(re.escape(chunk))
        literal += len(chunk)
        if match.group(0) == "%%":
            parts.append("%")
            literal += 1
        else:
            has_placeholder = True
            name, kind = match.group(1), match.group(2)
            if name in seen:
                parts.append(f"(?P={name})")
            else:
                seen.add(name)
                parts.append(f"(?P<{name}>-?\\d+)" if kind == "d" else f"(?P<{name}>.+?)")
        position = match.end()
    chunk = text[position:]
    parts.append(re.escape(chunk))
    literal += len(chunk)
    if not has_placeholder:
        return None, literal
    return re.compile("".join(parts) + r"\Z", re.DOTALL), literal


def _catalogue(language: str) -> Any:
    # Django's merged catalogue of every app for that language (TranslationCatalog).
    return getattr(trans_real.translation(language), "_catalog")  # noqa: B009


@functools.lru_cache(maxsize=8)
def _index(language: str) -> tuple[dict[str, str], tuple[_Entry, ...]]:
    """The catalogue of ``language`` the other way round: text shown -> msgid, and the
    patterns of the texts with placeholders (longest literal text first). English is
    the msgids themselves (taken from the other languages' catalogues)."""
    pairs: list[tuple[Any, Any]] = []
    if language.split("-")[0] == "en":
        for code, _name in settings.LANGUAGES:
            if not code.startswith("en"):
                pairs.extend((key, key) for key in _catalogue(code).keys())  # noqa: SIM118
    else:
        pairs.extend(_catalogue(language).items())
    exact: dict[str, str] = {}
    entries: dict[str, _Entry] = {}
    for key, shown in pairs:
        if not isinstance(key, str) or not key or "\x04" in key or not isinstance(shown, str):
            continue  # plural forms (tuple keys) and texts with a context
        pattern, literal = _pattern_of(shown)
        if pattern is None:
            exact.setdefault(shown.replace("%%", "%"), key)
        elif key not in entries:
            entries[key] = _Entry(msgid=key, pattern=pattern, literal_length=literal)
    ordered = tuple(sorted(entries.values(), key=lambda entry: -entry.literal_length))
    return exact, ordered


def neutral(message: str, *, field: str = "message") -> dict[str, Any]:
    """What to store for ``message``, shown in the active language: ``message`` in
    English (the msgid with its values), ``message_id`` and ``message_values`` when the
    catalogue knows it, else ``message`` as shown and ``message_language``.

    ``field``: the detail holding the text, where an event already names it otherwise
    (a refused link's or transfer's ``reason``, a file request's ``detail``)."""
    stored = _neutral(message)
    if field != "message":
        stored[field] = stored.pop("message")
    return stored


def _neutral(message: str) -> dict[str, Any]:
    language = translation.get_language() or settings.LANGUAGE_CODE
    text = message[:_LONGEST]
    exact, entries = _index(language)
    msgid = exact.get(text)
    if msgid is not None:
        return {"message": msgid[:_LONGEST], "message_id": msgid}
    for entry in entries:
        assert entry.pattern is not None  # noqa: S101  (only entries with placeholders)
        found = entry.pattern.match(text)
        if found is None:
            continue
        values = found.groupdict()
        try:
            english = entry.msgid % values
        except (KeyError, TypeError, ValueError):
            english = ""
        if not english:
            # %(count)d placeholders: the values are numbers.
            try:
                english = entry.msgid % {
                    name: int(value) if value.lstrip("-").isdigit() else value
                    for name, value in values.items()
                }
            except (KeyError, TypeError, ValueError):
                continue
        return {
            "message": english[:_LONGEST],
            "message_id": entry.msgid,
            "message_values": values,
        }
    if language.split("-")[0] == "en":
        return {"message": text}
    return {"message": text, "message_language": language}


def message_in_reader_language(details: dict[str, Any], *, field: str = "message") -> str:
    """The stored message (``field``, as ``neutral`` was given), in the language of
    whoever reads the console now."""
    message = str(details.get(field) or "")
    msgid = details.get("message_id")
    if not isinstance(msgid, str) or not msgid:
        return message
    values = details.get("message_values")
    translated = translation.gettext(msgid)
    if not isinstance(values, dict) or not values:
        return translated.replace("%%", "%") if "%%" in translated else translated
    for candidate in (
        values,
        {
            name: int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value
            for name, value in values.items()
        },
    ):
        try:
            return translated % candidate
        except (KeyError, TypeError, ValueError):
            continue
    return message
