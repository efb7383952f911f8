"""Settings of the real Celery workers started by tests/test_scanning_crash.py.

The test suite's settings (same database, storage and keyring folder), but consuming
from the test Redis instead of running tasks eagerly, and scanning with the test clamd.
The visibility timeout is short so that a whole-worker kill is redelivered in seconds
rather than hours (FIELD-NOTES).
"""

import os

from tests.settings import *  # noqa: F403

CLAMD_ADDRESS = os.environ["SECUREDRIVE_TEST_CLAMD_ADDRESS"]
CELERY_TASK_ALWAYS_EAGER = False
# The test's own Redis database (SCAN_WORKER_BROKER_URL): unacked messages are per
# database, so the short visibility timeout cannot redeliver another test's messages.
CELERY_BROKER_URL = os.environ["SCAN_WORKER_BROKER_URL"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": float(os.environ.get("SCAN_WORKER_VISIBILITY_TIMEOUT_S", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULE = {}
# Short leases, so that a killed run's claim is taken over in seconds (production: 2
# minutes, renewed every 30 seconds while the scan progresses).
SCAN_LEASE_S = 3.0
