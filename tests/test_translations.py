"""The French catalogue is complete and compiled: no English left on a French screen."""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from pathlib import Path

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "fr" / "LC_MESSAGES"
PLURAL_FORMS = 2  # "Plural-Forms: nplurals=2; plural=(n > 1);"


@dataclass(frozen=True)
class Entry:
    msgid: str
    msgid_plural: str
    context: str
    translations: list[str]  # one per plural form (a single one without plural)
    fuzzy: bool


def po_entries() -> list[Entry]:
    """Each entry of django.po, header excluded."""
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = []
    for block in text.split("\n\n"):
        fuzzy = "#, fuzzy" in block or re.search(r"#,.*\bfuzzy\b", block) is not None

        def joined(keyword: str, block: str = block) -> str:
            match = re.search(rf'^{keyword} ((?:".*"\n?)+)', block + "\n", re.MULTILINE)
            if not match:
                return ""
            raw = "".join(re.findall(r'"(.*)"', match.group(1)))
            return raw.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")

        msgid = joined("msgid")
        if not msgid:
            continue
        msgid_plural = joined("msgid_plural")
        if msgid_plural:
            translations = [joined(rf"msgstr\[{form}\]") for form in range(PLURAL_FORMS)]
        else:
            translations = [joined("msgstr")]
        entries.append(Entry(msgid, msgid_plural, joined("msgctxt"), translations, fuzzy))
    return entries


def test_every_message_is_translated() -> None:
    entries = po_entries()
    assert len(entries) > 30
    assert [entry.msgid for entry in entries if not all(entry.translations)] == []
    assert [entry.msgid for entry in entries if entry.fuzzy] == []


def compiled_forms(compiled: gettext.GNUTranslations, entry: Entry) -> list[str]:
    if entry.msgid_plural:
        # French: form 0 for 0 and 1, form 1 from 2 on.
        counts = (1, 2)
        if entry.context:
            return [
                compiled.npgettext(entry.context, entry.msgid, entry.msgid_plural, count)
                for count in counts
            ]
        return [compiled.ngettext(entry.msgid, entry.msgid_plural, count) for count in counts]
    if entry.context:
        return [compiled.pgettext(entry.context, entry.msgid)]
    return [compiled.gettext(entry.msgid)]


def test_compiled_catalogue_matches_the_sources() -> None:
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [
        entry.msgid
        for entry in po_entries()
        if compiled_forms(compiled, entry) != entry.translations
    ]
    assert stale == [], "run `make messages` to recompile django.mo"
