"""The French interface has no English left: error pages with the site's navigation,
folders the system makes named in their reader's language, French punctuation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils import timezone, translation
from django.views.defaults import server_error

from accounts.models import User
from accounts.offboarding import user_deactivate
from files import services
from files.models import Folder
from sharing.services import transfers
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in
from tests.media_samples import pdf_bytes

pytestmark = pytest.mark.django_db


def french(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    return client


def test_a_missing_page_in_french_has_the_navigation_and_a_way_back(owner: User) -> None:
    response = french(client_signed_in(owner)).get("/files/987654/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not Found" not in page
    assert "<h1" in page
    assert "Page introuvable" in page
    assert 'aria-label="Navigation principale"' in page
    assert 'href="/files/"' in page  # the signed-in person's navigation
    assert "Retour à l\u2019accueil" in page


def test_a_missing_page_for_a_visitor_is_translated_too() -> None:
    page = french(Client()).get("/s/no-such-link/nothing/").content.decode()
    assert "Page introuvable" in page


def test_an_expired_form_is_explained_in_french(owner: User) -> None:
    browser = french(Client(enforce_csrf_checks=True))
    response = browser.post("/accounts/login/", {"username": owner.email, "password": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Le formulaire a expiré" in page
    assert "CSRF verification failed" not in page


def test_the_server_error_page_is_translated() -> None:
    with translation.override("fr"):
        response = server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Une erreur est survenue" in page
    assert "Server Error" not in page


def test_a_handover_folder_is_named_in_the_successors_language(
    site_admin: User, owner: User, outsider: User, folder_backend: object
) -> None:
    User.objects.filter(pk=outsider.pk).update(language="fr")
    outsider.refresh_from_db()
    services.folder_create(actor=owner, parent=root_of(owner), name="Patients")
    with translation.override("en"):  # the admin works in English
        user_deactivate(actor=site_admin, user=owner, successor=outsider)
    names = Folder.objects.filter(parent=root_of(outsider)).values_list("name", flat=True)
    assert any(name.startswith("De Alice Martin (") for name in names), list(names)


def test_french_strings_put_a_no_break_space_before_double_punctuation() -> None:
    """ "Quand :" breaks before the colon at a line end; "Quand\u00a0:" does not."""
    catalogue = (settings.BASE_DIR / "locale/fr/LC_MESSAGES/django.po").read_text()
    # Every msgstr with its continuation lines.
    texts = re.findall(r'^msgstr(?:\[\d\])? ("[^\n]*"(?:\n"[^\n]*")*)', catalogue, re.MULTILINE)
    breakable = [text for text in texts if re.search(r" [:;?!»]|« ", text)]
    assert breakable == []


def test_texts_handed_to_scripts_with_placeholders_are_french_too(
    owner: User, folder_backend: Backend
) -> None:
    """Django doubles the "%" of a ``{% translate "…%(count)s…" %}`` literal before looking
    it up, finds nothing and leaves it English: the ticked-rows count and the PDF page
    counter, filled in by scripts, said "2 items selected" and "Page 1 of 2" in French."""
    root = root_of(owner)
    report = version_store(actor=owner, folder=root, name="CR.pdf", content=pdf_bytes())
    old = version_store(actor=owner, folder=root, name="ancien.txt", content=b"x")
    services.file_delete(actor=owner, file=old.file)
    client = french(client_signed_in(owner))
    for url in [f"/files/folders/{root.pk}/", f"/files/spaces/{root.space_id}/trash/"]:
        assert 'data-many="%(count)s éléments sélectionnés"' in client.get(url).content.decode()
    preview = client.get(f"/files/{report.file_id}/preview/").content.decode()
    assert 'data-page-of="Page %(page)s sur %(pages)s"' in preview

    literal_with_placeholder = re.compile(r"\{% (?:translate|trans) (['\"])[^'\"]*%\(")
    templates = [*settings.BASE_DIR.glob("templates/**/*.html")]
    templates += [*settings.BASE_DIR.glob("*/templates/**/*.html")]
    assert [str(t) for t in templates if literal_with_placeholder.search(t.read_text())] == []


def test_a_permanent_deletion_of_ticked_items_names_them_in_french_quotes(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    old = version_store(actor=owner, folder=root, name="ancien.txt", content=b"x")
    services.file_delete(actor=owner, file=old.file)
    page = french(client_signed_in(owner)).post("/files/selection/purge/", {"file": old.file_id})
    assert "«\u00a0ancien.txt\u00a0»" in page.content.decode()


# What a screen reader or a pointer shows without it being on the page: written in a
# template as a literal, it stays English on a French screen.
ATTRIBUTE_LITERAL = re.compile(
    r"""\b(aria-label|aria-description|title|placeholder|alt)=(["'])([^"'{]*[A-Za-z]{3}[^"'{]*)\2"""
)


def test_labels_read_aloud_are_translated_in_every_template() -> None:
    """The trail above a transfer and a file request was announced "breadcrumb" in
    French (aria-label="breadcrumb", written in English in the templates)."""
    templates = [*settings.BASE_DIR.glob("templates/**/*.html")]
    templates += [*settings.BASE_DIR.glob("*/templates/**/*.html")]
    literals = [
        f"{template.relative_to(settings.BASE_DIR)}: {match.group(0)}"
        for template in templates
        for match in ATTRIBUTE_LITERAL.finditer(template.read_text())
    ]
    assert literals == []


def test_the_trail_above_a_transfer_is_named_in_french(
    owner: User, folder_backend: Backend
) -> None:
    transfer = transfers.transfer_create(
        actor=owner, subject="IRM genou", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    page = french(client_signed_in(owner)).get(f"/sharing/transfers/{transfer.pk}/")
    assert 'aria-label="Fil d\u2019Ariane"' in page.content.decode()


def test_the_language_of_an_e_mail_outside_is_the_senders_by_default(
    owner: User, folder_backend: Backend
) -> None:
    """A French clinician making a link or a transfer found "Anglais" chosen for the
    recipient's e-mail: sent unchanged, a French patient's or colleague's e-mail came in
    English. The page's language is the likelier one; the sender can still change it."""
    file = version_store(actor=owner, folder=root_of(owner), name="CR.pdf", content=b"c").file
    draft = transfers.transfer_create(
        actor=owner, subject="IRM genou", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    pages = [f"/sharing/files/{file.pk}/links/", f"/sharing/transfers/{draft.pk}/"]
    client = french(client_signed_in(owner))
    for url in pages:
        page = client.get(url).content.decode()
        assert 'name="recipient_language"' in page, url
        assert re.search(r'<option value="fr"[^>]* selected>', page), url
    for url in pages:
        english = client_signed_in(owner).get(url).content.decode()
        assert re.search(r'<option value="en"[^>]* selected>', english), url
