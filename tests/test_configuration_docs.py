"""docs/configuration.md is what an operator reads before setting anything: every
variable the settings read from the environment is in one of its tables with its
default, every variable it lists is read, and the numbers it gives as defaults are the
ones the settings use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["securedrive/settings.py", "securedrive/config.py", "securedrive/gunicorn.conf.py"]
_READ = re.compile(
    r'(?:\benv(?:ironment)?\.\w+|os\.environ\.get)\(\s*"((?:SECUREDRIVE|DATABASE)_[A-Z0-9_]+)"'
)
_NAME = re.compile(r"`((?:SECUREDRIVE|DATABASE)_[A-Z0-9_]+)`")


def names_read() -> set[str]:
    return {
        name
        for source in SOURCES
        for name in _READ.findall((ROOT / source).read_text(encoding="utf-8"))
    }


def documented_rows() -> dict[str, str]:
    """Variable -> the default cell of the table row that names it."""
    rows: dict[str, str] = {}
    for line in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        for name in _NAME.findall(cells[0]):
            rows[name] = cells[1]
    return rows


def test_every_variable_the_settings_read_is_documented_with_a_default() -> None:
    rows = documented_rows()
    undocumented = sorted(names_read() - set(rows))
    assert undocumented == [], f"read from the environment, missing from the tables: {undocumented}"
    without_default = sorted(name for name in names_read() if not rows[name])
    assert without_default == [], f"documented without a default: {without_default}"


def test_every_documented_variable_is_read() -> None:
    unread = sorted(set(documented_rows()) - names_read())
    assert unread == [], f"documented but read nowhere: {unread}"


def test_documented_numeric_defaults_are_the_real_ones(tmp_path: Path) -> None:
    """`SECUREDRIVE_<NAME>` sets `settings.<NAME>` (the rule the page opens with): where
    the page gives a plain number, the embedded profile with nothing set must have it."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECUREDRIVE_", "DATABASE_URL", "DJANGO_"))
    }
    environment.update(
        {"DJANGO_SETTINGS_MODULE": "securedrive.settings", "SECUREDRIVE_DATA_DIR": str(tmp_path)}
    )
    dumped = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, django; django.setup(); from django.conf import settings; "
            "print(json.dumps({k: getattr(settings, k) for k in dir(settings) "
            "if k.isupper() and isinstance(getattr(settings, k), (int, float))}))",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    actual = json.loads(dumped.stdout)
    compared = 0
    for name, default in documented_rows().items():
        setting = name.removeprefix("SECUREDRIVE_")
        # "`10`" or "`1048576` (1 MiB)"; "`50` / `600`" for two names in one row is skipped.
        match = re.fullmatch(r"`(\d+(?:\.\d+)?)`(?: \([^)]*\))?", default)
        if match is None or setting not in actual:
            continue
        assert float(match.group(1)) == float(actual[setting]), (name, default, actual[setting])
        compared += 1
    assert compared >= 30


@pytest.mark.parametrize("name", ["SECUREDRIVE_OIDC_PROVIDERS", "SECUREDRIVE_SESSION_MAX_AGE"])
def test_names_the_page_explains_are_found(name: str) -> None:
    """The scanner of this test itself: a name read through config's helpers counts."""
    assert name in names_read()
