"""The files list (issue #15, item 4): one unit system for sizes (the list and the
uploader say the same "314.6 MB"), types in words, sorting and pages that keep a
10,000-file folder fast, favourites and recent files on the home page, and actions on
several ticked items at once — with the same access checks, audit events, "Undo" and
confirmation as one item at a time."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts.models import Team, TeamMembership, TeamRole, User
from accounts.services import MembershipEndReason, team_member_remove, team_member_set
from audit.actions import Action
from audit.models import AuditEvent
from core.sizes import size_text
from files import selectors, services
from files.favourites import favourite_set
from files.models import Favourite, File, FileVersion, Folder, ScanStatus, VersionThumbnail
from files.names import name_key, name_search_key
from files.types import file_kind
from sharing.models import ShareRole
from sharing.services import shares
from tests.files_helpers import body_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

SIZES = [0, 1, 999, 1000, 1049, 1050, 1250, 999_949, 999_950, 314_572_800, 3_145_827, 10**12]


def test_the_list_and_the_uploader_write_every_size_the_same_way() -> None:
    """Before: the list used Django's filesizeformat (÷1024, "300.0 MB") and the uploader
    ÷1000 ("314.6 MB") for the same 314,572,800 bytes."""
    assert size_text(314_572_800) == "314.6\u00a0MB"
    assert size_text(1250) == "1.3\u00a0kB"  # halves round up on both sides
    assert size_text(999_950) == "1.0\u00a0MB"  # never "1000.0 kB"
    script = Path(settings.BASE_DIR, "static/securedrive/dropzone.js").read_text()
    for lang in ("en", "fr"):
        program = (
            f"var window = {{}}; var document = {{documentElement: {{lang: '{lang}'}}}};\n"
            f"{script}\n"
            f"console.log(JSON.stringify({json.dumps(SIZES)}"
            ".map(window.SecureDriveUploads.sizeText)));"
        )
        run = subprocess.run(
            ["node", "-e", program],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        with translation.override(lang):
            assert json.loads(run.stdout) == [size_text(size) for size in SIZES], lang
    with translation.override("fr"):
        assert size_text(314_572_800) == "314,6\u00a0Mo"
        assert size_text(1) == "1\u00a0octet"


def test_types_are_said_in_words_in_both_languages(owner: User) -> None:
    assert str(file_kind(content_type="application/pdf").label) == "PDF document"
    assert str(file_kind(content_type="image/jpeg").label) == "JPEG image"
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert str(file_kind(content_type=word).label) == "Word document"
    dicom = file_kind(content_type="application/octet-stream", name="IRM.dcm")
    assert str(dicom.label) == "DICOM image"
    version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"%PDF-1.7 x")
    client = client_signed_in(owner)
    page = client.get("/files/", follow=True).content.decode()
    assert "PDF document" in page
    assert ">application/pdf<" not in page
    client.post("/i18n/setlang/", {"language": "fr", "next": "/files/"})
    assert "Document PDF" in client.get("/files/", follow=True).content.decode()


def _many_files(folder: Folder, count: int) -> None:
    File.objects.bulk_create(
        File(
            space_id=folder.space_id,
            folder=folder,
            name=f"Bilan {number:04d}.pdf",
            name_key=name_key(f"Bilan {number:04d}.pdf"),
            name_search=name_search_key(f"Bilan {number:04d}.pdf"),
        )
        for number in range(count)
    )


def test_a_large_folder_is_shown_a_page_at_a_time_in_the_order_asked(owner: User) -> None:
    root = root_of(owner)
    services.folder_create(actor=owner, parent=root, name="Archives")
    _many_files(root, selectors.LISTING_PAGE_SIZE + 5)
    client = client_signed_in(owner)
    first = client.get(f"/files/folders/{root.pk}/").content.decode()
    assert first.count("<tr data-file=") == selectors.LISTING_PAGE_SIZE - 1  # + the folder
    assert "<tr data-folder=" in first
    assert 'aria-sort="ascending"' in first
    assert "Page 1 of 2" in first
    second = client.get(f"/files/folders/{root.pk}/?sort=name&page=2").content.decode()
    assert second.count("<tr data-file=") == 6
    last = f"Bilan {selectors.LISTING_PAGE_SIZE + 4:04d}.pdf"
    assert last in second
    backwards = client.get(f"/files/folders/{root.pk}/?sort=-name").content.decode()
    assert 'aria-sort="descending"' in backwards
    assert backwards.index("Archives") < backwards.index(last)  # folders first
    # A page past the end is the last one; nonsense is read as the defaults, never a 500.
    assert client.get(f"/files/folders/{root.pk}/?page=99").status_code == 200
    assert client.get(f"/files/folders/{root.pk}/?sort=evil&page=x").status_code == 200


def test_sorting_by_size_puts_the_largest_first_when_asked(owner: User) -> None:
    root = root_of(owner)
    for name, size in (("moyen.txt", 2000), ("petit.txt", 10), ("grand.txt", 90_000)):
        version_store(actor=owner, folder=root, name=name, content=b"x" * size)
    page = client_signed_in(owner).get(f"/files/folders/{root.pk}/?sort=-size").content.decode()
    order = [page.index(name) for name in ("grand.txt", "moyen.txt", "petit.txt")]
    assert order == sorted(order)
    assert re.search(r'aria-sort="descending">\s*<a[^>]*data-sort="size"', page)


def _listed_files(owner: User, folder: Folder, count: int) -> None:
    """``count`` files as the list shows them: each with a current version (some at v2,
    some quarantined or still scanning), every third starred, every fourth with a
    thumbnail, plus a starred subfolder."""
    _many_files(folder, count)
    files = list(File.objects.filter(folder=folder).order_by("pk"))
    statuses = [ScanStatus.AVAILABLE, ScanStatus.PENDING, ScanStatus.QUARANTINED]
    versions = FileVersion.objects.bulk_create(
        FileVersion(
            file=file,
            number=1 + index % 2,
            size=1000 * (index + 1),
            ciphertext_size=1,
            sha256="0" * 64,
            content_type="application/pdf" if index % 2 else "image/png",
            uploaded_by=owner,
            scan_status=statuses[index % 3],
            blob_key=f"listed/{file.pk}",
            wrapped_data_key=b"x",
            kek_id="test",
            segment_size=1 << 20,
        )
        for index, file in enumerate(files)
    )
    for file, version in zip(files, versions, strict=True):
        file.current_version = version
    File.objects.bulk_update(files, ["current_version"])
    VersionThumbnail.objects.bulk_create(
        VersionThumbnail(
            version=version,
            blob_key=f"thumb/{version.pk}",
            wrapped_data_key=b"x",
            kek_id="test",
            ciphertext_size=1,
            width=40,
            height=40,
        )
        for version in versions[::4]
    )
    sub = services.folder_create(actor=owner, parent=folder, name=f"Sous-dossier {count}")
    Favourite.objects.bulk_create(
        [Favourite(user=owner, folder=sub), *(Favourite(user=owner, file=f) for f in files[::3])]
    )


def test_a_page_of_sixty_files_costs_as_many_queries_as_a_page_of_five(owner: User) -> None:
    """A clinician opening a folder waits for one page whatever is on it: versions,
    stars, thumbnails, scan states and previews are read for the whole page at once,
    never row by row (bench/listing.py times the 10,000-file folder)."""
    # Signed in first: the sign-in makes the test's keyring, which embedded mode
    # refuses to make once stored rows name a KEK ("test" below) it does not hold.
    client = client_signed_in(owner)
    root = root_of(owner)
    small = services.folder_create(actor=owner, parent=root, name="Peu")
    full = services.folder_create(actor=owner, parent=root, name="Beaucoup")
    _listed_files(owner, small, 5)
    _listed_files(owner, full, 60)
    counts = {}
    for folder, rows in ((small, 5), (full, selectors.LISTING_PAGE_SIZE - 1)):
        client.get(f"/files/folders/{folder.pk}/")  # the session, the site's settings
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/files/folders/{folder.pk}/").content.decode()
        assert page.count("<tr data-file=") == rows
        assert page.count('aria-pressed="true"') >= 2  # stars shown
        assert "thumbnail-small" in page
        counts[rows] = len(queries)
    assert counts[5] == counts[selectors.LISTING_PAGE_SIZE - 1], counts


# --- Favourites and the home page -------------------------------------------------------


def test_the_home_page_shows_my_stars_and_recent_files_not_the_platform(
    owner: User, outsider: User
) -> None:
    root = root_of(owner)
    report = version_store(actor=owner, folder=root, name="Compte rendu.pdf", content=b"cr").file
    client = client_signed_in(owner)
    home = client.get("/").content.decode()
    assert "Compte rendu.pdf" in home  # recent
    assert "platform-status" not in home
    response = client.post(f"/files/{report.pk}/favourite/", {"starred": "1", "next": "/"})
    assert response.status_code == 302
    favourites = client.get("/").content.decode().split('id="home-recent"')[0]
    assert "Compte rendu.pdf" in favourites
    # A star grants nothing: someone else cannot star (or learn about) Alice's file.
    other = client_signed_in(outsider)
    assert other.post(f"/files/{report.pk}/favourite/", {"starred": "1"}).status_code == 404
    assert "Compte rendu.pdf" not in other.get("/").content.decode()
    client.post(f"/files/{report.pk}/favourite/", {"starred": "0"})
    assert "Compte rendu.pdf" not in client.get("/").content.decode().split('id="home-recent"')[0]


def test_hidden_stars_do_not_hide_live_favourites_and_purged_ones_are_cleaned(
    owner: User, teammate: User
) -> None:
    """Before: the home page read the 50 newest stars, then dropped those on items
    trashed, purged or no longer shared: behind 50 stale stars, Alice saw none of her
    three live favourites."""
    root = root_of(owner)
    live = ["Bilan Dupont.pdf", "IRM Martin.dcm", "Courrier Durand.txt"]
    for name in live:
        file = version_store(actor=owner, folder=root, name=name, content=b"x").file
        favourite_set(actor=owner, item=file, starred=True)
    # Starred later: a file then trashed, one deleted for good, a teammate's file no
    # longer shared with her, and 60 more in the trash (as the trash leaves them).
    trashed = version_store(actor=owner, folder=root, name="Ancien bilan.pdf", content=b"x").file
    purged = version_store(actor=owner, folder=root, name="Brouillon.txt", content=b"x").file
    theirs = version_store(
        actor=teammate, folder=root_of(teammate), name="Note de Tom.txt", content=b"x"
    ).file
    share = shares.share_create(actor=teammate, item=theirs, recipient=owner, role=ShareRole.VIEWER)
    for item in (trashed, purged, theirs):
        favourite_set(actor=owner, item=item, starred=True)
    services.file_delete(actor=owner, file=trashed)
    services.file_purge(actor=owner, file=services.file_delete(actor=owner, file=purged))
    shares.share_delete(actor=teammate, share=share)
    old = services.folder_create(actor=owner, parent=root, name="Vieux")
    _many_files(old, 60)
    File.objects.filter(folder=old).update(deleted_at=timezone.now())
    later = timezone.now() + dt.timedelta(minutes=1)
    Favourite.objects.bulk_create(
        Favourite(user=owner, file=file, created_at=later)
        for file in File.objects.filter(folder=old)
    )
    client = client_signed_in(owner)

    favourites = client.get("/").content.decode().split('id="home-recent"')[0]
    assert [name for name in live if name in favourites] == live
    for name in ("Ancien bilan.pdf", "Brouillon.txt", "Note de Tom.txt", "Bilan 0000.pdf"):
        assert name not in favourites
    # The star on what is gone for good is cleaned; a star in the trash stays, and its
    # file comes back to the favourites with a restore; so does a star on what is no
    # longer shared, hidden until it is shared again.
    starred = set(Favourite.objects.filter(user=owner).values_list("file__name", flat=True))
    assert "Brouillon.txt" not in starred
    assert {"Ancien bilan.pdf", "Note de Tom.txt"} <= starred
    services.file_restore(actor=owner, file=trashed)
    assert "Ancien bilan.pdf" in client.get("/").content.decode().split('id="home-recent"')[0]


def _favourites_of(client: Client) -> str:
    return client.get("/").content.decode().split('id="home-recent"')[0]


def test_a_star_lost_with_a_team_hides_without_a_trace_and_returns_with_the_team(
    owner: User, teammate: User, team: Team
) -> None:
    """Alice removes Tom from Cardiologie by mistake and adds him back a minute later.
    Before: the home page deleted his star on the team's echography as soon as he could
    no longer read it, so it never came back. While he is out, nothing he can reach
    names the file or tells that a star is there."""
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    echo = version_store(
        actor=owner, folder=team_root, name="Échographie Martin.pdf", content=b"echo"
    ).file
    tom = client_signed_in(teammate)
    assert tom.post(f"/files/{echo.pk}/favourite/", {"starred": "1"}).status_code == 302
    assert "Échographie Martin.pdf" in _favourites_of(tom)

    membership = TeamMembership.objects.get(team=team, user=teammate)
    team_member_remove(
        actor=owner, membership=membership, reason=MembershipEndReason.TEAM_MANAGEMENT
    )

    home = tom.get("/").content.decode()
    assert "Échographie Martin" not in home
    assert "Star a file or folder in a list to find it here." in home  # as if none
    for url in (
        f"/files/{echo.pk}/",
        f"/api/v1/files/{echo.pk}/",
        f"/files/folders/{team_root.pk}/",
    ):
        response = tom.get(url)
        assert response.status_code == 404, url
        assert "Échographie" not in response.content.decode()
    for url in ("/files/search/", "/api/v1/files/search/"):
        assert "Échographie" not in tom.get(url, {"q": "echographie"}).content.decode()
    # Unstarring is refused like any other file he cannot reach, and keeps the star.
    assert tom.post(f"/files/{echo.pk}/favourite/", {"starred": "0"}).status_code == 404
    assert "Échographie Martin" not in tom.get("/").content.decode()

    team_member_set(actor=owner, team=team, user=teammate, role=TeamRole.MEMBER)
    assert "Échographie Martin.pdf" in _favourites_of(tom)


# --- Several items at once -----------------------------------------------------------------


CONTENTS = {
    "Échographie Dupont.pdf": b"%PDF echo " * 300,
    "IRM genou.dcm": bytes(range(256)) * 40,
    "Courrier.txt": b"Cher confrere\n" * 10,
}


def _three(owner: User) -> tuple[Folder, list[File]]:
    root = root_of(owner)
    files = [
        version_store(actor=owner, folder=root, name=name, content=content).file
        for name, content in CONTENTS.items()
    ]
    return root, files


def test_three_ticked_files_download_as_one_zip_each_member_audited_with_lineage(
    owner: User,
) -> None:
    root, files = _three(owner)
    client = client_signed_in(owner)
    response = client.post(
        "/sharing/selection/download/",
        {"file": [str(file.pk) for file in files], "next": f"/files/folders/{root.pk}/"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        assert sorted(archive.namelist()) == sorted(file.name for file in files)
        for file in files:
            assert archive.read(file.name) == CONTENTS[file.name]
    events = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD)
    assert events.count() == 3
    assert {event.details["path"] for event in events} == {f"/{file.name}" for file in files}
    assert len({event.details["archive"] for event in events}) == 1


def test_trash_several_then_undo_then_delete_them_for_good_after_confirming(
    owner: User,
) -> None:
    root, files = _three(owner)
    client = client_signed_in(owner)
    ids = [str(file.pk) for file in files[:2]]
    back = f"/files/folders/{root.pk}/"
    response = client.post("/files/selection/trash/", {"file": ids, "next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    assert File.objects.filter(deleted_at__isnull=False).count() == 2
    page = client.get(back).content.decode()
    assert "2 items are in the trash: you can restore them." in page
    assert 'action="/files/selection/restore/"' in page  # the "Undo" button
    client.post("/files/selection/restore/", {"file": ",".join(ids), "next": back})
    assert File.objects.filter(deleted_at__isnull=False).count() == 0

    client.post("/files/selection/trash/", {"file": ids, "next": back})
    asked = client.post("/files/selection/purge/", {"file": ids})
    assert asked.status_code == 200
    question = asked.content.decode()
    assert "Delete 2 items permanently?" in question
    assert "Échographie Dupont.pdf" in question
    assert "IRM genou.dcm" in question
    assert File.objects.filter(purged_at__isnull=False).count() == 0  # nothing yet
    client.post("/files/selection/purge/", {"file": ids, **CONFIRMED})
    assert File.objects.filter(purged_at__isnull=False).count() == 2


def test_move_and_copy_several_files_into_a_folder(owner: User) -> None:
    root, files = _three(owner)
    reports = services.folder_create(actor=owner, parent=root, name="Comptes rendus")
    client = client_signed_in(owner)
    ids = [str(file.pk) for file in files]
    moved = client.post("/files/selection/move/", {"file": ids[:2], "destination": str(reports.pk)})
    assert moved.status_code == 302
    assert set(File.objects.filter(folder=reports).values_list("name", flat=True)) == {
        "Échographie Dupont.pdf",
        "IRM genou.dcm",
    }
    client.post("/files/selection/copy/", {"file": ids[2:], "destination": str(reports.pk)})
    assert File.objects.filter(folder=reports, name="Courrier.txt").exists()
    assert File.objects.filter(folder=root, name="Courrier.txt").exists()


def test_a_selection_with_someone_elses_file_is_refused_whole_said_and_audited(
    owner: User, teammate: User, team: Team
) -> None:
    """Tom may read his own file but not Alice's personal one: nothing is trashed or
    zipped, the page says how many were refused, and the refusal is in the log."""
    _root, alices = _three(owner)
    toms = version_store(
        actor=teammate, folder=root_of(teammate), name="Tom.pdf", content=b"tom"
    ).file
    tom = client_signed_in(teammate)
    for url in ("/files/selection/trash/", "/sharing/selection/download/"):
        response = tom.post(url, {"file": [str(toms.pk), str(alices[0].pk)]})
        assert response.status_code == 404, url
        assert "1 of the 2 selected items is not there any more" in response.content.decode()
    assert File.objects.filter(deleted_at__isnull=False).count() == 0
    refusals = AuditEvent.objects.filter(action=Action.FILES_SELECTION_REFUSE)
    assert [event.details["bulk_action"] for event in refusals.order_by("pk")] == [
        "trash",
        "download",
    ]
    assert all(event.actor_id == str(teammate.pk) for event in refusals)
    denied = AuditEvent.objects.filter(action=Action.FILES_ACCESS, outcome="denied")
    assert {event.target_id for event in denied} == {str(alices[0].pk)}
    assert not AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).exists()


def test_a_malformed_or_empty_selection_is_a_clear_400(owner: User) -> None:
    client = client_signed_in(owner)
    empty = client.post("/files/selection/trash/", {})
    assert empty.status_code == 400
    assert "Tick at least one file or folder first." in empty.content.decode()
    forged = client.post("/sharing/selection/download/", {"file": "1;DROP"})
    assert forged.status_code == 400
    refusals = AuditEvent.objects.filter(action=Action.FILES_SELECTION_REFUSE).order_by("pk")
    assert [event.details["reason"] for event in refusals] == ["empty", "malformed"]


def test_share_several_files_with_a_colleague_at_once(owner: User, teammate: User) -> None:
    from sharing.models import Share

    _root, files = _three(owner)
    client = client_signed_in(owner)
    response = client.post(
        "/sharing/selection/share/",
        {
            "file": [str(file.pk) for file in files[:2]],
            "recipient": teammate.email,
            "role": "viewer",
        },
    )
    assert response.status_code == 302
    assert set(Share.objects.filter(user=teammate).values_list("file__name", flat=True)) == {
        "Échographie Dupont.pdf",
        "IRM genou.dcm",
    }
    # Tom can now read them, and only them.
    assert client_signed_in(teammate).get(f"/files/{files[0].pk}/").status_code == 200
    assert client_signed_in(teammate).get(f"/files/{files[2].pk}/").status_code == 404
    # Nobody by that address: nothing shared, said plainly.
    refused = client.post(
        "/sharing/selection/share/",
        {"file": [str(files[2].pk)], "recipient": "nobody@hopital.example", "role": "viewer"},
    )
    assert refused.status_code == 400
    assert "No active account has this e-mail address" in refused.content.decode()
    assert not Share.objects.filter(file=files[2]).exists()
