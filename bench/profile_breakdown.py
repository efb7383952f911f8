"""Where a worker's time went: py-spy's raw samples (``--py-spy FILE`` of download.py,
upload.py, zip.py) summed by the innermost frame into the stages bench/README.md uses.

    .venv/bin/python bench/profile_breakdown.py /tmp/download.txt

Samples of threads that only wait (an idle gthread thread in ``select``, the request
thread waiting for the decrypt-ahead thread) are counted apart; the shares are of the
busy samples. A C function that releases the GIL (AES-GCM, ``send``, ``pwrite``,
``fsync``) is seen as the Python frame that called it. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import json
import re

WAIT = "wait (idle thread, queue, select)"
# First match wins; matched against "function (file.py:line)" of the innermost frame.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        WAIT,
        (
            "EpollSelector.select",
            "_worker (thread.py",
            "Condition.wait",
            "Queue.get",
            "Queue.put",
            "Event.wait",
        ),
    ),
    ("fsync", ("StagingWriter.commit", "BlobWriter.commit", "fsync")),
    ("AES-GCM", ("seal (", "seal_into (", "decrypt_segment", "_seal", "_open (", "encrypt")),
    ("CRC-32", ("crc", "ZipStreamInfo._file_data")),
    ("thread handoff (queue notify, GIL)", ("Condition.notify", "_hand (", "prefetched")),
    # Before "disk": the body's recv_into runs in body_readinto (files/request_body.py).
    ("socket receive (recv)", ("SocketUnreader.chunk", "request_body.py")),
    ("disk (pread / pwrite, page cache)", ("write_at", "read_at", "pwrite", "readinto")),
    (
        "HTTP body copies (gunicorn Body / Unreader)",
        ("Unreader.read", "Body.read", "LengthReader.read", "_read_reader", "LimitedStream.read"),
    ),
    ("socket send (sendall)", ("write (util.py", "write_nonblock", "sendall", "_emit_body")),
    (
        "database (session, access checks, rows)",
        ("sqlite", "SQLCompiler", "get_new_connection", "CursorWrapper", "psycopg"),
    ),
]
AUDIT_MARKERS = ("audit/services.py", "audit_event_append")
_PATH = re.compile(r"\((?:[^()]*/)?([^/():]+)")


def breakdown(path: str) -> tuple[collections.Counter[str], int]:
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path, encoding="utf-8") as samples:
        for line in samples:
            stack, _, number = line.rstrip().rpartition(" ")
            if not number.isdigit():
                continue
            count = int(number)
            total += count
            frames = stack.split(";")
            if any(marker in frame for frame in frames for marker in AUDIT_MARKERS):
                counts["audit (record)"] += count
                continue
            leaf = _PATH.sub(r"(\1", frames[-1])
            for stage, keys in STAGES:
                if any(key in leaf for key in keys):
                    counts[stage] += count
                    break
            else:
                counts["Python, Django, gunicorn (the rest)"] += count
    return counts, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", nargs="+", help="py-spy record --format raw output(s)")
    args = parser.parse_args(argv)
    counts: collections.Counter[str] = collections.Counter()
    for path in args.samples:
        counts.update(breakdown(path)[0])
    busy = sum(count for stage, count in counts.items() if stage != WAIT)
    print(f"{'stage':<46} {'samples':>8} {'share of busy':>14}")
    for stage, count in counts.most_common():
        share = "" if stage == WAIT else f"{100 * count / busy:.1f} %"
        print(f"{stage:<46} {count:>8} {share:>14}")
    shares = {stage: round(count / busy, 3) for stage, count in counts.items() if stage != WAIT}
    print(json.dumps({"busy_samples": busy, "shares": shares}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
