"""``manage.py supervise``: run the Procfile's processes and restart any that dies."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from securedrive.supervisor import Supervisor, procfile_read


class Command(BaseCommand):
    help = "Run the web server and the worker (Procfile) and restart whichever exits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--procfile", default=str(Path(settings.BASE_DIR) / "Procfile"), type=Path
        )
        parser.add_argument(
            "--then",
            default="",
            help="A command run once, a few seconds after the processes start (make run "
            "prints the one-time set-up link with it, after the start-up banners).",
        )
        parser.add_argument("--then-after", type=float, default=8.0, help="seconds")

    def handle(
        self, *args: Any, procfile: Path, then: str, then_after: float, **options: Any
    ) -> None:
        Supervisor(
            procfile_read(procfile),
            cwd=procfile.resolve().parent,
            then=shlex.split(then) or None,
            then_after_s=then_after,
        ).run()
