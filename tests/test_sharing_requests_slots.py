"""File requests: a link holder cannot block a request, and what its endpoint refuses
is on record. An unfinished upload holds its file place only while it is alive: one
left without a PATCH for ``FILE_REQUEST_UPLOAD_HOLD_SECONDS`` gives its place back (it
can still be resumed while a place is free), so tiny uploads that never finish cannot
keep the lab's real files out for a day. And a name taken by the clinician as the
lab's file lands never costs the lab its bytes."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, Folder, UploadSession
from sharing import selectors
from sharing.models import FileRequest, FileRequestUpload
from sharing.services import file_requests
from sharing.views import file_request_public
from tests.files_helpers import content_of, root_of
from tests.helpers import client_signed_in, threads_join
from tests.test_sharing_requests import (
    _own_rate_limit_counts,  # noqa: F401  (autouse: a cache of this module's own)
    location,
    results_folder,
    tus_create,
    tus_patch,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


def small_request(
    owner: User, *, max_files: int = 2, folder: Folder | None = None
) -> tuple[FileRequest, str]:
    return file_requests.file_request_create(
        actor=owner,
        folder=folder or results_folder(owner),
        title="Bilan sanguin M. Petit",
        expires_at=timezone.now() + timedelta(days=7),
        max_files=max_files,
    )


def lapse() -> timedelta:
    return timedelta(seconds=int(settings.FILE_REQUEST_UPLOAD_HOLD_SECONDS) + 60)


def test_uploads_that_never_finish_do_not_keep_the_labs_files_out(owner: User) -> None:
    """Someone holding the link starts tiny uploads that never finish, filling every
    place of the request. Once they have sat without a PATCH past the hold, the lab's
    real file is accepted, and the clinician's page no longer counts them."""
    file_request, token = small_request(owner)
    squatter = Client(REMOTE_ADDR="198.51.100.66")
    for number in range(2):
        assert tus_create(squatter, token, 10, f"x{number}.pdf").status_code == 201
    lab = Client(REMOTE_ADDR="203.0.113.7")
    assert tus_create(lab, token, 900).status_code == 413  # both places held, for now

    with time_machine.travel(timezone.now() + lapse()):
        file_request.refresh_from_db()
        assert selectors.file_request_places(file_request) == (0, 0)
        assert selectors.file_request_status(file_request) == "open"
        listing = client_signed_in(owner).get("/sharing/requests/")
        assert "0 / 2" in listing.content.decode()
        created = tus_create(lab, token, 900)
        assert created.status_code == 201, created.content
        done = tus_patch(lab, location(created), 0, content_of(900, seed="labo"))
        assert done.status_code == 204, done.content
        assert File.objects.filter(folder=file_request.folder, name="resultats.pdf").exists()
        file_request.refresh_from_db()
        assert (file_request.files_reserved, file_request.bytes_reserved) == (1, 900)
        assert selectors.file_request_places(file_request) == (1, 900)


def test_an_upload_that_keeps_sending_keeps_its_place(owner: User) -> None:
    file_request, token = small_request(owner, max_files=1)
    lab = Client()
    created = tus_create(lab, token, 900)
    url = location(created)
    start = timezone.now()
    half = timedelta(seconds=int(settings.FILE_REQUEST_UPLOAD_HOLD_SECONDS) * 2 // 3)
    with time_machine.travel(start + half):
        assert tus_patch(lab, url, 0, content_of(300, seed="a")).status_code == 204
    with time_machine.travel(start + half * 2):
        # Past the hold counted from creation, not from the last PATCH: still held.
        assert tus_create(Client(), token, 10, "autre.pdf").status_code == 413
        assert tus_patch(lab, url, 300, content_of(600, seed="b")).status_code == 204
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (1, 900)


def test_a_lapsed_upload_resumes_while_a_place_is_free_and_not_once_taken(owner: User) -> None:
    file_request, token = small_request(owner, max_files=1)
    slow = Client(REMOTE_ADDR="203.0.113.7")
    first = location(tus_create(slow, token, 900, "lent.pdf"))
    assert tus_patch(slow, first, 0, content_of(300, seed="a")).status_code == 204
    later = timezone.now() + lapse()
    with time_machine.travel(later):
        assert file_requests.reservations_abandoned_release() == 1  # its place given back
        file_request.refresh_from_db()
        assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)
        # Nobody took it: the upload resumes, takes a place again and lands.
        assert tus_patch(slow, first, 300, content_of(600, seed="b")).status_code == 204
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (1, 900)
    assert FileRequestUpload.objects.get(request=file_request).completed_at is not None

    other_request, other_token = small_request(
        owner,
        max_files=1,
        folder=services.folder_create(actor=owner, parent=root_of(owner), name="Autre"),
    )
    second = location(tus_create(slow, other_token, 900, "lent.pdf"))
    with time_machine.travel(later):
        taker = tus_create(Client(), other_token, 50, "premier.pdf")
        assert taker.status_code == 201
        refused = tus_patch(slow, second, 0, content_of(900, seed="c"))
        assert refused.status_code == 413
        assert "no more files" in refused.json()["detail"]
    other_request.refresh_from_db()
    assert (other_request.files_reserved, other_request.bytes_reserved) == (1, 50)
    reasons = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).values_list(
        "details__reason", flat=True
    )
    assert "file count limit" in set(reasons)


