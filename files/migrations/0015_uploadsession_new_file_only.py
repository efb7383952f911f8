from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0014_version_content_holder"),
    ]

    operations = [
        migrations.AddField(
            model_name="uploadsession",
            name="new_file_only",
            field=models.BooleanField(default=False),
        ),
    ]
