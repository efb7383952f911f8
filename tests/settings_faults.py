"""Settings of the private stack that tests/test_faults.py starts and breaks: its own
PostgreSQL, Redis and clamd on free ports (FAULTS_* variables), a real worker with beat.

Leases and the sweeper are short so that a killed run is taken over in seconds (in
production: a 2-minute lease, a sweep every minute); everything else is the suite's.
"""

import os

import environ

from securedrive import config
from tests.settings import *  # noqa: F403

DATABASES = {"default": environ.Env.db_url_config(os.environ["FAULTS_DATABASE_URL"])}
config.database_tune(DATABASES["default"])
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = os.environ["FAULTS_REDIS_URL"]
# Production's transport options, with a visibility timeout longer than the test: a
# message left unacknowledged by a killed worker is not what brings its file back.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": BROKER_TIMEOUT_S,  # noqa: F405
    "socket_timeout": BROKER_TIMEOUT_S,  # noqa: F405
}
CLAMD_ADDRESS = os.environ["FAULTS_CLAMD_ADDRESS"]
SCAN_LEASE_S = 4.0
SCAN_SWEEP_S = 2.0
SCAN_STUCK_MINUTES = 1
CELERY_BEAT_SCHEDULE = {
    "files-versions-stuck": {
        "task": "files.tasks.versions_stuck_requeue",
        "schedule": SCAN_SWEEP_S,
    },
}
