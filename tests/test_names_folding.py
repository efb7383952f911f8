"""A name that folds into a path is refused at every entry and never served as one.

An outside review uploaded ``../../evil.sh`` typed with fullwidth full stops and solidi
(U+FF0E, U+FF0F):
it passed the name rules, which only looked at ASCII ``/``, and the download's ASCII
fallback folded it (NFKD) into ``filename="../../evil.sh"``. Names are now checked in
their compatibility-folded form (NFKC) as well, at every entry: upload page and API,
tus metadata (and its relativePath folders), rename, folder names, file requests. And
whatever a name holds (one stored before the fix), what leaves in a header or as a ZIP
member is folded first and can no longer fold into a separator or a dot segment.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts import tokens
from accounts.models import User
from files import services
from files.downloads import content_disposition
from files.errors import FileRuleError
from files.models import File, Folder
from files.names import name_clean
from sharing.services.archives import archive_path_clean
from sharing.services.links import share_link_create
from tests.files_helpers import body_of, root_of, upload_through_view, version_store
from tests.helpers import client_signed_in, expiry_fields

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend", "small_segments")]

# What the reviewer typed: U+FF0E FULLWIDTH FULL STOP, U+FF0F FULLWIDTH SOLIDUS.
FULLWIDTH_TRAVERSAL = "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fevil.sh"
FOLDING_INTO_PATHS = [
    FULLWIDTH_TRAVERSAL,
    "\u2025\uff0fevil.sh",  # TWO DOT LEADER folds to ".."
    "scans\uff3cwin.ini",  # FULLWIDTH REVERSE SOLIDUS
    "scans\ufe68win.ini",  # SMALL REVERSE SOLIDUS
    "\uff0e\uff0e",  # a folded ".."
    "\u2025",
    "\ufe52",  # SMALL FULL STOP: a folded "."
    "a\u2215b.pdf",  # DIVISION SLASH: not folded, but shown and best-fit mapped as "/"
    "a\u2044b.pdf",  # FRACTION SLASH
]
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def token_client(user: User) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name="Imaging uploader", scopes=["read", "write"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


# --- The rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", FOLDING_INTO_PATHS)
def test_names_that_fold_into_a_separator_or_a_dot_segment_are_refused(name: str) -> None:
    with pytest.raises(FileRuleError, match=r"“/”|“\.” and “\.\.”"):
        name_clean(name)


@pytest.mark.parametrize(
    "name",
    [
        "\ufb01che de liaison.pdf",
        "Notes\u2026 suite.txt",
        "IRM\uff08genou\uff09.dcm",
        "H\u2082O.txt",
    ],
)
def test_names_that_fold_harmlessly_are_kept_as_typed(name: str) -> None:
    assert name_clean(name) == unicodedata.normalize("NFC", name)


# --- Every entry --------------------------------------------------------------------------


def test_the_upload_page_refuses_a_name_that_folds_into_a_path(owner: User) -> None:
    response = upload_through_view(
        client_signed_in(owner), root_of(owner), FULLWIDTH_TRAVERSAL, b"x"
    )
    assert response.status_code == 400
    assert not File.objects.exists()


def test_the_api_upload_refuses_a_name_that_folds_into_a_path(owner: User) -> None:
    root = root_of(owner)
    response = token_client(owner).post(
        f"/api/v1/files/folders/{root.pk}/upload/?name={FULLWIDTH_TRAVERSAL}",
        b"#!/bin/sh\n",
        content_type="application/octet-stream",
    )
    assert response.status_code == 400
    assert "“/”" in response.json()["detail"]
    assert not File.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"filename": FULLWIDTH_TRAVERSAL},
        {"filename": "evil.sh", "relativePath": "\u2025\uff0f\u2025\uff0fsbin/evil.sh"},
    ],
    ids=["filename", "relativePath"],
)
def test_tus_metadata_that_folds_into_a_path_is_refused(
    owner: User, values: dict[str, str]
) -> None:
    response = token_client(owner).post(
        "/api/v1/uploads/",
        b"",
        content_type=OFFSET,
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(**values)},
    )
    assert response.status_code == 400
    assert Folder.objects.filter(name__contains="\u2025").count() == 0


def test_renaming_into_a_folded_path_is_refused_on_the_page_and_the_api(owner: User) -> None:
    letter = version_store(actor=owner, folder=root_of(owner), name="letter.pdf", content=b"a")
    page = client_signed_in(owner).post(
        f"/files/{letter.file_id}/rename/", {"rename-name": FULLWIDTH_TRAVERSAL}
    )
    assert page.status_code == 400
    api = token_client(owner).patch(
        f"/api/v1/files/{letter.file_id}/",
        {"name": FULLWIDTH_TRAVERSAL},
        content_type="application/json",
    )
    assert api.status_code == 400
    assert File.objects.get(pk=letter.file_id).name == "letter.pdf"


def test_a_folder_cannot_be_named_as_a_folded_path(owner: User) -> None:
    root = root_of(owner)
    api = token_client(owner).post(
        f"/api/v1/files/folders/{root.pk}/folders/",
        {"name": "\uff0e\uff0e"},
        content_type="application/json",
    )
    assert api.status_code == 400
    page = client_signed_in(owner).post(
        f"/files/folders/{root.pk}/new-folder/", {"new-name": "\u2025\uff0fetc"}
    )
    assert page.status_code == 400
    assert not Folder.objects.filter(parent=root).exists()


@pytest.fixture
def own_rate_limit_counts() -> Iterator[None]:
    caches = {
        **settings.CACHES,
        "names_test": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with override_settings(CACHES=caches, RATELIMIT_USE_CACHE="names_test"):
        yield


def test_a_file_request_refuses_an_upload_named_as_a_folded_path(
    owner: User, own_rate_limit_counts: None
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    created = client_signed_in(owner).post(
        "/sharing/requests/new/",
        {
            "title": "Bilan",
            "folder": str(folder.pk),
            **expiry_fields(7),
            "max_files": "3",
            "max_megabytes": "5",
        },
    )
    found = re.search(r"/r/([A-Za-z0-9_-]{43})/", created.content.decode())
    assert found, created.content.decode()[:2000]
    response = Client().post(
        f"/r/{found.group(1)}/uploads/",
        b"",
        content_type=OFFSET,
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(
                filename=FULLWIDTH_TRAVERSAL,
                uploader_name="Labo",
                uploader_email="contact@labo.example",
            ),
        },
    )
    assert response.status_code == 400


# --- What leaves: headers and ZIP members -------------------------------------------------


def disposition_names(header: str) -> tuple[str, str]:
    """The ``filename`` and the decoded ``filename*`` of a Content-Disposition."""
    fallback = re.search(r'filename="([^"]*)"', header)
    extended = re.search(r"filename\*=UTF-8''([^;]*)", header)
    assert fallback, header
    assert extended, header
    return fallback.group(1), unquote(extended.group(1))


def assert_not_a_path(name: str) -> None:
    for form in (name, unicodedata.normalize("NFKC", name), unicodedata.normalize("NFKD", name)):
        assert "/" not in form, name
        assert "\\" not in form, name
        assert form.strip(" .") != "", name
    assert not any(char in name for char in "\u2215\u2044\u29f8\u29f9"), name


def legacy_file(owner: User, name: str) -> File:
    """A file stored before names were checked folded: written straight to its row."""
    version = version_store(actor=owner, folder=root_of(owner), name="placeholder.sh", content=b"x")
    File.objects.filter(pk=version.file_id).update(name=name)
    return File.objects.get(pk=version.file_id)


def test_a_name_stored_before_the_fix_is_not_served_as_a_path(owner: User) -> None:
    file = legacy_file(owner, FULLWIDTH_TRAVERSAL)
    response = client_signed_in(owner).get(f"/files/{file.pk}/download/")
    assert response.status_code == 200
    fallback, extended = disposition_names(response["Content-Disposition"])
    assert fallback == "evil.sh"
    assert extended == "evil.sh"


def test_zip_members_of_a_legacy_name_are_not_paths(owner: User) -> None:
    legacy_file(owner, FULLWIDTH_TRAVERSAL)
    _link, token = share_link_create(actor=owner, target=root_of(owner))
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    archive = recipient.get(reverse("share_link:archive", args=[token]))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body_of(archive))) as unzipped:
        members = unzipped.namelist()
    assert members == ["evil.sh"]


names = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("./\\\uff0e\uff0f\uff3c\ufe68\ufe52\u2025\u2026\u2215\u2044 "),
    ),
    max_size=40,
)


@given(name=names)
@example(name=FULLWIDTH_TRAVERSAL)
@example(name="..\u00e9")  # folds to ".." once the accent is dropped
@hypothesis_settings(max_examples=400, database=None, deadline=None)
def test_no_name_whatsoever_becomes_a_path_in_a_content_disposition(name: str) -> None:
    header = content_disposition(name)
    assert "\r" not in header
    assert "\n" not in header
    fallback, extended = disposition_names(header)
    assert fallback.isascii()
    assert_not_a_path(fallback)
    assert_not_a_path(extended)


@given(path=names)
@example(path=FULLWIDTH_TRAVERSAL)
@hypothesis_settings(max_examples=400, database=None, deadline=None)
def test_no_path_whatsoever_escapes_as_a_zip_member(path: str) -> None:
    member = archive_path_clean(path)
    assert member == unicodedata.normalize("NFKC", member)
    assert not member.startswith("/")
    for part in member.split("/"):
        assert_not_a_path(part)