def test_lapsed_places_given_back_by_beat_and_termination_counts_once(owner: User) -> None:
    file_request, token = small_request(owner)
    lab = Client()
    url = location(tus_create(lab, token, 10))
    with time_machine.travel(timezone.now() + lapse()):
        assert file_requests.reservations_abandoned_release() == 1
        file_request.refresh_from_db()
        assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)
        # Given up afterwards: nothing is given back twice.
        response = lab.delete(url, headers={"Tus-Resumable": "1.0.0"})
        assert response.status_code == 204
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_lapsed_uploads_resuming_together_never_overrun_the_request(
    owner: User, on_postgres: None
) -> None:
    """Four lapsed uploads resume at the same instant against a request with two places
    free: exactly two go on; the counts stay exact."""
    file_request, token = small_request(owner, max_files=4)
    urls = [location(tus_create(Client(), token, 100, f"part-{n}.pdf")) for n in range(4)]
    later = timezone.now() + lapse()
    with time_machine.travel(later):
        for n in range(2):
            assert tus_create(Client(), token, 100, f"new-{n}.pdf").status_code == 201
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def resume(url: str) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(tus_patch(Client(), url, 0, content_of(100)).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=resume, args=(url,)) for url in urls]
    with time_machine.travel(later):
        try:
            for thread in threads:
                thread.start()
        finally:
            threads_join(*threads)
    assert sorted(statuses) == [204, 204, 413, 413]
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (4, 400)


