from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0001_access_reviews"),
    ]

    operations = [
        migrations.AddField(
            model_name="accessreviewitem",
            name="label_without_names",
            field=models.CharField(blank=True, default="", max_length=400),
        ),
    ]
