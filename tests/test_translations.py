"""The French catalogue is complete and compiled: no English left on a French screen."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import missing_service

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "fr" / "LC_MESSAGES"
PLURAL_FORMS = 2  # "Plural-Forms: nplurals=2; plural=(n > 1);"


@dataclass(frozen=True)
class Entry:
    msgid: str
    msgid_plural: str
    context: str
    translations: list[str]  # one per plural form (a single one without plural)
    fuzzy: bool


def po_entries(path: Path = LOCALE / "django.po") -> list[Entry]:
    """Each entry of a catalogue (ours by default), header excluded."""
    text = path.read_text(encoding="utf-8")
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


def test_catalogue_holds_every_message_of_the_sources(tmp_path: Path) -> None:
    """A string added to the code or a template without `make messages` and a French
    translation would show English on a French screen: extract the messages from a copy
    of the sources (makemessages rewrites the catalogue in place) and compare."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        missing_service("GNU gettext (xgettext, msgmerge) is not installed")
    root = LOCALE.parent.parent.parent
    copy = tmp_path / "src"
    shutil.copytree(
        root,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tools", "var", "node_modules", "*.mo", "__pycache__", ".*_cache"
        ),
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--locale",
            "fr",
            "--no-obsolete",
            "--ignore",
            "tests/*",
            "--ignore",
            "bench/*",
        ],
        cwd=copy,
        env={**environment, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    extracted = po_entries(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    ours = {(entry.context, entry.msgid) for entry in po_entries()}
    new = sorted(entry.msgid for entry in extracted if (entry.context, entry.msgid) not in ours)
    assert new == [], "new messages: run `make messages` and translate them"