def test_the_upload_endpoints_rate_limit_is_on_record(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the page's: a client past the limit of the upload endpoint is on record."""
    from sharing.views import file_request_public

    monkeypatch.setattr(file_request_public, "UPLOAD_RATE", "3/m")
    _file_request, token = small_request(owner, max_files=10)
    flood = Client(REMOTE_ADDR="198.51.100.9")
    with time_machine.travel(timezone.now().replace(second=1), tick=False):
        statuses = [tus_create(flood, token, 10, f"f{n}.pdf").status_code for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    limited = AuditEvent.objects.get(
        action=Action.SHARING_REQUEST_REFUSE, details__reason="rate limited"
    )
    assert limited.ip_address == "198.51.100.9"


def _blocked_backends() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["rename", "move"])
def test_a_name_taken_by_a_rename_or_move_as_the_upload_lands_never_loses_it(
    owner: User, on_postgres: None, how: str
) -> None:
    """The clinician renames a file in the request's folder (or moves one into it) to
    the very name the lab's upload is landing under, at the moment it lands. Whichever
    commits first, the lab's file lands under a free name with all its bytes."""
    from files import services as file_services
    from tests.files_helpers import version_store

    file_request, token = small_request(owner)
    folder = file_request.folder
    elsewhere = file_services.folder_create(actor=owner, parent=root_of(owner), name="Brouillons")
    mine = version_store(
        actor=owner,
        folder=folder if how == "rename" else elsewhere,
        name="brouillon.pdf" if how == "rename" else "resultats.pdf",
        content=content_of(500, seed="mine"),
    ).file
    lab = Client()
    url = location(tus_create(lab, token, 900))
    renamed, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def clinician() -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                if how == "rename":
                    file_services.file_rename(actor=owner, file=mine, name="resultats.pdf")
                else:
                    file_services.file_move(actor=owner, file=mine, destination=folder)
                renamed.set()
                release.wait(timeout=30)  # commits once the lab's upload is landing
        except Exception as error:
            outcome["clinician"] = error
            renamed.set()
        finally:
            connections.close_all()

    def landing() -> None:
        try:
            outcome["lab"] = tus_patch(Client(), url, 0, content_of(900, seed="theirs"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=clinician)
    upload = threading.Thread(target=landing)
    try:
        thread.start()
        assert renamed.wait(timeout=30)
        upload.start()
        # The upload reaches the folder's name (or its lock) while the rename is open.
        for _attempt in range(300):
            if _blocked_backends() or not upload.is_alive():
                break
            threading.Event().wait(0.02)
    finally:
        release.set()
        threads_join(thread, upload)
    assert "clinician" not in outcome, outcome
    response = outcome["lab"]
    assert response.status_code == 204, response.content  # type: ignore[attr-defined]
    names = sorted(File.objects.filter(folder=folder).values_list("name", flat=True))
    assert names == ["resultats (2).pdf", "resultats.pdf"]
    theirs = File.objects.get(folder=folder, name="resultats (2).pdf")
    assert theirs.current_version is not None
    assert theirs.current_version.size == 900


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_uploads_that_never_finish_do_not_hold_the_owners_quota_either(owner: User) -> None:
    """The squatter's idle uploads reserve room in the clinician's space too: past the
    hold, that room is hers again (else starting new ones every few minutes would
    hold her whole quota for a day)."""
    from files import selectors as file_selectors

    file_request, token = small_request(owner, max_files=5)
    space = file_request.folder.space
    assert tus_create(Client(), token, 600, "x.pdf").status_code == 201
    assert file_selectors.space_reserved_bytes(space) == 600
    with time_machine.travel(timezone.now() + lapse()):
        assert file_selectors.space_reserved_bytes(space) == 0
        lab = Client()
        created = tus_create(lab, token, 900)
        assert created.status_code == 201, created.content
        assert file_selectors.space_reserved_bytes(space) == 900
        done = tus_patch(lab, location(created), 0, content_of(900, seed="labo"))
        assert done.status_code == 204, done.content
    assert file_selectors.space_used_bytes(space) == 900


def test_uploads_left_to_lapse_cannot_stage_more_than_the_request_takes(owner: User) -> None:
    """Someone holding the link sends all of a file but its last byte, lets it sit past
    the hold and starts again. A lapsed upload gives its place back (and its room in the
    clinician's quota), but its staged ciphertext stays on disk until its tus session
    expires, a day later: counted nowhere, each round put the request's whole size on
    the clinician's storage again, 96 rounds a day."""
    _file_request, token = file_requests.file_request_create(
        actor=owner,
        folder=results_folder(owner),
        title="Bilan sanguin M. Petit",
        expires_at=timezone.now() + timedelta(days=7),
        max_files=2,
        max_bytes=1000,
    )
    squatter = Client(REMOTE_ADDR="198.51.100.66")
    start = timezone.now()
    answers = []
    for number in range(3):
        with time_machine.travel(start + lapse() * number):
            created = tus_create(squatter, token, 1000, f"x{number}.pdf")
            answers.append(created.status_code)
            if created.status_code == 201:
                sent = tus_patch(squatter, location(created), 0, content_of(999, seed="fill"))
                assert sent.status_code == 204

    # The first round's 999 staged bytes still count against the request's 1,000: the
    # second round is refused, audited, and nothing more is staged.
    assert answers == [201, 413, 413]
    staged = UploadSession.objects.filter(completed_at__isnull=True)
    assert sum(staged.values_list("offset", flat=True)) == 999
    refusal = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).last()
    assert refusal is not None
    assert refusal.details["reason"] == "size limit"
    with time_machine.travel(start + lapse() * 3):
        # What is left of the request's size is still open to the lab.
        assert tus_create(Client(), token, 1, "resultats.pdf").status_code == 201
        # The lapsed upload cannot take a place back now: its whole size no longer fits.
        first = FileRequestUpload.objects.get(name="x0.pdf").upload_id
        assert tus_patch(squatter, f"/r/{token}/uploads/{first}/", 999, b"!").status_code == 413


def test_a_flood_on_the_upload_endpoint_is_on_record_once_not_once_per_request(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone without any link hammers /r/<token>/uploads/ from one address. Past the
    rate each request is refused 429; each refusal was also written to the audit log,
    whose hash chain takes one lock for every event of the site: thousands a second
    from anyone on the internet, kept for the retention period. The first refusal of a
    window is recorded, saying the next ones are not; the rest are only logged."""
    _request, token = small_request(owner)
    monkeypatch.setattr(file_request_public, "UPLOAD_RATE", "2/m")
    flooder = Client(REMOTE_ADDR="198.51.100.99")

    answers = [
        flooder.post(f"/r/{token}x/uploads/", headers={"Tus-Resumable": "1.0.0"}).status_code
        for _attempt in range(12)
    ]

    assert answers[:2] == [404, 404]
    assert answers[2:] == [429] * 10
    limited = AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_REFUSE, details__reason="rate limited"
    )
    assert limited.count() == 1
    first = limited.get()
    assert first.details["next_not_recorded"] is True
    # Another address is refused on record in its own right.
    other = Client(REMOTE_ADDR="203.0.113.50")
    for _attempt in range(3):
        other.post(f"/r/{token}x/uploads/", headers={"Tus-Resumable": "1.0.0"})
    assert limited.count() == 2
