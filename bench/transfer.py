"""Sending, copying and restoring a large file: time, bytes written and quota, before
and after.

A transfer references the original version (``sharing.services.transfers``,
ARCHITECTURE invariant 9); it used to copy each picked file into the transfer's folder,
re-encrypting every byte. In one run, on a temporary embedded installation (SQLite
database, keyring, storage folder):

* **before**: what adding a file to a transfer used to cost: a full streamed
  re-encryption of the version (``files.services.blob_reencrypt``, the copy's work),
  timed, with the bytes it wrote to storage (the new blob is then discarded).
* **after**: ``transfer_create`` + ``transfer_files_add`` + ``transfer_send`` (one
  recipient: a personal link, the e-mail written by the file backend after commit),
  timed (``--repeats`` transfers of the same file, median), with the storage (blob
  count, bytes) and the space's quota use before and after all of them.
  Targets (issue #14): no new blob, no quota use, under 1 s.
* **copy** and **restore**: ``file_copy`` into another folder and ``version_restore``
  of the 1 GiB version (after a small newer version), ``--repeats`` each, median time,
  with the blobs and bytes written to storage and the quota used. They used to cost the
  same full re-encryption as "before"; now the new version shares the original's
  content. Targets: no new blob, under 1 s; the quota still counts each (docs/storage.md).
* **lifecycle**: the transfers are purged (the original must stay intact: every segment
  decrypted and the SHA-256 compared), then the original's file is deleted for good
  while the copies live (each copy must still verify), then the copies: no blob may be
  left in storage and no data key in the database.

    .venv/bin/python bench/transfer.py              # 1 GiB; ~1 min on 2 busy vCPUs
    .venv/bin/python bench/transfer.py --mib 64     # quick look

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whatever the figures; 1 if the original was damaged or something readable was left
behind; 2 if an argument is refused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_support import MIB, django_setup, embedded_env

TARGET_SECONDS = 1.0


def storage_state(storage: Path) -> tuple[int, int]:
    """(blobs, bytes) in the storage folder."""
    files = [path for path in storage.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file sent")
    parser.add_argument("--repeats", type=int, default=3, help="transfers sent (median)")
    args = parser.parse_args()
    if args.mib < 1 or args.repeats < 1:
        print("--mib and --repeats must be at least 1", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="securedrive-bench-transfer-") as folder:
        data_dir = Path(folder)
        django_setup(embedded_env(data_dir, inherit=True))
        from django.conf import settings
        from django.db import transaction
        from django.urls import get_resolver
        from django.utils import timezone

        from accounts.models import User
        from files import lifecycle, services
        from files.models import File, FileVersion, ScanStatus
        from files.selectors import space_used_bytes
        from files.storage import blob_store
        from files.uploads import BlobIngest
        from sharing.services import transfers

        storage = Path(settings.STORAGE_DIR)
        size = args.mib * MIB
        user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
        space = services.space_personal_get_or_create(user=user)
        studies = services.folder_create(actor=user, parent=services.space_root(space), name="IRM")
        ingest = BlobIngest(max_bytes=size)
        block = os.urandom(MIB)
        for _ in range(args.mib):
            ingest.write(block)
        original = services.file_upload(
            actor=user, folder=studies, name="irm-thorax.dcm", sealed=ingest.finish()
        )
        services.version_mark_scanned(version=original, status=ScanStatus.AVAILABLE)
        original.refresh_from_db()

        # Before: the copy the transfer used to make (a full re-encryption).
        blobs_0, bytes_0 = storage_state(storage)
        started = time.perf_counter()
        sealed = services.blob_reencrypt(version=original, max_bytes=size, actor=user)
        before_s = time.perf_counter() - started
        blobs_1, bytes_1 = storage_state(storage)
        blob_store().delete(sealed.blob_key)
        before_blobs, before_bytes = blobs_1 - blobs_0, bytes_1 - bytes_0

        # After: transfers referencing the original. A server has its URLconf loaded
        # before the first request: so does the bench (the first reverse() imports
        # every view, ~2 s, which would otherwise land in the first transfer).
        get_resolver().url_patterns  # noqa: B018
        blobs_0, bytes_0 = storage_state(storage)
        used_0 = space_used_bytes(space)
        runs: list[float] = []
        sent = []
        for number in range(args.repeats):
            started = time.perf_counter()
            transfer = transfers.transfer_create(
                actor=user,
                subject=f"IRM thorax {number + 1}",
                message="Pour avis",
                expires_at=timezone.now() + dt.timedelta(days=7),
            )
            transfers.transfer_files_add(
                actor=user, transfer=transfer, files=[File.objects.get(pk=original.file_id)]
            )
            with transaction.atomic():  # the e-mail goes after commit, as in a request
                transfers.transfer_send(
                    actor=user, transfer=transfer, recipients=["dr.radio@clinique.example"]
                )
            runs.append(time.perf_counter() - started)
            sent.append(transfer)
        after_s = statistics.median(runs)
        blobs_1, bytes_1 = storage_state(storage)
        used_1 = space_used_bytes(space)
        after_blobs, after_bytes = blobs_1 - blobs_0, bytes_1 - bytes_0
        quota_bytes = used_1 - used_0

        # Copies and restores: they share the original's content.
        copies_folder = services.folder_create(
            actor=user, parent=services.space_root(space), name="Copies"
        )
        copy_runs, copies = [], []
        blobs_0, bytes_0 = storage_state(storage)
        used_0 = space_used_bytes(space)
        for _ in range(args.repeats):
            started = time.perf_counter()
            copies.append(
                services.file_copy(
                    actor=user,
                    file=File.objects.get(pk=original.file_id),
                    destination=copies_folder,
                )
            )
            copy_runs.append(time.perf_counter() - started)
        blobs_1, bytes_1 = storage_state(storage)
        copy_blobs, copy_bytes = blobs_1 - blobs_0, bytes_1 - bytes_0
        copy_quota = space_used_bytes(space) - used_0
        newer = BlobIngest(max_bytes=MIB)
        newer.write(os.urandom(MIB))
        services.file_version_add(
            actor=user, file=File.objects.get(pk=original.file_id), sealed=newer.finish()
        )
        restore_runs = []
        blobs_0, bytes_0 = storage_state(storage)
        used_0 = space_used_bytes(space)
        for _ in range(args.repeats):
            started = time.perf_counter()
            services.version_restore(actor=user, version=FileVersion.objects.get(pk=original.pk))
            restore_runs.append(time.perf_counter() - started)
        blobs_1, bytes_1 = storage_state(storage)
        restore_blobs, restore_bytes = blobs_1 - blobs_0, bytes_1 - bytes_0
        restore_quota = space_used_bytes(space) - used_0
        copy_s, restore_s = statistics.median(copy_runs), statistics.median(restore_runs)

        # Purge the transfers: the original stays whole.
        for transfer in sent:
            transfers.transfer_purge(transfer_id=transfer.pk, actor=user)
        lifecycle.shredded_blobs_delete()
        original.refresh_from_db()
        try:
            lifecycle.version_verify(original)
            original_intact = True
        except Exception as error:  # reported, and the exit status says it
            print(f"original damaged after the transfer's purge: {error!r}", file=sys.stderr)
            original_intact = False

        # Shred the original's file: the copies still read the content it held.
        file = File.objects.get(pk=original.file_id)
        services.file_delete(actor=user, file=file)
        services.file_purge(actor=user, file=File.objects.get(pk=file.pk))
        lifecycle.shredded_blobs_delete()
        copies_intact = True
        for copy in copies:
            try:
                lifecycle.version_verify(FileVersion.objects.get(file_id=copy.pk))
            except Exception as error:  # reported, and the exit status says it
                print(f"copy damaged after the original's purge: {error!r}", file=sys.stderr)
                copies_intact = False
        # Then the copies, the last references: nothing readable is left.
        for copy in copies:
            services.file_delete(actor=user, file=copy)
            services.file_purge(actor=user, file=File.objects.get(pk=copy.pk))
        lifecycle.shredded_blobs_delete()
        blobs_left, _bytes_left = storage_state(storage)
        keys_left = FileVersion.objects.filter(wrapped_data_key__isnull=False).count()

    no_blob = after_blobs == 0 and after_bytes == 0
    shared = copy_blobs == restore_blobs == copy_bytes == restore_bytes == 0
    fast = after_s < TARGET_SECONDS
    fast_copies = max(copy_s, restore_s) < TARGET_SECONDS
    nothing_left = blobs_left == 0 and keys_left == 0
    print(f"one {args.mib} MiB file: {args.repeats} transfers, copies, restores (median time)")
    print(f"{'path':<44}{'seconds':>10}{'blobs':>8}{'bytes written':>16}{'quota bytes':>14}")
    print(
        f"{'before: copy (re-encryption)':<44}{before_s:>10.3f}{before_blobs:>8}"
        f"{before_bytes:>16}{size:>14}"
    )
    print(
        f"{'after: reference (create, add, send)':<44}{after_s:>10.3f}{after_blobs:>8}"
        f"{after_bytes:>16}{quota_bytes:>14}"
    )
    print(
        f"{'after: copy (shares the content)':<44}{copy_s:>10.3f}{copy_blobs:>8}"
        f"{copy_bytes:>16}{copy_quota:>14}"
    )
    print(
        f"{'after: restore (shares the content)':<44}{restore_s:>10.3f}{restore_blobs:>8}"
        f"{restore_bytes:>16}{restore_quota:>14}"
    )
    print("(blobs, bytes and quota: all runs together)")
    print()
    print(f"{'check':<52}result")
    rows = [
        ("no new blob, no quota use", "PASS" if no_blob and quota_bytes == 0 else "FAIL"),
        (f"under {TARGET_SECONDS:.0f} s", "PASS" if fast else "BELOW TARGET"),
        ("copy and restore: no new blob", "PASS" if shared else "FAIL"),
        (
            f"copy and restore under {TARGET_SECONDS:.0f} s",
            "PASS" if fast_copies else "BELOW TARGET",
        ),
        ("purging the transfer leaves the original intact", "PASS" if original_intact else "FAIL"),
        (
            "purging the original leaves the copies intact",
            "PASS" if copies_intact else "FAIL",
        ),
        (
            "purging the copies after: no blob, no data key",
            "PASS" if nothing_left else f"FAIL ({blobs_left} blobs, {keys_left} keys)",
        ),
    ]
    for label, result in rows:
        print(f"{label:<52}{result}")
    print(
        json.dumps(
            {
                "mib": args.mib,
                "copy_s": round(before_s, 4),
                "copy_blobs_written": before_blobs,
                "copy_bytes_written": before_bytes,
                "transfer_s": round(after_s, 4),
                "runs_transfer_s": [round(value, 4) for value in runs],
                "transfer_blobs_written": after_blobs,
                "transfer_bytes_written": after_bytes,
                "transfer_quota_bytes": quota_bytes,
                "transfer_vs_copy_time_ratio": round(after_s / before_s, 5) if before_s else None,
                "shared_copy_s": round(copy_s, 4),
                "runs_shared_copy_s": [round(value, 4) for value in copy_runs],
                "shared_copy_blobs_written": copy_blobs,
                "shared_copy_bytes_written": copy_bytes,
                "shared_copy_quota_bytes": copy_quota,
                "restore_s": round(restore_s, 4),
                "runs_restore_s": [round(value, 4) for value in restore_runs],
                "restore_blobs_written": restore_blobs,
                "restore_bytes_written": restore_bytes,
                "restore_quota_bytes": restore_quota,
                "shared_copy_vs_reencryption_time_ratio": (
                    round(copy_s / before_s, 5) if before_s else None
                ),
                "copies_intact_after_original_purge": copies_intact,
                "target_max_s": TARGET_SECONDS,
                "target_met": no_blob and quota_bytes == 0 and fast,
                "original_intact_after_purge": original_intact,
                "blobs_left_after_shred": blobs_left,
                "data_keys_left_after_shred": keys_left,
            }
        )
    )
    return 0 if original_intact and copies_intact and nothing_left and shared else 1


if __name__ == "__main__":
    sys.exit(main())
