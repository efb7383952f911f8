# Copies share their source's content (issue #14): a version may name the version
# holding its blob and wrapped key, and then holds neither itself.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('files', '0013_file_listing_by_modified_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='fileversion',
            name='content_holder',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='sharers', to='files.fileversion'),
        ),
        migrations.AlterField(
            model_name='fileversion',
            name='blob_key',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddConstraint(
            model_name='fileversion',
            constraint=models.UniqueConstraint(condition=models.Q(('blob_key', ''), _negated=True), fields=('blob_key',), name='file_version_blob_key_unique'),
        ),
        migrations.AddConstraint(
            model_name='fileversion',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('content_holder__isnull', True), models.Q(('blob_key', ''), _negated=True)), models.Q(('blob_key', ''), ('content_holder__isnull', False), ('wrapped_data_key__isnull', True)), _connector='OR'), name='file_version_own_blob_xor_holder'),
        ),
    ]
