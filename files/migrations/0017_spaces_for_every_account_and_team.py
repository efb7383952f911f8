"""Every account and every team gets its space now, not on its first visit.

Spaces used to be made by the first read of the drive (a GET that wrote rows); they are
now made with the account and the team (``files.services.space_made_with_account``).
This makes the spaces of the accounts and teams that never opened the drive, so that
reads can rely on them. Idempotent: only what is missing is made.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def spaces_made(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model("accounts", "User")
    team_model = apps.get_model("accounts", "Team")
    space_model = apps.get_model("files", "Space")
    folder_model = apps.get_model("files", "Folder")
    for user in user_model.objects.filter(personal_space__isnull=True).iterator():
        space = space_model.objects.create(kind="personal", owner=user)
        folder_model.objects.create(space=space, parent=None, name="", name_key="")
    for team in team_model.objects.filter(space__isnull=True).iterator():
        space = space_model.objects.create(kind="team", team=team)
        folder_model.objects.create(space=space, parent=None, name="", name_key="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_user_setup_link_sent"),
        ("files", "0016_uploadsession_room_held_until"),
    ]

    operations = [migrations.RunPython(spaces_made, migrations.RunPython.noop)]
