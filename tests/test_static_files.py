"""`make run` collects static files with the production storage: every reference resolves."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.test.utils import override_settings


def test_collectstatic_with_the_manifest_storage_succeeds(tmp_path: Path) -> None:
    # The manifest storage rewrites url() and sourceMappingURL references and fails on a
    # missing file: exactly what `manage.py bootstrap` runs on a fresh checkout.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/bootstrap/bootstrap.min.css" in manifest
    assert "vendor/tus-js-client/tus.min.js" in manifest
    assert "securedrive/upload.js" in manifest
