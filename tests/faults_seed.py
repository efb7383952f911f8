"""Store versions on tests/test_faults.py's private stack, as an upload would: pending,
their finalize task sent to the stack's Redis after the commit.

Run by the test as ``python -m tests.faults_seed`` with its settings, once: it reads
``NAME SEGMENTS`` lines and answers each with the new version's id, so Django starts
only once however many files the test uploads.
"""

from __future__ import annotations

import sys

import django


def main() -> None:
    django.setup()
    from django.db import close_old_connections, transaction
    from django.test.utils import override_settings

    from accounts.models import User
    from tests.files_helpers import content_of, root_of, version_store

    assert sys.stdin.readline().strip() == "migrated"
    owner = User.objects.create_user(
        "alice.martin@hopital.example", "correct horse battery staple 42"
    )
    print("ready", flush=True)
    for line in sys.stdin:
        name, segments = line.split()
        # Checked before use: PostgreSQL may have been restarted since the last file.
        close_old_connections()
        # 64 KiB segments, with the worker's SECUREDRIVE_SCAN_SEGMENT_DELAY_S between
        # them: a scan of 40 segments lasts seconds, long enough to break something in.
        with override_settings(FILES_SEGMENT_SIZE=64 * 1024), transaction.atomic():
            version = version_store(
                actor=owner,
                folder=root_of(owner),
                name=name,
                content=content_of(int(segments) * 64 * 1024, seed=name),
                clean=False,
            )
        print(version.pk, flush=True)


if __name__ == "__main__":
    main()
