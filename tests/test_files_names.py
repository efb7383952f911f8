"""Names people give files and folders: portable, unambiguous, never a path."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from django.conf import settings

from files.errors import FileRuleError
from files.names import MAX_NAME_BYTES, name_clean, name_key, name_variant


@pytest.mark.parametrize(
    "name",
    [
        "Compte rendu IRM — Mme Dupont.pdf",
        "scan: 2026-11-23 (1).dcm",
        ".bashrc",
        "file.tar.gz",
        "Ærø ⚕ 医学.txt",
        "CONSENT.pdf",  # "CON" only as a whole stem is a device
        "x" * MAX_NAME_BYTES,
        "Famille \U0001f468\u200d\U0001f469\u200d\U0001f467.jpg",  # joiners make one emoji
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt",  # Persian needs ZWNJ
    ],
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert name_clean(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        (".", "“.” and “..”"),
        ("..", "“.” and “..”"),
        ("../../etc/passwd", "“/”"),
        ("reports/2026.pdf", "“/”"),
        ("C:\\Windows\\win.ini", "“\\”"),
        ("line\nbreak.txt", "control"),
        ("nul\x00byte.pdf", "control"),
        ("tab\there", "control"),
        ("invoice\u202efdp.exe", "text-direction"),
        ("report.pdf.", "end with a dot"),
        ("report.pdf ", "end with a dot or a space"),
        (" leading.pdf", "start with a space"),
        ("CON", "reserved by Windows"),
        ("nul.txt", "reserved by Windows"),
        ("com1.log", "reserved by Windows"),
        ("LPT9", "reserved by Windows"),
        ("COM¹.txt", "reserved by Windows"),
        ("x" * (MAX_NAME_BYTES + 1), "at most 255 bytes"),
        ("é" * 128, "at most 255 bytes"),  # 128 characters, 256 bytes of UTF-8
        # Invisible: "re<ZWSP>port.pdf" looks like "report.pdf" beside it in one folder.
        ("re\u200bport.pdf", "invisible"),
        ("\ufeffreport.pdf", "invisible"),
        ("report\u2060.pdf", "invisible"),
        ("\u200d", "visible character"),  # a joiner alone: a name nobody can see
        ("\u00a0\u200c", "visible character"),
    ],
)
def test_dangerous_or_unportable_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(FileRuleError, match=reason.replace("\\", "\\\\").replace("(", r"\(")):
        name_clean(name)


@pytest.mark.parametrize(
    "name",
    [
        "rap\u00adport.pdf",  # soft hyphen: shown only where a line breaks
        "rap\u034fport.pdf",  # combining grapheme joiner
        "rapport\U000e0041.pdf",  # a tag letter (invisible "ASCII smuggling")
        "rap\u2061port.pdf",  # invisible function application
        "rap\u3164port.pdf",  # Hangul filler: a letter that draws nothing
        "rapport\ufff9.pdf",  # interlinear annotation anchor
    ],
)
def test_a_name_cannot_hide_characters_to_pass_for_its_neighbour(name: str) -> None:
    """Unicode's default-ignorable characters draw nothing: "rap<SHY>port.pdf" sits
    beside "rapport.pdf" in one folder looking the same, and the next clinician opens
    the wrong one. Refused like the zero-width space."""
    with pytest.raises(FileRuleError, match="invisible"):
        name_clean(name)


def test_a_line_separator_is_no_part_of_a_name() -> None:
    """U+2028 and U+2029 break the line wherever the name is shown or logged."""
    for separator in "\u2028\u2029":
        with pytest.raises(FileRuleError, match="control"):
            name_clean(f"cr{separator}irm.pdf")


@pytest.mark.parametrize(
    "name",
    [
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f vacances.jpg",
        "c\u0153ur \u2764\ufe0f.txt",  # an emoji presentation selector
        "\u182e\u1823\u1829\u182d\u180b.txt",  # Mongolian free variation selector
    ],
)
def test_selectors_that_shape_what_is_seen_stay_allowed(name: str) -> None:
    """A flag's tag sequence, emoji and Mongolian variation selectors change the
    character drawn: they are part of ordinary names."""
    assert name_clean(name) == name


def test_a_decomposed_accent_is_stored_composed() -> None:
    decomposed = "Re\u0301sultats.pdf"  # what macOS sends
    assert name_clean(decomposed) == "Résultats.pdf"
    assert name_key(decomposed) == name_key("RÉSULTATS.PDF")


def test_name_comparison_ignores_case_beyond_ascii() -> None:
    assert name_key("Straße.pdf") == name_key("STRASSE.PDF")
    assert name_key("Émile.txt") == name_key("émile.TXT")


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    [
        ("report.pdf", 2, "report (2).pdf"),
        ("archive.tar.gz", 3, "archive.tar (3).gz"),
        ("README", 2, "README (2)"),
        (".bashrc", 2, ".bashrc (2)"),
    ],
)
def test_a_clash_gets_a_numbered_variant(name: str, number: int, expected: str) -> None:
    assert name_variant(name, number) == expected


def test_a_numbered_variant_of_a_long_name_still_fits() -> None:
    variant = name_variant("é" * 120 + ".pdf", 12)
    assert variant.endswith(" (12).pdf")
    assert name_clean(variant) == variant


def test_unsafe_files_settings_stop_the_system_checks() -> None:
    from django.test.utils import override_settings

    from files.checks import files_settings_check

    assert files_settings_check() == []
    with override_settings(FILES_SEGMENT_SIZE=8, FILES_VERSION_KEEP_COUNT=0):
        ids = sorted(str(error.id) for error in files_settings_check())
    assert ids == ["files.E001", "files.E003"]


def test_a_clamd_address_without_its_scheme_stops_the_start_with_the_fix(tmp_path: Path) -> None:
    """An operator writes host:port (clamd.conf's way): the start stops and says what to
    write, instead of every upload waiting for a scan that never comes (each try logged
    by the worker, nothing on screen but "waiting for virus scan")."""
    env = {
        **os.environ,
        "SECUREDRIVE_PROFILE": "embedded",
        "SECUREDRIVE_DATA_DIR": str(tmp_path),
        "SECUREDRIVE_CLAMD_ADDRESS": "127.0.0.1:3310",
        "DJANGO_SETTINGS_MODULE": "securedrive.settings",  # the product's, not the tests'
    }
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "check"]
    refused = subprocess.run(manage, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "files.E004" in refused.stderr
    assert "tcp://127.0.0.1:3310" in refused.stderr  # the fix, spelled out
    env["SECUREDRIVE_CLAMD_ADDRESS"] = "tcp://127.0.0.1:3310"
    accepted = subprocess.run(manage, env=env, capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr
