"""``manage.py supervise``: run the Procfile's processes and restart any that dies."""

from __future__ import annotations

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

    def handle(self, *args: Any, procfile: Path, **options: Any) -> None:
        Supervisor(procfile_read(procfile), cwd=procfile.resolve().parent).run()
