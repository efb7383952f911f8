"""The French catalogue is complete and compiled: no English left on a French screen."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "fr" / "LC_MESSAGES"


def po_entries() -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for each entry of django.po, header excluded."""
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
        if msgid:
            entries.append((msgid, joined("msgstr"), fuzzy))
    return entries


def test_every_message_is_translated() -> None:
    entries = po_entries()
    assert len(entries) > 30
    assert [msgid for msgid, msgstr, _ in entries if not msgstr] == []
    assert [msgid for msgid, _, fuzzy in entries if fuzzy] == []


def test_compiled_catalogue_matches_the_sources() -> None:
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [msgid for msgid, msgstr, _ in po_entries() if compiled.gettext(msgid) != msgstr]
    assert stale == [], "run `make messages` to recompile django.mo"
