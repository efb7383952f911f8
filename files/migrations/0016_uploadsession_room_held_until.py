from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0015_uploadsession_new_file_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="uploadsession",
            name="room_held_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
