"""gunicorn's own log lines (errors, access) in the format of every other process: the
time in UTC, named (core/log_format.py). gunicorn's default is local time with a bare
offset for errors and no time at all for our access lines."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from core.log_format import FORMAT, UTCFormatter


class UTCLogger(Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log, line_format in (
            (self.error_log, FORMAT),
            (self.access_log, "%(asctime)s %(message)s"),
        ):
            for handler in log.handlers:
                handler.setFormatter(UTCFormatter(line_format))
