"""A study ZIP scanned member by member (finalize) against clamd on the plaintext ZIP.

Both sides scan the same study ZIP (``--members`` DICOM-like files, stored as
radiology exports are, filling ``--mib`` MiB) with the same clamd:

* **clamd on the plaintext ZIP**: ``ClamdClient.instream`` fed the ZIP already in
  memory; clamd scans the stream and unpacks the archive itself. This needs a clamd
  whose StreamMaxLength takes the whole ZIP: the bench starts a PRIVATE clamd (free
  port, temporary folder, the repository's test signatures, StreamMaxLength 4000M), never
  the shared one.
* **finalize**: ``files.services.version_finalize`` on the stored (encrypted) ZIP:
  claim, key unwrap, authenticated decryption, SHA-256, libmagic, then each member
  unpacked and sent to clamd as a stream of its own, the bytes outside members too,
  verdict and audit event. The single-pass limit is lowered to ``--window-mib`` so that
  the ZIP itself is *larger* than one pass (as a 3 GB study is for a 4 GB-limited
  clamd... once it is past 4 GB): the path issue #16 adds.

Runs alternate after one untimed warm-up each; figures are medians. Target (issue #16):
finalize within 1.5x clamd on the plaintext ZIP.

    .venv/bin/python bench/scan.py                  # 256 MiB, 512 members
    .venv/bin/python bench/scan.py --mib 1024 --members 1500 --repeats 1

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whatever the figures; 1 if a verdict is not "available"; 2 if clamd is not installed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench_support import MIB, ROOT, clamd_start, django_setup, embedded_env, finalize_timed


def study_zip(mib: int, members: int) -> bytes:
    member_size = mib * MIB // members
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(members):
            body = b"\0" * 128 + b"DICM" + os.urandom(member_size - 132)
            archive.writestr(f"ETUDE/SERIE{index % 4}/IM{index:05d}.dcm", body)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--members", type=int, default=512)
    parser.add_argument("--window-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="securedrive-bench-scan-") as folder:
        process, address = clamd_start(Path(folder))
        try:
            settings = {
                "SECUREDRIVE_CLAMD_ADDRESS": address,
                "SECUREDRIVE_SCAN_MAX_BYTES": str(args.window_mib * MIB),
                "SECUREDRIVE_SCAN_SIGNATURE_DIR": str(ROOT / "tests" / "clamav"),
            }
            django_setup(embedded_env(Path(folder), settings, inherit=True))
            from accounts.models import User
            from files import services
            from files.clamd import ClamdClient
            from files.uploads import BlobIngest

            client = ClamdClient(address, timeout_s=600)
            data = study_zip(args.mib, args.members)
            size = len(data)
            user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
            root = services.space_root(services.space_personal_get_or_create(user=user))
            ingest = BlobIngest(max_bytes=size)
            for start in range(0, size, MIB):
                ingest.write(data[start : start + MIB])
            version = services.file_upload(
                actor=user, folder=root, name="etude.zip", sealed=ingest.finish()
            )

            def clamd_plaintext() -> float:
                started = time.perf_counter()
                result = client.instream(data[i : i + MIB] for i in range(0, size, MIB))
                elapsed = time.perf_counter() - started
                if result.verdict.value != "clean":
                    raise SystemExit(f"clamd on the plaintext ZIP: {result}")
                return elapsed

            clamd_plaintext()
            finalize_timed(version.pk)
            plain, members = [], []
            for _ in range(args.repeats):
                plain.append(clamd_plaintext())
                members.append(finalize_timed(version.pk))
        finally:
            process.kill()
            process.wait(timeout=15)

    plain_s, members_s = statistics.median(plain), statistics.median(members)
    ratio = members_s / plain_s
    print(f"{'path':<56}{'seconds':>10}{'MB/s':>10}")
    for label, seconds in (
        ("clamd INSTREAM on the plaintext ZIP", plain_s),
        (f"finalize, {args.members} members one by one", members_s),
    ):
        print(f"{label:<56}{seconds:>10.3f}{size / seconds / 1e6:>10.0f}")
    verdict = "PASS" if ratio <= 1.5 else "BELOW TARGET"
    print(f"member by member / clamd on the plaintext ZIP: {ratio:.2f} (target <= 1.5): {verdict}")
    print(
        json.dumps(
            {
                "mib": args.mib,
                "members": args.members,
                "window_mib": args.window_mib,
                "clamd_plaintext_zip_s": round(plain_s, 4),
                "finalize_member_by_member_s": round(members_s, 4),
                "member_by_member_vs_clamd_ratio": round(ratio, 3),
                "target_max_ratio": 1.5,
                "runs_clamd_plaintext_zip_s": [round(value, 4) for value in plain],
                "runs_finalize_s": [round(value, 4) for value in members],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
