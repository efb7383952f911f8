"""Run the DICOM C-STORE receiver (docs/imaging.md, "Ingest").

    manage.py dicom_receiver                      # from the SECUREDRIVE_DICOM_* settings
    manage.py dicom_receiver --port 11112 --allow CT_ROOM_2@10.1.2.3 --allow PACS \\
        --owner radiology@hopital.example --folder 42
    manage.py dicom_receiver --if-configured      # exit quietly when no port is set

Refuses to start (exit status 1, every problem listed) without an allow-list, a port,
an active owner account and a folder that account may add files to.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from imaging.dimse import (
    Receiver,
    ReceiverConfig,
    ReceiverConfigError,
    destination_resolve,
    peers_parse,
)


class Command(BaseCommand):
    help = "Receive DICOM studies by C-STORE into a SecureDrive folder (AE-title allow-list)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", help="Address to listen on (SECUREDRIVE_DICOM_HOST).")
        parser.add_argument("--port", type=int, help="TCP port (SECUREDRIVE_DICOM_PORT).")
        parser.add_argument("--ae-title", help="Our AE title (SECUREDRIVE_DICOM_AE_TITLE).")
        parser.add_argument(
            "--allow",
            action="append",
            help="A calling AE title allowed to store, AE@IP or AE@* (any address); repeat "
            "for more (replaces SECUREDRIVE_DICOM_ALLOWED_PEERS).",
        )
        parser.add_argument("--owner", help="E-mail of the account the files belong to.")
        parser.add_argument("--folder", type=int, help="Id of the folder studies land in.")
        parser.add_argument(
            "--if-configured",
            action="store_true",
            help="Exit without error when no port is configured (for process supervisors).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = ReceiverConfig.from_settings(
                host=options["host"],
                port=options["port"],
                ae_title=options["ae_title"],
                peers=peers_parse(options["allow"]) if options["allow"] else None,
                owner_email=options["owner"],
                folder_id=options["folder"],
            )
            if options["if_configured"] and not config.port:
                self.stdout.write("DICOM receiver not configured (no port): not started.")
                return
            destination = destination_resolve(config)
        except ReceiverConfigError as error:
            raise CommandError(f"The DICOM receiver cannot start: {error}.") from None
        finally:
            connections.close_all()
        self.stdout.write(
            f"DICOM receiver {config.ae_title} on {config.host}:{config.port}, "
            f"allowing {', '.join(peer.ae_title for peer in config.peers)}, "
            f"landing in folder {destination.folder.pk} as {destination.owner.email}."
        )
        Receiver(config=config, destination=destination).start(block=True)
