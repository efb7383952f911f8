"""Tasks for tests/test_embedded_broker.py, loaded by its worker with ``--include``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(ignore_result=True)
def run_record(number: int, log_path: str) -> None:
    """One line per run: a message delivered twice shows up twice."""
    with Path(log_path).open("a") as log:
        log.write(f"{number}\n")


@shared_task(ignore_result=True)
def run_until_released(log_path: str, release_path: str) -> None:
    """Says it started, then waits (at most a minute) for the test to release it."""
    with Path(log_path).open("a") as log:
        log.write(f"started {os.getpid()}\n")
    deadline = time.monotonic() + 60
    while not Path(release_path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with Path(log_path).open("a") as log:
        log.write("finished\n")
