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


def _data_dir_of_this_test_process() -> str | None:
    """Give this test process its own SECUREDRIVE_DATA_DIR (keyring, storage, file cache,
    mail, checkpoints): xdist workers that share one see each other's cached values and
    files.

    The xdist controller imports these settings first (pytest-django) and its workers
    inherit its environment, so "the variable is already set" cannot tell an operator's
    folder from the controller's. SECUREDRIVE_TEST_DATA_DIR_OF names the worker a folder
    was chosen for ("" for the controller or a run without xdist): a server or Celery
    worker that a test starts with the worker's environment keeps the worker's folder
    (it must read the same keyring and blobs), a new xdist worker gets its own.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    chosen_for = os.environ.get("SECUREDRIVE_TEST_DATA_DIR_OF")
    if chosen_for == worker and "SECUREDRIVE_DATA_DIR" in os.environ:
        return None
    if chosen_for is None and "SECUREDRIVE_DATA_DIR" in os.environ:
        # The operator's folder: kept, and each worker works in a subfolder of it.
        os.environ["SECUREDRIVE_TEST_DATA_PARENT"] = os.environ["SECUREDRIVE_DATA_DIR"]
    operator_folder = os.environ.get("SECUREDRIVE_TEST_DATA_PARENT")
    if operator_folder:
        data_dir = os.path.join(operator_folder, worker) if worker else operator_folder
        os.makedirs(data_dir, exist_ok=True)
    else:
        # A temporary folder removed when this process ends (the large-file tests leave
        # gigabytes of blobs in it): at exit, and by conftest's pytest_unconfigure in an
        # xdist worker, which ends with os._exit (no atexit).
        data_dir = tempfile.mkdtemp(prefix=f"securedrive-test-{worker or 'main'}-")
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["SECUREDRIVE_DATA_DIR"] = data_dir
    os.environ["SECUREDRIVE_TEST_DATA_DIR_OF"] = worker
    return None if operator_folder else data_dir


# The folder this process made for itself, to remove when it ends; None for a folder an
# operator or a parent test process chose.
temporary_data_dir = _data_dir_of_this_test_process()
os.environ.pop("DATABASE_URL", None)
os.environ["SECUREDRIVE_PROFILE"] = "embedded"

# The data folder must be chosen before the project's settings read it.
from securedrive import config  # noqa: E402
from securedrive.settings import *  # noqa: E402, F403
from securedrive.settings import DATA_DIR  # noqa: E402

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
