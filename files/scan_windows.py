"""Scanning a stream longer than clamd accepts: overlapping windows, one pass.

clamd refuses an INSTREAM longer than its StreamMaxLength (4 GB at most). A longer
stream is cut into windows of ``size`` bytes starting every ``size - overlap`` bytes,
each sent to clamd as a stream of its own. Any run of at most ``overlap + 1`` bytes lies
wholly inside one window, so every body signature whose match spans no more than that
is found wherever it sits (files/signatures.py measures the loaded databases' longest).

The stream is read once: at most two windows are open at a time (the overlap is
smaller than a window), each byte is sent to the window(s) covering it as it passes,
and a finished window's verdict is read only when the next one ends, so that clamd
scans one window while the next is being sent. Nothing is buffered beyond a chunk.

A threat outranks any other answer: a window clamd could not fully scan (one of its
limits, an error) is remembered and the later windows are still sent, so that a threat
further on is found and named; only a threat stops the scan early. A stream that
outgrows the one window allowed stops being sent, but the window already sent is still
read: a threat in it is reported, not the overflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from files.clamd import (
    CLAMD_SCAN_RATE_FLOOR_BYTES_PER_S,
    ClamdClient,
    InstreamSession,
    ScanResult,
    Verdict,
)


class WindowsNotAllowed(Exception):
    """The stream outgrew one window and the caller's policy forbids windows."""


@dataclass
class WindowsResult:
    verdict: Verdict
    detail: str = ""  # signature (infected) or clamd's message (error)
    windows: int = 0  # how many were sent in all
    offset: int = 0  # where the window that decided the verdict starts
    overflowed: bool = False  # more than one window was needed but not allowed


@dataclass
class _Window:
    start: int
    session: InstreamSession


class WindowedScan:
    """Feed chunks in order; ``finish`` gives the verdict over all of them."""

    def __init__(
        self,
        client: ClamdClient,
        *,
        size: int,
        overlap: int,
        total_size: int | None = None,
        allow_windows: bool = True,
    ) -> None:
        self._client = client
        self.size = size
        self.overlap = overlap
        self.step = size - overlap
        self._total = total_size
        self._allow = allow_windows
        self._open: list[_Window] = []
        self._ended: list[_Window] = []
        self._next_start = 0
        self.position = 0
        self.windows = 0
        self.threat: WindowsResult | None = None  # the first window with a threat
        # The first window clamd could not fully scan, or the overflow: it decides only
        # if no window holds a threat.
        self.problem: WindowsResult | None = None

    @property
    def decided(self) -> bool:
        """Nothing more to send: a threat was found, or no further window is allowed."""
        return self.threat is not None or (self.problem is not None and self.problem.overflowed)

    def _window_open(self) -> None:
        if self.windows >= 1 and (not self._allow or self.step <= 0):
            # A second window is needed and not allowed (or impossible: a window no
            # longer than the overlap would never advance).
            self.problem = WindowsResult(Verdict.ERROR, "", self.windows, overflowed=True)
            return
        self._open.append(_Window(self._next_start, self._client.instream_open()))
        self.windows += 1
        self._next_start += self.step

    def _collect(self, window: _Window) -> None:
        wait_s = self._client.timeout_s + window.session.sent / CLAMD_SCAN_RATE_FLOOR_BYTES_PER_S
        result: ScanResult = window.session.reply(wait_s=wait_s)
        found = WindowsResult(result.verdict, result.detail, self.windows, window.start)
        if result.verdict is Verdict.INFECTED and self.threat is None:
            self.threat = found
        elif result.verdict is Verdict.ERROR and self.problem is None:
            self.problem = found

    def _collect_ended(self) -> None:
        while self._ended and self.threat is None:
            self._collect(self._ended.pop(0))

    def feed(self, chunk: bytes) -> None:
        if self.decided or not chunk:
            return
        end = self.position + len(chunk)
        while self._next_start < end and not self.decided:
            previous_end = self._open[-1].start + self.size if self._open else 0
            if self._open and self._total is not None and previous_end >= self._total:
                break  # the last window already reaches the end of the stream
            self._window_open()
        view = memoryview(chunk)
        for window in list(self._open):
            first = max(self.position, window.start) - self.position
            last = min(end, window.start + self.size) - self.position
            if last > first:
                window.session.send(view[first:last])
            if window.start + self.size <= end:
                # Complete: clamd scans it while the next one is sent; its verdict is
                # read when the next one ends (or at finish).
                window.session.end()
                self._open.remove(window)
                self._collect_ended()
                self._ended.append(window)
        self.position = end

    def end(self) -> None:
        """No more content: clamd scans what is open; ``finish`` collects the verdicts."""
        for window in self._open:
            window.session.end()
        self._ended.extend(self._open)
        self._open = []

    def finish(self) -> WindowsResult:
        try:
            self.end()
            if self.windows == 0 and not self.decided:
                # An empty stream is still shown to clamd (as a one-window scan would).
                with self._client.instream_open() as session:
                    self.windows = 1
                    empty = session.finish()
                found = WindowsResult(empty.verdict, empty.detail, 1)
                if empty.verdict is Verdict.INFECTED:
                    self.threat = found
                elif empty.verdict is Verdict.ERROR:
                    self.problem = found
            # Every window sent is read, even after an overflow: a threat outranks it.
            self._collect_ended()
        finally:
            self.close()
        decisive = self.threat or self.problem or WindowsResult(Verdict.CLEAN, "")
        return dataclasses.replace(decisive, windows=self.windows)

    def close(self) -> None:
        for window in self._open + self._ended:
            window.session.close()
        self._open, self._ended = [], []
