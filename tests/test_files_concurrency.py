"""A clinician drops a whole folder of images: many files of one folder are created and
completed at the same moment, each in its own request, on the real PostgreSQL.

The files services and the audit chain take their locks in one documented order
(docs/architecture.md, "Lock order"), so these transactions queue behind each other
instead of deadlocking: no request is chosen as a deadlock victim, and nothing needs
to be retried.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client, override_settings

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files.models import File, Folder
from tests.files_helpers import Backend, content_of, root_of
from tests.helpers import threads_join
from tests.test_tus import TUS, URL, location, metadata, patch, token_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("small_segments", "on_postgres"),
]

FILES = 24
SERIES = 3


def deadlocks_so_far() -> int:
    """PostgreSQL's own count of deadlocks detected in the test database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def all_at_once(work: Callable[[int], Any], count: int) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; each thread has its own
    database connection, closed at the end (the backend's statistics are flushed then)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # reported below, with the others
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    try:
        for thread in threads:
            thread.start()
    finally:
        threads_join(*threads, timeout_s=120)
    return results


def test_a_dropped_folder_of_many_files_completing_at_once_never_deadlocks(
    owner: User, folder_backend: Backend, service_url: Callable[[str], str]
) -> None:
    top = root_of(owner)
    api = token_client(owner)
    contents = [content_of(3000 + index, seed=f"image-{index}") for index in range(FILES)]
    before = deadlocks_so_far()

    def create(index: int) -> int | str:
        # Uppy / tus-js-client send the file's path inside the dropped folder.
        path = f"Scanner export/series-{index % SERIES}/image-{index:02}.dcm"
        response = Client(HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"]).post(
            URL,
            b"",
            content_type="application/offset+octet-stream",
            headers={
                **TUS,
                "Upload-Length": str(len(contents[index])),
                "Upload-Metadata": metadata(
                    filename=f"image-{index:02}.dcm", folder=str(top.pk), relativePath=path
                ),
            },
        )
        return int(response.status_code) if response.status_code != 201 else location(response)

    def upload(index: int) -> int | str:
        url = create(index)
        if not isinstance(url, str):
            return url
        client = Client(HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"])
        return int(patch(client, url, 0, contents[index]).status_code)

    with override_settings(CLAMD_ADDRESS=service_url("clamd")):
        completed = all_at_once(upload, FILES)
    assert completed == [204] * FILES

    export = Folder.objects.get(parent=top, name="Scanner export")
    assert sorted(Folder.objects.filter(parent=export).values_list("name", flat=True)) == [
        f"series-{series}" for series in range(SERIES)
    ]
    assert File.objects.filter(folder__parent=export).count() == FILES
    assert AuditEvent.objects.filter(action=Action.FILES_UPLOAD_COMPLETE).count() == FILES
    assert deadlocks_so_far() == before


def test_copies_racing_the_purge_of_every_other_reference_keep_the_content_or_refuse(
    owner: User, folder_backend: Backend
) -> None:
    """Copies of a copy are made while the original and that copy are purged at the same
    moment: the content holder's lock decides. A copy that got in keeps the key alive
    and reads in full; one that came after is refused; nobody deadlocks."""
    from files import lifecycle, services
    from files.errors import FileRuleError
    from files.models import FileVersion
    from tests.files_helpers import version_store

    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=content_of(5000))
    archive = services.folder_create(actor=owner, parent=root, name="Archive")
    first_copy = services.file_copy(actor=owner, file=original.file, destination=archive)
    services.file_delete(actor=owner, file=original.file)
    before = deadlocks_so_far()

    def race(index: int) -> Any:
        if index == 0:
            return services.file_purge(actor=owner, file=File.objects.get(pk=original.file_id))
        if index == 1:
            copy = File.objects.get(pk=first_copy.pk)
            services.file_delete(actor=owner, file=copy)
            return services.file_purge(actor=owner, file=File.objects.get(pk=copy.pk))
        try:
            return services.file_copy(
                actor=owner, file=File.objects.get(pk=first_copy.pk), destination=root
            )
        except FileRuleError as refusal:
            return refusal

    results = all_at_once(race, 6)

    assert results[:2] == [1, 1], results
    made = [result for result in results[2:] if isinstance(result, File)]
    assert all(isinstance(result, File | FileRuleError) for result in results[2:]), results
    assert deadlocks_so_far() == before
    # With no copy left, the blob task run after the purges removed the row as well.
    holder = FileVersion.objects.filter(pk=original.pk).first()
    key_alive = holder is not None and holder.wrapped_data_key is not None
    assert key_alive == bool(made), results
    for copy in made:
        lifecycle.version_verify(FileVersion.objects.get(file_id=copy.pk))


AUDIT_CHAIN_LOCK = 1589682385  # audit/migrations/0003_append_function.py


def lock_waiters() -> int:
    """Backends of this database waiting for a lock (row or advisory), this one aside."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def parent_chain_loops(folder: Folder) -> bool:
    """Walking up from ``folder`` comes back to a folder already seen."""
    seen: set[int] = set()
    current: int | None = folder.pk
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = Folder.objects.values_list("parent_id", flat=True).get(pk=current)
    return False


def test_two_crossed_folder_moves_at_once_never_make_a_cycle(owner: User) -> None:
    """Two colleagues reorganise the same space at the same moment: one moves “Cardio”
    into “Imaging/2024”, the other moves “Imaging” into “Cardio/Echo”. Each move alone
    is fine; both together would hang “Cardio” and “Imaging” below each other, out of
    reach of the top folder, and every permission check walking up from them would loop
    for ever. One of the two must be refused."""
    from files import services
    from files.errors import FileRuleError

    root = root_of(owner)
    cardio = services.folder_create(actor=owner, parent=root, name="Cardio")
    echo = services.folder_create(actor=owner, parent=cardio, name="Echo")
    imaging = services.folder_create(actor=owner, parent=root, name="Imaging")
    year = services.folder_create(actor=owner, parent=imaging, name="2024")

    def move(index: int) -> Any:
        folder, destination = [(cardio, year), (imaging, echo)][index]
        try:
            services.folder_move(actor=owner, folder=folder, destination=destination)
        except FileRuleError as error:
            return error
        return "moved"

    # Both moves are held at their audit event (the chain's lock, taken last) until
    # both have done their checks: the widest window two real requests can meet in.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
    outcome: list[Any] = []
    mover = threading.Thread(target=lambda: outcome.extend(all_at_once(move, 2)))
    try:
        mover.start()
        for _attempt in range(3000):
            if lock_waiters() == 2:
                break
            threading.Event().wait(0.01)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_CHAIN_LOCK])
        threads_join(mover, timeout_s=150)

    assert sorted(map(type, outcome), key=str) == sorted([str, FileRuleError], key=str), outcome
    for folder in (cardio, imaging):
        assert not parent_chain_loops(folder)


def wait_for_lock_waiters(count: int) -> None:
    for _attempt in range(3000):
        if lock_waiters() >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} transactions never came to wait")


def test_a_file_restored_while_a_namesake_is_uploaded_into_its_folder_gets_a_number(
    owner: User, folder_backend: Backend
) -> None:
    """Alice restores “report.pdf” from the trash while a colleague's upload of a new
    “report.pdf” lands in the same folder. Before, the restore checked that the name was
    free without locking the folder, both wrote “report.pdf”, and the restore failed on
    the database's unique name (an error page). It now waits for the upload and comes
    back as “report (2).pdf”."""
    from files import services
    from tests.files_helpers import version_store

    root = root_of(owner)
    old = version_store(actor=owner, folder=root, name="report.pdf", content=b"old").file
    services.file_delete(actor=owner, file=old)
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            version = version_store(actor=owner, folder=root, name="report.pdf", content=b"new")
            outcome["upload"] = version.file.name
        except BaseException as error:
            outcome["upload"] = error
        finally:
            connections.close_all()

    def restore() -> None:
        try:
            trashed = File.objects.get(pk=old.pk)
            outcome["restore"] = services.file_restore(actor=owner, file=trashed).name
        except BaseException as error:
            outcome["restore"] = error
        finally:
            connections.close_all()

    # The upload is held at its audit event (the chain's lock, taken last), its new row
    # written; then the restore runs into it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
    threads = [threading.Thread(target=upload), threading.Thread(target=restore)]
    try:
        threads[0].start()
        wait_for_lock_waiters(1)
        threads[1].start()
        wait_for_lock_waiters(2)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_CHAIN_LOCK])
        threads_join(*threads)

    assert outcome == {"upload": "report.pdf", "restore": "report (2).pdf"}


def test_a_rename_racing_a_new_folder_of_the_same_name_never_leaves_twins(
    owner: User, folder_backend: Backend
) -> None:
    """Bob creates the folder “Résultats” while Alice renames her file “draft” to
    “résultats” in the same folder. Before, the rename locked only the file, so both
    checks passed and the folder held a file and a folder of one name (the database
    has no rule across the two tables). The rename now waits for the folder's lock
    and is refused."""
    from files import services
    from files.errors import NameClashError
    from tests.files_helpers import version_store

    root = root_of(owner)
    draft = version_store(actor=owner, folder=root, name="draft", content=b"d").file
    outcome: dict[str, Any] = {}

    def create() -> None:
        try:
            outcome["create"] = services.folder_create(
                actor=owner, parent=root, name="Résultats"
            ).name
        except BaseException as error:
            outcome["create"] = error
        finally:
            connections.close_all()

    def rename() -> None:
        try:
            file = File.objects.get(pk=draft.pk)
            outcome["rename"] = services.file_rename(actor=owner, file=file, name="résultats").name
        except BaseException as error:
            outcome["rename"] = type(error)
        finally:
            connections.close_all()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
    threads = [threading.Thread(target=create), threading.Thread(target=rename)]
    try:
        threads[0].start()
        wait_for_lock_waiters(1)
        threads[1].start()
        wait_for_lock_waiters(2)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_CHAIN_LOCK])
        threads_join(*threads)

    assert outcome == {"create": "Résultats", "rename": NameClashError}
    assert File.objects.get(pk=draft.pk).name == "draft"


def test_an_upload_into_a_subfolder_while_its_parent_goes_to_the_trash_goes_with_it(
    owner: User, folder_backend: Backend
) -> None:
    """Bob uploads “scanner.dcm” into “Patients/Dupont” while Alice moves “Patients” to
    the trash. Before, the trash locked “Patients” only: the upload committed between
    its two updates and stayed live inside a trashed folder, listed in search and on
    the home page, downloadable, though Alice saw the whole folder in the trash."""
    from files import services
    from files.selectors import search_for_actor
    from tests.files_helpers import version_store

    patients = services.folder_create(actor=owner, parent=root_of(owner), name="Patients")
    dupont = services.folder_create(actor=owner, parent=patients, name="Dupont")
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            version = version_store(actor=owner, folder=dupont, name="scanner.dcm", content=b"x")
            outcome["upload"] = version.file.name
        except BaseException as error:
            outcome["upload"] = error
        finally:
            connections.close_all()

    def trash() -> None:
        try:
            services.folder_delete(actor=owner, folder=Folder.objects.get(pk=patients.pk))
            outcome["trash"] = "trashed"
        except BaseException as error:
            outcome["trash"] = error
        finally:
            connections.close_all()

    # The upload is held at its audit event (the chain's lock, taken last), its row
    # written and “Dupont” locked; then the trash runs into it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [AUDIT_CHAIN_LOCK])
    threads = [threading.Thread(target=upload), threading.Thread(target=trash)]
    try:
        threads[0].start()
        wait_for_lock_waiters(1)
        threads[1].start()
        wait_for_lock_waiters(2)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [AUDIT_CHAIN_LOCK])
        threads_join(*threads)

    assert outcome == {"upload": "scanner.dcm", "trash": "trashed"}
    scan = File.objects.get(name="scanner.dcm")
    assert scan.deleted_at is not None
    assert scan.trashed_with_id == patients.pk
    assert search_for_actor(actor=owner, query="scanner").hits == []
    # Restoring the folder brings it back with the rest.
    services.folder_restore(actor=owner, folder=Folder.objects.get(pk=patients.pk))
    assert File.objects.get(pk=scan.pk).deleted_at is None
