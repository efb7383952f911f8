from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = "Files"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.models import Team, User
        from accounts.offboarding import offboarding_planned
        from audit import resolvers
        from core.keys import kek_dependents_register, kek_users_register
        from files import (
            audit_lookups,
            checks,  # noqa: F401  (registers the settings checks)
        )
        from files.services import (
            personal_files_handover_plan,
            space_made_with_account,
            space_made_with_team,
        )

        # A keyring file gone while versions name its KEKs is lost, not new (core/keys.py).
        kek_users_register(_kek_ids_in_use)
        # And no KEK a data key needs may leave the keyring (files/key_retirement.py).
        from files.lifecycle import FileDataKeys

        kek_dependents_register(FileDataKeys())

        # Spaces are made with the account and the team, so that reading never writes
        # (a GET of the spaces list or of the drive is safe, RFC 9110 9.2.1).
        post_save.connect(
            space_made_with_account, sender=User, dispatch_uid="files.space_made_with_account"
        )
        post_save.connect(
            space_made_with_team, sender=Team, dispatch_uid="files.space_made_with_team"
        )
        # A leaver's personal files go to the named successor, in the same transaction.
        offboarding_planned.connect(
            personal_files_handover_plan, dispatch_uid="files.personal_files_handover_plan"
        )
        # The audit console names files and folders where they are now.
        resolvers.register(
            items=audit_lookups.items_lookup,
            items_search=audit_lookups.items_search,
            folder_contents=audit_lookups.folder_contents,
            file_copies=audit_lookups.file_copies,
            derived_files=audit_lookups.derived_files,
            folders_above=audit_lookups.folders_above,
            access_now=audit_lookups.access_now,
        )


def _kek_ids_in_use() -> set[str]:
    from files.lifecycle import kek_ids_in_use

    return kek_ids_in_use()
