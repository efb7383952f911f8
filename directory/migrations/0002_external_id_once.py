"""externalId names one live account and one live team, in the database too.

The code checked it first (directory/scim/users.py, groups.py), but two requests at once
both passed the check. An installation whose data already breaks the rule is not
changed behind its operator's back (which row would lose its identifier?): the migration
stops and names the duplicates, for the operator to give each its own externalId in the
directory (which then sends it) or to remove the stale one.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count


def _duplicates_refuse(apps, schema_editor):  # type: ignore[no-untyped-def]
    problems = []
    for model_name, what, describe in (
        ("DirectoryAccount", "accounts", lambda row: row.user.email),
        ("DirectoryGroup", "teams", lambda row: row.team.name),
    ):
        model = apps.get_model("directory", model_name)
        live = model.objects.filter(deleted_at__isnull=True).exclude(external_id="")
        shared = (
            live.values("external_id").annotate(holders=Count("pk")).filter(holders__gt=1)
        )
        for row in shared.order_by("external_id"):
            holders = live.filter(external_id=row["external_id"]).order_by("pk")
            names = ", ".join(describe(holder) for holder in holders.select_related())
            problems.append(f"externalId “{row['external_id']}” is held by the {what} {names}")
    if problems:
        raise CommandError(
            "directory 0002 cannot make externalId unique: "
            + "; ".join(problems)
            + ". Nothing was changed. Give each its own externalId in the directory (it "
            "sends it with its next update), or delete the stale account or team there, "
            "then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0001_directory_tokens_accounts_groups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(_duplicates_refuse, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="directoryaccount",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("deleted_at__isnull", True), models.Q(("external_id", ""), _negated=True)
                ),
                fields=("external_id",),
                name="directory_account_external_id_once",
            ),
        ),
        migrations.AddConstraint(
            model_name="directorygroup",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("deleted_at__isnull", True), models.Q(("external_id", ""), _negated=True)
                ),
                fields=("external_id",),
                name="directory_group_external_id_once",
            ),
        ),
    ]
