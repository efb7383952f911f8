"""What writing an upload's ciphertext costs, through the page cache or past it (issue #18).

The tus PATCH's own storage step alone, without HTTP, Django's request or encryption:
``files.storage._FolderStagingWriter`` (the product's writer) takes sealed-segment-sized
pieces (1 MiB + 16 bytes) at contiguous offsets and fsyncs at each PATCH's end, one writer
per PATCH, as ``files.tus`` calls it. Rounds alternate between the two ways, in one
process, on one file system (a folder next to the checkout, or ``--folder``):

* ``page-cache``: ``SECUREDRIVE_STAGING_DIRECT_IO=false``, buffered ``pwrite`` with
  writeback started after each segment, fsync per PATCH (the code before #18's change);
* ``direct``: the default, ``O_DIRECT`` writes of aligned 4 MiB runs
  (``files/direct_writes.py``), the last partial block buffered, fsync per PATCH.

It prints, per way, MB/s, this process's CPU seconds per GiB (user + system) and the
kernel threads' (writeback, journal), medians over the rounds with min-max, and the
pairwise ratio direct / page-cache of each round. Read CPU figures on a quiet machine:
other work lands in the kernel threads' figure too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_support import MIB, ROOT, django_setup, embedded_env, kernel_threads_cpu_seconds

SEGMENT = MIB + 16
WAYS = ("page-cache", "direct")


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_upload(path: Path, size: int, patch: int, piece: bytes) -> None:
    from files.storage import _FolderStagingWriter

    header = b"\0" * 40
    offset, written = len(header), 0
    while written < size:
        writer = _FolderStagingWriter(path, header)
        end = min(size, written + patch)
        while written < end:
            writer.write_at(offset, piece)
            offset += len(piece)
            written += MIB
        writer.commit()
    path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of each upload")
    parser.add_argument("--patch-mib", type=int, default=64, help="bytes per PATCH")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--folder", type=Path, help="where to write (default: var/ here)")
    args = parser.parse_args()
    if args.mib < 1 or args.patch_mib < 1 or args.rounds < 1:
        parser.error("sizes and rounds must be positive")

    base = args.folder or ROOT / "var"
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-staging-", dir=base))
    try:
        django_setup(embedded_env(work / "data", inherit=False))
        from django.conf import settings

        piece = os.urandom(SEGMENT)
        size, patch = args.mib * MIB, args.patch_mib * MIB
        figures: dict[str, dict[str, list[float]]] = {
            way: {"mb_s": [], "cpu": [], "kernel": []} for way in WAYS
        }
        one_upload(work / "warm-up", 64 * MIB, patch, piece)
        for _round in range(args.rounds):
            for way in WAYS:
                settings.STAGING_DIRECT_IO = way == "direct"
                kernel, cpu, wall = (
                    kernel_threads_cpu_seconds(),
                    process_cpu_seconds(),
                    time.perf_counter(),
                )
                one_upload(work / f"staging-{way}", size, patch, piece)
                wall = time.perf_counter() - wall
                gib = size / 2**30
                figures[way]["mb_s"].append(size / wall / 1e6)
                figures[way]["cpu"].append((process_cpu_seconds() - cpu) / gib)
                figures[way]["kernel"].append((kernel_threads_cpu_seconds() - kernel) / gib)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def summary(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    print(f"{args.mib} MiB uploads in {args.patch_mib} MiB PATCHes, {args.rounds} rounds")
    print(f"{'way':<12} {'MB/s':>22} {'CPU-s/GiB':>20} {'kernel threads':>20}")
    for way in WAYS:
        each = figures[way]
        print(
            f"{way:<12} {summary(each['mb_s']):>22} {summary(each['cpu']):>20} "
            f"{summary(each['kernel']):>20}"
        )
    cpu_ratios = [
        d / p for d, p in zip(figures["direct"]["cpu"], figures["page-cache"]["cpu"], strict=True)
    ]
    speed_ratios = [
        d / p for d, p in zip(figures["direct"]["mb_s"], figures["page-cache"]["mb_s"], strict=True)
    ]
    print(
        f"direct / page-cache, per round: CPU {summary(cpu_ratios)}, MB/s {summary(speed_ratios)}"
    )
    result = {
        "size_mib": args.mib,
        "patch_mib": args.patch_mib,
        "rounds": args.rounds,
        **{
            f"{way.replace('-', '_')}_{name}": round(statistics.median(values), 3)
            for way in WAYS
            for name, values in (
                ("mb_s", figures[way]["mb_s"]),
                ("cpu_s_per_gib", figures[way]["cpu"]),
                ("kernel_threads_cpu_s_per_gib", figures[way]["kernel"]),
            )
        },
        "direct_vs_page_cache_cpu_ratio": round(statistics.median(cpu_ratios), 3),
        "direct_vs_page_cache_mb_s_ratio": round(statistics.median(speed_ratios), 3),
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
