"""Search by name (docs/storage.md, "Search"): the search form of every name, and on
PostgreSQL a trigram index over it.

``pg_trgm`` is a trusted extension (PostgreSQL 13 and later): the owner role, which owns
the database and so may create in it, creates it here without being a superuser
(docs/production.md, "Database roles"). ``IF NOT EXISTS`` makes it a no-op where a
superuser already created it (deploy/postgres/securedrive-roles.sql does).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from files.names import name_search_key

_BATCH = 2000


def _fill(apps: Any, schema_editor: Any) -> None:
    for model_name in ("Folder", "File"):
        model = apps.get_model("files", model_name)
        batch = []
        for row in model.objects.only("pk", "name").iterator(chunk_size=_BATCH):
            row.name_search = name_search_key(row.name)
            batch.append(row)
            if len(batch) >= _BATCH:
                model.objects.bulk_update(batch, ["name_search"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, ["name_search"])


_INDEXES = (
    ("files_file", "files_file_name_search_trgm"),
    ("files_folder", "files_folder_name_search_trgm"),
)


def _trigram_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (embedded): LIKE on the same column, without an index
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, index in _INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin (name_search gin_trgm_ops)"
        )


def _trigram_indexes_drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, index in _INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [("files", "0006_version_scan_lease")]

    operations = [
        migrations.AddField(
            model_name="file",
            name="name_search",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="folder",
            name="name_search",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(_fill, migrations.RunPython.noop),
        migrations.RunPython(_trigram_indexes, _trigram_indexes_drop),
    ]
