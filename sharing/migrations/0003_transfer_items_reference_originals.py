"""Transfers reference the originals they send (ARCHITECTURE invariant 9).

Transfers used to copy each picked file into their folder (a re-encrypted copy whose
``source_version`` is the original version). Each item sent as such a copy is linked
to its original version when that still exists with the same content (same SHA-256,
its key not destroyed): recipients then get, and the audit then names, the original.
The copies stay where they are and go with the transfer's folder at its purge. Items
whose original is gone keep their copy. Sent versions of live transfers are held from
the retention policy until the transfer's expiry.
"""

from django.db import migrations


def items_link_to_originals(apps, schema_editor):  # type: ignore[no-untyped-def]
    TransferItem = apps.get_model("sharing", "TransferItem")
    FileVersion = apps.get_model("files", "FileVersion")
    items = TransferItem.objects.select_related("version", "transfer").order_by("pk")
    for item in items.iterator(chunk_size=500):
        source_id = item.version.source_version_id
        if source_id is None:
            continue
        source = (
            FileVersion.objects.select_related("file")
            .filter(pk=source_id, shredded_at__isnull=True, sha256=item.version.sha256)
            .first()
        )
        if source is None or source.file.purged_at is not None:
            continue
        clash = TransferItem.objects.filter(transfer_id=item.transfer_id, file_id=source.file_id)
        if clash.exclude(pk=item.pk).exists():
            continue  # the original was also sent as itself: keep the copy's item
        item.file_id, item.version_id = source.file_id, source.pk
        item.save(update_fields=["file", "version"])
        transfer = item.transfer
        if transfer.purged_at is None and (
            source.held_until is None or source.held_until < transfer.expires_at
        ):
            FileVersion.objects.filter(pk=source.pk).update(held_until=transfer.expires_at)


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0002_transfer_items"),
        ("files", "0005_version_held_by_transfers"),
    ]

    operations = [
        migrations.RunPython(items_link_to_originals, migrations.RunPython.noop),
    ]
