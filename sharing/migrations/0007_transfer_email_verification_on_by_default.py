"""Transfer recipients confirm their e-mail address with a code: on by default.

A stored policy is the administrator's decision, and its old "off" cannot be told apart
from a choice: the policy row that exists when this runs gets the setting *off* (what
its transfers did until now), and only policies created afterwards (new installations)
get it on. The policy page recommends turning it on while it is off
(docs/sharing-transfers.md, "Recipient verification").
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0006_external_sharing_suspension"),
    ]

    operations = [
        # Existing rows: off, as their transfers behaved until now.
        migrations.AddField(
            model_name="sharingpolicy",
            name="transfer_email_verification_required",
            field=models.BooleanField(
                default=False,
                verbose_name="recipients of transfers must confirm their e-mail address with a code",
            ),
        ),
        # Rows created from now on (a new installation's first policy): on.
        migrations.AlterField(
            model_name="sharingpolicy",
            name="transfer_email_verification_required",
            field=models.BooleanField(
                default=True,
                verbose_name="recipients of transfers must confirm their e-mail address with a code",
            ),
        ),
        migrations.AlterField(
            model_name="sharingpolicy",
            name="email_verification_required",
            field=models.BooleanField(
                default=False,
                verbose_name=(
                    "recipients of links and transfers must confirm their e-mail address"
                    " with a code"
                ),
            ),
        ),
    ]
