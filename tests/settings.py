"""Settings for the test suite: the embedded profile, pointed at the test services.

tests/services.sh starts PostgreSQL, Redis, clamd and an S3 server on loopback and
exports SECUREDRIVE_TEST_* variables; without them the suite runs on SQLite and the
tests that need a missing service skip (or fail, under CI=true: see conftest.py).
"""

import atexit
import os
import shutil
import tempfile

import environ

if "SECUREDRIVE_DATA_DIR" not in os.environ:
    # A private data folder for this test process (each xdist worker has its own), removed
    # when the process ends: the large-file tests leave gigabytes of blobs in it.
    _data_dir = tempfile.mkdtemp(prefix="securedrive-test-")
    os.environ["SECUREDRIVE_DATA_DIR"] = _data_dir
    atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
os.environ.pop("DATABASE_URL", None)
os.environ["SECUREDRIVE_PROFILE"] = "embedded"

from securedrive import config
from securedrive.settings import *  # noqa: F403
from securedrive.settings import DATA_DIR

_test_database_url = os.environ.get("SECUREDRIVE_TEST_DATABASE_URL", "")
if _test_database_url:
    DATABASES = {"default": environ.Env.db_url_config(_test_database_url)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db" / "test.sqlite3",
        }
    }
config.database_tune(DATABASES["default"])

# No manifest: tests do not run collectstatic.
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "storage"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CLAMD_ADDRESS = ""
# The signatures the test clamd loads (tests/services.sh): the scan windows' overlap is
# measured from them (68 bytes, EICAR); a small floor keeps test windows small.
SCAN_SIGNATURE_DIR = str(BASE_DIR / "tests" / "clamav")  # noqa: F405
SCAN_WINDOW_OVERLAP_BYTES = 1024

# Static files straight from the source folders (no collectstatic in tests).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Tasks run in the test process; the real worker is exercised by test_embedded_worker.py.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
