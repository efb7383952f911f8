from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0004_link_view_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="filerequestupload",
            name="holds_place",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="filerequestupload",
            name="held_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
